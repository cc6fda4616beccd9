"""Attribution estimators on the tiny random Whisper (and the generic AtP path on the classifiers).

The lookahead estimator claims to carry the patched positions exactly through the rest of the
model and to take only the spill-over onto other positions to first order. These tests check
that claim against a reference built from a real patched forward with plain torch hooks, and
its small-patch limit (plain AtP). Both are properties of the computation, not of trained
weights, so the tiny model checks them in seconds; the estimators' accuracy against exact
patching on real speech is checked on whisper-tiny.en in test_whisper_tiny_en.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
import tasks
from intervene import hooks
from intervene.context import PairContext
from intervene.methods.attribution import AttributionMethod, resolve_estimator
from intervene.models.whisper.lookahead import lookahead_scores
from intervene.sites import Site
from tasks.errors import CapabilityError, ConfigError, UnknownNameError

GROUPS = [[14], [16, 17], [19], list(range(10, 50))]  # one frame, two frames, and a group > 32 (full path)


@pytest.fixture(scope="module")
def ctx(tiny_whisper, yes_no_pair):
    return PairContext.build(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1])


def attribution_metrics(ctx, sites, groups, estimator=None):
    """``(base, source, estimated metrics (sites, groups), info)`` through the attribution method."""
    method = AttributionMethod(ctx, estimator=estimator)
    deltas, base, source = method.estimate(sites, groups)
    return base, source, base + deltas, {"estimator": method.estimator, "atp_sites": method.atp_sites}


class _recorded:
    """Record module outputs ("out") or inputs ("in", positional or the keyword ``kw``) by name."""

    def __init__(self, modules):
        self.modules, self.store, self.handles = modules, {}, []

    def __enter__(self):
        for name, (mod, kind, kw) in self.modules.items():
            if kind == "in":
                self.handles.append(mod.register_forward_pre_hook(
                    lambda _m, a, k, n=name, kw=kw: self.store.__setitem__(n, a[0] if a else k[kw]), with_kwargs=True))
            else:
                self.handles.append(mod.register_forward_hook(
                    lambda _m, _a, o, n=name: self.store.__setitem__(n, hooks.site_tensor(o))))
        return self.store

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _module_grads(model, ctx, modules):
    """Base run: ``{name: (value, d metric / d value)}`` of the recorded tensors."""
    with torch.enable_grad(), _recorded(modules) as store:
        feats = ctx.base_inputs["input_features"].clone().requires_grad_(True)
        m = ctx.readout.metric(model.logits(dict(ctx.base_inputs, input_features=feats))).sum()
        grads = torch.autograd.grad(m, [store[n] for n in modules])
    return {n: (store[n].detach(), g) for n, g in zip(modules, grads)}


def _reference(model, ctx, site, groups):
    """For each group: a real patched forward in which every position outside the group is reset to
    its base value before each later block (so only the patched rows are carried), with the
    attention outputs this changes outside the group taken to first order; then the decoder's
    cross-attentions with the base queries and the carried encoder output, also to first order."""
    layers, dec = model.core.encoder.layers, model.core.decoder.layers
    n, first = len(layers), site.layer if site.component == "block_input" else site.layer + 1
    with torch.no_grad(), hooks.capture(model, [site]) as src:
        model.logits(ctx.source_inputs)
    resets = [Site("encoder", j, "block_input") for j in range(first + 1, n)]
    resets += [Site("encoder", n - 1, "block_output")] if first < n else []
    with torch.no_grad(), hooks.capture(model, resets) as base:
        model.logits(ctx.base_inputs)
    mods = {f"o{j}": (layers[j].self_attn.out_proj, "in", None) for j in range(first, n)}
    mods |= {f"d{i}": (lay.encoder_attn.out_proj, "in", None) for i, lay in enumerate(dec)}
    grads = _module_grads(model, ctx, mods)
    enc_mods = {k: v for k, v in mods.items() if k[0] == "o"}
    with torch.no_grad(), _recorded({f"h{i}": (lay.encoder_attn, "in", "hidden_states") for i, lay in enumerate(dec)}) as hid:
        model.logits(ctx.base_inputs)
    out = []
    for group in groups:
        others = [q for q in range(model.n_positions) if q not in group]
        patch = {site: (group, src[site][:, group])} | {r: (others, base[r][:, others]) for r in resets}
        with torch.no_grad(), hooks.replace(model, patch), _recorded(enc_mods) as new:
            enc = model.core.encoder(ctx.base_inputs["input_features"]).last_hidden_state
        total = sum(float((grads[k][1] * (new[k] - grads[k][0]))[:, others].sum()) for k in enc_mods)
        with torch.no_grad():
            for i, lay in enumerate(dec):
                rows = hid[f"h{i}"].shape[0]
                with _recorded({"o": (lay.encoder_attn.out_proj, "in", None)}) as new:
                    lay.encoder_attn(hid[f"h{i}"], key_value_states=enc.expand(rows, -1, -1))
                total += float((grads[f"d{i}"][1] * (new["o"] - grads[f"d{i}"][0])).sum())
        out.append(total)
    return np.array(out)


# The tiny Whisper has 3 encoder layers: a patch at layer 0 is carried through two later blocks.
@pytest.mark.parametrize("key", ["encoder.0.block_output", "encoder.1.block_input", "encoder.0.attention_output",
                                 "encoder.1.attention_head.1", "encoder.1.mlp_output", "encoder.2.block_output"])
def test_lookahead_equals_patched_forward_reference(tiny_whisper, ctx, key):
    site = tiny_whisper.site(key)
    est, _, _ = lookahead_scores(ctx, [site], GROUPS, tiny_whisper.runner())
    ref = _reference(tiny_whisper, ctx, site, GROUPS)
    np.testing.assert_allclose(est[0], ref, rtol=2e-4, atol=1e-5 * np.abs(ref).max())
    assert np.abs(ref).max() > 1e-2  # the cells do move the metric


def test_lookahead_tends_to_atp_for_small_patches(tiny_whisper, ctx):
    sites = [tiny_whisper.site(f"encoder.{i}.block_output") for i in (0, 2)]
    groups = [[p] for p in range(0, 50, 2)]
    noise = torch.randn(ctx.base_inputs["input_features"].shape, generator=torch.Generator().manual_seed(0))
    for eps, bound in ((1e-3, 0.02), (0.3, None)):
        near = PairContext(**{**ctx.__dict__, "_metrics": None, "source_inputs": dict(
            ctx.base_inputs, input_features=ctx.base_inputs["input_features"] + eps * noise)})
        _, _, la, info = attribution_metrics(near, sites, groups)
        _, _, atp, _ = attribution_metrics(near, sites, groups, estimator="atp")
        rel = np.linalg.norm(la - atp) / np.linalg.norm(atp - atp.mean())
        assert info == {"estimator": "lookahead", "atp_sites": []}
        if bound:
            assert rel < bound, rel  # second order in the patch size
        else:
            assert rel > 10 * 0.02, rel  # and the two differ once patches are large


def test_atp_equals_gradient_times_difference(tiny_whisper, ctx):
    """Plain AtP: each cell is the sum over its positions of (a_source - a_base) . dm/da at the base
    run, here computed independently by adding a zero tensor to the site's activation and
    differentiating the metric with respect to it."""
    cases = {"encoder.1.block_output": [(14,), (16, 17), None], "encoder.0.attention_head.1": [(14,), (16, 17), None],
             "decoder.0.mlp_output": [(0,), (1,), None]}
    for key, groups in cases.items():
        site = tiny_whisper.site(key)
        base_metric, _, est, info = attribution_metrics(ctx, [site], groups, estimator="atp")
        assert info["estimator"] == "atp" and base_metric == pytest.approx(ctx.base_metric, abs=1e-4)
        with torch.no_grad(), hooks.capture(tiny_whisper, [site]) as src:
            tiny_whisper.logits(ctx.source_inputs)
        with torch.no_grad(), hooks.capture(tiny_whisper, [site]) as base:
            tiny_whisper.logits(ctx.base_inputs)
        delta = torch.zeros_like(base[site], requires_grad=True)
        with torch.enable_grad(), hooks.replace(tiny_whisper, {site: (None, lambda t: t + delta)}):
            metric = ctx.readout.metric(tiny_whisper.logits(ctx.base_inputs)).sum()
            (grad,) = torch.autograd.grad(metric, [delta])
        per_pos = ((src[site] - base[site]) * grad).sum(dim=(0, 2)).numpy().astype(np.float64)
        expected = [per_pos.sum() if g is None else per_pos[list(g)].sum() for g in groups]
        np.testing.assert_allclose(est[0] - base_metric, expected, rtol=1e-4, atol=1e-6)
        assert np.abs(expected).max() > 1e-3, key  # the cells do move the metric


def test_estimator_choice_and_fallback(tiny_whisper, ctx):
    assert resolve_estimator(None, 0) == "lookahead" and resolve_estimator(None, 2) == "ig"
    with pytest.raises(ConfigError, match="ig_steps"):
        resolve_estimator("ig", 0)
    with pytest.raises(ConfigError, match="ig_steps"):
        resolve_estimator("atp", 3)
    with pytest.raises(UnknownNameError, match="lookahead"):
        resolve_estimator("lookahed", 0)
    with pytest.raises(ConfigError, match="method='attribution'"):
        intervene.patch(tiny_whisper, ctx.task, ctx.pair, "encoder.0.block_output", estimator="atp")
    dec = tiny_whisper.site("decoder.1.block_output")
    assert not tiny_whisper.lookahead_covers(dec) and tiny_whisper.lookahead_covers(tiny_whisper.site("encoder.1.attention_head.0"))
    both = [tiny_whisper.site("encoder.2.block_output"), dec]
    _, _, est, info = attribution_metrics(ctx, both, [None])
    _, _, atp, _ = attribution_metrics(ctx, [dec], [None], estimator="atp")
    assert info["atp_sites"] == ["decoder.1.block_output"]
    np.testing.assert_allclose(est[1], atp[0], rtol=1e-5)


@pytest.mark.parametrize("tiny_model", ["tiny_wav2vec2", "tiny_hubert"], indirect=True)
def test_models_without_lookahead_default_to_atp(tiny_model, yes_no_pair):
    model = tiny_model
    assert not model.capabilities.lookahead
    assert resolve_estimator(None, 0, model) == "atp"
    with pytest.raises(CapabilityError, match="estimator='atp'"):
        resolve_estimator("lookahead", 0, model)
    m = intervene.patch(model, tasks.KeywordTask(), yes_no_pair[1], "encoder.block_output", window_ms=100,
                        method="attribution")
    assert m.meta["estimator"] == "atp" and m.meta["atp_sites"] == [] and np.isfinite(m.values).all()


def test_lookahead_on_a_truncated_encoder(tiny_whisper, ctx):
    from scipy.stats import spearmanr

    kw = dict(sites="encoder.block_output", window_ms=40, span="clip", context_frames=100, guards=False)
    exact = intervene.patch(tiny_whisper, ctx.task, ctx.pair, **kw)
    la = intervene.patch(tiny_whisper, ctx.task, ctx.pair, method="attribution", **kw)
    atp = intervene.patch(tiny_whisper, ctx.task, ctx.pair, method="attribution", estimator="atp", **kw)
    assert la.meta["context_frames"] == 100 and la.meta["estimator"] == "lookahead"
    # The estimate measures the same truncated model as exact patching, which is not the full model.
    assert np.isclose(la.corrupt_metric, exact.corrupt_metric, atol=1e-4)
    assert np.isclose(la.clean_metric, exact.clean_metric, atol=1e-4)
    assert abs(la.clean_metric - ctx.clean_metric) > 0.1
    rho = {m.meta["estimator"]: spearmanr(m.values.ravel(), exact.values.ravel())[0] for m in (la, atp)}
    assert rho["lookahead"] > 0.85 and rho["lookahead"] > rho["atp"] + 0.3, rho  # measured 0.94 vs 0.38
