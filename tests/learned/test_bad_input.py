"""The issue's bad-input list across intervene.probe / erase / das, and a trained DAS module refusing
another model or site however it reaches intervene.intervene (loaded without a model, .intervention)."""

from __future__ import annotations

import pytest

import intervene
from intervene.learned.planted import DST_TIMES_S
from tasks.errors import ConfigError, InterventionError

SITE = "encoder.1.block_output"


def test_erase_refuses_labels_of_the_wrong_length_or_a_split_leaving_a_class_out(tiny_planted, planted_clips,
                                                                                  planted_acts):
    with pytest.raises(ConfigError, match="exactly one label per clip"):
        intervene.erase(tiny_planted, SITE, planted_clips, ["yes"] * 3, activations=planted_acts)
    lopsided = ["a" if c.voice in ("planted-0", "planted-1") else "b" for c in planted_clips]
    with pytest.raises(ConfigError, match="leaves class"):
        intervene.erase(tiny_planted, SITE, planted_clips, lopsided, test=["planted-0", "planted-1"],
                        activations=planted_acts)


def test_das_refuses_a_test_split_naming_unknown_voices(tiny_planted, planted_task, planted_pairs):
    with pytest.raises(ConfigError, match="do not occur"):
        intervene.das(tiny_planted, planted_task, planted_pairs, SITE, times_s=DST_TIMES_S, test=["nobody"])


def test_trained_module_refuses_another_model_or_site_in_intervene(tmp_path, tiny_planted, tiny_planted_unused,
                                                                    tiny_whisper, planted_task, planted_pairs,
                                                                    planted_das):
    pair = planted_pairs[0]
    loaded = intervene.DASResult.load(planted_das.save(tmp_path / "das"))  # no model given: nothing checked yet
    assert intervene.intervene(tiny_planted, planted_task, pair, loaded.intervention).effect > 0.9
    # tiny_whisper has the same width (16): without the check the rotation would run silently
    for other in (tiny_whisper, tiny_planted_unused):
        with pytest.raises(InterventionError, match="another model"):
            intervene.intervene(other, planted_task, pair, loaded.intervention)
    moved = intervene.Intervention("encoder.2.block_output", times_s=DST_TIMES_S, kind=loaded.module)
    with pytest.raises(InterventionError, match="trained at encoder.1.block_output"):
        intervene.intervene(tiny_planted, planted_task, pair, moved)
