"""The three ways to extend SpeechLens, each shown by a test-only member (README "Where new things go").

(a) an intervention method: a ``Method`` subclass registered with ``intervene.methods.register``
    and run through ``intervene.patch(..., method=...)``, ``sweep`` and the CLI's choices, guarded;
(b) a corruption kind: a ``Corruption`` subclass registered with ``corruptions.register`` that
    makes a pair ``intervene.patch`` maps;
(c) a model architecture: a ``SpeechModel`` adapter with its own ``SiteTable`` around a
    transformers model the project does not know (Data2VecAudio), on the generic paths (plain
    exact runner, AtP), with typed ``CapabilityError`` s naming the fallback for what it lacks.

Each member is registered for the test only and removed afterwards.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pytest
import torch

import corruptions
import intervene
import tasks
from corruptions.registry import unregister as unregister_corruption
from corruptions.source import as_source, span_samples, target_span
from intervene import hooks, methods
from intervene.context import PairContext
from intervene.guards import TOLERANCE
from intervene.methods import Method, Patch
from intervene.models import SpeechModel
from intervene.sites import Site, SiteSpec, SiteTable, register_pyvene
from tasks.audio import SAMPLE_RATE
from tasks.errors import CapabilityError, ConfigError, GuardError, UnknownNameError
from tiny_models import LABELS, W2V_SIZE, no_hooks


@pytest.fixture(scope="module")
def task():
    return tasks.KeywordTask()


# ================================================================ (a) an intervention method
class MeanPatchMethod(Method):
    """Patch the mean of the source and base activations at each cell's positions.

    The whole of a method: a name, options with defaults, ``prepare`` (cache what a pair
    needs), ``run`` (one metric per cell), ``metrics`` and ``record``; and, because its
    cells are not interchanges, its own guards.
    """

    name = "test_mean"
    summary = "test only: patch (base + source) / 2 at each cell's positions"
    options = {"batch_size": None}
    MIX = 0.5  # what the method claims to patch: base + MIX * (source - base)
    run_mix = 0.5  # what run() patches

    def __init__(self, ctx, batch_size=None):
        super().__init__(ctx)
        self.batch_size = batch_size
        self.source: dict = {}
        self.base: dict = {}

    @torch.no_grad()
    def prepare(self, sites) -> None:
        need = [s for s in sites if s not in self.source]
        if need:
            with hooks.capture(self.model, need) as src:
                self.model.logits(self.ctx.source_inputs)
            with hooks.capture(self.model, need) as base:
                self.model.logits(self.ctx.base_inputs)
            self.source.update(src)
            self.base.update(base)

    def metrics(self) -> tuple[float, float]:
        return self.ctx.reference_metrics()

    @torch.no_grad()
    def run(self, cells, progress=None) -> np.ndarray:
        self.prepare(list(dict.fromkeys(p.site for cell in cells for p in cell)))
        out = np.full(len(cells), np.nan)
        for i, cell in enumerate(cells):
            repl = {}
            for p in cell:
                mixed = self.base[p.site] + self.run_mix * (self.source[p.site] - self.base[p.site])
                pos = None if p.positions is None else list(p.positions)
                repl[p.site] = (pos, mixed if pos is None else mixed[:, pos])
            with hooks.replace(self.model, repl):
                out[i] = float(self.ctx.readout.metric(self.model.logits(self.ctx.base_inputs)))
        return out

    def guard(self, sites, base_metric, source_metric) -> list:
        """Patch nothing = base; the mean at every position of a site = a plain forward whose hook
        mixes the live activation with the source's."""
        records = []

        def check(name, got, expected):
            err = abs(got - expected) / max(1.0, abs(expected))
            records.append({"guard": name, "got": got, "expected": expected, "ok": err <= TOLERANCE})
            if err > TOLERANCE:
                raise GuardError(f"guard '{name}' failed: the method gave {got:.6f}, the reference {expected:.6f}")

        check("patch nothing = base", float(self.run([[]])[0]), base_metric)
        for site in sites:
            src = self.source[site]
            with torch.no_grad(), hooks.replace(self.model, {site: (None, lambda t, s=src: t + self.MIX * (s - t))}):
                expected = float(self.ctx.readout.metric(self.model.logits(self.ctx.base_inputs)))
            check(f"mean at every position of {site.key}", float(self.run([[Patch(site, None)]])[0]), expected)
        return records

    def record(self) -> dict:
        return {"runner": "test: one hooked base forward per cell"}


