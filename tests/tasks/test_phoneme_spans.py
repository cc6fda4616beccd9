"""Timed phonemes from espeak-ng's phoneme events (tasks.phonemes), used by the atlas's marks."""

from __future__ import annotations

import numpy as np
import pytest

import tasks
from tasks import _espeak
from tasks.errors import ConfigError
from tasks.phonemes import phoneme_label, phoneme_spans, spread_phonemes


def test_phoneme_events_leave_the_samples_unchanged():
    plain = _espeak.synthesize("turn the lights off", "en-us", 175, 50)
    timed = _espeak.synthesize("turn the lights off", "en-us", 175, 50, phonemes=True)
    assert np.array_equal(plain.samples, timed.samples) and plain.phoneme_events == ()
    assert len(timed.phoneme_events) >= 10 and timed.word_events == plain.word_events


def test_phoneme_spans_lie_inside_their_words_in_order():
    text = "the quick brown fox jumps over the lazy dog"
    utt = tasks.speak(text, voice="en-gb-x-rp", rate=220, pitch=40)
    phones = phoneme_spans(text, voice="en-gb-x-rp", rate=220, pitch=40)
    duration = utt.audio.shape[0] / 16000
    starts = [p.start_s for p in phones]
    assert starts == sorted(starts) and all(0 <= p.start_s < p.end_s <= duration for p in phones)
    assert [p.word for p in phone_of(phones, utt.word_span("fox"))] == ["f", "0", "k", "s"]
    # every word holds phonemes, and the phonemes cover the speech (between the 50 ms paddings)
    for w in utt.words:
        assert phone_of(phones, w), w
    assert phones[0].start_s == pytest.approx(0.05, abs=0.02) and phones[-1].end_s == pytest.approx(duration - 0.05, abs=0.02)


def phone_of(phones, span):
    """Phonemes whose centre lies inside ``span`` (word spans are tightened to audible frames)."""
    return [p for p in phones if span.start_s - 0.01 <= (p.start_s + p.end_s) / 2 <= span.end_s + 0.01]


def test_labels_drop_stress_and_variant_digits():
    assert [phoneme_label(n) for n in ("'aU", ",I", "@2", "3:", "_:", "_")] == ["aU", "I", "@", "3:", "", ""]


def test_spread_phonemes_stretches_onto_aligned_spans():
    out = spread_phonemes([("yes", 1.0, 1.5), ("...", 2.0, 2.2), ("no", 2.0, 2.4)])
    assert [p.word for p in out] == ["j", "E", "s", "n", "oU"]
    assert out[0].start_s == pytest.approx(1.0) and out[2].end_s == pytest.approx(1.5)
    assert out[3].start_s == pytest.approx(2.0) and out[4].end_s == pytest.approx(2.4)


def test_phoneme_spans_check_arguments_like_speak():
    with pytest.raises(ConfigError, match="rate"):
        phoneme_spans("yes", rate=10)
