"""The guards of the anatomy methods run by default, reproduce the base exactly, and can fail."""

from __future__ import annotations

import pytest
import torch

import intervene
from intervene import methods
from intervene.anatomy import Ablation, AttentionWindow, HeadMask, RunEnv, Steering
from intervene.anatomy.engine import AnatomyMethod
from intervene.patching import patch_context
from intervene.sites import Site
from tasks.errors import GuardError


def test_each_identity_twin_reproduces_the_base_run_exactly(ctx, vec16):
    env = RunEnv(ctx.model, ctx.base_inputs, base=None)
    m = methods.get("ablation")(ctx, engine="cached")
    base = ctx.base_metric
    twins = [
        Ablation("encoder.1.block_output", kind="silence").identity(m.env),  # mean over a set of one clip: the run's input
        Ablation("decoder.1.cross_attention_head.1", kind="zero").identity(m.env),
        AttentionWindow(2, layers=[1]).identity(env),  # k covering every frame
        Steering("encoder.2.block_output", vec16, 5.0).identity(env),  # alpha = 0
    ]
    assert twins[2].k == ctx.model.n_positions - 1 and twins[3].alpha == 0.0
    for engine in ("cached", "hooks"):
        m = methods.get("ablation")(ctx, engine=engine)
        for twin in twins:
            assert m.run_interventions([twin]) == pytest.approx(base, rel=1e-6, abs=1e-6), (engine, twin)
        assert m.run_interventions([]) == pytest.approx(base, rel=1e-6, abs=1e-6)
    # and the real thing moves the metric, so the twins are not vacuous
    assert abs(m.run_interventions([AttentionWindow(2, layers=[1])]) - base) > 1e-4


@pytest.mark.parametrize("method,intervention,sites", [
    ("ablation", Ablation(None, kind="silence"), ["encoder.0.block_output", "decoder.1.mlp_output"]),
    ("window", AttentionWindow(4), ["encoder.0.attention_output", "encoder.2.attention_output"]),
    ("head_mask", None, ["encoder.1.attention_head.0", "decoder.1.cross_attention_head.1"]),
    ("steer", "vec16", ["encoder.1.block_output"]),
])
def test_patch_runs_the_kinds_guards_by_default(ctx, vec16, method, intervention, sites):
    if intervention == "vec16":
        intervention = Steering(None, vec16, 2.0)
    cmap = patch_context(ctx, sites, unit="all", span="clip", method=method,
                         intervention=intervention if intervention is not None else "interchange")
    guards = cmap.meta.guards
    assert guards and all(g["ok"] for g in guards)
    names = " ".join(g["guard"] for g in guards)
    assert "no intervention = base" in names and "plain torch hooks" in names
    if method != "head_mask":
        assert sum(" = base" in g["guard"] for g in guards) == 1 + len(sites)  # the empty cell + one twin per site
    assert cmap.meta.method == method and method in cmap.meta.runner or cmap.meta.runner


def test_a_method_that_silently_does_nothing_fails_its_guard(ctx, monkeypatch):
    original = AnatomyMethod.run_interventions

    def lazy(self, interventions):  # drops every intervention: the worst bug
        return original(self, [])

    monkeypatch.setattr(AnatomyMethod, "run_interventions", lazy)
    with pytest.raises(GuardError, match="plain torch hooks"):
        patch_context(ctx, ["decoder.1.cross_attention_head.0"], unit="all", method="head_mask")


def test_a_method_that_corrupts_the_run_fails_the_identity_guard(ctx, monkeypatch):
    original = Ablation.values

    def off(self, model, site, env):  # not a constant shift: layer norms would remove that
        v = original(self, model, site, env)
        return v + 0.5 * torch.linspace(-1, 1, v.shape[-1])

    monkeypatch.setattr(Ablation, "values", off)
    with pytest.raises(GuardError, match="mean"):
        patch_context(ctx, ["encoder.1.block_output"], unit="all", span="clip", method="ablation",
                      intervention=Ablation(None, kind="silence"))


def test_guards_can_be_switched_off(ctx):
    cmap = patch_context(ctx, ["encoder.1.attention_head.1"], unit="all", span="all", method="head_mask", guards=False)
    assert cmap.meta.guards == []
    m = methods.get("head_mask")(ctx)
    m.prepare([Site.parse("encoder.1.attention_head.1")])
    assert cmap.patched.reshape(-1)[0] == pytest.approx(m.run_interventions([HeadMask("encoder.1.attention_head.1")]))


def test_intervene_exports_the_contract_names():
    for name in ("Ablation", "AttentionWindow", "HeadMask", "Steering", "direction", "transcribe"):
        assert getattr(intervene, name) is not None
    assert {"ablation", "window", "head_mask", "steer"} <= set(methods.names())
