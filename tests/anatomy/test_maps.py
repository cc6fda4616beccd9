"""Maps of the anatomy interventions through intervene.patch: shapes, values, save/load, k and alpha axes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene.anatomy import Ablation, HeadMask, Steering, steer_map, window_map
from intervene.maps import CausalMap
from intervene.readouts import transcript_pair


def test_head_mask_map_is_layer_by_head_and_matches_single_runs(tiny_whisper, yes_no_pair, tmp_path):
    import tasks

    task = tasks.KeywordTask()
    cmap = intervene.patch(tiny_whisper, task, yes_no_pair[1], "decoder.cross_attention_head", unit="all", span="all",
                           method="head_mask", direction="noise")
    assert cmap.dims == ("layer", "head") and cmap.values.shape == (2, 2)
    assert all(g["ok"] for g in cmap.meta.guards) and cmap.meta.method == "head_mask"
    from intervene.context import PairContext
    from intervene.methods.head_mask import HeadMaskMethod

    m = HeadMaskMethod(PairContext.build(tiny_whisper, task, yes_no_pair[1], "noise"), engine="hooks")
    for layer in range(2):
        for head in range(2):
            got = m.run_interventions([HeadMask(f"decoder.{layer}.cross_attention_head.{head}")])
            assert cmap.patched[layer, head] == pytest.approx(got, abs=1e-5)
    cmap.save(tmp_path / "heads.npz")
    back = CausalMap.load(tmp_path / "heads.npz")
    np.testing.assert_array_equal(back.values, cmap.values)
    assert back.meta.runner.startswith("cached")


def test_ablation_map_is_layer_by_time(ctx):
    from intervene.patching import patch_context

    sites = ["encoder.0.block_output", "encoder.2.block_output"]
    cmap = patch_context(ctx, sites, window_ms=500, span="clip", method="ablation",
                         intervention=Ablation(None, kind="zero"))  # through pyvene.IntervenableModel
    assert cmap.dims == ("layer", "frame") and cmap.values.shape == (2, 2)
    assert np.isfinite(cmap.values).all() and np.ptp(cmap.values) > 0
    assert cmap.meta.runner.startswith("pyvene")


def test_window_map_stacks_k_and_saves(tiny_whisper, yes_no_pair, tmp_path):
    import tasks

    cmap = window_map(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1], [1499, 10, 2])
    assert cmap.dims == ("k", "layer") and cmap.values.shape == (3, 3)
    np.testing.assert_allclose(cmap.values[0], 0.0, atol=1e-4)  # k covering every frame changes nothing
    assert np.abs(cmap.values[2]).max() > 1e-3
    assert cmap.meta.guards and all(g["ok"] for g in cmap.meta.guards)
    cmap.save(tmp_path / "k.npz")
    back = CausalMap.load(tmp_path / "k.npz")
    assert back.dims == ("k", "layer") and back.coords["k"] == [1499, 10, 2]
    heads = window_map(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1], [4], "encoder.attention_head",
                       guards=False)
    assert heads.dims == ("k", "layer", "head") and heads.values.shape == (1, 3, 2)


def test_steer_map_stacks_alpha(tiny_whisper, yes_no_pair, vec16):
    import tasks

    cmap = steer_map(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1], Steering(None, vec16, 1.0), [0.0, 2.0],
                     "encoder.block_output")
    assert cmap.dims == ("alpha", "layer") and cmap.values.shape == (2, 3)
    np.testing.assert_allclose(cmap.values[0], 0.0, atol=1e-6)
    assert np.abs(cmap.values[1]).max() > 1e-4


def test_transcript_logprob_holds_interventions_on(tiny_whisper, yes_no_pair):
    from intervene import hooks
    from tasks import TranscriptTask

    utt = yes_no_pair[0]
    readout = TranscriptTask("yes").readout(tiny_whisper, "yes")
    inputs = tiny_whisper.inputs(utt.audio, 16000, readout.decoder_input_ids)
    with torch.no_grad():
        plain = float(readout.metric(tiny_whisper.logits(inputs)))
        with hooks.replace(tiny_whisper, {"decoder.1.cross_attention_head.0": (None, torch.zeros_like)}):
            masked = float(readout.metric(tiny_whisper.logits(inputs)))
    assert intervene.transcript_logprob(tiny_whisper, utt, "yes") == pytest.approx(plain, abs=1e-5)
    got = intervene.transcript_logprob(tiny_whisper, utt, "yes", interventions=HeadMask("decoder.1.cross_attention_head.0"))
    assert got == pytest.approx(masked, abs=1e-5) and abs(masked - plain) > 1e-4
    pair = transcript_pair(utt)
    assert pair.metadata["text"] == "yes" and not pair.corrupt.any()
    clean, corrupt = TranscriptTask().answers(pair)
    assert clean.text == "yes" and clean.index is None and corrupt == clean  # the whole transcript is the metric


def test_sweep_runs_an_anatomy_method_over_pairs(tiny_whisper, yes_no_pair, vec16):
    import corruptions
    import tasks

    other = corruptions.get("word_swap", word="yes").pair(tasks.speak("no", voice="en-us").padded(1.0, 0.3), seed=0)
    cmap = intervene.sweep(tiny_whisper, tasks.KeywordTask(), [yes_no_pair[1], other], "decoder.cross_attention_head",
                           method="head_mask", unit="all", span="all", direction="noise")
    assert cmap.n_pairs == 2 and cmap.dims == ("layer", "head") and cmap.per_pair.shape == (2, 2, 2)
    a, b = Steering(None, vec16, 1.0), Steering(None, vec16 * 1.0001, 1.0)
    assert repr(a) != repr(b) and repr(a) == repr(Steering(None, vec16.copy(), 1.0))  # sweeps key work on the repr
