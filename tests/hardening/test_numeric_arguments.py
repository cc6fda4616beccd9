"""Class 1 of issue 12: every number a user passes is checked (type, finite, range) at the API edge.

Before: ``batch_size=-1`` ran no cell and read the map from uninitialised memory,
``margin_ms=nan`` silently widened the span to the whole clip, ``window_ms=nan`` and
``Utterance.padded(nan)`` raised a raw ValueError, ``context_frames`` shorter than the clip
an IndexError. Each must now be a ConfigError naming the argument, before any work is done.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import intervene
import tasks
from intervene.methods import Method
from tasks.checks import check_int, check_real
from tasks.errors import ConfigError, InterventionError

SITE = "encoder.0.block_output"


@pytest.fixture(scope="module")
def task():
    return tasks.KeywordTask(["yes", "no"])


@pytest.mark.parametrize("option, value, match", [
    ("batch_size", -1, "batch_size"),
    ("batch_size", 0, "batch_size"),
    ("batch_size", 2.5, "batch_size"),
    ("batch_size", True, "batch_size"),
    ("batch_size", "4", "batch_size"),
    ("window_ms", math.nan, "window_ms"),
    ("window_ms", math.inf, "window_ms"),
    ("window_ms", -20.0, "window_ms"),
    ("window_ms", 30.0, "multiple"),
    ("margin_ms", math.nan, "margin_ms"),
    ("margin_ms", -1.0, "margin_ms"),
    ("margin_ms", math.inf, "margin_ms"),
    ("context_frames", 0, "context_frames"),
    ("context_frames", 10, "shorter than the clip"),
    ("context_frames", 49.5, "context_frames"),
    ("guards", "no", "guards"),
    ("span", (0.1, math.nan), "span"),
    ("span", ("a", 0.5), "span"),
    ("tokens", [1.5], "tokens"),
    ("tokens", [True], "tokens"),
])
def test_patch_refuses_bad_numbers(tiny_whisper, task, yes_no_pair, option, value, match):
    _, pair = yes_no_pair
    unit = {"tokens": "token"}.get(option)
    sites = "decoder.0.block_output" if unit == "token" else SITE
    kwargs = {"guards": False} | {option: value}
    with pytest.raises(ConfigError, match=match):
        intervene.patch(tiny_whisper, task, pair, sites, unit, **kwargs)


@pytest.mark.parametrize("option, value", [("ig_steps", -1), ("ig_steps", 2.5), ("context_frames", 10)])
def test_attribution_refuses_bad_numbers(tiny_whisper, task, yes_no_pair, option, value):
    _, pair = yes_no_pair
    with pytest.raises(ConfigError, match=option):
        intervene.patch(tiny_whisper, task, pair, SITE, method="attribution", **{option: value})


def test_margin_is_not_silently_widened(tiny_whisper, task, yes_no_pair):
    """A good margin still gives a span around the change, not the clip."""
    _, pair = yes_no_pair
    cmap = intervene.patch(tiny_whisper, task, pair, SITE, margin_ms=0.0, window_ms=100.0, guards=False)
    lo, hi = cmap.meta.span_s
    assert (lo, hi) != (0.0, 1.0) and lo >= pair.changed_spans[0][0] - 1e-9


def test_whole_numbers_given_as_floats_are_accepted(tiny_whisper, task, yes_no_pair):
    _, pair = yes_no_pair
    cmap = intervene.patch(tiny_whisper, task, pair, SITE, batch_size=2.0, window_ms=np.float64(200.0), guards=False,
                           context_frames=np.int64(50))
    assert cmap.values.shape[0] == 1 and np.isfinite(cmap.values).all()


def test_sweep_refuses_bad_options_before_any_pair(tiny_whisper, task, yes_no_pair):
    _, pair = yes_no_pair
    with pytest.raises(ConfigError, match="batch_size"):
        intervene.sweep(tiny_whisper, task, [pair], SITE, batch_size=-1)
    with pytest.raises(ConfigError, match="windw_ms"):
        intervene.sweep(tiny_whisper, task, [pair], SITE, windw_ms=40)
    with pytest.raises(ConfigError, match="min_gap"):
        intervene.sweep(tiny_whisper, task, [pair], SITE, min_gap=math.nan)
    with pytest.raises(ConfigError, match="pairs"):
        intervene.sweep(tiny_whisper, task, None, SITE)


@pytest.mark.parametrize("kwargs, match", [
    ({"positions": [2.5]}, "positions"),
    ({"positions": [True]}, "positions"),
    ({"positions": [-1]}, "positions"),
    ({"positions": []}, "positions"),
    ({"times_s": (math.nan, 0.5)}, "times_s"),
    ({"times_s": (0.5, 0.1)}, "times_s"),
    ({"times_s": "0.1-0.5"}, "times_s"),
])
def test_intervention_refuses_bad_positions(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        intervene.Intervention(SITE, **kwargs)


@pytest.mark.parametrize("duration_s, onset_s", [(math.nan, None), (math.inf, None), (-1.0, None), (0.0, None),
                                                 (1e9, None), ("1", None), (1.0, math.nan), (1.0, -0.1)])
def test_padded_refuses_bad_durations(duration_s, onset_s):
    utt = tasks.Utterance(np.zeros(1600, np.float32), words=[("yes", 0.01, 0.09)])
    with pytest.raises(ConfigError, match="duration_s|onset_s"):
        utt.padded(duration_s, onset_s)


def test_word_spans_must_be_finite_and_inside_the_clip():
    audio = np.zeros(1600, np.float32)  # 0.1 s
    for words in ([("yes", math.nan, 0.05)], [("yes", 0.0, math.inf)], [("yes", 0.0, 0.5)], [(None, 0.0, 0.05)]):
        with pytest.raises(ConfigError):
            tasks.Utterance(audio, words=words)


def test_checks_name_argument_value_and_rule():
    with pytest.raises(ConfigError, match=r"batch_size \(2.5\) must be a whole number >= 1"):
        check_int("batch_size", 2.5, low=1)
    with pytest.raises(ConfigError, match=r"margin_ms \(nan\) must be a finite number >= 0 ms, not NaN"):
        check_real("margin_ms", math.nan, low=0, unit="ms")
    assert check_int("n", 3.0) == 3 and check_real("x", np.float32(0.5)) == 0.5


class _LeavesACellEmpty(Method):
    """A method that forgets one cell: the map must refuse it, not show uninitialised memory."""

    name = "test-leaves-a-cell-empty"
    guarded = False

    def prepare(self, sites):
        pass

    def run(self, cells, progress=None):
        out = np.full(len(cells), np.nan)
        out[1:] = 1.0
        return out

    def metrics(self):
        return 0.0, 2.0


def test_an_unfilled_cell_is_a_typed_error(tiny_whisper, task, yes_no_pair):
    _, pair = yes_no_pair
    intervene.methods.register(_LeavesACellEmpty)
    try:
        with pytest.raises(InterventionError, match="no finite metric for 1 of"):
            intervene.patch(tiny_whisper, task, pair, SITE, method=_LeavesACellEmpty.name, window_ms=200.0)
    finally:
        intervene.methods.unregister(_LeavesACellEmpty.name)
