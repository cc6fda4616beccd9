"""The non-speech readout: how often the model writes words for noise, tones and silence.

Whisper hallucinates on non-speech (it writes "Thank you." for silence); the rate of non-empty
transcripts over a set of non-speech clips measures it, with and without an intervention
(e.g. steering along a speech vs non-speech direction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from intervene.readouts.transcript import transcribe
from tasks.errors import ConfigError

__all__ = ["nonspeech_clips", "nonspeech_rate", "NonSpeechResult", "is_empty_transcript"]


def is_empty_transcript(text: str) -> bool:
    """True when ``text`` has no letter or digit (punctuation and whitespace only)."""
    return not re.search(r"\w", text or "")


def _pink(n: int, rng) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=float)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(f), n)
    return x / (np.abs(x).max() + 1e-12)


def nonspeech_clips(duration_s: float = 3.0, seed: int = 0, sample_rate: int = 16000, level: float = 0.1) -> dict:
    """Non-speech clips by name: white and pink noise, 440 Hz and 1 kHz tones, a chirp, silence.

    Deterministic for a seed; peak ``level`` (silence: all zeros). Returns ``{name: float32 (samples,)}``.
    """
    if not (isinstance(duration_s, (int, float)) and 0 < duration_s <= 30):
        raise ConfigError(f"duration_s ({duration_s!r}) must be in (0, 30] seconds")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    white = rng.standard_normal(n)
    clips = {
        "white_noise": white / np.abs(white).max(),
        "pink_noise": _pink(n, rng),
        "tone_440hz": np.sin(2 * np.pi * 440 * t),
        "tone_1khz": np.sin(2 * np.pi * 1000 * t),
        "chirp": np.sin(2 * np.pi * (200 * t + (2000 / (2 * duration_s)) * t**2)),
    }
    out = {k: (level * v).astype(np.float32) for k, v in clips.items()}
    out["silence"] = np.zeros(n, dtype=np.float32)
    return out


@dataclass(frozen=True)
class NonSpeechResult:
    """``rate``: share of clips with a non-empty transcript; ``transcripts``: name -> text."""

    rate: float
    transcripts: dict = field(default_factory=dict)

    @property
    def nonempty(self) -> list:
        return [k for k, v in self.transcripts.items() if not is_empty_transcript(v)]

    def to_dict(self) -> dict:
        return {"rate": self.rate, "transcripts": dict(self.transcripts), "nonempty": self.nonempty}


def nonspeech_rate(model, clips=None, interventions=(), sample_rate: int = 16000) -> NonSpeechResult:
    """The rate of non-empty transcripts over non-speech ``clips`` (default :func:`nonspeech_clips`).

    Parameters
    ----------
    clips : dict name -> audio, or a list of clips, optional
    interventions : held on for every clip (see :func:`intervene.transcribe`).
    """
    clips = nonspeech_clips() if clips is None else clips
    if not isinstance(clips, dict):
        clips = {f"clip{i}": c for i, c in enumerate(clips)}
    if not clips:
        raise ConfigError("clips is a set of zero clips; give at least one non-speech clip")
    texts = {name: transcribe(model, audio, sample_rate, interventions).text for name, audio in clips.items()}
    rate = sum(not is_empty_transcript(t) for t in texts.values()) / len(texts)
    return NonSpeechResult(rate, texts)
