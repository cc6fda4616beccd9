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


@pytest.mark.parametrize("kind", ["pitch_shift", "lowpass", "bandstop"])
def test_whole_clip_corruptions_take_a_recording(clip, kind):
    pair = corruptions.get(kind).pair(clip, target="lights", seed=0)
    assert pair.clean_answer == "lights" and pair.corrupt.shape == pair.clean.shape
    assert pair.words == clip.words
