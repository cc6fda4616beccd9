"""SAE features as sites: keys, the codec's identities, every engine path against a hand-written torch hook."""

from __future__ import annotations

import pytest
import torch

import intervene
from intervene import hooks, methods
from intervene.anatomy import Ablation, Steering
from intervene.features import SAE, SAEConfig
from intervene.methods.base import Patch
from intervene.sites import FeatureSite, Site
from tasks.errors import CapabilityError, ConfigError, UnknownNameError

SITE = "encoder.1.block_output"
FEATS = (3, 5, 7)


@pytest.fixture(scope="module")
def sae():
    sae = SAE(SAEConfig("topk", 16, 32, 6, site=SITE), seed=1)
    with torch.no_grad():
        sae.b_enc.fill_(0.05)  # a few more active features on the tiny model's activations
    return sae


@pytest.fixture()
def ctx(tiny_whisper, sae, yes_no_pair):
    import tasks
    from intervene.context import PairContext

    tiny_whisper.sites(sae=sae)
    return PairContext.build(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1], "denoise")


def raw(model, inputs):
    """The raw activation of SITE, (1, 1500, 16)."""
    with torch.no_grad(), hooks.capture(model, [SITE]) as acts:
        model.logits(inputs)
    return acts[Site.parse(SITE)]


def hand_logits(ctx, sae, feats, new_values, positions=None) -> torch.Tensor:
    """The base run with a torch forward hook written here (no SpeechLens code): at ``positions`` the
    activation x becomes x + (new - f(x)[feats]) @ W_dec[feats], ``new = new_values(f(x)[feats])``."""
    model = ctx.model
    idx = torch.as_tensor(feats)
    pos = slice(None) if positions is None else list(positions)

    def hook(_m, _a, out):
        x = out[0] if isinstance(out, tuple) else out
        x = x.clone()
        sel = x[:, pos]
        f = sae.encode(sel)[..., idx]
        x[:, pos] = sel + (new_values(f) - f) @ sae.W_dec[idx]
        return (x,) + tuple(out[1:]) if isinstance(out, tuple) else x

    handle = model.model.model.encoder.layers[1].register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model.logits(ctx.base_inputs)
    finally:
        handle.remove()


def test_keys_sites_and_typed_errors(tiny_whisper, sae):
    sites = tiny_whisper.sites(sae=sae)
    assert len(sites) == 32 and sites[7].key == f"{SITE}.sae.7" and sites[7].sae == sae.digest()
    got = tiny_whisper.site(f"{SITE}.sae.12+3+error")
    assert isinstance(got, FeatureSite) and got.features == (3, 12) and got.error and got.base == Site.parse(SITE)
    assert tiny_whisper.resolve(got).codec.size == 2 + 16
    assert [s.key for s in tiny_whisper.sites(sae=sae, features=[1, 4])] == [f"{SITE}.sae.1", f"{SITE}.sae.4"]
    with pytest.raises(ConfigError, match="out of range"):
        tiny_whisper.site(f"{SITE}.sae.32")
    with pytest.raises(ConfigError, match="no SAE is attached"):
        tiny_whisper.site("encoder.2.block_output.sae.1")
    with pytest.raises(ConfigError, match="reads 8 values"):
        tiny_whisper.sites(sae=SAE(SAEConfig("topk", 8, 16, 2, site=SITE)))
    with pytest.raises(ConfigError, match="must end in"):
        Site.parse(f"{SITE}.sae.x")
    with pytest.raises(UnknownNameError):
        tiny_whisper.site("encoder.1.nothing.sae.1")
    other = SAE(SAEConfig("topk", 16, 32, 6, site=SITE), seed=9)
    stale = tiny_whisper.site(f"{SITE}.sae.2")
    tiny_whisper.sites(sae=other)
    with pytest.raises(ConfigError, match="attach that SAE again"):
        tiny_whisper.resolve(FeatureSite(*Site.parse(SITE).__dict__.values(), features=(2,), sae=stale.sae))
    tiny_whisper.sites(sae=sae)


def test_codec_identities(tiny_whisper, sae):
    tiny_whisper.sites(sae=sae)
    g = torch.Generator().manual_seed(0)
    x, s = torch.randn(2, 30, 16, generator=g) * 3, torch.randn(2, 30, 16, generator=g) * 3
    some = tiny_whisper.resolve(f"{SITE}.sae.3+5").codec
    assert torch.equal(some.write(x, some.read(x)), x)  # patch no feature: bitwise the base
    every = tiny_whisper.resolve(FeatureSite("encoder", 1, "block_output", features=tuple(range(32)))).codec
    with torch.no_grad():
        torch.testing.assert_close(every.write(x, every.read(s)), sae(s) + (x - sae(x)), rtol=1e-5, atol=1e-5)
    cut = tiny_whisper.resolve(FeatureSite("encoder", 1, "block_output", features=tuple(range(32)), error=True)).codec
    torch.testing.assert_close(cut.write(x, cut.read(s)), s, rtol=1e-5, atol=1e-5)
    m = torch.zeros(2, 30, 1, dtype=torch.bool)
    m[:, 4:9] = True
    out = cut.replace_where(x, m, cut.read(s))
    assert torch.equal(out[:, :4], x[:, :4]) and torch.equal(out[:, 9:], x[:, 9:])


