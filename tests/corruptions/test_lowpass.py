"""Low-pass: energy above the cutoff is removed, below it kept, without delay."""

from __future__ import annotations

import numpy as np
import pytest

import corruptions
from tasks.audio import SAMPLE_RATE


@pytest.mark.parametrize("cutoff_hz", [500.0, 2000.0])
def test_energy_above_cutoff_is_removed(rng, cutoff_hz, band_power):
    noise = (0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
    pair = corruptions.get("lowpass", cutoff_hz=cutoff_hz).pair(noise, seed=0)
    above = band_power(pair.corrupt, 2 * cutoff_hz, 8000) / band_power(pair.clean, 2 * cutoff_hz, 8000)
    below = band_power(pair.corrupt, 0, cutoff_hz / 2) / band_power(pair.clean, 0, cutoff_hz / 2)
    assert 10 * np.log10(above) < -30.0  # 24 dB/octave: -24.6 dB at 2x cutoff, more above
    assert 10 * np.log10(below) > -1.0


def test_zero_phase_keeps_timing():
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[8000] = 1.0
    out = corruptions.get("lowpass", cutoff_hz=1000.0).pair(click, seed=0).corrupt
    assert int(np.argmax(np.abs(out))) == 8000
    causal = corruptions.get("lowpass", cutoff_hz=1000.0, zero_phase=False, rolloff_db=18).pair(click, seed=0).corrupt
    assert int(np.argmax(np.abs(causal))) > 8000


def test_drawn_cutoff_is_log_uniform_within_range(word_clip):
    cutoffs = [corruptions.get("lowpass", cutoff_hz=(300.0, 3000.0)).sample(np.random.default_rng(s), word_clip)["cutoff_hz"]
               for s in range(200)]
    assert 300.0 <= min(cutoffs) and max(cutoffs) <= 3000.0
    assert np.median(cutoffs) == pytest.approx(np.sqrt(300.0 * 3000.0), rel=0.2)