class BrokenMeanMethod(MeanPatchMethod):
    """Claims the mean, patches the source: the guards must stop it."""

    name = "test_mean_broken"
    run_mix = 1.0


@pytest.fixture
def mean_methods():
    before = methods.names()
    for cls in (MeanPatchMethod, BrokenMeanMethod):
        methods.register(cls)
    yield
    for cls in (MeanPatchMethod, BrokenMeanMethod):
        methods.unregister(cls.name)
    assert methods.names() == before


def test_a_registered_method_runs_through_patch(mean_methods, tiny_whisper, task, yes_no_pair):
    from intervene.app.cli import build_parser

    pair = yes_no_pair[1]
    assert {"test_mean", "test_mean_broken"} <= set(methods.names())
    with pytest.raises(ConfigError, match="already registered"):
        methods.register(MeanPatchMethod)
    assert build_parser().parse_args(["patch", "--method", "test_mean"]).method == "test_mean"  # the CLI's choices

    m = intervene.patch(tiny_whisper, task, pair, ["encoder.0.block_output", "encoder.1.mlp_output"], window_ms=100,
                        method="test_mean", batch_size=2)
    assert m.meta["method"] == "test_mean" and m.meta["runner"] == "test: one hooked base forward per cell"
    assert [g["guard"] for g in m.meta["guards"]] == ["patch nothing = base", "mean at every position of "
                                                      "encoder.0.block_output", "mean at every position of "
                                                      "encoder.1.mlp_output"]
    assert all(g["ok"] for g in m.meta["guards"])
    # The expected numbers: a plain forward with the mean put in by a hook, cell by cell.
    ctx = PairContext.build(tiny_whisper, task, pair)
    assert m.dims == ("component", "layer", "frame") and m.values.shape == (2, 2, 6)
    for key in m.meta["sites"]:
        site = Site.parse(key)
        row = (m.coords["component"].index(site.component), m.coords["layer"].index(site.layer))
        with torch.no_grad(), hooks.capture(tiny_whisper, [site]) as src:
            tiny_whisper.logits(ctx.source_inputs)
        for col, first in enumerate(m.coords["frame"]):
            pos = list(range(first, first + 5))
            mix = {site: (pos, lambda t, s=src[site][:, pos]: 0.5 * (t + s))}
            with torch.no_grad(), hooks.replace(tiny_whisper, mix):
                expected = float(ctx.readout.metric(tiny_whisper.logits(ctx.base_inputs)))
            assert m.patched[row + (col,)] == pytest.approx(expected, abs=1e-4), (key, first)
    exact = intervene.patch(tiny_whisper, task, pair, ["encoder.0.block_output", "encoder.1.mlp_output"], window_ms=100)
    assert np.nanmax(np.abs(m.values - exact.values)) > 0.01  # the mean is not the interchange
    swept = intervene.sweep(tiny_whisper, task, [pair], ["encoder.0.block_output"], window_ms=100, method="test_mean")
    np.testing.assert_allclose(swept.per_pair[0, 0], m.sel(component="block_output", layer=0), atol=1e-6)

    with pytest.raises(GuardError, match="mean at every position of encoder.0.block_output"):
        intervene.patch(tiny_whisper, task, pair, "encoder.0.block_output", window_ms=100, method="test_mean_broken")
    with pytest.raises(ConfigError, match="attribution"):  # an option the method does not take
        intervene.patch(tiny_whisper, task, pair, "encoder.0.block_output", method="test_mean", estimator="atp")
    assert no_hooks(tiny_whisper)


