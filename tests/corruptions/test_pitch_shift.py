"""Pitch shift: f0 moves by the requested semitones (pyin), duration and timing kept."""

from __future__ import annotations

import numpy as np
import pytest

import corruptions
from tasks.audio import SAMPLE_RATE


def _median_f0(audio: np.ndarray) -> float:
    import librosa

    f0, voiced, _ = librosa.pyin(audio, fmin=60, fmax=800, sr=SAMPLE_RATE, frame_length=1024)
    return float(np.nanmedian(f0[voiced]))


def _cents(a: float, b: float) -> float:
    return 1200.0 * np.log2(a / b)


@pytest.mark.parametrize("semitones", [-3.0, 2.5, 5.0])
def test_harmonic_tone_moves_by_the_request(semitones, tone):
    tone = tone(150.0, 0.8)
    pair = corruptions.get("pitch_shift", semitones=semitones).pair(tone, seed=0)
    assert pair.corrupt.shape == tone.shape
    shift = _cents(_median_f0(pair.corrupt[1600:-1600]), _median_f0(tone[1600:-1600]))
    assert shift == pytest.approx(100.0 * semitones, abs=10.0)


def test_speech_moves_by_the_request(yes_utterance):
    pair = corruptions.get("pitch_shift", semitones=3.0).pair(yes_utterance, seed=0)
    assert pair.corrupt.shape == yes_utterance.audio.shape
    # pyin's HMM finds nothing voiced in a clip padded with digital silence: measure on the word.
    word = yes_utterance.words[0]
    a, b = int(word.start_s * SAMPLE_RATE), int(word.end_s * SAMPLE_RATE)
    shift = _cents(_median_f0(pair.corrupt[a:b]), _median_f0(pair.clean[a:b]))
    assert shift == pytest.approx(300.0, abs=10.0)


def test_timing_is_kept(word_clip):
    pair = corruptions.get("pitch_shift", semitones=-4.0).pair(word_clip, seed=0)
    env_clean = np.convolve(np.abs(pair.clean), np.ones(320) / 320, mode="same")
    env_corrupt = np.convolve(np.abs(pair.corrupt), np.ones(320) / 320, mode="same")
    from scipy.signal import correlate

    lag = np.argmax(correlate(env_corrupt, env_clean, mode="full", method="fft")) - (len(env_clean) - 1)
    assert abs(lag) <= 160  # within 10 ms


def test_drawn_semitones_are_recorded(word_clip):
    pair = corruptions.get("pitch_shift", semitones=(-2.0, 2.0)).pair(word_clip, seed=11)
    assert -2.0 <= pair.params["semitones"] <= 2.0
    again = corruptions.get("pitch_shift", semitones=pair.params["semitones"]).pair(word_clip, seed=0)
    assert np.array_equal(again.corrupt, pair.corrupt)
