"""The pure signal-processing core."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from corruptions import functional as F
from tasks.errors import AudioError


def test_mix_at_snr_is_exact(rng):
    audio = rng.standard_normal(4000).astype(np.float32)
    noise = rng.standard_normal(4000)
    for snr in (-10.0, 0.0, 20.0):
        assert F.snr_db(audio, F.mix_at_snr(audio, noise, snr)) == pytest.approx(snr, abs=1e-3)
    assert np.array_equal(F.mix_at_snr(audio, noise, math.inf), audio)
    with pytest.raises(AudioError, match="shape"):
        F.mix_at_snr(audio, noise[:10], 0.0)
    with pytest.raises(AudioError, match="silence"):
        F.mix_at_snr(np.zeros(10, np.float32), noise[:10], 0.0)


def test_colored_noise_is_deterministic():
    a = F.colored_noise(np.random.default_rng(3), 1000, "brown")
    b = F.colored_noise(np.random.default_rng(3), 1000, "brown")
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, F.colored_noise(np.random.default_rng(4), 1000, "brown"))


def test_crossfade_cut_and_splice_leave_the_rest_bit_exact(rng):
    audio = rng.standard_normal(1000).astype(np.float32)
    cut = F.crossfade_cut(audio, 300, 500, 40)
    assert cut.shape == audio.shape
    assert np.array_equal(cut[:280], audio[:280]) and np.array_equal(cut[320:800], audio[520:])
    assert np.all(cut[800:] == 0)
    new = rng.standard_normal(600).astype(np.float32)
    out = F.splice(audio, 300, 500, new, 100, 250, 40)  # a 150-sample word replaces a 200-sample one
    assert out.shape == audio.shape
    assert np.array_equal(out[:280], audio[:280])
    assert np.array_equal(out[320:430], new[120:230])
    assert np.array_equal(out[470:950], audio[520:])
    assert np.all(out[970:] == 0)
    assert np.array_equal(F.splice(audio, 300, 500, audio, 300, 500, 40), audio)


def test_changed_spans_merge_close_runs():
    a = np.zeros(16000, np.float32)
    b = a.copy()
    b[100:200] = 1
    b[250:300] = 1  # 50 samples later: merged at 20 ms
    b[8000:8100] = 1
    assert F.changed_spans(a, b, 16000) == [(100 / 16000, 300 / 16000), (0.5, 8100 / 16000)]
    assert F.changed_spans(a, a, 16000) == []


def test_time_stretch_to_keeps_pitch(tone):
    word = tone(200.0, 0.3)
    longer = F.time_stretch_to(word, 6000)
    assert longer.shape == (6000,)
    peak = np.fft.rfftfreq(6000, 1 / 16000)[np.argmax(np.abs(np.fft.rfft(longer[1000:5000], n=6000)))]
    assert peak == pytest.approx(200.0, abs=5.0)


def test_butterworth_leaves_global_random_state_alone(rng):
    state, py_state = np.random.get_state()[1].copy(), random.getstate()
    F.butterworth(rng.standard_normal(1000).astype(np.float32), 16000, "lowpass", cutoff_hz=1000.0)
    assert np.array_equal(np.random.get_state()[1], state) and random.getstate() == py_state


def test_frame_distance_is_zero_for_equal_clips_and_counts_frames(rng):
    audio = rng.standard_normal(16000).astype(np.float32)
    distance = F.frame_distance_db(audio, audio, 16000, 0.02)
    assert distance.shape == (50,) and np.all(distance == 0)