def test_a_method_can_be_registered_only_once_and_removed():
    with pytest.raises(ConfigError, match="Method"):
        methods.register(dict)
    with pytest.raises(UnknownNameError, match="test_mean"):
        methods.get("test_mean")  # gone after the other test's fixture
    with pytest.raises(UnknownNameError):
        methods.unregister("test_mean")


# ================================================================ (b) a corruption kind
@dataclasses.dataclass(frozen=True, eq=False)
class ReverseWord(corruptions.Corruption):
    """Play the target word backwards (same spectrum, other order: a corruption Whisper hears)."""

    kind: ClassVar[str] = "test_reverse_word"

    margin_s: float = 0.0

    def __post_init__(self):
        if isinstance(self.margin_s, bool) or not isinstance(self.margin_s, (int, float)) or not 0 <= self.margin_s <= 0.5:
            raise ConfigError(f"margin_s ({self.margin_s!r}) must be between 0 and 0.5 s")

    def sample(self, rng, source, target=None) -> dict:
        word = target_span(as_source(source), target)
        return {"target": word.word, "start_s": max(0.0, word.start_s - self.margin_s), "end_s": word.end_s + self.margin_s}

    def apply(self, source, params) -> np.ndarray:
        src = as_source(source)
        a, b = span_samples(params["start_s"], params["end_s"], src.sample_rate, src.n_samples)
        out = src.audio.copy()
        out[a:b] = out[a:b][::-1]
        return out


@pytest.fixture
def reverse_kind():
    corruptions.register(ReverseWord)
    yield
    unregister_corruption(ReverseWord.kind)
    assert ReverseWord.kind not in corruptions.kinds()


def test_a_registered_corruption_makes_a_pair_patch_maps(reverse_kind, tiny_whisper, task, yes_no_pair, tmp_path):
    utt = yes_no_pair[0]
    assert ReverseWord.kind in corruptions.kinds()
    with pytest.raises(ConfigError, match="already registered"):
        corruptions.register(ReverseWord)
    with pytest.raises(ConfigError, match="margin_s"):
        corruptions.get(ReverseWord.kind, margin_s=2.0)
    pair = corruptions.get(ReverseWord.kind, margin_s=0.02).pair(utt, seed=0)
    span = utt.word_span("yes")
    assert pair.corruption == {"kind": ReverseWord.kind, "margin_s": 0.02}
    assert pair.clean_answer == pair.corrupt_answer == "yes"
    (lo, hi), = pair.changed_spans
    assert span.start_s - 0.05 <= lo and hi <= span.end_s + 0.05
    np.testing.assert_array_equal(np.sort(pair.corrupt), np.sort(pair.clean))  # the same samples, reordered
    back = corruptions.MinimalPair.load(pair.save(tmp_path / "pair"))
    np.testing.assert_array_equal(back.rebuild(utt), pair.corrupt)  # rebuilt from the registry by its kind

    m = intervene.patch(tiny_whisper, task, pair, "encoder.block_output", window_ms=40)
    assert m.meta["corruption"]["kind"] == ReverseWord.kind and m.meta["metric"] == "logodds"
    assert all(g["ok"] for g in m.meta["guards"]) and np.isfinite(m.values).all()
    assert m.meta["span_s"][0] >= lo - 0.1 - 1e-9 and m.meta["span_s"][1] <= hi + 0.1 + 1e-9
    assert abs(m.clean_metric - m.corrupt_metric) > 0.05 and np.nanmax(np.abs(m.values)) > 0.1