def test_intervene_through_pyvene_equals_plain_hook(ctx, sae):
    key = f"{SITE}.sae.3+5+7"
    src_f = sae.encode(raw(ctx.model, ctx.source_inputs))[..., list(FEATS)]
    pos = list(range(10, 45))
    res = intervene.intervene(ctx.model, ctx.task, ctx.pair, intervene.Intervention(key, positions=pos))
    ref = hand_logits(ctx, sae, FEATS, lambda f: src_f[:, pos], pos)
    assert not torch.allclose(ref, ctx.model.logits(ctx.base_inputs), atol=1e-4), "the patch must change the run"
    torch.testing.assert_close(res.logits[:1], ref, rtol=1e-5, atol=1e-5)
    # patch no feature (write back the base's own values): exactly the base run
    same = intervene.intervene(ctx.model, ctx.task, ctx.pair, intervene.Intervention(key, kind=lambda b, s: b))
    assert torch.equal(same.logits[:1], ctx.model.logits(ctx.base_inputs))
    # zero through pyvene's ZeroIntervention, wrapped onto the features
    zero = intervene.intervene(ctx.model, ctx.task, ctx.pair, intervene.Intervention(key, positions=pos, kind="zero"))
    torch.testing.assert_close(zero.logits[:1], hand_logits(ctx, sae, FEATS, torch.zeros_like, pos), rtol=1e-5,
                               atol=1e-5)


def test_every_feature_and_error_is_a_complete_cut(ctx, sae):
    all_feats = "+".join(map(str, range(32)))
    cut = intervene.intervene(ctx.model, ctx.task, ctx.pair, intervene.Intervention(f"{SITE}.sae.{all_feats}+error"))
    assert cut.metric == pytest.approx(ctx.source_metric, abs=1e-4)
    feats_only = intervene.intervene(ctx.model, ctx.task, ctx.pair, intervene.Intervention(f"{SITE}.sae.{all_feats}"))
    src_f = sae.encode(raw(ctx.model, ctx.source_inputs))
    ref = hand_logits(ctx, sae, tuple(range(32)), lambda f: src_f)
    torch.testing.assert_close(feats_only.logits[:1], ref, rtol=1e-5, atol=1e-5)


def test_patch_maps_exact_equals_pyvene_with_guards(ctx, sae):
    sites = ctx.model.sites(sae=sae, features=[3, 7])
    maps = {m: intervene.patch(ctx.model, ctx.task, ctx.pair, sites, window_ms=500, span="clip", method=m)
            for m in ("exact", "pyvene")}
    a, b = maps["exact"], maps["pyvene"]
    assert a.dims == ("layer", "feature", "frame") and a.coords["feature"] == ["3", "7"]
    assert a.values.shape == b.values.shape and (abs(a.patched - a.corrupt_metric) > 1e-5).any()
    torch.testing.assert_close(torch.as_tensor(a.patched), torch.as_tensor(b.patched), rtol=1e-5, atol=1e-5)
    names = [g["guard"] for g in a.meta.guards]
    assert f"patch no feature of the SAE at {SITE} = base" in names
    assert f"patch every feature and the error of the SAE at {SITE} = source" in names
    assert all(g["ok"] for g in a.meta.guards)
    with pytest.raises(CapabilityError, match="attribution"):
        intervene.patch(ctx.model, ctx.task, ctx.pair, sites, method="attribution")


@pytest.mark.parametrize("engine", ["cached", "hooks", "pyvene"])
def test_ablate_and_steer_features_on_every_engine(ctx, sae, engine):
    site = ctx.model.site(f"{SITE}.sae.3+5+7")
    pos = tuple(range(12, 40))
    direction = torch.tensor([1.0, -2.0, 0.5]).numpy()

    def metric(name, template):
        m = methods.get(name)(ctx, intervention=template, engine=engine)
        m.prepare([site])
        return float(m.run([[Patch(site, pos)]])[0])

    zero_ref = float(ctx.readout.metric(hand_logits(ctx, sae, FEATS, torch.zeros_like, pos)))
    steer_ref = float(ctx.readout.metric(hand_logits(ctx, sae, FEATS, lambda f: f + 4.0 * torch.as_tensor(direction),
                                                     pos)))
    assert abs(zero_ref - ctx.base_metric) > 1e-5 and abs(steer_ref - ctx.base_metric) > 1e-5
    assert metric("ablation", Ablation(None, kind="zero")) == pytest.approx(zero_ref, rel=1e-5, abs=1e-5)
    assert metric("steer", Steering(None, direction, 4.0)) == pytest.approx(steer_ref, rel=1e-5, abs=1e-5)
    with pytest.raises(ConfigError):
        metric("steer", Steering(None, torch.ones(16).numpy(), 1.0))  # a direction of the site's width, not 3
