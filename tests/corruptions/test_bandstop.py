"""Band-stop: the band is removed, the rest kept."""

from __future__ import annotations

import numpy as np

import corruptions
from tasks.audio import SAMPLE_RATE


def test_band_is_removed_and_the_rest_kept(rng, band_power):
    noise = (0.1 * rng.standard_normal(2 * SAMPLE_RATE)).astype(np.float32)
    pair = corruptions.get("bandstop", center_hz=1000.0, bandwidth_fraction=1.0).pair(noise, seed=0)
    assert pair.params["bandwidth_hz"] == 1000.0
    inside = band_power(pair.corrupt, 800, 1200) / band_power(pair.clean, 800, 1200)
    low = band_power(pair.corrupt, 50, 200) / band_power(pair.clean, 50, 200)
    high = band_power(pair.corrupt, 3500, 7000) / band_power(pair.clean, 3500, 7000)
    assert 10 * np.log10(inside) < -20.0
    assert 10 * np.log10(low) > -1.0 and 10 * np.log10(high) > -1.0
