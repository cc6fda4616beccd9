"""Gap: exact silence or fill level on the span, bit-identical audio outside, cuts, frames."""

from __future__ import annotations

import numpy as np
import pytest

import corruptions
from corruptions import functional as F
from tasks.audio import SAMPLE_RATE
from tasks.errors import AudioError


def test_default_gap_silences_the_target_word_exactly(sentence):
    pair = corruptions.get("gap").pair(sentence, seed=0, target="it")
    a, b = int(0.45 * SAMPLE_RATE), int(0.6 * SAMPLE_RATE)
    assert pair.params["target"] == "it" and pair.params["fill"] == "silence"
    assert np.all(pair.corrupt[a:b] == 0.0)
    assert np.array_equal(pair.corrupt[:a], pair.clean[:a]) and np.array_equal(pair.corrupt[b:], pair.clean[b:])
    assert pair.clean_answer == pair.corrupt_answer == "it"
    assert [w.word for w in pair.corrupt_words] == ["turn", "on"]


def test_margin_widens_the_word_span(sentence):
    pair = corruptions.get("gap", margin_s=0.02).pair(sentence, seed=0, target="on")
    assert (pair.params["start_s"], pair.params["end_s"]) == pytest.approx((0.68, 1.02))


def test_noise_fill_has_the_requested_level(word_clip):
    for level_db in (0.0, -12.0):
        pair = corruptions.get("gap", fill="noise", level_db=level_db, color="pink").pair(word_clip, seed=3)
        a, b = int(0.3 * SAMPLE_RATE), int(0.6 * SAMPLE_RATE)
        expected = F.rms(word_clip.audio) * 10 ** (level_db / 20)
        assert F.rms(pair.corrupt[a:b]) == pytest.approx(expected, rel=1e-4)
        assert np.array_equal(pair.corrupt[:a], pair.clean[:a]) and np.array_equal(pair.corrupt[b:], pair.clean[b:])
        assert np.corrcoef(pair.corrupt[a:b], pair.clean[a:b])[0, 1] < 0.1  # the word is gone


def test_ramps_blend_inside_the_span_only(word_clip):
    pair = corruptions.get("gap", start_s=0.4, duration_s=0.1, ramp_s=0.01).pair(word_clip, seed=0)
    a, b, ramp = int(0.4 * SAMPLE_RATE), int(0.5 * SAMPLE_RATE), int(0.01 * SAMPLE_RATE)
    assert np.all(pair.corrupt[a + ramp : b - ramp] == 0.0)
    assert np.array_equal(pair.corrupt[:a], pair.clean[:a]) and np.array_equal(pair.corrupt[b:], pair.clean[b:])
    edge = pair.corrupt[a : a + ramp] / pair.clean[a : a + ramp]
    assert edge[0] > 0.99 and edge[-1] < 0.01 and np.all(np.diff(edge) <= 1e-6)


def test_cut_keeps_length_and_moves_the_rest(sentence):
    crossfade_s = 0.01
    pair = corruptions.get("gap", fill="cut", crossfade_s=crossfade_s).pair(sentence, seed=0, target="it")
    a, b, half = int(0.45 * SAMPLE_RATE), int(0.6 * SAMPLE_RATE), int(crossfade_s * SAMPLE_RATE) // 2
    n = sentence.audio.shape[0]
    assert pair.corrupt.shape == (n,)
    assert np.array_equal(pair.corrupt[: a - half], pair.clean[: a - half])
    assert np.array_equal(pair.corrupt[a + half : n - (b - a)], pair.clean[b + half :])
    assert np.all(pair.corrupt[n - (b - a) :] == 0.0)
    on = next(w for w in pair.corrupt_words if w.word == "on")
    assert (on.start_s, on.end_s) == pytest.approx((0.7 - 0.15, 1.0 - 0.15))


def test_gap_on_a_source_without_words_needs_times(rng):
    audio = (0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
    with pytest.raises(AudioError, match="start_s= and duration_s="):
        corruptions.get("gap").pair(audio, seed=0)
    pair = corruptions.get("gap", start_s=0.1, duration_s=0.2).pair(audio, seed=0)
    assert pair.clean_answer is None and np.all(pair.corrupt[1600:4800] == 0)


@pytest.mark.parametrize("fill", ["silence", "noise", "cut"])
def test_changed_frames_lie_on_the_gap(fill, yes_utterance):
    pair = corruptions.get("gap", fill=fill, start_s=0.4, duration_s=0.16).pair(yes_utterance, seed=0)
    frames = pair.changed_frames(frame_s=0.02)
    assert frames.shape == (int(np.ceil(pair.duration_s / 0.02)),)
    changed = np.flatnonzero(frames)
    first, last = 20, 27  # frames 20..27 cover 0.40-0.56 s
    assert changed.min() >= first - 2
    assert set(range(first + 1, last)) <= set(changed)
    if fill != "cut":  # a cut moves everything after it
        assert changed.max() <= last + 2
