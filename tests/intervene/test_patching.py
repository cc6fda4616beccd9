"""``intervene.patch`` on the tiny random models: map layout, every method against plain torch hooks,
guards, save/load/plot, sweeps with resume, bad input, no hook left behind.

These are properties of the engine, not of trained weights, so they run on the tiny Whisper
(and the tiny Wav2Vec2/HuBERT classifiers for the generic paths) in seconds. What only trained
weights show (effects lie on the word, the swap flips the answer) is checked on the real
whisper-tiny.en in test_whisper_tiny_en.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import corruptions
import intervene
import tasks
from intervene import hooks
from intervene.context import PairContext
from intervene.guards import run_guards
from intervene.methods import Patch
from intervene.methods.exact import ExactMethod
from intervene.methods.pyvene import PyveneMethod
from intervene.sites import Site
from tasks.errors import ConfigError, GuardError, InterventionError, PairError, UnknownNameError
from tiny_models import no_hooks


@pytest.fixture(scope="module")
def task():
    return tasks.KeywordTask()


@pytest.fixture(scope="module")
def pair(yes_no_pair):
    return yes_no_pair[1]


@pytest.fixture(scope="module")
def ctx(tiny_whisper, task, pair):
    return PairContext.build(tiny_whisper, task, pair)


@pytest.fixture(scope="module")
def clip_map(tiny_whisper, task, pair):
    """Every encoder layer x 40 ms window over the whole 1 s clip (shared by several tests)."""
    return intervene.patch(tiny_whisper, task, pair, "encoder.block_output", window_ms=40, span="clip")


def hook_metric(model, ctx, cell) -> float:
    """The metric of an ordinary base forward whose activations at the cell's sites and positions
    are replaced by the source run's, with plain torch hooks (the reference every method must match)."""
    sites = list(dict.fromkeys(p.site for p in cell))
    with torch.no_grad(), hooks.capture(model, sites) as src:
        model.logits(ctx.source_inputs)
    repl = {}
    for site in sites:
        found = [p.positions for p in cell if p.site == site]
        pos = None if any(f is None for f in found) else sorted(set().union(*found))
        repl[site] = (pos, src[site] if pos is None else src[site][:, pos])
    with torch.no_grad(), hooks.replace(model, repl):
        return float(ctx.readout.metric(model.logits(ctx.base_inputs)))


def test_the_tiny_whisper_hears_the_swap(ctx):
    """The guards and agreement checks below compare numbers that patching really moves."""
    assert abs(ctx.clean_metric - ctx.corrupt_metric) > 0.3  # measured 0.41 nats
    assert ctx.readout.metric_name == "logit_diff" and ctx.readout.words[:2] == ["yes", "no"]


def test_patching_all_frames_of_any_encoder_layer_restores_metric(tiny_whisper, task, pair):
    sites = tiny_whisper.sites("encoder", "block_output")
    m = intervene.patch(tiny_whisper, task, pair, sites, unit="all", span="all")
    assert m.dims == ("layer",) and m.values.shape == (3,)
    np.testing.assert_allclose(m.values, 1.0, atol=1e-4)  # every position of a residual layer is a complete cut
    clip = intervene.patch(tiny_whisper, task, pair, sites, unit="all", span="clip")
    assert clip.meta["span_s"] == [0.0, 1.0]
    assert np.abs(clip.values - 1.0).max() > 0.05  # the clip's 50 frames alone are not: positions are honoured


def test_map_layout_and_cells(tiny_whisper, ctx, clip_map):
    m = clip_map
    assert m.dims == ("layer", "frame") and m.values.shape == (3, 25)
    assert m.coords["frame"] == list(range(0, 50, 2)) and m.coords["layer"] == [0, 1, 2]
    np.testing.assert_allclose(m.times_s, np.arange(25) * 0.04)
    assert m.meta["method"] == "exact" and m.meta["window_ms"] == 40 and m.meta["span_s"] == [0.0, 1.0]
    assert m.meta["model"] == "tiny-whisper" and m.meta["direction"] == "denoise"
    assert len(m.meta["guards"]) == 4 and all(g["ok"] for g in m.meta["guards"])
    assert m.clean_metric == pytest.approx(ctx.clean_metric) and m.corrupt_metric == pytest.approx(ctx.corrupt_metric)
    np.testing.assert_allclose(m.values, (m.patched - m.corrupt_metric) / (m.clean_metric - m.corrupt_metric))
    np.testing.assert_array_equal(m.sel(layer=1), m.values[1])
    # Each cell is where it says: its layer's residual at its window's frames, against plain hooks.
    for layer, col in ((0, 9), (1, 12), (2, 4)):
        cell = [Patch(Site("encoder", layer, "block_output"), (2 * col, 2 * col + 1))]
        assert m.patched[layer, col] == pytest.approx(hook_metric(tiny_whisper, ctx, cell), abs=1e-4)
    assert np.nanstd(m.values) > 0.05 and np.isfinite(m.values).all()


