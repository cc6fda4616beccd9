"""The CLI's help: fast (no torch, transformers or pyvene imported to parse), explained, with
examples, one meaning per word, and a listing of the corruption kinds (issue 12)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from intervene.app import helptext
from intervene.app.cli import build_parser, main

HEAVY = ("torch", "transformers", "pyvene", "librosa")

_PROBE = """
import json, sys
from intervene.app.cli import main
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _heavy_modules_after(argvs) -> list:
    code = _PROBE.format(argvs=argvs, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_nothing_heavy():
    commands = [name for name in build_parser()._subparsers._group_actions[0].choices]
    argvs = [["--help"]] + [[name, "--help"] for name in commands]
    assert _heavy_modules_after(argvs) == []


def test_listing_corruptions_imports_nothing_heavy():
    assert _heavy_modules_after([["corruptions"], ["corruptions", "noise"]]) == []


def _help(*argv) -> str:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    return (sub[argv[0]] if argv else parser).format_help()


def test_patch_help_explains_every_choice_and_default():
    text = " ".join(_help("patch").split())
    for name, note in {**helptext.DIRECTION_NOTES, **helptext.UNIT_NOTES, **helptext.METHOD_NOTES,
                       **helptext.ESTIMATOR_NOTES}.items():  # fmt: skip
        assert f"{name}: {' '.join(note.split())}" in text, name
    assert "default: 20 ms" in text and "default: 100" in text and "default: whisper-tiny.en" in text
    assert "speechlens methods" in text and "speechlens corruptions" in text
    assert "examples:" in text and "speechlens pair --word yes --swap no --out pairs/yes" in text
    assert "--text" in text and "{word}" in text


def test_span_means_one_thing():
    text = " ".join(_help("patch").split())
    assert "--map-span SPAN" in text and "--span " not in text.replace("--map-span", "")
    assert "not the corruption's --param span=" in text
    listing = helptext.corruption_listing({"noise": type(__import__("corruptions").get("noise"))})
    assert "--param span=" in listing and "not the map's --map-span" in listing


def test_main_help_has_examples_that_make_pairs_first():
    text = _help()
    assert "examples:" in text
    made = text.index("speechlens pair --word yes --swap no --out pairs/yes-no")
    used = text.index("speechlens patch --pair pairs/yes-no")
    assert made < used


def test_notes_follow_the_registries():
    from intervene import methods
    from intervene.app.cli_args import check_method

    assert set(helptext.METHOD_NOTES) <= set(methods.names())
    assert tuple(helptext.ESTIMATOR_NOTES) == tuple(methods.ESTIMATORS)
    for name in helptext.METHOD_NOTES:
        check_method(name, None)  # each documented method runs from `speechlens patch`
    check_method("attribution", "ig")


def test_corruptions_command_lists_every_kind_and_parameter(capsys):
    import corruptions

    assert main(["corruptions"]) == 0
    out = capsys.readouterr().out
    for kind in corruptions.kinds():
        assert f"\n{kind}: " in "\n" + out, kind
        for field in dataclasses.fields(type(corruptions.get(kind))):
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            assert f"--param {field.name}=  default {default!r}" in out, (kind, field.name)
    flat = " ".join(out.split())
    assert "Target SNR, between -20 and 80 dB" in flat  # ranges come with the parameters
    assert "Between -12 and 12" in flat


def test_corruptions_command_for_one_kind(capsys):
    assert main(["corruptions", "noise"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("noise: ") and "SNR definition" in out and "\npitch_shift:" not in out
    assert main(["corruptions", "nosie"]) == 2
    assert "'noise'" in capsys.readouterr().err


def test_parameter_docs_reads_numpydoc():
    import corruptions

    docs = helptext.parameter_docs(corruptions.Noise)
    assert docs["snr_db"][0] == "float or (low, high)"
    assert docs["start_s"] == docs["duration_s"]  # "start_s, duration_s : ..." documents both
    assert "clips" in docs and "Examples" not in json.dumps(docs)


@pytest.mark.parametrize("argv", [["methods"]])
def test_methods_command_lists_the_registry(argv, capsys):
    from intervene import methods

    assert main(argv) == 0
    out = capsys.readouterr().out
    for name in methods.names():
        assert name in out
    assert "patch --method" in out
