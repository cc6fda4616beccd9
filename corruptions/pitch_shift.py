"""Pitch shift by a number of semitones, keeping the duration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_number, draw_number, need
from corruptions.source import as_source

__all__ = ["PitchShift"]


@dataclass(frozen=True, eq=False)
class PitchShift(Corruption):
    """Shift the pitch of the whole clip by ``semitones``; the duration and the timing are kept.

    A phase vocoder (librosa, 1024-sample frames) stretches time by ``2**(semitones/12)``
    and soxr resampling brings the duration back, so every frequency moves by exactly that
    ratio. Deterministic. Phase-vocoder smearing softens onsets by up to a frame (64 ms).

    Parameters
    ----------
    semitones : float or (low, high)
        Between -12 and 12; 0 is the identity.

    Examples
    --------
    >>> import numpy as np, corruptions
    >>> tone = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000).astype(np.float32)
    >>> corruptions.get("pitch_shift", semitones=2.0).pair(tone, seed=0).corrupt.shape
    (16000,)
    """

    kind: ClassVar[str] = "pitch_shift"

    semitones: float | tuple = 4.0

    def __post_init__(self):
        object.__setattr__(self, "semitones", check_number("semitones", self.semitones, low=-12.0, high=12.0,
                                                           unit="semitones"))  # fmt: skip

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """``{"semitones": ...}``, drawn uniformly when a range is given."""
        return {"semitones": draw_number(rng, self.semitones)}

    def apply(self, source, params: dict) -> np.ndarray:
        """The pitch-shifted clip, float32 ``(samples,)``, same length."""
        src = as_source(source)
        (semitones,) = need(params, self.kind, "semitones")
        return F.pitch_shift(src.audio, src.sample_rate, float(semitones))
