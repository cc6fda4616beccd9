"""Reverb: a causal decaying tail, the direct path at lag 0, the level kept."""

from __future__ import annotations

import numpy as np
import pytest

import corruptions
from corruptions import functional as F
from tasks.audio import SAMPLE_RATE


def test_impulse_response_decays_at_rt60():
    ir = F.decaying_ir(np.random.default_rng(0), SAMPLE_RATE, rt60_s=0.4, drr_db=0.0)
    assert ir.shape == (1 + int(0.4 * SAMPLE_RATE),)
    assert np.sum(ir**2) == pytest.approx(1.0)
    assert ir[0] ** 2 == pytest.approx(0.5)  # drr 0 dB: half the energy is direct
    tail = ir[1:] ** 2
    early = tail[: len(tail) // 4].mean()
    late = tail[3 * len(tail) // 4 :].mean()
    # 60 dB per rt60: the first and last quarters are 3/4 rt60 apart -> 45 dB.
    assert 10 * np.log10(early / late) == pytest.approx(45.0, abs=3.0)


def test_click_gets_a_causal_tail(rng):
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[4000] = 1.0
    pair = corruptions.get("reverb", rt60_s=0.3, drr_db=6.0).pair(click, seed=0)
    assert np.abs(pair.corrupt[:4000]).max() < 1e-9  # FFT round-off only
    assert int(np.argmax(np.abs(pair.corrupt))) == 4000
    assert np.abs(pair.corrupt[4000 + 100 : 4000 + 2000]).max() > 1e-3


def test_level_is_kept_on_average(rng):
    noise = (0.1 * rng.standard_normal(2 * SAMPLE_RATE)).astype(np.float32)
    pair = corruptions.get("reverb", rt60_s=0.5, drr_db=-6.0).pair(noise, seed=0)
    assert 20 * np.log10(F.rms(pair.corrupt[SAMPLE_RATE:]) / F.rms(pair.clean[SAMPLE_RATE:])) == pytest.approx(0, abs=1)
