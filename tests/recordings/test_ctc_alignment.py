"""CTC forced alignment for Wav2Vec2 / HuBERT (intervene/models/ctc_alignment.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import intervene
from intervene.models.ctc_alignment import ctc_targets
from tasks.errors import AudioError, CapabilityError

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: 5 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")}}


@pytest.fixture(scope="module")
def ctc_model(tmp_path_factory):
    """A random tiny Wav2Vec2ForCTC with a letter vocabulary, loaded as a local checkpoint."""
    import transformers

    from tiny_models import w2v_config

    folder = tmp_path_factory.mktemp("ctc")
    (folder / "vocab.json").write_text(json.dumps(VOCAB))
    config = w2v_config("wav2vec2", vocab_size=len(VOCAB), pad_token_id=0, num_labels=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = transformers.Wav2Vec2ForCTC(config)
    net.save_pretrained(folder)
    return intervene.load_model(folder, device="cpu")


def test_targets_spell_words_with_delimiters(ctc_model):
    labels, targets, owners = ctc_targets(ctc_model.tokenizer, "Hi, you 42!")
    assert labels == ["Hi", "you", "42"]
    assert targets == [VOCAB[c] for c in "HI|YOU"] and owners == [0, 0, -1, 1, 1, 1]


def test_forced_alignment_finds_designed_letters(ctc_model, monkeypatch):
    """Logits that say H I at frames 10-15 and Y O U at 25-33 give those words' spans."""
    frames = 50
    logits = torch.full((1, frames, len(VOCAB)), -10.0)
    logits[0, :, 0] = 5.0  # blank everywhere else
    plan = {"H": (10, 13), "I": (13, 16), "|": (18, 22), "Y": (25, 28), "O": (28, 31), "U": (31, 34)}
    for ch, (a, b) in plan.items():
        logits[0, a:b, VOCAB[ch]] = 10.0
    monkeypatch.setattr(ctc_model, "logits", lambda inputs: logits)
    words = ctc_model.align_words(np.zeros(frames * 320, np.float32), "hi you 42")
    assert [w.word for w in words] == ["hi", "you", "42"]
    assert (words[0].start_s, words[0].end_s) == pytest.approx((0.20, 0.32))
    assert (words[1].start_s, words[1].end_s) == pytest.approx((0.50, 0.68))
    assert words[0].confidence > 0.9 and not words[0].low_confidence
    assert words[2].start_s == words[2].end_s and words[2].confidence == 0.0 and words[2].low_confidence


def test_real_forward_gives_ordered_spans_inside_the_clip(ctc_model):
    audio = np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1
    words = intervene.align(ctc_model, audio, "open the door", trim_silence=False)
    assert [w.word for w in words] == ["open", "the", "door"]
    assert all(0 <= w.start_s <= w.end_s <= 1.0 for w in words)
    assert all(a.end_s <= b.start_s for a, b in zip(words, words[1:]))


def test_too_short_audio_and_classifiers_are_refused(ctc_model, tiny_hubert):
    with pytest.raises(AudioError, match="too short"):
        ctc_model.align_words(np.zeros(1600, np.float32), "a much longer transcript than fits")
    with pytest.raises(CapabilityError, match="not a CTC model"):
        tiny_hubert.align_words(np.zeros(16000, np.float32), "yes")
