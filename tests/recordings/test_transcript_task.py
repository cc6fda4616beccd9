"""The transcript task: teacher-forced transcript log-probabilities (tasks/transcript.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import corruptions
import intervene
import tasks
from tasks.errors import ConfigError, UnknownNameError
from tasks.transcript import TranscriptAnswer, TranscriptTask


@pytest.fixture(scope="module")
def sentence():
    return tasks.speak("please turn the lights off now", voice="en-us").padded(2.0, onset_s=0.2)


@pytest.fixture(scope="module")
def swap_pair(sentence):
    return corruptions.get("word_swap", word="on").pair(sentence, target="off", seed=0)


def test_answers_follow_the_pair(sentence, swap_pair):
    task = TranscriptTask()
    clean, corrupt = task.answers(swap_pair)
    assert clean == TranscriptAnswer("please turn the lights off now", 4) and corrupt.word == "on"
    noisy = corruptions.get("noise", snr_db=0.0, span="word").pair(sentence, target="lights", seed=0)
    assert task.answers(noisy) == (TranscriptAnswer(sentence.text, 3),) * 2
    assert TranscriptTask(word=0).answers(swap_pair)[1].word is None  # the swap is elsewhere
    with pytest.raises(UnknownNameError, match="banana"):
        TranscriptTask(word="banana").answers(swap_pair)
    with pytest.raises(ConfigError):
        TranscriptTask(casing="shout")


def test_readout_scores_each_word_from_its_tokens(tiny_whisper, swap_pair):
    task = TranscriptTask()
    r = task.readout(tiny_whisper, *task.answers(swap_pair))
    assert r.metric_name == "logit_diff" and r.words == ["please", "turn", "the", "lights", "off", "now", "on"]
    ids = r.decoder_input_ids
    text_ids = tiny_whisper.tokenizer.encode(" Please turn the lights off now", add_special_tokens=False)
    assert ids[0].tolist() == tiny_whisper.prompt_ids + text_ids
    assert r.prefix_length == len(tiny_whisper.prompt_ids) + 4
    logits = torch.randn(2, ids.shape[1], tiny_whisper.config.vocab_size)
    logp = logits.log_softmax(-1)
    p = len(tiny_whisper.prompt_ids) - 1
    scores = r.word_scores(logits)
    assert torch.allclose(scores[0], logp[0, p, text_ids[0]])  # 'Please' is one token
    on = tiny_whisper.tokenizer.encode(" on", add_special_tokens=False)
    assert torch.allclose(scores[6], logp[1, p + 4, on[0]])
    assert torch.allclose(r.metric(logits), scores[4] - scores[6])
    whole = task.readout(tiny_whisper, TranscriptAnswer("please turn the lights off now"))
    assert whole.metric_name == "transcript_logprob"
    assert torch.allclose(whole.metric(logits), whole.word_scores(logits).sum())


def test_patching_a_word_inside_a_sentence(tiny_whisper, swap_pair):
    """The task drives intervene.patch: guards pass and the map covers the swapped word."""
    cmap = intervene.patch(tiny_whisper, TranscriptTask(), swap_pair, tiny_whisper.sites("encoder", "block_output"),
                           window_ms=200)  # fmt: skip
    assert cmap.meta.metric == "logit_diff" and cmap.meta.answers == ["off", "on"]
    assert cmap.values.shape[0] == 3 and np.all(np.isfinite(cmap.values))
    assert cmap.meta.task_config["kind"] == "transcript"


def test_tiny_en_prefers_the_words_said(tiny_en, sentence, swap_pair):
    task = TranscriptTask()
    said = dict(task.word_scores(tiny_en, sentence.audio, text="PLEASE TURN THE LIGHTS OFF NOW"))
    wrong = dict(task.word_scores(tiny_en, sentence.audio, text="please turn the chairs off now"))
    assert said["LIGHTS"] > -1.0 and wrong["chairs"] < said["LIGHTS"] - 5.0
    r = task.readout(tiny_en, *task.answers(swap_pair))
    with torch.no_grad():
        clean = float(r.metric(tiny_en.logits(tiny_en.inputs(swap_pair.clean, 16000, r.decoder_input_ids))))
        corrupt = float(r.metric(tiny_en.logits(tiny_en.inputs(swap_pair.corrupt, 16000, r.decoder_input_ids))))
    assert clean > 2.0 and corrupt < -2.0  # 'off' vs 'on' flips with the audio
