"""Phoneme frame labels from espeak-ng's phoneme events (no model needed)."""

from __future__ import annotations

import pytest

import tasks
from intervene.learned.phonemes import CLASSES, frame_phonemes, phoneme_class, phoneme_events
from tasks.errors import ConfigError


def test_mnemonics_map_to_classes():
    assert [phoneme_class(p) for p in ("j", "'E", "s", "_:", "tS", "n", "p", "aI", "l")] == [
        "approximant", "vowel", "fricative", "silence", "fricative", "nasal", "stop", "vowel", "approximant"]


def test_frames_of_yes_run_approximant_vowel_fricative_inside_the_word():
    utt = tasks.speak("yes", voice="en-us+f3").padded(1.0, 0.3)
    labels = frame_phonemes(utt, 50, 0.02)
    assert set(labels) <= set(CLASSES)
    word = utt.words[0]
    inside = [labels[i] for i in range(50) if word.start_s <= (i + 0.5) * 0.02 < word.end_s]
    outside = [labels[i] for i in range(50) if not word.start_s <= (i + 0.5) * 0.02 < word.end_s]
    assert set(outside) == {"silence"}
    runs = [c for i, c in enumerate(inside) if i == 0 or inside[i - 1] != c]
    assert runs == ["approximant", "vowel", "fricative"]
    events = phoneme_events("yes", "en-us+f3", 175, 50)
    assert events[0][1] == pytest.approx(tasks.speak("yes", voice="en-us+f3").words[0].start_s, abs=0.01)


def test_clips_that_were_not_synthesized_are_refused():
    utt = tasks.Utterance(audio=tasks.speak("go").audio)
    with pytest.raises(ConfigError, match="synthesized"):
        frame_phonemes(utt, 10, 0.02)
