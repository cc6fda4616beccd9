"""Band-stop (notch) filtering (audiomentations' Butterworth BandStopFilter, parameters drawn here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.lowpass import check_rolloff, draw_log
from corruptions.params import check_flag, check_number, draw_number, need
from corruptions.source import as_source
from tasks.audio import SAMPLE_RATE
from tasks.errors import ConfigError

__all__ = ["BandStop"]


@dataclass(frozen=True, eq=False)
class BandStop(Corruption):
    """Remove a band around ``center_hz`` from the whole clip (Butterworth band-stop).

    The stopped band is ``center_hz * (1 -+ bandwidth_fraction / 2)``: the default removes
    500-1500 Hz, where the first formant of most vowels lies.

    Parameters
    ----------
    center_hz : float or (low, high)
        Centre frequency, 50 Hz to 7900 Hz; a range is drawn log-uniformly.
    bandwidth_fraction : float or (low, high)
        Band width over centre frequency, between 0 and 2 (exclusive).
    rolloff_db : int
        Slope in dB/octave (multiple of 12 when ``zero_phase``, else of 6).
    zero_phase : bool
        Filter forwards and backwards (no delay; frames stay aligned).

    Examples
    --------
    >>> import corruptions
    >>> corruptions.get("bandstop", center_hz=2000.0, bandwidth_fraction=0.5).center_hz
    2000.0
    """

    kind: ClassVar[str] = "bandstop"

    center_hz: float | tuple = 1000.0
    bandwidth_fraction: float | tuple = 1.0
    rolloff_db: int = 24
    zero_phase: bool = True

    def __post_init__(self):
        nyquist = SAMPLE_RATE / 2
        center = check_number("center_hz", self.center_hz, low=50.0, high=nyquist - 100.0, unit="Hz")
        fraction = check_number("bandwidth_fraction", self.bandwidth_fraction, low=0.0, high=2.0,
                                low_open=True, high_open=True)  # fmt: skip
        top = max(center if isinstance(center, tuple) else (center,)) * (
            1 + max(fraction if isinstance(fraction, tuple) else (fraction,)) / 2
        )
        if top >= nyquist:
            raise ConfigError(
                f"center_hz ({self.center_hz!r}) with bandwidth_fraction ({self.bandwidth_fraction!r}) reaches "
                f"{top:g} Hz; the band's top edge must stay below the Nyquist frequency {nyquist:g} Hz"
            )
        object.__setattr__(self, "center_hz", center)
        object.__setattr__(self, "bandwidth_fraction", fraction)
        object.__setattr__(self, "zero_phase", check_flag("zero_phase", self.zero_phase))
        object.__setattr__(self, "rolloff_db", check_rolloff(self.rolloff_db, self.zero_phase))

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """``{"center_hz", "bandwidth_hz", "rolloff_db", "zero_phase"}``."""
        center_hz = draw_log(rng, self.center_hz)
        return {"center_hz": center_hz, "bandwidth_hz": center_hz * draw_number(rng, self.bandwidth_fraction),
                "rolloff_db": self.rolloff_db, "zero_phase": self.zero_phase}  # fmt: skip

    def apply(self, source, params: dict) -> np.ndarray:
        """The filtered clip, float32 ``(samples,)``, same length."""
        src = as_source(source)
        center_hz, bandwidth_hz, rolloff_db, zero_phase = need(
            params, self.kind, "center_hz", "bandwidth_hz", "rolloff_db", "zero_phase"
        )
        return F.butterworth(src.audio, src.sample_rate, "bandstop", center_hz=float(center_hz),
                             bandwidth_hz=float(bandwidth_hz), rolloff_db=int(rolloff_db),
                             zero_phase=bool(zero_phase))  # fmt: skip
