"""benchmarks/sae.py's parts that need no model: the single-feature probe and the settings' checks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.sae import SAESettings
from benchmarks.saebench.measure import single_feature_probe
from tasks.errors import ConfigError


def test_single_feature_probe_finds_the_informative_feature():
    rng = np.random.default_rng(0)
    y = ["a", "b", "c"] * 20
    x = rng.normal(size=(60, 8))
    x[:, 5] += np.array([{"a": 0.0, "b": 4.0, "c": 8.0}[v] for v in y])
    got = single_feature_probe(x[:40], y[:40], x[40:], y[40:])
    assert got["feature"] == 5 and got["test_accuracy"] > 0.9 and got["chance"] == pytest.approx(7 / 20)
    assert single_feature_probe(x[:5], ["a"] * 5, x[5:], y[5:])["test_accuracy"] is None  # one class


def test_settings_checks():
    assert SAESettings().site == "encoder.3.block_output"
    with pytest.raises(ConfigError, match="kinds"):
        SAESettings(kinds=("gated",))
    with pytest.raises(ConfigError, match="at most every width"):
        SAESettings(widths=(16,), k=32)
