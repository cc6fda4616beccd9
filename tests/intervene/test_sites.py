"""Site tables: naming, validation, and pyvene interchange == plain torch hooks on every site of the
tiny models (and, marked slow, of the real whisper-tiny.en)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene import hooks
from intervene._pyvene import pyvene as pv
from intervene.sites import Site
from tasks.errors import ConfigError, UnknownNameError
from tiny_models import no_hooks


# ----------------------------------------------------------------- inputs for the shared tiny models
def _inputs(model, seed: int) -> dict:
    """Random model inputs (the site checks need no speech): Whisper features and a decoder prefix,
    or raw audio values for Wav2Vec2/HuBERT."""
    g = torch.Generator().manual_seed(seed)
    if model.has_decoder:
        ids = torch.tensor([model.prompt_ids + torch.randint(300, 5000, (3,), generator=g).tolist()])
        return {"input_features": torch.randn(1, 80, 3000, generator=g), "decoder_input_ids": ids}
    return {"input_values": torch.randn(1, 16000, generator=g)}


POSITIONS = {"encoder": [0, 3, 4, 40], "decoder": [1, 3]}
TINY = ["tiny_whisper", "tiny_wav2vec2", "tiny_hubert"]


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


def _source_acts(model, sites, source: dict) -> dict:
    """Every site's activation on ``source`` (one plain forward with capture hooks)."""
    with torch.no_grad(), hooks.capture(model, sites) as acts:
        model.model(**source)
    return dict(acts)


def _hook_interchange(model, site: Site, base: dict, source_acts: dict, positions: list[int]):
    values = source_acts[site][:, positions]
    with torch.no_grad(), hooks.replace(model, {site: (positions, values)}):
        return model.model(**base)


def _out(o):
    return o.logits if hasattr(o, "logits") else o.last_hidden_state


def _check_all(model, sites, base, source, positions: dict):
    """For each site: pyvene's interchange = a plain torch hook's, and pyvene's self-interchange = identity."""
    with torch.no_grad():
        plain = _out(model.model(**base))
    acts = _source_acts(model, sites, source)
    for site in sites:
        pos = positions[site.stream]
        ref = _out(_hook_interchange(model, site, base, acts, pos))
        got = _out(_pyvene_interchange(model, site, base, source, pos))
        # The replacement must do something (else the comparison proves nothing) ...
        assert (ref - plain).abs().max() > 1e-6, f"{site.key}: hook interchange changed nothing"
        # ... and pyvene must do exactly what the plain hook does.
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5, msg=f"{site.key}: pyvene != torch hook")
        ident = _out(_pyvene_interchange(model, site, base, base, pos))
        torch.testing.assert_close(ident, plain, rtol=1e-5, atol=1e-6, msg=f"{site.key}: self-interchange not identity")


@pytest.mark.parametrize("tiny_model", TINY, indirect=True)
def test_every_site_pyvene_matches_torch_hook_tiny(tiny_model):
    model = tiny_model
    base, source = _inputs(model, 1), _inputs(model, 2)
    sites = model.sites()
    assert len(sites) == (41 if model.has_decoder else 12)  # 5 layers x mlp_hidden added with the atlas
    _check_all(model, sites, base, source, POSITIONS)
    # no hook is left behind by either path
    assert no_hooks(model)


def _real_inputs(tiny_en, text_seed):
    """A buzzy tone per seed, decoded with a different last prompt token per seed."""
    g = np.random.default_rng(text_seed)
    t = np.arange(16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * (200 + 100 * g.random()) * t) * (g.random(16000) > 0.3)).astype(np.float32)
    return tiny_en.inputs(audio, 16000, decoder_input_ids=tiny_en.prompt_ids + [383, 2068, 7586 + text_seed])


@pytest.mark.slow
def test_every_site_pyvene_matches_torch_hook_real_tiny_en(tiny_en):
    base, source = _real_inputs(tiny_en, 0), _real_inputs(tiny_en, 1)
    _check_all(tiny_en, tiny_en.sites(), base, source, {"encoder": [10, 11, 40], "decoder": [1, 4]})


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
