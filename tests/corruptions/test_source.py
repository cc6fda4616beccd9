"""Sources: targets, arrays, examples and other sample rates."""

from __future__ import annotations

import numpy as np
import pytest

from corruptions.source import as_source, resolve_target
from tasks.errors import AudioError, ConfigError, UnknownNameError
from tasks.utterance import Utterance


def test_target_defaults(word_clip, sentence):
    assert resolve_target(as_source(word_clip), None) == "yes"
    with pytest.raises(ConfigError, match="pass target="):
        resolve_target(as_source(sentence), None)
    assert resolve_target(as_source(sentence), "it") == "it"
    with pytest.raises(UnknownNameError, match="did you mean 'turn'"):
        resolve_target(as_source(sentence), "tern")
    assert resolve_target(as_source(np.zeros(10, np.float32)), None) is None


def test_dataset_examples_carry_their_label(speech_commands):
    example = speech_commands[0]
    src = as_source(example)
    assert src.word == example.word and resolve_target(src, None) == example.word
    assert src.metadata()["speaker"] == example.speaker and src.metadata()["path"] == str(example.path)


def test_other_rates_and_bad_sources():
    slow = Utterance(audio=np.ones(8000, np.float32), sample_rate=8000, words=[("a", 0.1, 0.9)])
    src = as_source(slow)
    assert src.sample_rate == 16000 and src.n_samples == 16000 and src.words[0].end_s == 0.9
    with pytest.raises(ConfigError, match="must have .audio"):
        as_source([1.0, 2.0])
    with pytest.raises(AudioError, match="NaN"):
        as_source(np.array([np.nan, 1.0], np.float32))
