"""Checks of benchmark settings, on top of :mod:`corruptions.params` (one set of rules for all).

Numbers go through :func:`corruptions.params.check_number` (type, NaN, infinity, bounds,
multiples) and choices through :func:`corruptions.params.check_choice`; this module adds the
two shapes settings have that corruption parameters do not: lists of distinct names and whole
numbers. Every check raises :class:`~tasks.errors.ConfigError` naming the setting, the value
and the rule.
"""

from __future__ import annotations

from numbers import Integral

from corruptions.params import check_choice, check_number
from tasks.errors import ConfigError

__all__ = ["names", "number", "whole", "whole_numbers", "choice", "FRAME_MS"]

FRAME_MS = 20.0
"""Whisper's encoder frame; time windows are whole multiples of it."""


def names(name: str, values) -> tuple:
    """One or more distinct, non-empty strings (a single string counts as one), stripped.

    Examples
    --------
    >>> names("models", "whisper-tiny.en")
    ('whisper-tiny.en',)
    """
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values:
        raise ConfigError(f"{name} is empty; give at least one value")
    if any(not isinstance(v, str) or not v.strip() for v in values):
        raise ConfigError(f"{name} ({list(values)!r}) must be non-empty strings")
    values = tuple(v.strip() for v in values)
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} ({list(values)!r}) lists a value twice; give each once")
    return values


def number(name: str, value, low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, unit: str = "", multiple_of: float | None = None) -> float:  # fmt: skip
    """A finite number within bounds (``low_open``/``high_open`` exclude them), as a float; no ranges."""
    return check_number(name, value, low=low, high=high, low_open=low_open, high_open=high_open, allow_range=False,
                        unit=unit, multiple_of=multiple_of)  # fmt: skip


def whole(name: str, value, low: float | None = None, high: float | None = None) -> int:
    """A whole number (not a bool, not a float) within bounds."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} ({value!r}) must be a whole number")
    check_number(name, value, low=low, high=high, allow_range=False)
    return int(value)


def whole_numbers(name: str, values, low: float | None = None, high: float | None = None) -> tuple:
    """One or more distinct whole numbers (a single number counts as one)."""
    values = (values,) if isinstance(values, (int, str)) else tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, Integral) for v in values):
        raise ConfigError(f"{name} ({values!r}) must be one or more whole numbers")
    values = tuple(whole(name, v, low, high) for v in values)
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} ({list(values)!r}) lists a value twice; give each once")
    return values


def choice(name: str, value, choices) -> str:
    """One of ``choices`` (the message lists close names)."""
    return check_choice(name, value, choices, allow_several=False)
