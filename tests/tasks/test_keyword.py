"""KeywordTask, CarrierTask, readouts and the normalised effect, on the real whisper-tiny.en."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tasks
from tasks.carrier import CarrierTask
from tasks.errors import ConfigError, PairError, UnknownNameError
from tasks.keyword import SPEECH_COMMANDS_CORE, KeywordTask
from tasks.metrics import normalized_effect
from tasks.readout import classifier_readout, word_variants


def test_keyword_task_recognises_core_words(tiny_en):
    task = KeywordTask()
    examples = []
    for voice in ("en-us", "en-gb-x-rp"):
        for word in SPEECH_COMMANDS_CORE:
            u = tasks.speak(word, voice=voice)
            examples.append(type("Ex", (), {"audio": u.audio, "sample_rate": 16000, "word": word})())
    ev = task.evaluate(tiny_en, examples)
    assert ev.n == 20 and ev.confusion.sum() == 20
    assert ev.accuracy >= 0.75, ev.to_dict()
    assert set(ev.to_dict()) >= {"accuracy", "confusion", "per_word_accuracy"}


def test_scores_match_manual_teacher_forcing(tiny_en):
    """A multi-token word's score is the sum of its tokens' log-probs, log-sum-exp'ed over variants."""
    task = KeywordTask(["sheila", "marvin"])
    audio = tasks.speak("marvin").audio
    got = task.scores(tiny_en, audio)
    feats = tiny_en.features(audio)
    expected = {}
    for word in task.words:
        variant_lp = []
        for v in word_variants(word):
            ids = tiny_en.tokenizer.encode(v, add_special_tokens=False)
            seq = torch.tensor([tiny_en.prompt_ids + ids])
            with torch.no_grad():
                logp = torch.log_softmax(tiny_en.model(input_features=feats, decoder_input_ids=seq).logits[0], -1)
            p0 = len(tiny_en.prompt_ids) - 1
            variant_lp.append(sum(float(logp[p0 + j, t]) for j, t in enumerate(ids)))
        expected[word] = float(np.logaddexp.reduce(variant_lp))
    assert any(len(tiny_en.tokenizer.encode(" sheila", add_special_tokens=False)) > 1 for _ in [0])
    for w in task.words:
        assert got[w] == pytest.approx(expected[w], abs=1e-3)
    assert task.predict(tiny_en, audio) == "marvin"


def test_pair_metrics(tiny_en):
    task = KeywordTask(["yes", "no", "up"])
    yes = tasks.speak("yes").audio
    s = task.scores(tiny_en, yes)
    assert task.metric(tiny_en, yes, 16000, "yes", "no") == pytest.approx(s["yes"] - s["no"], abs=1e-4)
    logodds = task.metric(tiny_en, yes, 16000, "yes", "yes")
    assert logodds == pytest.approx(s["yes"] - np.logaddexp(s["no"], s["up"]), abs=1e-4)
    assert task.readout(tiny_en, "yes").metric_name == "logodds"
    # An answer outside the label set is scored as an extra candidate.
    assert "maybe" in task.readout(tiny_en, "yes", "maybe").words


def test_carrier_task_scores_word_inside_sentence(tiny_en):
    task = CarrierTask(["left", "right", "yes", "no"])
    utt = task.utterance("left")
    span = utt.word_span("left")
    assert 0.5 < span.start_s < span.end_s < utt.duration_s
    prefix = tiny_en.tokenizer.decode(task.prefix_ids(tiny_en)[len(tiny_en.prompt_ids):])
    assert prefix == " Please say the word"
    assert task.predict(tiny_en, utt.audio) == "left"
    r = task.readout(tiny_en, "left", "right")
    assert r.prefix_length == len(task.prefix_ids(tiny_en))
    with pytest.raises(ConfigError, match="exactly once"):
        CarrierTask(template="no placeholder")


def test_classifier_readout_is_log_softmax_difference():
    labels = ["_silence_", "yes", "no", "up"]
    r = classifier_readout(labels, ["yes", "no"], "yes", "no")
    logits = torch.tensor([[0.5, 2.0, -1.0, 0.3], [1.0, 0.0, 0.0, 3.0]])
    ls = torch.log_softmax(logits, -1)
    torch.testing.assert_close(r.metric(logits), ls[:, 1] - ls[:, 2])
    with pytest.raises(UnknownNameError, match="'up'"):
        classifier_readout(labels, ["yes", "pu"], "yes")


def test_bad_task_definitions():
    with pytest.raises(ConfigError, match="at least two"):
        KeywordTask(["yes"])
    with pytest.raises(ConfigError, match="distinct"):
        KeywordTask(["yes", "Yes"])


def test_normalized_effect():
    np.testing.assert_allclose(normalized_effect([-2.0, 0.0, 2.0, 3.0], -2.0, 2.0), [0, 0.5, 1, 1.25])
    assert normalized_effect(1.0, base=3.0, source=-1.0) == pytest.approx(0.5)
    with pytest.raises(PairError, match="barely differs"):
        normalized_effect(0.0, base=1.0, source=1.01)
    assert isinstance(PairError("x"), ValueError)
