"""Every method recovers the structure planted in the hand-set models (intervene/learned/planted.py).

By construction the used model's answer depends on the residual stream at encoder layer 1 (and
later) only through direction u over the destination frames, and at layer 0 only through x1
over the source frames; the unused model computes u but never reads it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene.learned.planted import DIR, DST_FRAMES, DST_TIMES_S, SRC_FRAMES, SRC_TIMES_S

SILENCE_S = (0.0, 0.28)


def _share_inside(row: np.ndarray, frames: tuple) -> float:
    mag = np.abs(np.nan_to_num(row))
    return float(mag[frames[0]:frames[1]].sum() / mag.sum())


@pytest.fixture(scope="module")
def exact_map(tiny_planted, planted_task, planted_pairs):
    return intervene.patch(tiny_planted, planted_task, planted_pairs[0], "encoder.block_output", unit="frame",
                           span=(0.0, 1.0))


def test_exact_patching_finds_the_frames_of_each_layer(exact_map):
    v = exact_map.values  # (3 layers, 50 frames), 20 ms frames from 0 s
    assert v.shape == (3, 50)
    assert _share_inside(v[0], SRC_FRAMES) > 0.999  # before the planted layer: where the sound is
    for layer in (1, 2):
        assert _share_inside(v[layer], DST_FRAMES) > 0.999  # from the planted layer on: where u is written
        assert v[layer, DST_FRAMES[0]:DST_FRAMES[1]].sum() == pytest.approx(1.0, abs=0.02)
    assert v[0, SRC_FRAMES[0]:SRC_FRAMES[1]].sum() == pytest.approx(1.0, abs=0.05)


def test_patching_components_finds_the_planted_layer(tiny_planted, planted_task, planted_pairs):
    cmap = intervene.patch(tiny_planted, planted_task, planted_pairs[1], "encoder.attention_output", unit="all",
                           span=DST_TIMES_S)
    effects = cmap.values.reshape(-1)
    assert effects[1] == pytest.approx(1.0, abs=1e-3)
    assert np.abs(effects[[0, 2]]).max() < 1e-4


def test_attribution_finds_the_same_layer_and_frames(tiny_planted, planted_task, planted_pairs):
    amap = intervene.patch(tiny_planted, planted_task, planted_pairs[0], "encoder.block_output", unit="frame",
                           span=(0.0, 1.0), method="attribution")
    v = amap.values
    assert _share_inside(v[0], SRC_FRAMES) > 0.99
    assert _share_inside(v[1], DST_FRAMES) > 0.99
    comp = intervene.patch(tiny_planted, planted_task, planted_pairs[0], "encoder.attention_output", unit="all",
                           span=DST_TIMES_S, method="attribution")
    assert int(np.argmax(np.abs(comp.values.reshape(-1)))) == 1


def test_probes_find_where_the_label_is_decodable(tiny_planted, planted_clips, planted_acts):
    r = intervene.probe(tiny_planted, "encoder.block_output", planted_clips, "keyword",
                        times_s=[SRC_TIMES_S, DST_TIMES_S, SILENCE_S], activations=planted_acts)
    acc = r.accuracy  # (layers, windows)
    assert acc.shape == (3, 3)
    assert np.all(acc[:, 0] == 1.0)  # the sound's frames, every layer (decodable after layer 1 though unused)
    assert acc[0, 1] <= 0.6 and np.all(acc[1:, 1] == 1.0)  # u exists from the planted layer on
    assert np.all(acc[:, 2] <= 0.6)  # silence before the sound: nothing
    assert np.all(r.chance == 0.5)
    assert r.selectivity.shape == (3, 3) and np.all(np.isfinite(r.control_accuracy))


def test_das_recovers_layer_frames_and_direction(tiny_planted, planted_task, planted_pairs, planted_das):
    r = planted_das
    assert r.iia == 1.0 and r.n_test >= 4
    assert r.direction_cosine(DIR["u"].numpy()) >= 0.99
    assert r.direction_cosine(DIR["u2"].numpy()) < 0.1  # the nuisance that varies there too
    # the same search before the planted layer, or on frames nothing reads, finds nothing
    for site, span in (("encoder.0.block_output", DST_TIMES_S), ("encoder.1.block_output", SRC_TIMES_S)):
        other = intervene.das(tiny_planted, planted_task, planted_pairs, site, times_s=span, dim=1, max_epochs=4,
                              batch_size=4, lr=0.05, train_context_frames=64)
        assert other.iia == 0.0, site


def test_das_before_the_planted_layer_finds_the_input_direction(tiny_planted, planted_task, planted_pairs):
    r = intervene.das(tiny_planted, planted_task, planted_pairs, "encoder.0.block_output", times_s=SRC_TIMES_S,
                      dim=1, max_epochs=10, patience=5, batch_size=4, lr=0.05, train_context_frames=64)
    assert r.iia == 1.0
    assert r.direction_cosine(DIR["x1"].numpy()) >= 0.99


@torch.no_grad()
def test_unused_information_is_decodable_but_has_no_effect(tiny_planted_unused, planted_task, planted_pairs,
                                                           planted_clips):
    m = tiny_planted_unused
    r = intervene.probe(m, "encoder.1.block_output", planted_clips, "keyword", times_s=DST_TIMES_S)
    assert r.accuracy == 1.0
    for pair in planted_pairs[:3]:
        full = intervene.intervene(m, planted_task, pair, intervene.Intervention("encoder.1.block_output",
                                                                                  times_s=DST_TIMES_S))
        assert full.base_metric == pytest.approx(full.source_metric, abs=1e-6)
        assert full.metric == pytest.approx(full.base_metric, abs=1e-6)  # patching the decodable frames: nothing
    erased = intervene.erase(m, "encoder.1.block_output", planted_clips, "keyword", times_s=DST_TIMES_S,
                             task=planted_task)
    assert erased.probe_before.accuracy == 1.0 and erased.probe_after.accuracy <= 0.6
    assert erased.task_accuracy_after == erased.task_accuracy_before


def test_erasure_where_used_collapses_the_task_and_where_unused_does_not(tiny_planted, planted_task, planted_clips,
                                                                         planted_acts):
    used = intervene.erase(tiny_planted, "encoder.1.block_output", planted_clips, "keyword", times_s=DST_TIMES_S,
                           task=planted_task, activations=planted_acts)
    assert used.probe_before.accuracy == 1.0 and used.probe_after.accuracy <= 0.6
    assert used.task_accuracy_before == 1.0 and used.task_accuracy_after <= 0.6
    unused = intervene.erase(tiny_planted, "encoder.2.block_output", planted_clips, "keyword", times_s=SRC_TIMES_S,
                             task=planted_task, activations=planted_acts)
    assert unused.probe_after.accuracy <= 0.6
    assert unused.task_accuracy_after == 1.0  # x1 after layer 1 is decodable but nothing reads it