def test_default_encoder_map_and_noising(tiny_whisper, task, yes_no_pair):
    utt, pair = yes_no_pair
    sites = ["encoder.0.block_output", "encoder.2.block_output"]
    den = intervene.patch(tiny_whisper, task, pair, sites, window_ms=100)
    assert den.dims == ("layer", "frame") and den.coords["layer"] == [0, 2]
    lo, hi = den.meta["span_s"]  # default span: where the pair differs, plus 100 ms
    assert lo <= utt.word_span("yes").start_s and hi <= 1.0
    assert lo >= pair.changed_spans[0][0] - 0.1 - 1e-9
    noi = intervene.patch(tiny_whisper, task, pair, sites, window_ms=100, direction="noise")
    assert noi.meta["direction"] == "noise" and noi.values.shape == den.values.shape
    assert noi.clean_metric == pytest.approx(den.clean_metric) and noi.corrupt_metric == pytest.approx(den.corrupt_metric)
    assert all(g["ok"] for g in noi.meta["guards"])
    # Noising moves the clean run toward the corrupt answer (measured up to 0.61), and differs from denoising.
    assert np.nanmax(noi.values) > 0.2 and not np.allclose(noi.values, den.values, atol=0.05)
    assert no_hooks(tiny_whisper)


def test_exact_engine_matches_pyvene_and_torch_hooks(tiny_whisper, ctx):
    cells = [
        [],
        [Patch(Site("encoder", 0, "block_output"), tuple(range(15, 25)))],
        [Patch(Site("encoder", 1, "block_input"), (16, 17, 18))],
        [Patch(Site("encoder", 2, "mlp_output"), (18, 19, 20, 21))],
        [Patch(Site("encoder", 1, "attention_output"), tuple(range(10, 30)))],
        [Patch(Site("encoder", 2, "attention_head", 1), tuple(range(15, 22)))],
        [Patch(Site("decoder", 1, "cross_attention_head", 1), None)],
        [Patch(Site("decoder", 1, "block_output"), (1,)), Patch(Site("encoder", 2, "block_output"), None)],
        [Patch(Site("encoder", 0, "block_output"), (17,)), Patch(Site("decoder", 0, "mlp_output"), None)],
    ]
    exact = ExactMethod(ctx).run(cells)
    plain = PyveneMethod(ctx).run(cells)
    np.testing.assert_allclose(exact, plain, atol=1e-4, rtol=0)
    reference = [ctx.base_metric] + [hook_metric(tiny_whisper, ctx, c) for c in cells[1:]]
    np.testing.assert_allclose(exact, reference, atol=1e-4, rtol=0)
    assert exact[0] == pytest.approx(ctx.base_metric, abs=1e-5)
    assert len(set(np.round(exact, 3))) > 5  # the cells really differ
    # batched rows give the same numbers
    np.testing.assert_allclose(ExactMethod(ctx, batch_size=4).run(cells), exact, atol=1e-4, rtol=0)
    assert no_hooks(tiny_whisper)


def test_decoder_token_and_head_maps(tiny_whisper):
    task = tasks.CarrierTask(["up", "down", "yes", "no"])
    utt = task.utterance("up")
    pair = corruptions.get("word_swap", word="down").pair(utt, seed=0, target="up")  # gap 0.58 nats on the tiny model
    tok = intervene.patch(tiny_whisper, task, pair, "decoder.block_output")
    assert tok.dims == ("layer", "token") and tok.values.shape == (2, len(task.prefix_ids(tiny_whisper)))
    assert tok.coords["token"][-1] == " word" and tok.coords["token"][0] == "<|startoftranscript|>"
    assert all(g["ok"] for g in tok.meta["guards"]) and np.isfinite(tok.values).all()
    heads = intervene.patch(tiny_whisper, task, pair, "decoder.cross_attention_head", unit="all")
    assert heads.dims == ("layer", "head") and heads.values.shape == (2, 2)
    comp = intervene.patch(tiny_whisper, task, pair, ["decoder.1.attention_output", "decoder.1.mlp_output",
                                                      "decoder.1.cross_attention_output"], unit="all")
    assert comp.dims == ("component", "layer") and comp.values.shape == (3, 1)
    assert comp.coords["component"] == ["attention_output", "mlp_output", "cross_attention_output"]
    assert len(set(np.round(comp.values.ravel(), 4))) == 3


