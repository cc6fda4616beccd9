"""DAS's guards on the real whisper-tiny.en: a subspace as large as the site is the exact interchange.

Whatever its rotation, a rotated-space intervention whose subspace is the whole site swaps the
source's activation in wholesale: the DAS runner must then give what a plain torch hook gives
when it replaces the word's frames with the source's, flip the same examples, and (through
pyvene, as ``intervene.intervene`` runs a trained module) give the vanilla interchange's metric.
Patching nothing must give the base run. Had IIA been 0 because of how DAS applies its
intervention (rows, positions, layer, the answer compared), these would fail.
"""

from __future__ import annotations

import importlib

import pytest
import torch

import intervene
import tasks
from intervene import hooks
from intervene.learned import das_train as T
from intervene.learned import subspace as S
from intervene.learned.site_runner import SWAP, SiteRunner
from tasks.errors import GuardError

D = importlib.import_module("intervene.learned.das")  # the package exports the function under the same name
SITE = "encoder.3.block_output"


@pytest.fixture(scope="module")
def prepared(tiny_en, yes_no_pair):
    task = tasks.KeywordTask(["yes", "no"])
    pair = yes_no_pair[1]
    readout, words, info = D.pair_examples(tiny_en, task, [pair], None, "answer")
    runner = SiteRunner(tiny_en, SITE, readout)
    clips, examples = D._prepare(tiny_en, runner, [pair], info, words, readout, [0])
    return task, pair, readout, [readout.words.index(w) for w in words], runner, clips, examples


@torch.no_grad()
def _hook_reference(model, readout, pair, example, word_idx):
    """Word scores of the base half with the example's frames replaced by the source half's, by plain hooks."""
    site = model.site(SITE)
    halves = {0: pair.clean, 1: pair.corrupt}  # _prepare puts the clean half first, the corrupt second
    base, source = (model.prepare(halves[i], pair.sample_rate, name="half") for i in (example.base, example.source))
    with hooks.capture(model, [site]) as acts:
        model.logits(model.inputs(source, model.sample_rate, readout.decoder_input_ids, checked=True))
    pos = torch.as_tensor(example.positions)

    def replace(t):
        t = t.clone()
        t[:, pos] = acts[site][:, pos].to(t.dtype)
        return t

    with hooks.on_sites(model, {site: replace}):
        logits = model.logits(model.inputs(base, model.sample_rate, readout.decoder_input_ids, checked=True))
    return readout.word_scores(logits).reshape(-1, len(readout.words))[0][word_idx]


@torch.no_grad()
def test_full_site_subspace_is_the_exact_interchange_and_no_op_is_the_base(tiny_en, prepared):
    _, pair, readout, word_idx, runner, clips, examples = prepared
    assert len(examples) == 2 and examples[0].positions  # both directions, over the word's frames
    full_rotated = S.make_intervention("rotated", 384, 384, seed=3)  # a random rotation: it cancels out
    full_low_rank = S.make_intervention("low_rank", 384, 384, seed=4)
    swap = T.batch_scores(runner, SWAP, clips, examples)[:, word_idx]
    for module in (full_rotated, full_low_rank):
        got = T.batch_scores(runner, module, clips, examples)[:, word_idx]
        assert torch.allclose(got, swap, atol=2e-3), (got, swap)
    ref = _hook_reference(tiny_en, readout, pair, examples[0], word_idx)  # "yes" frames into the "no" run
    assert torch.allclose(swap[0], ref, atol=2e-3), (swap[0], ref)
    # The word's frames carry the answer at this layer: the full interchange flips both directions,
    # so a full-site DAS module scores IIA 1 here.
    targets = torch.tensor([word_idx.index(e.target) for e in examples])
    assert torch.equal(swap.argmax(-1), targets) and torch.equal(got.argmax(-1), targets)
    # Patching nothing is the base run (whose answers are not the sources': IIA 0).
    same = T.batch_scores(runner, lambda b, s: b, clips, examples)[:, word_idx]
    base = torch.stack([clips[e.base].scores[word_idx] for e in examples])
    assert torch.allclose(same, base, atol=1e-4)
    assert not (same.argmax(-1) == targets).any()
    runner.check_guards(clips[examples[0].base], clips[examples[0].source])


@pytest.mark.slow  # pyvene vs the runner is checked on the planted models in the default suite (test_das.py)
@torch.no_grad()
def test_full_site_module_through_pyvene_gives_the_runners_interchange(tiny_en, prepared):
    task, pair, readout, _, runner, clips, examples = prepared
    span = tuple(pair.changed_spans[0])
    module = S.make_intervention("rotated", 384, 384, seed=5)
    via_pyvene = intervene.intervene(tiny_en, task, pair, intervene.Intervention(SITE, times_s=span, kind=module))
    assert via_pyvene.effect > 0.5  # the interchange of the word's frames restores the clean answer
    scores = T.batch_scores(runner, SWAP, clips, examples[:1])  # base: the corrupt half, source: the clean one
    metric = float(readout.metric_from_scores(scores)[0]) * (1 if pair.clean_answer == "yes" else -1)
    assert metric == pytest.approx(via_pyvene.metric, abs=2e-3)


@torch.no_grad()
def test_guard_catches_a_runner_that_enters_the_wrong_layer(tiny_en, prepared):
    *_, clips, examples = prepared
    _, _, readout, *_ = prepared
    broken = SiteRunner(tiny_en, SITE, readout)
    broken.start -= 1  # the cached layer-3 output re-enters layer 3
    with pytest.raises(GuardError, match="patching nothing"):
        broken.check_guards(clips[examples[0].base], clips[examples[0].source])


@torch.no_grad()
def test_prepared_clips_are_reused_for_the_same_model_site_and_context(tiny_en, prepared):
    _, pair, readout, _, _, clips, _ = prepared
    audio = tiny_en.prepare(pair.clean, pair.sample_rate, name="pair.clean")
    assert SiteRunner(tiny_en, SITE, readout).prepare(audio) is clips[0]  # another dim at this site: no forward
    assert torch.equal(SiteRunner(tiny_en, SITE, readout).prepare(audio).act, clips[0].act)

