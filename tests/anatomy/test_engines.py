"""Each intervention on each engine against plain torch hooks (and windows against hand-written attention)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intervene import hooks, methods
from intervene.anatomy import Ablation, AttentionWindow, HeadMask, Steering, applied
from intervene.anatomy.references import site_values
from intervene.methods.base import Patch
from intervene.sites import Site

ENGINES = ("cached", "hooks", "pyvene")


def plain_metric(ctx, replacements: dict) -> float:
    """The base run's metric with ``replacements`` done by :func:`intervene.hooks.replace`."""
    with torch.no_grad(), hooks.replace(ctx.model, replacements):
        return float(ctx.readout.metric(ctx.model.logits(ctx.base_inputs)))


def method_metric(ctx, name, template, site, positions, engine) -> float:
    m = methods.get(name)(ctx, intervention=template, engine=engine)
    m.prepare([Site.parse(site)])
    return float(m.run([[Patch(Site.parse(site), positions)]])[0])


def source_clip(ctx):
    return ctx.corrupt_audio  # noising: the base is the clean clip, the source the corrupt one


CASES = [
    ("zero, encoder span", "ablation", lambda c, v16, v8: Ablation(None, kind="zero"), "encoder.1.block_output",
     (10, 11, 12, 13), lambda c, v16, v8: ([10, 11, 12, 13], torch.zeros(1, 4, 16))),
    ("resample, encoder head", "ablation", lambda c, v16, v8: Ablation(None, kind="resample"),
     "encoder.0.attention_head.1", (14, 15),
     lambda c, v16, v8: ([14, 15], site_values(c.model, [Site.parse("encoder.0.attention_head.1")],
                                                [source_clip(c)])[Site.parse("encoder.0.attention_head.1")][:, [14, 15]])),
    ("silence, every frame", "ablation", lambda c, v16, v8: Ablation(None, kind="silence"), "encoder.2.mlp_output", None,
     lambda c, v16, v8: (None, _silence(c, "encoder.2.mlp_output"))),
    ("mean, decoder residual", "ablation",
     lambda c, v16, v8: Ablation(None, kind="mean", reference=[c.clean_audio, c.corrupt_audio]), "decoder.0.block_output",
     None, lambda c, v16, v8: (None, _mean(c, "decoder.0.block_output"))),
    ("steer, encoder span", "steer", lambda c, v16, v8: Steering(None, v16, 3.0), "encoder.1.block_output", (10, 11, 12),
     lambda c, v16, v8: ([10, 11, 12], lambda sel: sel + 3.0 * torch.as_tensor(v16))),
    ("steer, cross-attention head", "steer", lambda c, v16, v8: Steering(None, v8, -2.0),
     "decoder.1.cross_attention_head.1", None, lambda c, v16, v8: (None, lambda sel: sel - 2.0 * torch.as_tensor(v8))),
    ("mask, encoder head", "head_mask", lambda c, v16, v8: HeadMask(None), "encoder.1.attention_head.0", None,
     lambda c, v16, v8: (None, torch.zeros_like)),
    ("mask, decoder self-attention head", "head_mask", lambda c, v16, v8: HeadMask(None), "decoder.0.attention_head.1",
     None, lambda c, v16, v8: (None, torch.zeros_like)),
    ("mask, cross-attention head", "head_mask", lambda c, v16, v8: HeadMask(None), "decoder.1.cross_attention_head.0",
     None, lambda c, v16, v8: (None, torch.zeros_like)),
]


def _silence(ctx, key):
    site = Site.parse(key)
    return site_values(ctx.model, [site], [np.zeros(16000, np.float32)])[site]


def _mean(ctx, key):
    site = Site.parse(key)
    ids = ctx.base_inputs["decoder_input_ids"]
    a = site_values(ctx.model, [site], [ctx.clean_audio], ids)[site]
    b = site_values(ctx.model, [site], [ctx.corrupt_audio], ids)[site]
    return (a + b) / 2


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_engine_matches_plain_torch_hooks(ctx, vec16, vec8, case):
    _, name, template, site, positions, expected = case
    pos, values = expected(ctx, vec16, vec8)
    reference = plain_metric(ctx, {site: (pos, values)})
    assert abs(reference - ctx.base_metric) > 1e-4, "the case must change the metric, or the check proves nothing"
    for engine in ENGINES:
        got = method_metric(ctx, name, template(ctx, vec16, vec8), site, positions, engine)
        assert got == pytest.approx(reference, rel=1e-5, abs=1e-5), engine


