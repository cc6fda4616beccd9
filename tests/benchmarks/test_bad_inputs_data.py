"""bad_inputs.py --data: a dataset's clips read one by one; the refused ones listed by file."""

from __future__ import annotations

import json
import shutil

from benchmarks import bad_inputs


def test_a_damaged_clip_is_listed_and_the_rest_read(sentence_manifest, tmp_path, capsys):
    folder = tmp_path / "data"
    shutil.copytree(sentence_manifest.parent, folder)
    (folder / "bob_2.wav").write_bytes(b"RIFF....WAVEfmt not really audio")
    code = bad_inputs.main(["--data", f"manifest:{folder / 'manifest.jsonl'}", "--out", str(tmp_path / "o"),
                            "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0  # a refused file is the data's fault, reported; not a SpeechLens bug
    report = json.loads((tmp_path / "o" / "bad_inputs.json").read_text())
    assert report["summary"]["data"]["clips_read"] == 5 and report["summary"]["data"]["clips_refused"] == 1
    refused = [p for p in report["probes"] if p.get("unexpected")]
    assert len(refused) == 1 and "bob_2.wav" in refused[0]["message"] and refused[0]["error"] == "AudioError"
    assert "REFUSED" in out and "bob_2.wav" in out


def test_a_bad_spec_is_one_line_and_status_2(tmp_path, capsys):
    assert bad_inputs.main(["--data", f"folder:{tmp_path / 'missing'}", "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
