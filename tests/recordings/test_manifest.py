"""CSV and JSON-lines manifests (tasks/datasets/manifest.py)."""

from __future__ import annotations

import csv
import json

import pytest

import tasks
from conftest import SENTENCES, write_clip
from tasks.errors import AudioError, DatasetError
from tasks.textgrid import write_textgrid


def make_manifest(root, bank, kind="csv"):
    """Clips of both speakers; alice's rows carry their word spans, one of bob's a TextGrid."""
    rows = []
    for speaker in ("alice", "bob"):
        for n, text in enumerate(SENTENCES):
            utt = bank[speaker, text]
            rel = f"clips/{speaker}_{n}.wav"
            write_clip(root / rel, utt)
            words = json.dumps([list(w) for w in utt.words]) if speaker == "alice" else ""
            if speaker == "bob" and n == 0:
                write_textgrid(root / "grids" / "b0.TextGrid", utt.words, utt.duration_s)
                words = "grids/b0.TextGrid"
            rows.append({"path": rel, "text": text, "speaker": speaker, "words": words})
    path = root / f"manifest.{kind}"
    if kind == "csv":
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, ["path", "text", "speaker", "words"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("\n".join(json.dumps({k: v for k, v in r.items() if v}) for r in rows) + "\n")
    return path


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_rows_become_clips_with_their_words(bank, tmp_path, kind):
    data = tasks.open_dataset(f"manifest:{make_manifest(tmp_path, bank, kind)}")
    assert len(data) == 6 and data.speakers() == ["alice", "bob"]
    first = data[0]
    assert first.text == SENTENCES[0] and first.speaker == "alice" and first.path.name == "alice_0.wav"
    assert first.words == bank["alice", SENTENCES[0]].words
    assert [w.word for w in data[3].words] == [w.word for w in bank["bob", SENTENCES[0]].words]  # its TextGrid
    assert data[4].words == ()


def test_find_gives_the_same_speaker_saying_a_word(bank, tmp_path):
    data = tasks.open_dataset(f"manifest:{make_manifest(tmp_path, bank)}")
    found = data.find("on", "alice")
    assert found.speaker == "alice" and found.text == "switch the lights on"
    assert data.find("on", "bob") is None  # bob's clip has no word spans and no aligner
    assert data.find("banana", "alice") is None


def test_bad_manifests_are_named_with_their_line(bank, tmp_path):
    path = make_manifest(tmp_path, bank)
    path.write_text("file,transcript\na.wav,hello\n")
    with pytest.raises(DatasetError, match=r"manifest.csv.*lacks the column\(s\) \['path', 'text'\]"):
        tasks.open_dataset(f"manifest:{path}")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "clips/alice_0.wav", "text": "x"}\n{"path": "clips/alice_1.wav", "text": "y", "words": [["y", 2, 1]]}\n')
    with pytest.raises(DatasetError, match="line 2"):
        tasks.open_dataset(f"manifest:{bad}")
    bad.write_text('{"path": "song.m4a", "text": "x"}\n')
    with pytest.raises(AudioError, match=r"song\.m4a.*supported formats"):
        tasks.open_dataset(f"manifest:{bad}")
    bad.write_text('{"path": "clips/alice_0.wav", "text": "x", "words": "grids/none.TextGrid"}\n')
    with pytest.raises(DatasetError, match="none.TextGrid' does not exist"):
        tasks.open_dataset(f"manifest:{bad}")
    with pytest.raises(DatasetError, match="must end in"):
        tasks.open_dataset(f"manifest:{tmp_path / 'clips' / 'alice_0.wav'}")
