"""The real whisper-tiny.en: stored frames equal a plain capture, and an SAE site is a complete cut."""

from __future__ import annotations

import pytest
import torch

import intervene
from intervene import hooks
from intervene.features import extract
from intervene.features.train import train_sae

SITE = "encoder.3.block_output"


def test_store_and_sae_site_on_tiny_en(tiny_en, yes_no_pair, tmp_path):
    import tasks

    utt, pair = yes_no_pair
    store = extract(tiny_en, SITE, [utt], tmp_path / "store")
    x, _, _ = store.arrays()
    with torch.no_grad(), hooks.capture(tiny_en, [SITE]) as acts:
        tiny_en.logits(tiny_en.inputs(utt.audio))
    assert x.shape == (50, 384)  # 1 s of audio: 50 frames of 20 ms, not Whisper's 1500
    torch.testing.assert_close(x, acts[tiny_en.site(SITE)][0, :50], rtol=0, atol=0)

    sae = train_sae(tiny_en, SITE, store, kind="topk", width=128, k=8, steps=60, batch_size=32)
    tiny_en.sites(sae=sae, features=[])  # attach it
    task = tasks.KeywordTask()
    every = "+".join(map(str, range(128)))
    cut = intervene.intervene(tiny_en, task, pair, intervene.Intervention(f"{SITE}.sae.{every}+error"))
    assert cut.metric == pytest.approx(cut.source_metric, abs=1e-3)
    assert abs(cut.source_metric - cut.base_metric) > 1.0
    same = intervene.intervene(tiny_en, task, pair, intervene.Intervention(f"{SITE}.sae.{every}", kind=lambda b, s: b))
    assert same.metric == cut.base_metric  # patch no feature: the base run, exactly
