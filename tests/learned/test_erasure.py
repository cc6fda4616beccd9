"""intervene.erase: the LEACE eraser as a pyvene intervention equals the hook path; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene import hooks
from intervene.learned.activations import window_frames
from intervene.learned.erasure import fit_leace
from intervene.learned.planted import DST_TIMES_S
from tasks.errors import ConfigError

SITE = "encoder.1.block_output"


def test_fitted_eraser_equalises_class_means_and_touches_little():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 200)
    x = rng.normal(size=(400, 6)) + np.where(y == "a", 1.0, -1.0)[:, None] * np.array([2.0, 0, 0, 0, 0, 0])
    module, classes = fit_leace(x, y)
    with torch.no_grad():
        e = module(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert classes == ["a", "b"]
    assert np.abs(e[y == "a"].mean(0) - e[y == "b"].mean(0)).max() < 1e-4
    assert np.abs(e - x)[:, 1:].max() < 0.2  # the other coordinates barely move


@torch.no_grad()
def test_eraser_through_pyvene_equals_plain_hooks(tiny_planted, planted_task, planted_pairs, planted_clips,
                                                  planted_acts):
    r = intervene.erase(tiny_planted, SITE, planted_clips, "keyword", times_s=DST_TIMES_S, activations=planted_acts)
    pair = planted_pairs[2]
    via_pyvene = intervene.intervene(tiny_planted, planted_task, pair, r.intervention)
    from intervene.context import PairContext

    ctx = PairContext.build(tiny_planted, planted_task, pair)
    pos = window_frames(tiny_planted, DST_TIMES_S, 50)
    with hooks.replace(tiny_planted, {SITE: (pos, lambda sel: r.module(sel))}):
        plain = float(ctx.readout.metric(tiny_planted.logits(ctx.base_inputs)))
    assert via_pyvene.metric == pytest.approx(plain, abs=1e-5)
    assert abs(via_pyvene.metric - via_pyvene.base_metric) > 0.5  # it did something: u was erased
    d = r.to_dict()
    assert d["rank"] == 1 and d["probe_after"]["accuracy"][0][0] <= 0.6


def test_bad_input_is_refused(tiny_planted, planted_clips, planted_acts):
    with pytest.raises(ConfigError, match="clip labels"):
        intervene.erase(tiny_planted, SITE, planted_clips, "speech", activations=planted_acts)
    with pytest.raises(ConfigError, match="one window"):
        intervene.erase(tiny_planted, SITE, planted_clips, "keyword", times_s=[(0.1, 0.2), (0.3, 0.4)],
                        activations=planted_acts)
    with pytest.raises(ConfigError, match="single class"):
        intervene.erase(tiny_planted, SITE, planted_clips, ["x"] * len(planted_clips), activations=planted_acts)
