"""A word swap inside a sentence changes only the word (issue 12: "cat" -> "dog" in "the cat sat
on the mat" used to change 0.19-1.33 s and be heard as "the dog sounds on the mat")."""

from __future__ import annotations

import argparse
import re

import numpy as np

from corruptions import MinimalPair
from intervene.app.cli import main
from tasks.audio import SAMPLE_RATE


def _words(text: str) -> list:
    return re.sub(r"[^a-z ]", " ", text.lower()).split()


def test_sentence_pair_from_the_cli_changes_only_the_word(tmp_path, capsys, tiny_en):
    out = tmp_path / "cat-dog"
    assert main(["pair", "--word", "cat", "--swap", "dog", "--text", "the {word} sat on the mat", "--out", str(out)]) == 0
    assert "in_place splice" in capsys.readouterr().out
    pair = MinimalPair.load(out)
    cat = next(w for w in pair.words if w.word == "cat")
    ((start_s, end_s),) = pair.changed_spans
    assert cat.start_s - 0.05 <= start_s and end_s <= cat.end_s + 0.05, (pair.changed_spans, cat)
    # Every sample outside the word's slot is the clean one; no later word moved.
    a, b = (int(round(pair.params[k] * SAMPLE_RATE)) for k in ("slot_start_s", "slot_end_s"))
    assert np.array_equal(pair.clean[:a], pair.corrupt[:a]) and np.array_equal(pair.clean[b:], pair.corrupt[b:])
    assert [w for w in pair.corrupt_words if w.word != "dog"] == [w for w in pair.words if w.word != "cat"]
    # How it was made is in the pair.
    assert pair.params["splice"] == "in_place" and pair.params["via"] == "tts"
    assert {"gain_db", "stretch_ratio", "partner_slot_start_s", "partner_slot_end_s"} <= set(pair.params)
    assert pair.metadata["task"] == {"kind": "carrier", "template": "the {word} sat on the mat"}
    # Whisper hears the carrier unchanged around the new word.
    clean, corrupt = _words(tiny_en.transcribe(pair.clean)), _words(tiny_en.transcribe(pair.corrupt))
    assert clean == ["the", "cat", "sat", "on", "the", "mat"]
    assert corrupt[0] == "the" and corrupt[2:] == ["sat", "on", "the", "mat"] and corrupt[1] != "cat", corrupt


def test_patch_reads_a_saved_sentence_pair_with_its_sentence(tmp_path, capsys):
    from intervene.app.commands import _make_task, _task_config

    out = tmp_path / "p"
    assert main(["pair", "--word", "cat", "--swap", "dog", "--text", "the {word} sat on the mat", "--out", str(out)]) == 0
    pair = MinimalPair.load(out)
    args = argparse.Namespace(text=None, task=None, words=None, word="yes", swap=None)
    config = _task_config(args, [pair])
    assert config == {"kind": "carrier", "template": "the {word} sat on the mat"}
    task = _make_task(args, config, [pair])
    assert task.template == "the {word} sat on the mat" and {"cat", "dog"} <= set(task.words)
    # A keyword pair keeps the keyword task.
    assert main(["pair", "--word", "yes", "--swap", "no", "--out", str(tmp_path / "k")]) == 0
    assert _task_config(args, [MinimalPair.load(tmp_path / "k")])["kind"] == "keyword"
