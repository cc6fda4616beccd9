"""The CLI's user errors: one line naming argument, value and rule, exit status 2, no traceback,
found before a model is loaded or anything is computed (issue 12)."""

from __future__ import annotations

import errno
import json

import pytest

import intervene
from intervene.app import cli_args
from intervene.app.cli import main


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a command gets as far as loading a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the user error was reported")

    monkeypatch.setattr(intervene, "load_model", refuse)


def _one_line_error(capsys, command: str = "patch") -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"speechlens {command}: error: "), err
    return last


PARSE_ERRORS = [
    (["--span", "a,b"], ["--span", "'a,b'", "START,END"]),
    (["--map-span", "0.6,0.2"], ["--map-span", "'0.6,0.2'", "START < END"]),
    (["--map-span", "nan,1"], ["--map-span", "'nan,1'"]),
    (["--window-ms", "nan"], ["--window-ms", "'nan'", "finite number > 0 ms"]),
    (["--window-ms", "inf"], ["--window-ms", "'inf'", "finite"]),
    (["--window-ms", "-20"], ["--window-ms", "'-20'", "> 0"]),
    (["--duration", "nan"], ["--duration", "'nan'", "<= 30 s"]),
    (["--margin-ms", "nan"], ["--margin-ms", "'nan'"]),
    (["--rate", "20"], ["--rate", "'20'", "between 80 and 450"]),
    (["--pitch", "1.5"], ["--pitch", "'1.5'", "whole number"]),
    (["--seed", "-1"], ["--seed", "'-1'", ">= 0"]),
    (["--context-frames", "0"], ["--context-frames", "'0'", ">= 1"]),
    (["--text", "the cat"], ["--text", "'the cat'", "{word} exactly once"]),
    (["--direction", "sideways"], ["--direction", "sideways", "denoise"]),
]


@pytest.mark.parametrize("extra,words", PARSE_ERRORS, ids=[" ".join(e) for e, _ in PARSE_ERRORS])
def test_bad_values_are_refused_while_parsing(extra, words, tmp_path, capsys, no_model):
    with pytest.raises(SystemExit) as exc:
        main(["patch", *extra, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    line = _one_line_error(capsys)
    for word in words:
        assert word in line, line
    assert not (tmp_path / "out").exists()  # nothing was created


def test_old_span_flag_still_works():
    from intervene.app.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["patch", "--span", "clip"]).map_span == "clip"
    assert parser.parse_args(["patch", "--span", "0.1,0.5"]).map_span == (0.1, 0.5)
    assert parser.parse_args(["patch"]).map_span == "changed"


def test_output_folder_under_a_file_is_refused_before_any_work(tmp_path, capsys, no_model):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "maps"):
        assert main(["patch", "--word", "yes", "--swap", "no", "--out", str(out)]) == 2
        line = _one_line_error(capsys)
        assert "--out" in line and str(out) in line and "is a file" in line
    assert main(["pair", "--out", str(blocker / "p")]) == 2
    assert "is a file" in _one_line_error(capsys, "pair")


@pytest.mark.parametrize("code,words", [(errno.EROFS, "read-only file system"), (errno.EACCES, "no permission")])
def test_unwritable_output_folder_is_said_in_words(code, words, tmp_path, capsys, monkeypatch, no_model):
    def refuse(*args, **kwargs):
        raise OSError(code, "refused", str(tmp_path / "out" / ".probe"))

    monkeypatch.setattr(cli_args.tempfile, "mkstemp", refuse)
    assert main(["patch", "--out", str(tmp_path / "out")]) == 2
    line = _one_line_error(capsys)
    assert words in line and str(tmp_path / "out") in line and "--out" in line


def test_full_disk_is_said_before_any_work(tmp_path, capsys, monkeypatch, no_model):
    class Usage:
        total, used, free = 10 * 2**30, 10 * 2**30 - 2**20, 2**20

    monkeypatch.setattr(cli_args.shutil, "disk_usage", lambda path: Usage)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    line = _one_line_error(capsys, "demo")
    assert "1.0 MB free" in line and str(tmp_path / "demo") in line


