"""The existing corruptions on an aligned word of a recording (a dataset clip with .words)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import corruptions
import tasks
from conftest import write_clip


@pytest.fixture(scope="module")
def clip(bank, tmp_path_factory):
    root = tmp_path_factory.mktemp("words")
    utt = bank["bob", "turn the lights off"]
    write_clip(root / "a.flac", utt)
    (root / "m.jsonl").write_text(json.dumps({"path": "a.flac", "text": utt.text, "speaker": "bob",
                                              "words": [list(w) for w in utt.words]}))  # fmt: skip
    return tasks.open_dataset(f"manifest:{root / 'm.jsonl'}")[0]


@pytest.mark.parametrize("kind, params", [
    ("gap", {"fill": "silence"}), ("gap", {"fill": "noise"}), ("noise", {"snr_db": 0.0, "span": "word"}),
])  # fmt: skip
def test_local_corruptions_touch_only_the_word(clip, kind, params):
    span = clip.word_span("lights")
    pair = corruptions.get(kind, **params).pair(clip, target="lights", seed=0)
    a, b = int(round(span.start_s * 16000)), int(round(span.end_s * 16000))
    assert np.array_equal(pair.corrupt[:a], pair.clean[:a]) and np.array_equal(pair.corrupt[b:], pair.clean[b:])
    assert not np.array_equal(pair.corrupt[a:b], pair.clean[a:b])
    assert pair.clean_answer == "lights" and pair.metadata["speaker"] == "bob"


@pytest.mark.parametrize("inner", [
    {"kind": "pitch_shift", "semitones": 4.0}, {"kind": "lowpass", "cutoff_hz": 800.0},
    {"kind": "bandstop", "center_hz": 1000.0},
])  # fmt: skip
def test_whole_clip_corruptions_confined_to_the_word(clip, inner):
    """pitch_shift, lowpass and bandstop act on the whole clip; on_word confines them to the word."""
    span = clip.word_span("lights")
    pair = corruptions.get("on_word", corruption=inner, crossfade_s=0.01).pair(clip, target="lights", seed=0)
    a, b = int(round(span.start_s * 16000)), int(round(span.end_s * 16000))
    fade = 160
    assert np.array_equal(pair.corrupt[: a - fade], pair.clean[: a - fade])
    assert np.array_equal(pair.corrupt[b + fade :], pair.clean[b + fade :])
    whole = corruptions.get(inner["kind"], **{k: v for k, v in inner.items() if k != "kind"}).apply(clip, pair.params["inner"])
    assert np.array_equal(pair.corrupt[a:b], whole[a:b])  # inside the word: the inner corruption's output
    assert pair.clean_answer == pair.corrupt_answer == "lights" and pair.corruption["corruption"]["kind"] == inner["kind"]
