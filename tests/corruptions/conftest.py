"""Shared sources for the corruption tests: synthetic speech-like clips and espeak speech."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.audio import SAMPLE_RATE
from tasks.utterance import Utterance, WordSpan


def harmonic_tone(f0: float, duration_s: float, sample_rate: int = SAMPLE_RATE, n_harmonics: int = 20) -> np.ndarray:
    """A harmonic complex (1/k amplitudes, harmonics below Nyquist), float32, peak about 0.3."""
    t = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    out = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        if k * f0 < sample_rate / 2:
            out += np.sin(2 * np.pi * k * f0 * t + 0.3 * k) / k
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def synthetic_utterance(spans, duration_s: float = 1.0, f0s=None) -> Utterance:
    """Silence with a Hann-windowed harmonic 'word' on each ``(word, start_s, end_s)`` span."""
    audio = np.zeros(int(round(duration_s * SAMPLE_RATE)), dtype=np.float32)
    for i, (_, start_s, end_s) in enumerate(spans):
        a, b = int(round(start_s * SAMPLE_RATE)), int(round(end_s * SAMPLE_RATE))
        f0 = (f0s or [120.0 + 30.0 * i for i in range(len(spans))])[i]
        audio[a:b] = harmonic_tone(f0, (b - a) / SAMPLE_RATE) * np.hanning(b - a).astype(np.float32)
    return Utterance(audio=audio, text=" ".join(w for w, _, _ in spans), words=[WordSpan(*s) for s in spans])


def padded(utterance: Utterance, before_s: float = 0.2, after_s: float = 0.3) -> Utterance:
    """``utterance`` with silence added before and after (word spans shifted)."""
    a, b = int(round(before_s * SAMPLE_RATE)), int(round(after_s * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(a, np.float32), utterance.audio, np.zeros(b, np.float32)])
    shift = a / SAMPLE_RATE
    words = [WordSpan(w, s + shift, e + shift) for w, s, e in utterance.words]
    return Utterance(audio=audio, sample_rate=utterance.sample_rate, text=utterance.text, words=words,
                     voice=utterance.voice, rate=utterance.rate, pitch=utterance.pitch, speaker=utterance.speaker)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def yes_utterance() -> Utterance:
    """espeak's 'yes' (en-us), padded to about 1 s."""
    from tasks.tts import speak

    return padded(speak("yes", voice="en-us"))


@pytest.fixture(scope="session")
def word_clip() -> Utterance:
    """A 1 s synthetic one-word clip: 'yes' from 0.3 to 0.6 s."""
    return synthetic_utterance([("yes", 0.3, 0.6)])


@pytest.fixture(scope="session")
def sentence() -> Utterance:
    """A 1.2 s synthetic three-word clip."""
    return synthetic_utterance([("turn", 0.1, 0.35), ("it", 0.45, 0.6), ("on", 0.7, 1.0)], duration_s=1.2)


@pytest.fixture(scope="session")
def speech_commands(tmp_path_factory):
    """A tiny synthetic Speech Commands set: yes/no/up by two speakers, plus 'go' by one."""
    from tasks import SpeechCommands, synthesize_speech_commands

    root = tmp_path_factory.mktemp("speech_commands")
    synthesize_speech_commands(root, words=("yes", "no", "up"), voices=["en-us", "en+f2"], rates=(175,),
                               pitches=(50,), validation_fraction=0, testing_fraction=0)
    return SpeechCommands(root)


@pytest.fixture(scope="session")
def tone():
    """The :func:`harmonic_tone` factory."""
    return harmonic_tone


@pytest.fixture(scope="session")
def band_power():
    """``band_power(audio, lo_hz, hi_hz)``: FFT power of ``audio`` between two frequencies."""

    def band_power(audio, lo_hz, hi_hz):
        spectrum = np.abs(np.fft.rfft(np.asarray(audio, dtype=np.float64))) ** 2
        freqs = np.fft.rfftfreq(audio.shape[0], 1 / SAMPLE_RATE)
        return float(spectrum[(freqs >= lo_hz) & (freqs < hi_hz)].sum())

    return band_power
