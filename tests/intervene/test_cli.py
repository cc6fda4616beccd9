"""The speechlens command: demo --quick, patch (synthesized and saved pairs), pair, errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import intervene
from intervene.app.cli import main


def test_demo_quick_writes_report(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    html = (tmp_path / "index.html").read_text()
    refs = re.findall(r'(?:src)="([^"]+)"', html)
    assert any(r.endswith(".wav") for r in refs) and any(r.endswith(".png") for r in refs)
    for ref in refs:
        assert (tmp_path / ref).is_file(), ref
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [m["pair"] for m in summary["maps"]] == ["yes-word_swap", "yes-noise"]
    for m in summary["maps"]:
        assert m["dims"] == ["layer", "frame"] and m["max_effect"] > 0.1
    cmap = intervene.CausalMap.load(tmp_path / "maps" / "yes-word_swap.npz")
    assert cmap.values.shape[0] == 4 and np.isfinite(cmap.values).all()
    assert "yes-noise" in capsys.readouterr().out


def test_patch_command_on_a_synthesized_pair(tmp_path, capsys):
    out = tmp_path / "yes-no"
    code = main(["patch", "--word", "yes", "--swap", "no", "--voice", "en-us", "--sites", "encoder.3.block_output",
                 "--window-ms", "100", "--out", str(out), "--no-progress"])
    assert code == 0
    for name in ("map.npz", "map.json", "map.png", "summary.json", "pair/pair.json"):
        assert (out / name).is_file(), name
    summary = json.loads(capsys.readouterr().out)
    assert summary["dims"] == ["layer", "frame"] and summary["corruption"]["kind"] == "word_swap"
    assert summary["clean_metric"] > 0 > summary["corrupt_metric"]


def test_patch_command_sweeps_saved_pairs(tmp_path, capsys):
    for word, voice in (("yes", "en-us"), ("stop", "en-gb-x-rp")):
        assert main(["pair", "--word", word, "--voice", voice, "--corruption", "word_swap",
                     "--out", str(tmp_path / word)]) == 0
    code = main(["patch", "--pair", str(tmp_path / "yes"), "--pair", str(tmp_path / "stop"),
                 "--sites", "encoder.3.block_output", "--window-ms", "200", "--span", "clip",
                 "--out", str(tmp_path / "sweep"), "--no-progress"])
    assert code == 0
    m = intervene.CausalMap.load(tmp_path / "sweep" / "map.npz")
    assert m.n_pairs == 2 and m.per_pair.shape[0] == 2
    capsys.readouterr()


def test_user_errors_exit_with_a_message(tmp_path, capsys):
    assert main(["patch", "--model", "whisper-tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'whisper-tiny'" in err and "whisper-tiny.en" in err
    assert main(["patch", "--sites", "encoder.0.mlp_ouput", "--out", str(tmp_path)]) == 2
    assert "mlp_output" in capsys.readouterr().err
    assert main(["pair", "--corruption", "nois", "--out", str(tmp_path / "p")]) == 2
    assert "noise" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["patch", "--direction", "sideways"])