def test_pyvene_and_attribution_methods(tiny_whisper, task, pair, clip_map):
    kw = dict(sites=["encoder.2.block_output"], window_ms=100)
    exact = intervene.patch(tiny_whisper, task, pair, **kw)
    plain = intervene.patch(tiny_whisper, task, pair, method="pyvene", **kw)
    np.testing.assert_allclose(plain.values, exact.values, atol=1e-4)
    assert plain.meta["method"] == "pyvene" and "pyvene" in plain.meta["runner"]
    attr = intervene.patch(tiny_whisper, task, pair, method="attribution", **kw)
    assert attr.values.shape == exact.values.shape and attr.meta["method"] == "attribution"
    assert attr.meta["estimator"] == "lookahead" and attr.meta["guards"][0]["guard"] == "none"
    attr_ig = intervene.patch(tiny_whisper, task, pair, method="attribution", ig_steps=2, **kw)
    assert attr_ig.meta["ig_steps"] == 2 and attr_ig.meta["estimator"] == "ig"
    assert not np.allclose(attr_ig.values, attr.values)
    # Last-layer cells reach the answer only through the decoder's cross-attentions, which the
    # lookahead computes (to first order in their output): its ranks agree with exact patching.
    from scipy.stats import spearmanr

    last = intervene.patch(tiny_whisper, task, pair, "encoder.2.block_output", window_ms=40, span="clip",
                           method="attribution")
    assert spearmanr(last.values[0], clip_map.values[2])[0] > 0.9  # measured 0.98


def test_hand_built_interventions(tiny_whisper, ctx, task, yes_no_pair):
    """``intervene.intervene`` (pyvene) gives what plain torch hooks give for each kind."""
    utt, pair = yes_no_pair
    site = Site("encoder", 0, "block_output")
    span = utt.word_span("yes")
    word = intervene.Intervention(site.key, times_s=(span.start_s - 0.05, span.end_s + 0.1))
    r = intervene.intervene(tiny_whisper, task, pair, word)
    first, last = int(np.floor((span.start_s - 0.05) / 0.02)), int(np.ceil((span.end_s + 0.1) / 0.02))
    expected = hook_metric(tiny_whisper, ctx, [Patch(site, tuple(range(first, last)))])
    assert r.metric == pytest.approx(expected, abs=1e-4) and r.metric != pytest.approx(r.base_metric, abs=1e-3)
    assert r.effect == pytest.approx((r.metric - r.base_metric) / (r.source_metric - r.base_metric))
    assert r.word_scores["yes"] - r.word_scores["no"] == pytest.approx(r.metric, abs=1e-4)

    noise_ctx = PairContext.build(tiny_whisper, task, pair, "noise")
    zero = intervene.intervene(tiny_whisper, task, pair, intervene.Intervention(site.key, kind="zero"), direction="noise")
    with torch.no_grad(), hooks.replace(tiny_whisper, {site: (None, lambda t: torch.zeros_like(t))}):
        zeroed = float(noise_ctx.readout.metric(tiny_whisper.logits(noise_ctx.base_inputs)))
    assert zero.metric == pytest.approx(zeroed, abs=1e-4)
    assert abs(zero.metric - zero.base_metric) > 0.1  # zeroing every frame changes the clean answer

    half = intervene.intervene(tiny_whisper, task, pair, intervene.Intervention(
        site.key, times_s=(0.0, 1.0), kind=lambda b, s: 0.5 * (b + s)))
    with torch.no_grad(), hooks.capture(tiny_whisper, [site]) as src:
        tiny_whisper.logits(ctx.source_inputs)
    mix = {site: (list(range(50)), lambda t: 0.5 * (t + src[site][:, :50]))}
    with torch.no_grad(), hooks.replace(tiny_whisper, mix):
        mixed = float(ctx.readout.metric(tiny_whisper.logits(ctx.base_inputs)))
    assert half.metric == pytest.approx(mixed, abs=1e-4) and half.metric != pytest.approx(r.metric, abs=1e-3)
    assert no_hooks(tiny_whisper)


