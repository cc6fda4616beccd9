"""Reference activations (mean, resample, silence) are computed once, cached, and exact; directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene import hooks
from intervene.anatomy.references import cache_stats, clear_cache, site_values
from intervene.sites import Site


def activations(model, site, audio, ids=None):
    with torch.no_grad(), hooks.capture(model, [site]) as acts:
        model.logits(model.inputs(audio, 16000, ids))
    return acts[Site.parse(site)]


def test_mean_is_computed_once_per_model_site_and_reference_set(tiny_whisper, yes_no_pair):
    clear_cache()
    pair = yes_no_pair[1]
    sites = [Site.parse("encoder.0.block_output"), Site.parse("encoder.2.attention_head.1")]
    first = site_values(tiny_whisper, sites, [pair.clean, pair.corrupt])
    assert cache_stats()["forwards"] == 2  # one forward per clip for both sites
    again = site_values(tiny_whisper, sites, [pair.clean, pair.corrupt])
    assert cache_stats()["forwards"] == 2 and cache_stats()["hits"] == 2
    assert all(again[s] is first[s] for s in sites)
    site_values(tiny_whisper, sites[:1], [pair.clean])  # another reference set: computed
    assert cache_stats()["forwards"] == 3
    expected = (activations(tiny_whisper, "encoder.0.block_output", pair.clean)
                + activations(tiny_whisper, "encoder.0.block_output", pair.corrupt)) / 2
    assert torch.allclose(first[sites[0]], expected, atol=1e-6)


def test_mean_of_one_clip_is_that_clip_exactly(tiny_whisper, yes_no_pair):
    clip = yes_no_pair[1].corrupt
    ids = torch.tensor([tiny_whisper.prompt_ids + [3363]])
    for key in ("encoder.1.mlp_output", "decoder.1.cross_attention_head.0"):
        got = site_values(tiny_whisper, [Site.parse(key)], [clip], ids)[Site.parse(key)]
        assert torch.equal(got, activations(tiny_whisper, key, clip, ids))


def test_silence_is_the_padding_only_input(tiny_whisper):
    from intervene.anatomy.references import silence_clip

    site = Site.parse("encoder.2.block_output")
    got = site_values(tiny_whisper, [site], [silence_clip(tiny_whisper)])[site]
    longer = activations(tiny_whisper, site.key, np.zeros(48000, np.float32))  # any length of zeros pads the same
    assert torch.equal(got, longer)


def test_direction_is_the_difference_of_means_over_audio_frames(tiny_whisper, yes_no_pair):
    utt, pair = yes_no_pair
    noise = (0.05 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    v = intervene.direction(tiny_whisper, "encoder.1.block_output", [pair.clean], [noise])
    a = activations(tiny_whisper, "encoder.1.block_output", pair.clean)[0, :50].double().mean(0)
    b = activations(tiny_whisper, "encoder.1.block_output", noise)[0, :25].double().mean(0)
    assert v.shape == (16,) and v.dtype == np.float32
    np.testing.assert_allclose(v, (a - b).numpy(), atol=1e-5)
    assert intervene.direction(tiny_whisper, "decoder.0.cross_attention_head.1", [utt], [noise]).shape == (8,)
    with pytest.raises(intervene.ConfigError):
        intervene.Steering("encoder.1.block_output", intervene.direction(
            tiny_whisper, "encoder.1.block_output", [noise], [noise]), 1.0)  # identical sets: all zeros