# ================================================================ (c) a model architecture
def _specs() -> tuple:
    layer = "encoder.layers[%s]"
    return (
        SiteSpec("encoder", "block_input", layer, "input", "hidden_size", doc="residual stream entering the layer"),
        SiteSpec("encoder", "block_output", layer, "output", "hidden_size", doc="residual stream leaving the layer"),
        SiteSpec("encoder", "attention_output", f"{layer}.attention.out_proj", "output", "hidden_size"),
        SiteSpec("encoder", "attention_head", f"{layer}.attention.out_proj", "input", "hidden_size",
                 "num_attention_heads"),
        SiteSpec("encoder", "mlp_output", f"{layer}.feed_forward", "output", "hidden_size"),
    )


DATA2VEC_SITES = SiteTable("data2vec-audio", _specs(), {"encoder": "num_hidden_layers"},
                           {"Data2VecAudioForSequenceClassification": "data2vec_audio."})


class Data2VecAudioSpeechModel(SpeechModel):
    """A test-only adapter: a Data2VecAudio keyword classifier (no fast paths: default Capabilities)."""

    architecture = "data2vec-audio"
    max_duration_s = 30.0

    def __init__(self, model, name="tiny-data2vec-audio", device="cpu"):
        super().__init__(model, name, DATA2VEC_SITES, device)
        self.labels = [self.config.id2label[i] for i in range(self.config.num_labels)]
        self.frame_s = float(np.prod(self.config.conv_stride)) / SAMPLE_RATE

    def inputs(self, audio, sample_rate=SAMPLE_RATE, decoder_input_ids=None, *, checked=False) -> dict:
        audio = audio if checked else self.prepare(audio, sample_rate)
        x = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        return {"input_values": torch.from_numpy(x.astype(np.float32))[None].to(self.device)}

    def logits(self, inputs) -> torch.Tensor:
        return self.model(**inputs).logits

    def num_frames(self, n_samples: int) -> int:
        return int(self.model.data2vec_audio._get_feat_extract_output_lengths(torch.tensor(n_samples)))

    def sequence_length(self, stream, inputs) -> int:
        return self.num_frames(int(inputs["input_values"].shape[-1]))

    @torch.no_grad()
    def transcribe(self, audio, sample_rate=SAMPLE_RATE) -> str:
        return self.labels[int(self.logits(self.inputs(audio, sample_rate))[0].argmax())]