def test_causal_map_save_load_plot(clip_map, tmp_path):
    m = clip_map
    path = m.save(tmp_path / "map.npz")
    back = intervene.CausalMap.load(path)
    np.testing.assert_array_equal(back.values, m.values)
    np.testing.assert_array_equal(back.patched, m.patched)
    assert back.dims == m.dims and back.coords == m.coords and back.meta["corruption"]["kind"] == "word_swap"
    assert back.meta.guards == m.meta.guards and back.clean_metric == m.clean_metric
    png = tmp_path / "map.png"
    m.plot(png)
    assert png.stat().st_size > 10_000
    title = m.plot().axes[0].get_title(loc="left")
    for word in ("tiny-whisper", "keyword", "word_swap", "denoise", "logit_diff"):
        assert word in title
    (tmp_path / "map.npz").write_bytes(b"garbage")
    with pytest.raises(Exception, match="does not match"):
        intervene.CausalMap.load(path)


def test_sweep_means_over_pairs_and_resumes(tiny_whisper, task, tmp_path, monkeypatch):
    pairs = [corruptions.get("word_swap").pair(tasks.speak(w, voice=v).padded(1.0, 0.3), seed=0)
             for w, v in (("yes", "en-us"), ("stop", "en-gb-x-rp"))]
    kw = dict(sites=["encoder.2.block_output"], window_ms=100, span="clip")
    m = intervene.sweep(tiny_whisper, task, pairs, checkpoint_dir=tmp_path, **kw)
    assert m.per_pair.shape == (2, 1, 10) and m.n_pairs == 2
    np.testing.assert_allclose(m.values, m.per_pair.mean(axis=0))
    assert not np.allclose(m.per_pair[0], m.per_pair[1])
    assert len(m.meta["pairs"]) == 2 and len(list(tmp_path.glob("pair*.map.npz"))) == 2
    single = intervene.patch(tiny_whisper, task, pairs[1], **kw)
    np.testing.assert_allclose(m.per_pair[1], single.values, atol=1e-6)

    def no_recompute(self, cells, progress=None):
        raise AssertionError("a checkpointed pair was recomputed")

    with monkeypatch.context() as mp:
        mp.setattr(ExactMethod, "run", no_recompute)
        again = intervene.sweep(tiny_whisper, task, pairs, checkpoint_dir=tmp_path, **kw)  # loads the checkpoints
    np.testing.assert_array_equal(again.values, m.values)
    onset = intervene.sweep(tiny_whisper, task, pairs, align="onset", **kw)
    assert 0 in onset.coords["frame"] and onset.meta["time_origin"] == "answer word onset"


def test_bad_input_gets_typed_errors(tiny_whisper, task, yes_no_pair):
    utt, pair = yes_no_pair
    bad = type("P", (), dict(clean=pair.clean, corrupt=pair.corrupt[:-160], sample_rate=16000,
                             clean_answer="yes", corrupt_answer="no"))()
    with pytest.raises(PairError, match="length"):
        intervene.patch(tiny_whisper, task, bad, "encoder.block_output")
    with pytest.raises(UnknownNameError, match="block_output"):
        intervene.patch(tiny_whisper, task, pair, ["encoder.0.blok_output"])
    with pytest.raises(ConfigError, match="3 layers"):
        intervene.patch(tiny_whisper, task, pair, ["encoder.9.block_output"])
    with pytest.raises(InterventionError, match="outside the clip"):
        intervene.patch(tiny_whisper, task, pair, "encoder.block_output", span=(0.5, 1.7))
    with pytest.raises(ConfigError, match="multiple"):
        intervene.patch(tiny_whisper, task, pair, "encoder.block_output", window_ms=30)
    with pytest.raises(ConfigError, match="unit='token'"):
        intervene.patch(tiny_whisper, task, pair, "encoder.block_output", unit="token")
    same = corruptions.get("noise", snr_db=80.0).pair(utt, seed=0)
    with pytest.raises(PairError, match="barely differs"):  # measured gap 0.002 nats
        intervene.patch(tiny_whisper, task, same, "encoder.block_output")
    with pytest.raises(ConfigError, match="empty|corrupt_answer"):
        tasks.KeywordTask(["yes", "no"]).readout(tiny_whisper, "yes", " ")
    with pytest.raises(UnknownNameError, match="exact"):
        intervene.patch(tiny_whisper, task, pair, "encoder.block_output", method="exakt")
    assert no_hooks(tiny_whisper)


