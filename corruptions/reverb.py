"""Reverberation from a seeded synthetic room impulse response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_number, draw_number, need
from corruptions.source import as_source

__all__ = ["Reverb"]


@dataclass(frozen=True, eq=False)
class Reverb(Corruption):
    """Convolve the clip with an exponentially decaying noise impulse response.

    The response is a direct path at lag 0 (so nothing moves in time) followed by Gaussian
    noise decaying 60 dB over ``rt60_s``, with ``drr_db`` the direct-to-reverberant energy
    ratio; it has unit energy, and the output is trimmed to the clip's length (the tail
    past the end is dropped). A statistical model of a diffuse room, not a geometric
    simulation (pyroomacoustics is not required).

    Parameters
    ----------
    rt60_s : float or (low, high)
        Reverberation time, 0 to 3 s; 0 is the identity.
    drr_db : float or (low, high)
        Direct-to-reverberant ratio, -20 to 40 dB (lower = more reverberant).

    Examples
    --------
    >>> import numpy as np, corruptions
    >>> click = np.zeros(16000, np.float32); click[100] = 1
    >>> out = corruptions.get("reverb", rt60_s=0.3).pair(click, seed=0).corrupt
    >>> int(np.argmax(np.abs(out)))
    100
    """

    kind: ClassVar[str] = "reverb"

    rt60_s: float | tuple = 0.5
    drr_db: float | tuple = 0.0

    def __post_init__(self):
        object.__setattr__(self, "rt60_s", check_number("rt60_s", self.rt60_s, low=0.0, high=3.0, unit="s"))
        object.__setattr__(self, "drr_db", check_number("drr_db", self.drr_db, low=-20.0, high=40.0, unit="dB"))

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """``{"rt60_s", "drr_db", "ir_seed"}`` (the impulse response's noise seed)."""
        return {"rt60_s": draw_number(rng, self.rt60_s), "drr_db": draw_number(rng, self.drr_db),
                "ir_seed": int(rng.integers(2**63))}  # fmt: skip

    def apply(self, source, params: dict) -> np.ndarray:
        """The reverberant clip, float32 ``(samples,)``, same length."""
        src = as_source(source)
        rt60_s, drr_db, ir_seed = need(params, self.kind, "rt60_s", "drr_db", "ir_seed")
        if rt60_s == 0:
            return src.audio.copy()
        ir = F.decaying_ir(np.random.default_rng(int(ir_seed)), src.sample_rate, float(rt60_s), float(drr_db))
        return F.convolve_same(src.audio, ir)