@pytest.fixture(scope="module")
def tiny_data2vec():
    from transformers import Data2VecAudioConfig, Data2VecAudioForSequenceClassification

    from intervene._pyvene import pyvene as pv

    s = W2V_SIZE
    cfg = Data2VecAudioConfig(
        hidden_size=s["hidden_size"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
        intermediate_size=s["intermediate_size"], conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=5, num_conv_pos_embedding_groups=4, classifier_proj_size=16,
        initializer_range=s["initializer_range"], num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={w: i for i, w in enumerate(LABELS)},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = Data2VecAudioForSequenceClassification(cfg)
    register_pyvene(DATA2VEC_SITES, [Data2VecAudioForSequenceClassification])  # what SITE_TABLES does for built-ins
    yield Data2VecAudioSpeechModel(net)
    pv.type_to_module_mapping.pop(Data2VecAudioForSequenceClassification, None)
    pv.type_to_dimension_mapping.pop(Data2VecAudioForSequenceClassification, None)


def test_a_new_architecture_runs_on_the_generic_paths(tiny_data2vec, task, yes_no_pair):
    model, pair = tiny_data2vec, yes_no_pair[1]
    assert len(model.sites()) == 4 * 2 + 2 * 2 and model.transcribe(pair.clean) in LABELS
    with pytest.raises(UnknownNameError, match="mlp_output"):
        model.site("encoder.0.mlp_ouput")
    ctx = PairContext.build(model, task, pair)
    assert ctx.clip_frames == 49 and abs(ctx.clean_metric - ctx.corrupt_metric) > 0.05

    m = intervene.patch(model, task, pair, "encoder.block_output", window_ms=100, span="clip")
    assert m.meta["runner"].startswith("plain") and m.values.shape == (2, 10)
    assert all(g["ok"] for g in m.meta["guards"]) and m.meta["model"] == "tiny-data2vec-audio"
    for layer, col in ((0, 3), (1, 6)):
        site = Site("encoder", layer, "block_output")
        pos = list(range(5 * col, 5 * col + 5))
        with torch.no_grad(), hooks.capture(model, [site]) as src:
            model.logits(ctx.source_inputs)
        with torch.no_grad(), hooks.replace(model, {site: (pos, src[site][:, pos])}):
            expected = float(ctx.readout.metric(model.logits(ctx.base_inputs)))
        assert m.patched[layer, col] == pytest.approx(expected, abs=1e-5)
    heads = intervene.patch(model, task, pair, "encoder.attention_head", window_ms=200, span="clip", method="pyvene")
    exact_heads = intervene.patch(model, task, pair, "encoder.attention_head", window_ms=200, span="clip")
    assert heads.dims == ("layer", "head", "frame")
    np.testing.assert_allclose(heads.values, exact_heads.values, atol=1e-4)  # pyvene knows the table too

    # Attribution falls back to plain AtP: gradient x difference, checked against autograd.
    attr = intervene.patch(model, task, pair, "encoder.1.block_output", window_ms=100, span="clip",
                           method="attribution")
    assert attr.meta["estimator"] == "atp"
    site = Site("encoder", 1, "block_output")
    with torch.no_grad(), hooks.capture(model, [site]) as src:
        model.logits(ctx.source_inputs)
    with torch.no_grad(), hooks.capture(model, [site]) as base:
        model.logits(ctx.base_inputs)
    delta = torch.zeros_like(base[site], requires_grad=True)
    with torch.enable_grad(), hooks.replace(model, {site: (None, lambda t: t + delta)}):
        (grad,) = torch.autograd.grad(ctx.readout.metric(model.logits(ctx.base_inputs)).sum(), [delta])
    per_pos = ((src[site] - base[site]) * grad).sum(dim=(0, 2)).numpy().astype(np.float64)
    expected = np.array([per_pos[g:g + 5].sum() for g in range(0, 49, 5)]) / (ctx.clean_metric - ctx.corrupt_metric)
    np.testing.assert_allclose(attr.values[0], expected, rtol=1e-4, atol=1e-6)

    # What it lacks is a typed error naming the fallback, before any work.
    with pytest.raises(CapabilityError, match="drop context_frames"):
        intervene.patch(model, task, pair, "encoder.block_output", context_frames=100)
    with pytest.raises(CapabilityError, match="estimator='atp'"):
        intervene.patch(model, task, pair, "encoder.block_output", method="attribution", estimator="lookahead")
    with pytest.raises(ConfigError, match="unit='token'"):
        intervene.patch(model, task, pair, "encoder.block_output", unit="token")
    assert no_hooks(model)


def test_method_options_reach_a_methods_own_options(tiny_whisper, yes_no_pair):
    """Options ``patch`` has no keyword for go through ``method_options`` (and clashes are refused)."""
    import intervene
    from tasks.errors import ConfigError

    task = tasks.KeywordTask()
    _, pair = yes_no_pair
    kw = dict(unit="all", span="all", intervention=intervene.HeadMask(None))
    cached = intervene.patch(tiny_whisper, task, pair, "encoder.attention_head", method="head_mask", **kw)
    plain = intervene.patch(tiny_whisper, task, pair, "encoder.attention_head", method="head_mask",
                            method_options={"engine": "pyvene"}, **kw)
    np.testing.assert_allclose(plain.patched, cached.patched, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="keywords"):
        intervene.patch(tiny_whisper, task, pair, "encoder.0.block_output", method_options={"batch_size": 2})
    with pytest.raises(ConfigError, match="applies to method"):
        intervene.patch(tiny_whisper, task, pair, "encoder.0.block_output", method_options={"engine": "x"})