def manual_window_metric(ctx, k: int, layers, heads=None, queries=None) -> float:
    """The metric with windowed encoder attention written out by hand (eager attention, no adapter)."""
    model = ctx.model
    runner = model.runner()
    n = model.n_positions
    idx = np.arange(n)
    outside = np.abs(idx[:, None] - idx[None, :]) > k
    if queries is not None:
        outside[np.setdiff1d(idx, queries)] = False
    with torch.no_grad():
        x = runner.stem(ctx.base_inputs["input_features"])
        for li, layer in enumerate(model.core.encoder.layers):
            if li not in layers:
                x = layer(x, None)
                continue
            a = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            b, t, d = h.shape
            dh = d // a.num_heads
            q = (a.q_proj(h) * a.scaling).view(b, t, a.num_heads, dh).transpose(1, 2)
            kk = a.k_proj(h).view(b, t, a.num_heads, dh).transpose(1, 2)
            v = a.v_proj(h).view(b, t, a.num_heads, dh).transpose(1, 2)
            scores = q @ kk.transpose(-1, -2)
            for head in range(a.num_heads):
                if heads is None or head in heads:
                    scores[:, head][:, torch.as_tensor(outside)] = -torch.inf
            o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
            x = x + a.out_proj(o)
            x = x + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(x))))
        logits = runner.decode(runner.final(x), ctx.readout.decoder_input_ids)
    return float(ctx.readout.metric(logits).reshape(-1)[0])


@pytest.mark.parametrize("site,positions,heads,queries", [
    ("encoder.1.attention_output", None, None, None),
    ("encoder.0.attention_head.1", None, [1], None),
    ("encoder.2.attention_output", (20, 21, 22, 23, 24), None, list(range(20, 25))),
])
def test_window_matches_hand_written_attention(ctx, site, positions, heads, queries):
    layer = Site.parse(site).layer
    expected = manual_window_metric(ctx, 3, [layer], heads, queries)
    assert abs(expected - ctx.base_metric) > 1e-5
    for engine in ("cached", "hooks"):
        got = method_metric(ctx, "window", AttentionWindow(3), site, positions, engine)
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-5), engine


def test_window_on_every_layer_matches_hand_written_attention(ctx):
    from intervene.anatomy import RunEnv

    expected = manual_window_metric(ctx, 5, [0, 1, 2])
    with torch.no_grad(), applied(ctx.model, AttentionWindow(5), RunEnv(ctx.model, ctx.base_inputs)):
        got = float(ctx.readout.metric(ctx.model.logits(ctx.base_inputs)))
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_interventions_compose_in_list_order(ctx, vec16):
    from intervene.anatomy import RunEnv
    from intervene.anatomy.engine import AnatomyMethod

    model, env = ctx.model, RunEnv(ctx.model, ctx.base_inputs)
    pos = [10, 11, 12]
    steer = Steering("encoder.1.block_output", vec16, 2.0, positions=tuple(pos))
    zero = Ablation("encoder.1.block_output", kind="zero", positions=tuple(pos))
    mask = HeadMask("decoder.1.cross_attention_head.0")
    vec = 2.0 * torch.as_tensor(vec16)

    def run(ivs):
        with torch.no_grad(), applied(model, ivs, env):
            return float(ctx.readout.metric(model.logits(ctx.base_inputs)))

    # steer then zero = zero; zero then steer = the vector alone
    assert run([steer, zero]) == pytest.approx(run([zero]), abs=1e-6)
    alone = plain_metric(ctx, {"encoder.1.block_output": (pos, torch.zeros(1, 3, 16) + vec)})
    assert run([zero, steer]) == pytest.approx(alone, abs=1e-5)
    both = plain_metric(ctx, {"encoder.1.block_output": (pos, lambda sel: sel + vec),
                              "decoder.1.cross_attention_head.0": (None, torch.zeros_like)})
    assert run([steer, mask]) == pytest.approx(both, abs=1e-5)
    assert abs(both - run([steer])) > 1e-5 and abs(both - run([mask])) > 1e-5
    # a cell of several patches runs them together on the cached engine too
    m = methods.get("steer")(ctx, intervention=Steering(None, vec16, 2.0), engine="cached")
    assert isinstance(m, AnatomyMethod)
    m.prepare([Site.parse("encoder.1.block_output")])
    two = [Patch(Site.parse("encoder.1.block_output"), tuple(pos)), Patch(Site.parse("decoder.1.block_output"), None)]
    expected = plain_metric(ctx, {"encoder.1.block_output": (pos, lambda sel: sel + vec),
                                  "decoder.1.block_output": (None, lambda sel: sel + vec)})
    assert float(m.run([two])[0]) == pytest.approx(expected, abs=1e-5)


def test_hooks_are_removed_after_a_run_and_after_an_error(ctx):
    from intervene.anatomy import RunEnv
    from tiny_models import no_hooks

    env = RunEnv(ctx.model, ctx.base_inputs)
    with applied(ctx.model, [AttentionWindow(4), HeadMask("encoder.0.attention_head.0")], env):
        assert not no_hooks(ctx.model)
    assert no_hooks(ctx.model)
    with pytest.raises(RuntimeError):
        with applied(ctx.model, [Ablation("encoder.0.block_output")], env):
            raise RuntimeError("boom")
    assert no_hooks(ctx.model)
