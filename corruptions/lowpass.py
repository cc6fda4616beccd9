"""Low-pass filtering (audiomentations' Butterworth LowPassFilter, parameters drawn here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_flag, check_number, need
from corruptions.source import as_source
from tasks.audio import SAMPLE_RATE

__all__ = ["LowPass", "check_rolloff", "draw_log"]


def check_rolloff(rolloff_db, zero_phase: bool) -> int:
    """A filter slope in dB/octave: a multiple of 12 (zero-phase) or 6, from 6 to 96."""
    step = 12 if zero_phase else 6
    value = check_number("rolloff_db", rolloff_db, low=step, high=96, allow_range=False, unit="dB/octave",
                         multiple_of=step)  # fmt: skip
    return int(value)


def draw_log(rng: np.random.Generator, value) -> float:
    """A fixed value as is; a ``(low, high)`` frequency range drawn log-uniformly."""
    if isinstance(value, tuple):
        low, high = value
        return float(low) if low == high else float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(value)


@dataclass(frozen=True, eq=False)
class LowPass(Corruption):
    """Remove the energy above ``cutoff_hz`` from the whole clip (Butterworth low-pass).

    audiomentations' ``LowPassFilter`` does the filtering; its parameters are fixed before
    the call, so it never draws from the global random generators.

    Parameters
    ----------
    cutoff_hz : float or (low, high)
        Cutoff frequency, 50 Hz to 7900 Hz; a range is drawn log-uniformly.
    rolloff_db : int
        Slope in dB/octave (multiple of 12 when ``zero_phase``, else of 6).
    zero_phase : bool
        Filter forwards and backwards: no delay, so frames stay aligned with the clean clip
        (the response is -6 dB at the cutoff). False gives a causal filter, which delays
        low frequencies.

    Examples
    --------
    >>> import corruptions
    >>> corruptions.get("lowpass", cutoff_hz=(500, 2000)).rolloff_db
    24
    """

    kind: ClassVar[str] = "lowpass"

    cutoff_hz: float | tuple = 1000.0
    rolloff_db: int = 24
    zero_phase: bool = True

    def __post_init__(self):
        nyquist_margin = SAMPLE_RATE / 2 - 100.0
        object.__setattr__(self, "cutoff_hz", check_number("cutoff_hz", self.cutoff_hz, low=50.0,
                                                           high=nyquist_margin, unit="Hz"))  # fmt: skip
        object.__setattr__(self, "zero_phase", check_flag("zero_phase", self.zero_phase))
        object.__setattr__(self, "rolloff_db", check_rolloff(self.rolloff_db, self.zero_phase))

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """``{"cutoff_hz", "rolloff_db", "zero_phase"}``."""
        return {"cutoff_hz": draw_log(rng, self.cutoff_hz), "rolloff_db": self.rolloff_db,
                "zero_phase": self.zero_phase}  # fmt: skip

    def apply(self, source, params: dict) -> np.ndarray:
        """The filtered clip, float32 ``(samples,)``, same length."""
        src = as_source(source)
        cutoff_hz, rolloff_db, zero_phase = need(params, self.kind, "cutoff_hz", "rolloff_db", "zero_phase")
        return F.butterworth(src.audio, src.sample_rate, "lowpass", cutoff_hz=float(cutoff_hz),
                             rolloff_db=int(rolloff_db), zero_phase=bool(zero_phase))  # fmt: skip
