"""Site tables: naming, validation, and pyvene interchange == plain torch hooks on every site."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene import hooks
from intervene._pyvene import pyvene as pv
from intervene.models import HUBERT_SITES, WAV2VEC2_SITES, WHISPER_SITES, SpeechModel
from intervene.sites import Site
from tasks.errors import ConfigError, UnknownNameError


# ----------------------------------------------------------------- tiny random models
def _tiny_whisper():
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    cfg = WhisperConfig(
        vocab_size=60, num_mel_bins=8, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=48, decoder_ffn_dim=48,
        max_source_positions=12, max_target_positions=16, pad_token_id=0, bos_token_id=0,
        eos_token_id=0, decoder_start_token_id=1, init_std=0.3,
    )
    torch.manual_seed(0)
    model = SpeechModel(WhisperForConditionalGeneration(cfg), "tiny-whisper", WHISPER_SITES, device="cpu")
    g = torch.Generator().manual_seed(1)

    def inputs():
        return {
            "input_features": torch.randn(1, 8, 24, generator=g),
            "decoder_input_ids": torch.cat([torch.tensor([[1]]), torch.randint(2, 60, (1, 4), generator=g)], 1),
        }

    return model, inputs(), inputs(), {"encoder": [0, 3, 4, 11], "decoder": [1, 3]}


def _tiny_w2v(kind: str):
    import transformers

    cfg_cls = transformers.Wav2Vec2Config if kind == "wav2vec2" else transformers.HubertConfig
    model_cls = transformers.Wav2Vec2ForCTC if kind == "wav2vec2" else transformers.HubertForCTC
    cfg = cfg_cls(
        vocab_size=12, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4, do_stable_layer_norm=(kind == "hubert"), feat_extract_norm="layer",
    )
    torch.manual_seed(0)
    table = WAV2VEC2_SITES if kind == "wav2vec2" else HUBERT_SITES
    model = SpeechModel(model_cls(cfg), f"tiny-{kind}", table, device="cpu")
    g = torch.Generator().manual_seed(2)
    base, source = ({"input_values": torch.randn(1, 800, generator=g)} for _ in range(2))
    return model, base, source, {"encoder": [0, 5, 6, 30]}


TINY = {"whisper": _tiny_whisper, "wav2vec2": lambda: _tiny_w2v("wav2vec2"), "hubert": lambda: _tiny_w2v("hubert")}


# ----------------------------------------------------------------- the two paths
def _pyvene_interchange(model, site: Site, base: dict, source: dict, positions: list[int]):
    """pyvene vanilla interchange of ``source`` into ``base`` at ``site`` over ``positions``."""
    if site.head is None:
        rep = pv.RepresentationConfig(site.layer, site.pyvene_component, "pos", len(positions))
        locs = [[positions]]
    else:
        rep = pv.RepresentationConfig(site.layer, site.pyvene_component, "h.pos", len(positions))
        locs = [[[[site.head]], [positions]]]
    iv = pv.IntervenableModel(pv.IntervenableConfig([rep], intervention_types=pv.VanillaIntervention), model.model)
    iv.use_fast = False  # FACTS.md: otherwise per-row locations go to row 0
    with torch.no_grad():
        _, out = iv(base, [source], {"sources->base": (locs, locs)})
    return out


def _hook_interchange(model, site: Site, base: dict, source: dict, positions: list[int]):
    with torch.no_grad(), hooks.capture(model, [site]) as acts:
        model.model(**source)
    values = acts[site][:, positions]
    with torch.no_grad(), hooks.replace(model, {site: (positions, values)}):
        return model.model(**base)


def _out(o):
    return o.logits if hasattr(o, "logits") else o.last_hidden_state


def _check_site(model, site, base, source, positions):
    with torch.no_grad():
        plain = _out(model.model(**base))
    ref = _out(_hook_interchange(model, site, base, source, positions))
    got = _out(_pyvene_interchange(model, site, base, source, positions))
    # The replacement must do something (else the comparison proves nothing) ...
    assert (ref - plain).abs().max() > 1e-6, f"{site.key}: hook interchange changed nothing"
    # ... and pyvene must do exactly what the plain hook does.
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5, msg=f"{site.key}: pyvene != torch hook")
    ident = _out(_pyvene_interchange(model, site, base, base, positions))
    torch.testing.assert_close(ident, plain, rtol=1e-5, atol=1e-6, msg=f"{site.key}: self-interchange not identity")


@pytest.mark.parametrize("arch", sorted(TINY))
def test_every_site_pyvene_matches_torch_hook_tiny(arch):
    model, base, source, positions = TINY[arch]()
    sites = model.sites()
    assert len(sites) > 0
    for site in sites:
        _check_site(model, site, base, source, positions[site.stream])
    # no hook is left behind by either path
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.model.modules())


def _real_inputs(tiny_en, text_seed):
    """A buzzy tone per seed, decoded with a different last prompt token per seed."""
    g = np.random.default_rng(text_seed)
    t = np.arange(16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * (200 + 100 * g.random()) * t) * (g.random(16000) > 0.3)).astype(np.float32)
    return tiny_en.inputs(audio, 16000, decoder_input_ids=tiny_en.prompt_ids + [383, 2068, 7586 + text_seed])


def _one_site_per_component(model):
    rng = np.random.default_rng(0)
    out = []
    for spec in model.table.specs:
        sites = model.sites(spec.stream, spec.component)
        out.append(sites[int(rng.integers(len(sites)))])
    return out


def test_sites_pyvene_matches_torch_hook_real_tiny_en(tiny_en):
    base, source = _real_inputs(tiny_en, 0), _real_inputs(tiny_en, 1)
    for site in _one_site_per_component(tiny_en):
        positions = [10, 11, 40] if site.stream == "encoder" else [1, 4]
        _check_site(tiny_en, site, base, source, positions)


@pytest.mark.slow
def test_every_site_pyvene_matches_torch_hook_real_tiny_en(tiny_en):
    base, source = _real_inputs(tiny_en, 0), _real_inputs(tiny_en, 1)
    for site in tiny_en.sites():
        positions = [10, 11, 40] if site.stream == "encoder" else [1, 4]
        _check_site(tiny_en, site, base, source, positions)


# ----------------------------------------------------------------- naming and errors
def test_site_key_and_parse_round_trip():
    s = intervene.Site("encoder", 3, "mlp_output")
    assert s.key == "encoder.3.mlp_output"
    assert Site.parse(s.key) == s
    h = Site("decoder", 1, "cross_attention_head", head=5)
    assert h.key == "decoder.1.cross_attention_head.5" and Site.parse(h.key) == h
    with pytest.raises(Exception):
        s.layer = 2  # frozen
    with pytest.raises(ConfigError):
        Site("encoder", -1, "mlp_output")


def test_tiny_en_site_table(tiny_en):
    assert len(tiny_en.sites("encoder", "block_output")) == 4
    assert len(tiny_en.sites("decoder", "cross_attention_head")) == 4 * 6
    assert tiny_en.num_heads("encoder.0.attention_head") == 6
    keys = {s.key for s in tiny_en.sites()}
    assert {"encoder.3.mlp_output", "decoder.0.cross_attention_output", "encoder.2.attention_head.5"} <= keys


def test_misspelt_sites_suggest_close_names(tiny_en):
    with pytest.raises(UnknownNameError, match="mlp_output") as e:
        tiny_en.site("encoder.3.mlp_ouput")
    assert isinstance(e.value, KeyError)
    with pytest.raises(UnknownNameError, match="'encoder'"):
        tiny_en.site("encodr.1.block_output")
    with pytest.raises(UnknownNameError, match="block_output"):
        tiny_en.sites("encoder", "blok_output")
    with pytest.raises(ConfigError, match="4 layers"):
        tiny_en.site("encoder.7.block_output")
    with pytest.raises(ConfigError, match="head"):
        tiny_en.site("encoder.0.attention_head")
    with pytest.raises(ConfigError, match="not per head"):
        tiny_en.site("encoder.0.mlp_output.2")


def test_pyvene_tables_are_registered():
    import transformers

    for cls in ("WhisperForConditionalGeneration", "Wav2Vec2ForCTC", "HubertForSequenceClassification"):
        table = pv.type_to_module_mapping[getattr(transformers, cls)]
        assert "encoder_block_output" in table and "encoder_mlp_output" in table
