"""The speechlens command: demo --quick, patch (synthesized and saved pairs), pair, errors.

The commands run on the tiny random Whisper saved as a local checkpoint (``--model FOLDER``),
and their maps are checked against ``intervene.patch`` run directly on the pairs they saved.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import corruptions
import intervene
import tasks
from intervene.app.cli import main


@pytest.fixture(scope="module")
def tiny_dir(tiny_whisper, tmp_path_factory):
    """The tiny Whisper as a transformers checkpoint folder (with the tiny.en tokenizer)."""
    from tiny_models import save_tiny_whisper

    return str(save_tiny_whisper(tiny_whisper, tmp_path_factory.mktemp("tiny-whisper")))


def test_demo_quick_writes_report(tiny_dir, tiny_whisper, tmp_path, capsys):
    assert main(["demo", "--quick", "--model", tiny_dir, "--out", str(tmp_path), "--no-progress"]) == 0
    html = (tmp_path / "index.html").read_text()
    refs = re.findall(r'(?:src)="([^"]+)"', html)
    assert any(r.endswith(".wav") for r in refs) and any(r.endswith(".png") for r in refs)
    for ref in refs:
        assert (tmp_path / ref).is_file(), ref
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [m["pair"] for m in summary["maps"]] == ["yes-word_swap", "yes-noise"]
    for m in summary["maps"]:
        assert m["dims"] == ["layer", "frame"]
        cmap = intervene.CausalMap.load(tmp_path / "maps" / f"{m['pair']}.npz")
        assert cmap.values.shape[0] == 3 and np.isfinite(cmap.values).all()
        assert m["max_effect"] == pytest.approx(float(np.nanmax(cmap.values)))
        # The demo's map is what patch gives on the pair it saved.
        pair = corruptions.MinimalPair.load(tmp_path / "pairs" / m["pair"])
        direct = intervene.patch(tiny_whisper, tasks.KeywordTask(), pair, "encoder.block_output", window_ms=100)
        np.testing.assert_allclose(cmap.values, direct.values, atol=1e-6)
    assert "yes-noise" in capsys.readouterr().out


def test_patch_command_on_a_synthesized_pair(tiny_dir, tiny_whisper, tmp_path, capsys):
    out = tmp_path / "yes-no"
    code = main(["patch", "--model", tiny_dir, "--word", "yes", "--swap", "no", "--voice", "en-us",
                 "--sites", "encoder.2.block_output", "--window-ms", "100", "--out", str(out), "--no-progress"])
    assert code == 0
    for name in ("map.npz", "map.json", "map.png", "summary.json", "pair/pair.json"):
        assert (out / name).is_file(), name
    summary = json.loads(capsys.readouterr().out)
    assert summary["dims"] == ["layer", "frame"] and summary["corruption"]["kind"] == "word_swap"
    pair = corruptions.MinimalPair.load(out / "pair")
    assert (pair.clean_answer, pair.corrupt_answer) == ("yes", "no")
    direct = intervene.patch(tiny_whisper, tasks.KeywordTask(), pair, "encoder.2.block_output", window_ms=100)
    assert summary["clean_metric"] == pytest.approx(direct.clean_metric, abs=1e-5)
    assert summary["corrupt_metric"] == pytest.approx(direct.corrupt_metric, abs=1e-5)
    np.testing.assert_allclose(intervene.CausalMap.load(out / "map.npz").values, direct.values, atol=1e-6)


def test_patch_command_sweeps_saved_pairs(tiny_dir, tmp_path, capsys):
    for word, voice in (("yes", "en-us"), ("stop", "en-gb-x-rp")):
        assert main(["pair", "--word", word, "--voice", voice, "--corruption", "word_swap",
                     "--out", str(tmp_path / word)]) == 0
    code = main(["patch", "--model", tiny_dir, "--pair", str(tmp_path / "yes"), "--pair", str(tmp_path / "stop"),
                 "--sites", "encoder.2.block_output", "--window-ms", "200", "--span", "clip",
                 "--out", str(tmp_path / "sweep"), "--no-progress"])
    assert code == 0
    m = intervene.CausalMap.load(tmp_path / "sweep" / "map.npz")
    assert m.n_pairs == 2 and m.per_pair.shape == (2, 1, 5)
    np.testing.assert_allclose(m.values, m.per_pair.mean(axis=0))
    assert len(list((tmp_path / "sweep" / "per_pair").glob("pair*.map.npz"))) == 2  # resumable checkpoints
    capsys.readouterr()


def test_user_errors_exit_with_a_message(tiny_dir, tmp_path, capsys):
    assert main(["patch", "--model", "whisper-tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'whisper-tiny'" in err and "whisper-tiny.en" in err
    assert main(["patch", "--model", tiny_dir, "--sites", "encoder.0.mlp_ouput", "--out", str(tmp_path)]) == 2
    assert "mlp_output" in capsys.readouterr().err
    assert main(["patch", "--model", tiny_dir, "--sites", "encoder.5.mlp_output", "--out", str(tmp_path)]) == 2
    assert "3 layers" in capsys.readouterr().err
    assert main(["pair", "--corruption", "nois", "--out", str(tmp_path / "p")]) == 2
    assert "noise" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["patch", "--direction", "sideways"])
