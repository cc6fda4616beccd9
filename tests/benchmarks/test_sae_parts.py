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


def test_settings_check_data_and_match_flag(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        SAESettings(data=(f"folder:{tmp_path / 'missing'}",))
    with pytest.raises(ConfigError, match="match_l0"):
        SAESettings(match_l0="yes")
    assert SAESettings(data=(f"folder:{tmp_path}",)).data == (f"folder:{tmp_path.resolve()}",)


def test_work_settings_leave_unit_keys_out():
    from benchmarks.sae import work_settings

    a, b = work_settings(SAESettings()), work_settings(SAESettings(kinds=("relu",), widths=(64,), seeds=(3,), l1=0.2))
    assert a == b and "steps" in a and "kinds" not in a
    assert work_settings(SAESettings(steps=10)) != a


def test_held_out_alternates_words_and_sentences():
    from benchmarks.sae import _held_out
    from intervene.features import synthetic_corpus

    corpus = synthetic_corpus(60, n_noise=2, n_silence=1, seed=0)
    got = _held_out(corpus, list(range(len(corpus))), 4)
    words = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}
    assert [c.text in words for c in got] == [True, False, True, False]
    assert all(c.kind == "speech" for c in got)
