"""Steering: add ``alpha * direction`` to a site's activations (over a time span or everywhere).

The vector is added by pyvene's ``AdditionIntervention`` with a constant source. A direction is
a vector the user gives, or :func:`intervene.direction` (difference of means between two sets of
clips, e.g. speech vs non-speech).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from intervene._pyvene import pyvene as pv
from intervene.anatomy.apply import on_site, pyvene_op
from intervene.anatomy.base import Kind, check_times
from tasks.errors import ConfigError

__all__ = ["Steering", "check_direction", "check_alpha"]


def check_alpha(alpha) -> float:
    """``alpha`` as a finite float (typed error naming it otherwise)."""
    if isinstance(alpha, bool):
        raise ConfigError(f"alpha ({alpha!r}) must be a finite number, not a bool")
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ConfigError(f"alpha ({alpha!r}) must be a finite number") from None
    if not math.isfinite(value):
        raise ConfigError(f"alpha ({alpha!r}) must be finite")
    return value


def check_direction(direction, size: int | None = None, name: str = "direction") -> np.ndarray:
    """``direction`` as a float32 vector: 1-D, finite, not all zeros, ``size`` long if given."""
    if isinstance(direction, torch.Tensor):
        direction = direction.detach().cpu().numpy()
    try:
        v = np.asarray(direction, dtype=np.float32)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} ({type(direction).__name__}) must be a vector of numbers") from None
    if v.ndim != 1 or v.size == 0:
        raise ConfigError(f"{name} must be a 1-D vector, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ConfigError(f"{name} has {int((~np.isfinite(v)).sum())} non-finite values; it must be finite")
    if not np.any(v):
        raise ConfigError(f"{name} is all zeros; a steering direction must be a non-zero vector")
    if size is not None and v.size != size:
        raise ConfigError(f"{name} has {v.size} values but the site's activations have {size}; give a vector of {size}")
    return v


@dataclass(frozen=True, eq=False, repr=False)
class Steering(Kind):
    """Add ``alpha * direction`` at ``site`` over ``times_s`` (default: every position).

    Parameters
    ----------
    site : Site or str
        E.g. ``"encoder.2.block_output"`` (None: a template for :func:`intervene.patch`).
    direction : array (size,)
        The site's activation size (head sites: the head's size). Finite and not all zeros.
    alpha : float
        Finite; 0 leaves the run unchanged (the steering guard).
    times_s : (start_s, end_s), optional
        Encoder sites: the frames covering this span.

    Raises
    ------
    ConfigError
        alpha not finite; a direction that is not a finite non-zero vector (its size is checked
        against the site when installed).
    """

    site: object = None
    direction: object = None
    alpha: float = 1.0
    times_s: tuple | None = None
    positions: tuple | None = None
    name: ClassVar[str] = "steer"

    def __post_init__(self):
        object.__setattr__(self, "direction", check_direction(self.direction))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "times_s", check_times(self.times_s))

    def describe(self) -> str:
        return f"Steering({self.site}, alpha={self.alpha:g}, |direction|={float(np.linalg.norm(self.direction)):.3g})"

    def to_dict(self) -> dict:
        return {"type": "steering", "site": None if self.site is None else str(self.site), "alpha": self.alpha,
                "times_s": self.times_s, "direction_norm": float(np.linalg.norm(self.direction)),
                "direction_size": int(self.direction.size)}

    def identity(self, env):
        """The guard's twin: alpha = 0."""
        return dataclasses.replace(self, alpha=0.0)

    def vector(self, model, site) -> torch.Tensor:
        from intervene.features.sites import site_size

        check_direction(self.direction, site_size(model, site))
        return torch.as_tensor(self.alpha * self.direction, dtype=torch.float32, device=model.device)

    def install(self, model, env, rows=None):
        site = self.resolved_site(model)
        positions = self.positions_for(model, site, env)
        add = pv.AdditionIntervention(source_representation=self.vector(model, site))
        return on_site(model, site, positions, pyvene_op(add), rows)

    def pyvene_intervention(self, model, site, positions, env, rows: int, head: bool):
        return pv.AdditionIntervention(source_representation=self.vector(model, site))
