"""The L1 calibration behind benchmarks/sae.py's "TopK vs ReLU at matched L0" (no model, no training)."""

from __future__ import annotations

import math

import pytest

from benchmarks.saebench.matched import (
    calibrate_l1,
    corrected_l1,
    log_slope,
    matched_rows,
    within,
)
from tasks.errors import ConfigError


def power_law(scale: float, slope: float):
    calls = []

    def measure(l1):
        calls.append(l1)
        return scale * l1**slope

    return measure, calls


@pytest.mark.parametrize("slope", [-1.0, -0.5, -2.0])
@pytest.mark.parametrize("target", [8.0, 32.0, 200.0])
def test_finds_a_coefficient_within_tolerance(slope, target):
    measure, calls = power_law(3.0, slope)
    got = calibrate_l1(measure, target, start_l1=0.05, tolerance=0.1, max_tries=8)
    assert got["matched"] and within(measure(got["l1"]), target, 0.1)
    assert len(got["tries"]) == len(calls) - 1 <= 8  # (one call above is the check)
    assert [t["l1"] for t in got["tries"]] == calls[:-1]


def test_brackets_then_interpolates_in_log_log():
    got = calibrate_l1(lambda c: 2.0 / c, 32.0, start_l1=0.05, factor=4.0)
    assert [round(t["l1"], 6) for t in got["tries"]] == [0.05, 0.2, 0.0625]
    assert got["l1"] == pytest.approx(0.0625) and got["slope"] == pytest.approx(-1.0)


def test_resumes_from_stored_tries_without_measuring_again():
    measure, calls = power_law(2.0, -1.0)
    first = calibrate_l1(measure, 32.0, start_l1=0.05, max_tries=2)
    assert not first["matched"] and len(calls) == 2
    tried = {t["l1"]: t["l0"] for t in first["tries"]}
    again = calibrate_l1(measure, 32.0, start_l1=0.05, max_tries=6, tried=tried)
    assert again["matched"] and len(calls) == 3  # only the one new measurement
    done = calibrate_l1(measure, 32.0, start_l1=0.05, tried={t["l1"]: t["l0"] for t in again["tries"]})
    assert len(calls) == 3 and done["l1"] == again["l1"]


def test_unreachable_target_stops_at_max_tries_with_the_closest():
    got = calibrate_l1(lambda c: 50.0 + 1.0 / c, 8.0, start_l1=0.05, max_tries=4)  # never below 50
    assert not got["matched"] and len(got["tries"]) == 4
    assert got["l1"] == max(t["l1"] for t in got["tries"])
    zero = calibrate_l1(lambda c: 0.0, 8.0, start_l1=0.05, max_tries=3)  # every feature off
    assert not zero["matched"] and len(zero["tries"]) == 3 and zero["l0"] == 0.0


def test_noisy_non_monotone_measurements_still_shrink_the_bracket():
    table = {0.05: 40.0, 0.2: 10.0}
    got = calibrate_l1(lambda c: table.get(c, 2.0 / c * (1.3 if c < 0.1 else 1.0)), 32.0, start_l1=0.05,
                       max_tries=6)  # fmt: skip
    assert all(0.05 <= t["l1"] <= 0.2 for t in got["tries"][2:])


def test_corrected_l1_follows_the_slope():
    assert corrected_l1(0.05, 40.0, 32.0, -1.0) == pytest.approx(0.0625)
    assert corrected_l1(0.05, 16.0, 32.0, -0.5) == pytest.approx(0.05 / 4)
    assert corrected_l1(0.05, 40.0, 32.0, 0.3) == pytest.approx(0.0625)  # a bad slope falls back to -1
    assert log_slope({0.1: 10.0}, 8.0) == -1.0
    assert log_slope({0.1: 100.0, 1.0: 10.0, 10.0: 9.0}, 50.0) == pytest.approx(-1.0)


def test_bad_arguments_are_config_errors():
    for kwargs in ({"tolerance": 0.0}, {"factor": 1.0}, {"start_l1": -1.0}, {"max_tries": 0}):
        with pytest.raises(ConfigError):
            calibrate_l1(lambda c: 1.0, 8.0, **kwargs)
    with pytest.raises(ConfigError, match="target_l0"):
        calibrate_l1(lambda c: 1.0, 0.0)


def test_matched_rows_put_both_saes_side_by_side():
    r = {"l0": 30.0, "explained_variance": 0.8, "mse": 0.1, "dead_fraction": 0.0, "dense_fraction": 0.01,
         "downstream": {"keyword_accuracy_change": -0.1, "wer_change": 0.2}}
    rows = matched_rows({"k": 32, "topk_name": "topk-w64-k32", "relu_name": "relu-w64-l10.1",
                         "topk": {**r, "l0": 32.0}, "relu": r})  # fmt: skip
    assert rows[0][:3] == ["topk-w64-k32", 32.0, 1.0] and rows[1][2] == pytest.approx(30 / 32)
    assert rows[1][-2:] == [-0.1, 0.2] and math.isclose(rows[1][3], 0.8)
