"""The anatomy subcommands (speechlens ablate | window | heads | steer | lens) on a tiny saved Whisper."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from tiny_models import save_tiny_whisper, tiny_whisper

    return str(save_tiny_whisper(tiny_whisper(), tmp_path_factory.mktemp("tiny") / "model"))


def test_window_and_ablate_write_transcripts(tiny_folder, tmp_path, capsys):
    from intervene.app.cli import main

    out = tmp_path / "w"
    assert main(["window", "--model", tiny_folder, "--device", "cpu", "--text", "yes", "--k", "5",
                 "--layers", "0", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["transcripts"]) == {"all", "k=5"}
    assert summary["transcripts"]["k=5"]["reference"] == "yes"
    assert json.loads(capsys.readouterr().out)["command"] == "window"
    out = tmp_path / "a"
    assert main(["ablate", "--model", tiny_folder, "--device", "cpu", "--text", "yes no", "--site",
                 "encoder.2.block_output", "--word", "no", "--kind", "zero", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["times_s"][0] > 0 and "Ablation(encoder.2.block_output" in \
        summary["transcripts"]["ablated"]["interventions"][0]


@pytest.mark.parametrize("argv,message", [
    (["window", "--k", "0"], "k (0) must be an integer >= 1"),
    (["ablate", "--site", "encoder.9.block_output"], "layer 9 is out of range"),
    (["steer", "--site", "encoder.0.block_output", "--alpha", "nan"], "alpha (nan) must be finite"),
])
def test_bad_input_exits_2_with_the_argument_named(tiny_folder, tmp_path, capsys, argv, message):
    from intervene.app.cli import main

    rc = main([*argv, "--model", tiny_folder, "--device", "cpu", "--text", "yes", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_kinds_listed_without_torch_match_the_library():
    from intervene.anatomy import ABLATION_KINDS
    from intervene.app.cli_anatomy import KINDS

    assert KINDS == ABLATION_KINDS