@pytest.mark.parametrize("method", ["exact", "pyvene", "attribution"])
def test_interrupted_sweep_leaves_no_hooks(tiny_whisper, task, pair, method):
    """An exception inside a forward (Ctrl-C half-way through the cells) leaves the model unpatched."""
    sites = ["encoder.1.mlp_output", "encoder.2.attention_output"]
    layer = tiny_whisper.core.decoder.layers[-1]
    original = layer.forward
    calls = {"n": 0, "stop": None, "hooked": None}

    def counting(*args, **kwargs):
        calls["n"] += 1
        if calls["stop"] is not None and calls["n"] >= calls["stop"]:
            calls["hooked"] = not no_hooks(tiny_whisper)
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    layer.forward = counting
    try:
        intervene.patch(tiny_whisper, task, pair, sites, window_ms=100, method=method)
        calls["stop"], calls["n"] = max(1, calls["n"] * 2 // 3), 0  # two thirds into a second run
        with pytest.raises(KeyboardInterrupt):
            intervene.patch(tiny_whisper, task, pair, sites, window_ms=100, method=method)
    finally:
        del layer.forward
    assert calls["hooked"]  # it was interrupted while the method's hooks were on ...
    assert no_hooks(tiny_whisper), method  # ... and they are gone


def test_guard_failure_stops_the_sweep(tiny_whisper, ctx):
    engine = ExactMethod(ctx)
    sites = [Site("encoder", 1, "block_output"), Site("encoder", 0, "mlp_output")]
    engine.prepare(sites)
    records = run_guards(ctx, engine, sites, ctx.base_metric, ctx.source_metric)
    assert [r["ok"] for r in records] == [True] * 3
    assert records[2]["against"] == "a plain torch-hook forward"
    engine.runner.source_res[2] = torch.zeros_like(engine.runner.source_res[2])  # a method that patches the wrong thing
    with pytest.raises(GuardError, match="patch every position of encoder.1.block_output"):
        run_guards(ctx, engine, sites, ctx.base_metric, ctx.source_metric)
    with pytest.raises(GuardError, match="patch nothing"):
        run_guards(ctx, engine, sites, ctx.base_metric + 1.0, ctx.source_metric)
    wrong = ExactMethod(ctx)
    wrong.prepare(sites)
    site = Site("encoder", 0, "mlp_output")
    wrong.runner.sources[site] = wrong.runner.sources[site] * 0.5
    with pytest.raises(GuardError, match="patch every position of encoder.0.mlp_output"):
        run_guards(ctx, wrong, sites, ctx.base_metric, ctx.source_metric)


@pytest.mark.parametrize("tiny_model", ["tiny_wav2vec2", "tiny_hubert"], indirect=True)
def test_classifier_models_on_the_generic_paths(tiny_model, task, yes_no_pair):
    """Wav2Vec2/HuBERT classifiers: the plain exact runner, pyvene and the guards, through KeywordTask's
    classifier readout."""
    model, pair = tiny_model, yes_no_pair[1]
    c = PairContext.build(model, task, pair)
    assert c.readout.decoder_input_ids is None and c.clip_frames == 49 and model.frame_s == 0.02
    assert abs(c.clean_metric - c.corrupt_metric) > 0.1
    m = intervene.patch(model, task, pair, "encoder.block_output", window_ms=100, span="clip")
    assert m.values.shape == (2, 10) and m.meta["runner"].startswith("plain")
    assert all(g["ok"] for g in m.meta["guards"]) and np.isfinite(m.values).all()
    plain = intervene.patch(model, task, pair, "encoder.block_output", window_ms=100, span="clip", method="pyvene")
    np.testing.assert_allclose(plain.values, m.values, atol=1e-4)
    cell = [Patch(Site("encoder", 1, "attention_head", 1), (10, 11, 12))]
    assert ExactMethod(c).run([cell])[0] == pytest.approx(hook_metric(model, c, cell), abs=1e-5)
    full = intervene.patch(model, task, pair, ["encoder.0.block_output", "encoder.1.block_output"], unit="all", span="all")
    np.testing.assert_allclose(full.values, 1.0, atol=1e-4)  # every position of a residual layer: a complete cut
    with pytest.raises(ConfigError, match="unit='token'"):
        intervene.patch(model, task, pair, "encoder.block_output", unit="token")
    assert no_hooks(model)
