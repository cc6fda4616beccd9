"""intervene.das: engines agree with pyvene, save/load keeps the IIA, resume, kinds, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import intervene
from intervene.learned.planted import DIR, DST_TIMES_S
from tasks.errors import ConfigError, InterventionError, PairError, UnknownNameError

SITE = "encoder.1.block_output"
QUICK = dict(times_s=DST_TIMES_S, batch_size=4, lr=0.05, train_context_frames=64)


@torch.no_grad()
def test_trained_intervention_runs_the_same_through_pyvene_and_both_engines(tiny_planted, planted_task,
                                                                            planted_pairs, planted_das):
    from intervene.context import PairContext
    from intervene.learned.activations import window_frames
    from intervene.learned.site_runner import SiteRunner

    pair = planted_pairs[0]
    via_pyvene = intervene.intervene(tiny_planted, planted_task, pair, planted_das.intervention)
    assert via_pyvene.effect > 0.9  # the learned 1-d swap restores the clean answer
    ctx = PairContext.build(tiny_planted, planted_task, pair)
    readout = planted_task.readout(tiny_planted, "yes", "no")
    pos = window_frames(tiny_planted, DST_TIMES_S, 50)
    for fast in (True, False):
        runner = SiteRunner(tiny_planted, SITE, readout)
        runner.fast = fast
        base, source = runner.prepare(ctx.corrupt_audio), runner.prepare(ctx.clean_audio)
        scores = runner.scores(lambda b, s: planted_das.module(b, s), [base], [source], [pos])
        metric = float(readout.metric_from_scores(scores)[0]) * (1 if pair.clean_answer == "yes" else -1)
        assert metric == pytest.approx(via_pyvene.metric, abs=1e-5), f"fast={fast}"


def test_save_then_load_gives_the_same_iia_and_rotation(tmp_path, tiny_planted, planted_task, planted_pairs,
                                                        planted_das):
    folder = planted_das.save(tmp_path / "das")
    loaded = intervene.DASResult.load(folder, model=tiny_planted, site=SITE)
    assert np.array_equal(loaded.subspace(), planted_das.subspace())
    assert loaded.iia == planted_das.iia and loaded.record["split"] == planted_das.record["split"]
    test_pairs = [p for p in planted_pairs if p.metadata["voice"] in planted_das.record["split"]["test"]]
    before, after = planted_das.evaluate(tiny_planted, planted_task, test_pairs), loaded.evaluate(
        tiny_planted, planted_task, test_pairs)
    assert before == after and before[0] == planted_das.iia
    pair = planted_pairs[1]
    a = intervene.intervene(tiny_planted, planted_task, pair, planted_das.intervention).metric
    b = intervene.intervene(tiny_planted, planted_task, pair, loaded.intervention).metric
    assert a == b


def test_saved_intervention_refuses_another_model_or_site(tmp_path, tiny_planted_unused, tiny_whisper, planted_das):
    folder = planted_das.save(tmp_path / "das")
    with pytest.raises(InterventionError, match="another model"):
        intervene.DASResult.load(folder, model=tiny_whisper)
    with pytest.raises(InterventionError, match="trained at encoder.1.block_output"):
        intervene.DASResult.load(folder, site="encoder.2.block_output")
    with pytest.raises(InterventionError, match="another model"):  # same encoder, another decoder
        intervene.DASResult.load(folder, model=tiny_planted_unused)
    assert intervene.DASResult.load(folder).record["model"] == "planted-used"
    (folder / "das.json").write_text((folder / "das.json").read_text().replace("speechlens.das/1", "other/9"))
    with pytest.raises(ConfigError, match="format"):
        intervene.DASResult.load(folder)
    with pytest.raises(ConfigError, match="not a saved DAS result"):
        intervene.DASResult.load(tmp_path / "nothing")


def test_training_resumes_from_its_checkpoint(tmp_path, tiny_planted, planted_task, planted_pairs):
    ck = tmp_path / "das.ckpt"
    whole = intervene.das(tiny_planted, planted_task, planted_pairs, SITE, max_epochs=3, patience=9, **QUICK)
    first = intervene.das(tiny_planted, planted_task, planted_pairs, SITE, max_epochs=1, patience=9,
                          checkpoint=ck, **QUICK)
    assert ck.is_file() and first.record["epochs_run"] == 1
    resumed = intervene.das(tiny_planted, planted_task, planted_pairs, SITE, max_epochs=3, patience=9,
                            checkpoint=ck, **QUICK)
    assert resumed.record["history"] == whole.record["history"]
    assert np.allclose(resumed.subspace(), whole.subspace(), atol=1e-6)
    with pytest.raises(ConfigError, match="other settings"):
        intervene.das(tiny_planted, planted_task, planted_pairs, SITE, max_epochs=3, dim=2, checkpoint=ck, **QUICK)


@pytest.mark.parametrize("kind", ["low_rank", "boundless"])
def test_other_kinds_train_and_contain_the_direction(kind, tiny_planted, planted_task, planted_pairs):
    r = intervene.das(tiny_planted, planted_task, planted_pairs, SITE, dim=1, kind=kind, max_epochs=15, patience=15,
                      **QUICK)
    assert r.iia == 1.0
    assert r.direction_cosine(DIR["u"].numpy()) >= 0.95
    assert 1 <= r.learned_dim < 16 and r.subspace().shape == (16, r.learned_dim)
    assert r.record["seed"] == 0 and r.record["examples"]["train"] > 1


def test_bad_input_is_refused_with_typed_errors(tiny_planted, planted_task, planted_pairs):
    m, task, pairs = tiny_planted, planted_task, planted_pairs
    with pytest.raises(ConfigError, match="between 1 and the size"):
        intervene.das(m, task, pairs, SITE, dim=17, **QUICK)
    with pytest.raises(ConfigError, match="between 1 and the size"):
        intervene.das(m, task, pairs, SITE, dim=0, **QUICK)
    with pytest.raises(UnknownNameError):
        intervene.das(m, task, pairs, SITE, kind="rotate", **QUICK)
    with pytest.raises(ConfigError, match="at least 3"):
        intervene.das(m, task, pairs[:2], SITE, **QUICK)
    import dataclasses

    same = [dataclasses.replace(p, corrupt_answer=p.clean_answer) for p in pairs]
    with pytest.raises(PairError, match="same value"):
        intervene.das(m, task, same, SITE, **QUICK)
    import tasks

    with pytest.raises(PairError, match="not one of the task's words"):
        intervene.das(m, tasks.KeywordTask(["yes", "stop"]), pairs, SITE, **QUICK)
    with pytest.raises(PairError, match="not one of the task's words"):
        intervene.das(m, task, pairs, SITE, variable=lambda pair, half: "maybe", **QUICK)
    one_voice = [dataclasses.replace(p, metadata={**p.metadata, "voice": "v"}) for p in pairs]
    with pytest.raises(ConfigError, match="group"):
        intervene.das(m, task, one_voice, SITE, **QUICK)
    with pytest.raises(ConfigError, match="lr"):
        intervene.das(m, task, pairs, SITE, **{**QUICK, "lr": -1.0})
