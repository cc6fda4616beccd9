"""intervene.probe: control task, frame labels, splits and typed errors; label helpers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import intervene
from intervene.learned import labels as L
from intervene.learned.planted import DST_TIMES_S, SRC_TIMES_S
from intervene.learned.splits import control_labels, split_groups
from tasks.errors import ConfigError, UnknownNameError

SITE = "encoder.1.block_output"


def test_control_task_is_a_function_of_the_type_drawn_from_the_label_distribution():
    types = np.array(["a", "b", "a", "c", "b", "c", "d", "d"])
    labels = np.array(["x", "y", "x", "y", "x", "y", "x", "y"])
    ctl = control_labels(types, labels, np.ones(8, dtype=bool), seed=3)
    for t in set(types):
        assert len(set(ctl[types == t])) == 1
    assert set(ctl) <= {"x", "y"}
    assert np.array_equal(ctl, control_labels(types, labels, np.ones(8, dtype=bool), seed=3))


def test_split_holds_out_whole_groups():
    groups = [f"v{i % 5}" for i in range(20)]
    train, val, test = split_groups(groups, test=0.4, validation=0.34, seed=1)
    assert len(test) == 2 and len(val) == 1 and len(train) == 2
    assert not (train & test) and not (train & val) and train | val | test == set(groups)
    assert split_groups(groups, test=["v0"])[2] == {"v0"}


def test_selectivity_reports_memorised_types(tiny_planted, planted_clips, planted_acts):
    # control types = the word itself: the control task is as learnable as the task, selectivity 0
    same = intervene.probe(tiny_planted, SITE, planted_clips, "keyword", times_s=DST_TIMES_S, control_by="word",
                           activations=planted_acts)
    assert same.accuracy == 1.0 and same.control_accuracy == 1.0 and same.selectivity == 0.0
    # control types the frames do not encode (shared across voices): the control fails, selectivity > 0
    types = [f"t{int(c.voice.split('-')[1]) % 3}" for c in planted_clips]
    sel = intervene.probe(tiny_planted, SITE, planted_clips, "keyword", times_s=DST_TIMES_S, control_by=types,
                          activations=planted_acts)
    assert sel.accuracy == 1.0 and sel.control_accuracy <= 0.75 and sel.selectivity >= 0.25


def test_frame_labels_speech_vs_non_speech(tiny_planted, planted_clips, planted_acts):
    r = intervene.probe(tiny_planted, "encoder.0.block_output", planted_clips, "speech", times_s=(0.0, 1.0),
                        activations=planted_acts)
    assert r.pool == "frames" and r.classes == ["non-speech", "speech"]
    assert r.accuracy > 0.9  # x1 is non-zero exactly where the sound is
    assert r.n_test.item() == 50 * len(r.test_groups) * 2


def test_labels_from_synthesized_voices():
    assert L.voice_gender("en-us+f3") == "female"
    assert L.voice_gender("en-gb-scotland") == "male"
    with pytest.raises(ConfigError, match="declares no gender"):
        L.voice_gender("en-us+klatt")
    with pytest.raises(UnknownNameError):
        L.clip_labels([], "colour")


def test_bad_input_is_refused_with_typed_errors(tiny_planted, planted_clips, planted_acts):
    m, clips, acts = tiny_planted, planted_clips, planted_acts
    with pytest.raises(ConfigError, match="exactly one label per clip"):
        intervene.probe(m, SITE, clips, ["yes"] * (len(clips) - 1), activations=acts)
    with pytest.raises(ConfigError, match="single class"):
        intervene.probe(m, SITE, clips, ["yes"] * len(clips), activations=acts)
    with pytest.raises(ConfigError, match="leaves class"):  # a voice's own name cannot be read off other voices
        intervene.probe(m, SITE, clips, "voice", activations=acts)
    lopsided = ["a" if c.voice in ("planted-0", "planted-1") else "b" for c in clips]
    with pytest.raises(ConfigError, match="leaves class"):
        intervene.probe(m, SITE, clips, lopsided, test=["planted-0", "planted-1"], activations=acts)
    with pytest.raises(UnknownNameError):
        intervene.probe(m, SITE, clips, "keywords", activations=acts)
    with pytest.raises(ConfigError, match="encoder"):
        intervene.probe(m, "decoder.0.block_output", clips, "keyword")
    with pytest.raises(intervene.InterventionError, match="outside"):
        intervene.probe(m, SITE, clips, "keyword", times_s=(0.5, 1.5), activations=acts)
    with pytest.raises(ConfigError, match="at least 4"):
        intervene.probe(m, SITE, clips[:3], "keyword")
    no_voice = [dataclasses.replace(c, voice=None) for c in clips]
    with pytest.raises(ConfigError, match="voice"):
        intervene.probe(m, SITE, no_voice, "keyword", activations=acts)
    with pytest.raises(ConfigError, match="frame"):
        intervene.probe(m, SITE, clips, "speech", pool="mean", activations=acts)


def test_speaker_labels_split_by_word(tiny_planted, planted_clips, planted_acts):
    r = intervene.probe(tiny_planted, "encoder.0.block_output", planted_clips, "voice", times_s=SRC_TIMES_S,
                        split="word", test=["no"], activations=planted_acts)
    assert r.test_groups == ["no"] and r.n_test.item() == 12
    assert 0.0 <= r.accuracy <= 1.0 and r.chance == pytest.approx(1 / 12)