def test_disk_full_during_a_run_is_one_line(tmp_path, capsys, monkeypatch):
    from corruptions import MinimalPair

    def full(self, folder):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder) + "/clean.wav")

    monkeypatch.setattr(MinimalPair, "save", full)
    assert main(["pair", "--out", str(tmp_path / "p")]) == 2
    line = _one_line_error(capsys, "pair")
    assert "no space left on the device" in line and "clean.wav" in line


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, capsys, no_model):
    from intervene.workstore import folder_lock

    with folder_lock(tmp_path / "busy"):
        assert main(["patch", "--word", "yes", "--swap", "no", "--out", str(tmp_path / "busy")]) == 2
        line = _one_line_error(capsys)
        assert "in use by another run" in line and str(tmp_path / "busy") in line
        assert main(["demo", "--out", str(tmp_path / "busy")]) == 2
        assert "in use by another run" in _one_line_error(capsys, "demo")


def _write_pair(folder, text: str) -> None:
    folder.mkdir(parents=True)
    (folder / "pair.json").write_text(text)


@pytest.mark.parametrize("content", ["{not json", '{"format": "speechlens.minimal_pair/1"}', "[1, 2]", ""])
def test_invalid_saved_pair_is_named(content, tmp_path, capsys, no_model):
    folder = tmp_path / "bad-pair"
    _write_pair(folder, content)
    assert main(["patch", "--pair", str(folder), "--out", str(tmp_path / "out")]) == 2
    line = _one_line_error(capsys)
    assert str(folder) in line and "--pair" in line
    assert not (tmp_path / "out").exists()  # refused before the output folder was touched


def test_missing_or_edited_pair_is_named(tmp_path, capsys, no_model):
    assert main(["patch", "--pair", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "nowhere" in _one_line_error(capsys)
    assert main(["pair", "--word", "yes", "--swap", "no", "--out", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    info = json.loads((tmp_path / "p" / "pair.json").read_text())
    info["n_samples"] = "many"
    (tmp_path / "p" / "pair.json").write_text(json.dumps(info))
    assert main(["patch", "--pair", str(tmp_path / "p"), "--out", str(tmp_path / "out")]) == 2
    assert str(tmp_path / "p") in _one_line_error(capsys)


def test_device_that_is_not_there(tmp_path, capsys, no_model):
    import torch

    assert main(["patch", "--device", "gpu", "--out", str(tmp_path)]) == 2
    assert "'gpu'" in _one_line_error(capsys)
    if not torch.cuda.is_available():
        assert main(["patch", "--device", "cuda", "--out", str(tmp_path)]) == 2
        line = _one_line_error(capsys)
        assert "'cuda'" in line and "torch sees none" in line and "--device cpu" in line
        assert main(["transcribe", "x.wav", "--device", "cuda:0"]) == 2
        assert "cuda:0" in _one_line_error(capsys, "transcribe")
    else:
        bad = f"cuda:{torch.cuda.device_count()}"
        assert main(["patch", "--device", bad, "--out", str(tmp_path)]) == 2
        assert bad in _one_line_error(capsys)


def test_method_and_estimator_are_checked_against_the_registries(tmp_path, capsys, no_model):
    from intervene import methods

    assert main(["patch", "--method", "exat", "--out", str(tmp_path)]) == 2
    line = _one_line_error(capsys)
    assert "'exat'" in line and "exact" in line
    assert main(["patch", "--estimator", "atp", "--out", str(tmp_path)]) == 2
    line = _one_line_error(capsys)
    assert "--estimator ('atp')" in line and "--method attribution" in line
    assert main(["patch", "--method", "attribution", "--estimator", "nope", "--out", str(tmp_path)]) == 2
    line = _one_line_error(capsys)
    assert "'nope'" in line and all(name in line for name in methods.ESTIMATORS)


def test_bad_corruption_parameters(tmp_path, capsys, no_model):
    assert main(["patch", "--param", "snr_db", "--out", str(tmp_path)]) == 2
    assert "--param ('snr_db')" in _one_line_error(capsys)
    assert main(["patch", "--param", "snr_db=nan", "--out", str(tmp_path)]) == 2
    assert "snr_db" in _one_line_error(capsys)
    assert main(["pair", "--corruption", "noise", "--param", "colour=pink", "--out", str(tmp_path / "p")]) == 2
    assert "'colour'" in _one_line_error(capsys, "pair")
    assert main(["patch", "--text", "say the {word} now", "--task", "keyword", "--out", str(tmp_path)]) == 2
    assert "--task keyword" in _one_line_error(capsys)
