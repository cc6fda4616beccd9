"""Aligned word spans with confidences, and trimming to speech (tasks/aligned_words.py)."""

from __future__ import annotations

import math
import pickle

import numpy as np

from tasks.aligned_words import LOW_CONFIDENCE, AlignedWord, trim_to_speech
from tasks.utterance import Utterance, WordSpan


def test_an_aligned_word_is_a_word_span_with_a_confidence():
    w = AlignedWord("yes", 0.1, 0.5, 0.9)
    word, start_s, end_s = w
    assert (word, start_s, end_s) == ("yes", 0.1, 0.5) and len(w) == 3
    assert isinstance(w, WordSpan) and w == WordSpan("yes", 0.1, 0.5)
    assert w.confidence == 0.9 and not w.low_confidence
    assert AlignedWord("no", 0, 1, LOW_CONFIDENCE / 2).low_confidence
    assert not AlignedWord("no", 0, 1).low_confidence and math.isnan(AlignedWord("no", 0, 1).confidence)
    again = pickle.loads(pickle.dumps(AlignedWord("no", 0, 1, 0.01)))
    assert again.confidence == 0.01 and again.low_confidence
    moved = w._replace(start_s=0.2)
    assert moved.start_s == 0.2 and moved.confidence == 0.9
    assert Utterance(np.zeros(16000, np.float32), words=[w]).words[0] == ("yes", 0.1, 0.5)


def test_trim_pulls_spans_in_to_the_audible_frames():
    audio = np.zeros(16000, np.float32)
    audio[4800:9600] = 0.3 * np.sin(np.arange(4800) * 0.2)  # sound from 0.3 to 0.6 s
    words = [AlignedWord("a", 0.1, 0.5, 0.8), WordSpan("b", 0.5, 0.9), WordSpan("c", 0.7, 0.9)]
    a, b, c = trim_to_speech(words, audio, 16000)
    assert abs(a.start_s - 0.3) < 0.006 and a.end_s == 0.5 and a.confidence == 0.8
    assert b.start_s == 0.5 and abs(b.end_s - 0.6) < 0.006 and type(b) is WordSpan
    assert c == words[2]  # silent span: kept as it was
