"""A plain run prints nothing it should not: no transformers deprecation warning on every
transcription, and no default output folder shows up in ``git status`` (issue 12)."""

from __future__ import annotations

import warnings
from pathlib import Path

from intervene.app.cli import build_parser


def test_greedy_decoding_warns_nothing(tiny_en):
    from tasks.tts import speak

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = tiny_en.transcribe(speak("the cat sat on the mat").audio)
    assert text.lower().startswith("the cat sat on the mat")
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert deprecations == []


def test_default_output_folders_are_ignored():
    ignored = set(Path(__file__).resolve().parents[2].joinpath(".gitignore").read_text().split())
    sub = build_parser()._subparsers._group_actions[0].choices
    defaults = {a.default for p in sub.values() for a in p._actions if a.dest == "out" and isinstance(a.default, str)}
    assert {"speechlens-demo", "speechlens-patch"} <= defaults
    for folder in defaults | {"runs"}:
        assert f"/{folder}/" in ignored, folder
