"""Checks for the numbers users pass, defined once for every package's API edge.

A number that reaches the engine unchecked turns into a silent wrong result (a NaN margin
widens a span to the whole clip; a negative batch size skips every cell) or a raw
``ValueError: cannot convert float NaN to integer`` deep inside. Every public function that
takes a number runs it through :func:`check_real` or :func:`check_int` first; both raise
:class:`~tasks.errors.ConfigError` naming the argument, the value and the rule.

Rules: ``bool`` is not a number (``True`` is refused where an int is due); numpy scalars are
accepted; NaN is always refused; infinities only where asked (``allow_inf``); an integer
argument refuses ``2.5`` but accepts ``2.0`` (it is returned as ``2``).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from tasks.errors import ConfigError

__all__ = ["check_real", "check_int", "check_bool", "check_span", "is_real"]


def is_real(value) -> bool:
    """True for int, float and numpy number scalars; False for bool, str, None, arrays."""
    return isinstance(value, (Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _rule(low, high, low_open, high_open, unit, integer) -> str:
    what = "a whole number" if integer else "a finite number"
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"must be {what} {'>' if low_open else '>='} {low:g} and {'<' if high_open else '<='} {high:g}{unit}"
    if low is not None:
        return f"must be {what} {'>' if low_open else '>='} {low:g}{unit}"
    if high is not None:
        return f"must be {what} {'<' if high_open else '<='} {high:g}{unit}"
    return f"must be {what}{unit and ' (' + unit.strip() + ')'}"


def check_real(name: str, value, *, low: float | None = None, high: float | None = None, low_open: bool = False,
               high_open: bool = False, allow_inf: bool = False, allow_none: bool = False, unit: str = ""):
    """``value`` as a float, or ConfigError.

    Parameters
    ----------
    name : str
        The argument's name, as the message calls it.
    low, high : float, optional
        Bounds (``low_open`` / ``high_open`` exclude them).
    allow_inf : bool
        Accept infinities (still subject to the bounds).
    allow_none : bool
        Return None for None.
    unit : str
        Named in the message ("ms", "s").

    Examples
    --------
    >>> check_real("margin_ms", 50, low=0, unit="ms")
    50.0
    >>> check_real("margin_ms", float("nan"), low=0, unit="ms")
    Traceback (most recent call last):
    ...
    tasks.errors.ConfigError: margin_ms (nan) must be a finite number >= 0 ms, not NaN
    """
    if value is None and allow_none:
        return None
    rule = _rule(low, high, low_open, high_open, unit, False)
    if not is_real(value):
        raise ConfigError(f"{name} ({value!r}) {rule}, not a {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ConfigError(f"{name} (nan) {rule}, not NaN")
    if math.isinf(value) and not allow_inf:
        raise ConfigError(f"{name} ({value!r}) {rule}, not infinite")
    if (low is not None and (value < low or (low_open and value == low))) or (
        high is not None and (value > high or (high_open and value == high))
    ):
        raise ConfigError(f"{name} ({value:g}) {rule}")
    return value


def check_int(name: str, value, *, low: int | None = None, high: int | None = None, allow_none: bool = False,
              unit: str = "") -> int | None:
    """``value`` as an int (whole floats such as 2.0 accepted), or ConfigError.

    Examples
    --------
    >>> check_int("batch_size", 4, low=1)
    4
    >>> check_int("batch_size", 2.5, low=1)
    Traceback (most recent call last):
    ...
    tasks.errors.ConfigError: batch_size (2.5) must be a whole number >= 1
    """
    if value is None and allow_none:
        return None
    rule = _rule(low, high, False, False, unit, True)
    if not is_real(value):
        raise ConfigError(f"{name} ({value!r}) {rule}, not a {type(value).__name__}")
    if not isinstance(value, (Integral, np.integer)):
        f = float(value)
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(f"{name} ({value!r}) {rule}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} ({value}) {rule}")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` if it is True or False (numpy bools too), else ConfigError."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} ({value!r}) must be True or False")
    return bool(value)


def check_span(name: str, value, *, low: float = 0.0, high: float | None = None, unit: str = "s") -> tuple:
    """A ``(start, end)`` pair of finite numbers with ``low <= start < end <= high``, as floats.

    Examples
    --------
    >>> check_span("times_s", (0.1, 0.5), high=1.0)
    (0.1, 0.5)
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ConfigError(f"{name} ({value!r}) must be a (start, end) pair of numbers in {unit}")
    start = check_real(f"{name}[0]", value[0], unit=unit)
    end = check_real(f"{name}[1]", value[1], unit=unit)
    limit = f"{high:g}" if high is not None else "inf"
    if not (low <= start < end) or (high is not None and end > high + 1e-9):
        raise ConfigError(f"{name} ({start:g}, {end:g}) must satisfy {low:g} <= start < end <= {limit} {unit}")
    return start, end
