"""intervene.align: the public entry (intervene/alignment.py)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

import intervene
import tasks
from tasks.errors import AudioError, CapabilityError, ConfigError


@pytest.fixture(scope="module")
def utterance():
    return tasks.speak("turn the lights off", voice="en-us", rate=160).padded(1.6, onset_s=0.3)


def test_without_a_transcript_the_model_transcribes_first(tiny_en, utterance):
    words = intervene.align(tiny_en, utterance.audio)
    assert words.transcribed and words.transcript.lower().startswith("turn the lights off")
    assert [w.word.lower() for w in words] == ["turn", "the", "lights", "off"]
    assert all(0.0 <= w.start_s <= w.end_s <= utterance.duration_s for w in words)
    json.dumps(words.to_dict())


def test_audio_at_another_rate_is_resampled(tiny_en, utterance):
    slow = tasks.audio.resample(utterance.audio, 16000, 8000)
    a = intervene.align(tiny_en, slow, utterance.text, sample_rate=8000)
    b = intervene.align(tiny_en, utterance.audio, utterance.text)
    assert max(abs(x.start_s - y.start_s) for x, y in zip(a, b)) <= 0.021


def test_bad_input_gets_typed_errors(tiny_en, tiny_wav2vec2, utterance):
    with pytest.raises(ConfigError, match="transcript"):
        intervene.align(tiny_en, utterance.audio, " ... ")
    with pytest.raises(ConfigError, match="transcript"):
        intervene.align(tiny_en, utterance.audio, 42)
    with pytest.raises(AudioError, match="empty"):
        intervene.align(tiny_en, np.zeros(0, np.float32), "hello")
    with pytest.raises(AudioError, match="30 s"):
        intervene.align(tiny_en, np.zeros(31 * 16000, np.float32), "hello")
    with pytest.raises(CapabilityError, match="cannot align"):
        intervene.align(tiny_wav2vec2, utterance.audio, "turn the lights off")


def test_a_dataset_takes_align_as_its_aligner(tiny_en, utterance, tmp_path):
    tasks.write_wav(tmp_path / "a.wav", utterance.audio)
    (tmp_path / "a.txt").write_text("TURN THE LIGHTS OFF")
    clip = tasks.open_dataset(f"folder:{tmp_path}", aligner=functools.partial(intervene.align, tiny_en))[0]
    assert [w.word for w in clip.words] == ["TURN", "THE", "LIGHTS", "OFF"]
    assert clip.alignment.confidence > 0.3 and clip.word_span("lights").start_s > 0.3
