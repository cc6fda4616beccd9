"""Checking and drawing corruption parameters.

A parameter is either a fixed value or a ``(low, high)`` range that
:meth:`Corruption.sample` draws from (the audiomentations convention, with the
generator passed in). Categorical parameters are a name or a tuple of names to
choose from. Every check raises :class:`~tasks.errors.ConfigError` naming the
parameter, its value and the rule.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from tasks.errors import ConfigError, close_names

__all__ = ["check_number", "check_choice", "check_flag", "draw_number", "draw_choice", "need"]


def _is_number(value) -> bool:
    return isinstance(value, (Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _bounds_rule(low, high, low_open, high_open, unit) -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        left = ">" if low_open else ">="
        right = "<" if high_open else "<="
        return f"must be {left} {low:g} and {right} {high:g}{unit}"
    if low is not None:
        return f"must be {'>' if low_open else '>='} {low:g}{unit}"
    if high is not None:
        return f"must be {'<' if high_open else '<='} {high:g}{unit}"
    return "must be a finite number"


def _check_scalar(name, value, low, high, low_open, high_open, allow_inf, unit, multiple_of):
    if not _is_number(value):
        raise ConfigError(f"{name} ({value!r}) must be a number{' in ' + unit if unit else ''}")
    value = float(value)
    if math.isnan(value):
        raise ConfigError(f"{name} (nan) must be a number, not NaN")
    if math.isinf(value):
        if allow_inf and value > 0:
            return value
        rule = "must be finite" + (" (or +inf)" if allow_inf else "")
        raise ConfigError(f"{name} ({value!r}) {rule}")
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high:
        raise ConfigError(f"{name} ({value:g}) {_bounds_rule(low, high, low_open, high_open, unit)}")
    if multiple_of is not None and value % multiple_of != 0:
        raise ConfigError(f"{name} ({value:g}) must be a multiple of {multiple_of:g}{' ' + unit if unit else ''}")
    return value


def check_number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    allow_range: bool = True,
    unit: str = "",
    multiple_of: float | None = None,
):
    """Return ``value`` as a float, or a ``(low, high)`` range as a tuple of floats.

    Parameters
    ----------
    name : str
        The parameter's name, as error messages call it.
    value : float or (float, float)
        A fixed value, or a range (list or tuple of two numbers, low <= high).
    low, high : float, optional
        Bounds every value must respect; ``low_open``/``high_open`` exclude them.
    allow_inf : bool
        Accept ``+inf`` (e.g. ``snr_db=inf`` = no noise).
    allow_range : bool
        Accept a ``(low, high)`` range.
    unit : str
        Named in error messages (``"dB"``, ``"Hz"``).
    multiple_of : float, optional
        Values must be multiples of this (e.g. filter roll-offs of 12 dB/octave).

    Raises
    ------
    ConfigError
        Not a number, NaN, out of bounds, or a range that is reversed or not allowed.

    Examples
    --------
    >>> check_number("snr_db", [0, 10], low=-20, high=80)
    (0.0, 10.0)
    """
    if isinstance(value, (list, tuple)):
        if not allow_range:
            raise ConfigError(f"{name} ({value!r}) must be a single number, not a range")
        if len(value) != 2:
            raise ConfigError(f"{name} ({value!r}) must be a number or a (low, high) range of two numbers")
        lo, hi = (
            _check_scalar(f"{name}[{i}]", v, low, high, low_open, high_open, allow_inf, unit, multiple_of)
            for i, v in enumerate(value)
        )
        if math.isinf(lo) or math.isinf(hi):
            raise ConfigError(f"{name} ({value!r}) is a range; its ends must be finite (give inf as a single value)")
        if lo > hi:
            raise ConfigError(f"{name} ({value!r}) is a range whose low end exceeds its high end; give (low, high)")
        return (lo, hi)
    return _check_scalar(name, value, low, high, low_open, high_open, allow_inf, unit, multiple_of)


def check_choice(name: str, value, choices, *, allow_several: bool = True):
    """Return ``value`` (one of ``choices``), or a tuple of choices to draw from.

    Raises
    ------
    ConfigError
        A name not in ``choices`` (the message lists the close names), or an empty tuple.
    """
    choices = tuple(choices)
    if isinstance(value, (list, tuple)):
        if not allow_several:
            raise ConfigError(f"{name} ({value!r}) must be one of {', '.join(map(repr, choices))}, not a list")
        if not value:
            raise ConfigError(f"{name} ({value!r}) must name at least one of {', '.join(map(repr, choices))}")
        return tuple(check_choice(name, v, choices, allow_several=False) for v in value)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(
            f"{name} ({value!r}) must be one of {', '.join(map(repr, choices))}{close_names(str(value), choices)}"
        )
    return value


def check_flag(name: str, value) -> bool:
    """Return ``value`` if it is a bool; otherwise raise ConfigError."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} ({value!r}) must be True or False")
    return bool(value)


def draw_number(rng: np.random.Generator, value) -> float:
    """A fixed value as is; a ``(low, high)`` range drawn uniformly with ``rng``."""
    if isinstance(value, tuple):
        low, high = value
        return float(low) if low == high else float(rng.uniform(low, high))
    return float(value)


def draw_choice(rng: np.random.Generator, value):
    """A fixed name as is; one of a tuple of names drawn uniformly with ``rng``."""
    if isinstance(value, tuple):
        return value[int(rng.integers(len(value)))]
    return value


def need(params: dict, kind: str, *keys: str) -> tuple:
    """The values of ``keys`` in ``params``; ConfigError naming the missing ones."""
    if not isinstance(params, dict):
        raise ConfigError(f"params ({type(params).__name__}) must be the dict that {kind}.sample() returned")
    missing = [k for k in keys if k not in params]
    if missing:
        raise ConfigError(
            f"params for {kind!r} lack {', '.join(map(repr, missing))}; pass the dict that sample() returned"
        )
    return tuple(params[k] for k in keys)
