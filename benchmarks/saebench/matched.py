"""TopK vs ReLU+L1 at matched L0: the L1 coefficient that gives a ReLU SAE about ``k`` active features.

A ReLU SAE's L0 is set by its L1 coefficient, a TopK SAE's by ``k``; comparing them fairly means
comparing at (nearly) the same L0. :func:`calibrate_l1` searches the coefficient with short
training runs (``measure(l1) -> L0`` on training frames, decreasing in ``l1``): it steps by
``factor`` until the target is bracketed, then interpolates in log-log space (L0 is close to a
power law of the coefficient; with two measurements on one side it extrapolates along that
law, at most ``factor**3`` at a time), and stops once an L0 is within ``tolerance`` of the target or
after ``max_tries`` runs. Every measurement is passed in through ``tried`` and handed back, so
a caller that stores them (``benchmarks/sae.py`` keeps each run in its work store) resumes the
search without training again. :func:`corrected_l1` moves the chosen coefficient once more when
the full-length training lands off target: short runs need not predict a long one (on tiny.en's
encoder.3 at width 3072, the coefficient giving L0 30 after 200 steps gave L0 218 after 1000,
once dead features had been resampled at step 500).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

from tasks.errors import ConfigError

__all__ = ["MATCH_WITHIN", "calibrate_l1", "corrected_l1", "log_slope", "matched_rows", "within"]

MATCH_WITHIN = 0.25
"""The held-out L0s of two SAEs count as matched when they differ by at most this share."""

_FLOOR = 1e-3  # an L0 of zero (every feature off) still has a logarithm


def within(l0: float, target: float, tolerance: float) -> bool:
    """True when ``l0`` is within ``tolerance`` (a share) of ``target``."""
    return abs(l0 / target - 1.0) <= tolerance


def _closest(tried: Mapping[float, float], target: float) -> float:
    return min(tried, key=lambda c: (abs(math.log(max(tried[c], _FLOOR) / target)), c))


def log_slope(tried: Mapping[float, float], target: float) -> float:
    """d log L0 / d log l1 between the neighbouring measurements whose L0s are closest to ``target``
    (-1 when no two measurements decrease)."""
    pts = sorted((c, max(v, _FLOOR)) for c, v in tried.items() if c > 0)
    pairs = [(a, b) for a, b in itertools.pairwise(pts) if b[0] > a[0] and b[1] < a[1]]
    if not pairs:
        return -1.0
    a, b = min(pairs, key=lambda p: abs(0.5 * (math.log(p[0][1]) + math.log(p[1][1])) - math.log(target)))
    return max((math.log(b[1]) - math.log(a[1])) / (math.log(b[0]) - math.log(a[0])), -10.0)


def _next(tried: Mapping[float, float], target: float, start: float, factor: float) -> float:
    if not tried:
        return start
    high = [c for c, v in tried.items() if v > target]  # too many active features: more L1
    low = [c for c, v in tried.items() if v < target]
    if high and low and max(high) < min(low):
        a, b = max(high), min(low)
        la, lb = math.log(a), math.log(b)
        va, vb = math.log(max(tried[a], _FLOOR)), math.log(max(tried[b], _FLOOR))
        t = (va - math.log(target)) / (va - vb) if va > vb else 0.5
        t = min(max(t, 0.15), 0.85)  # stay inside the bracket so that it shrinks every time
        return math.exp(la + t * (lb - la))
    if high and low:  # not monotone (noise): bisect between the closest two on either side
        a, b = max(high), min(low)
        return math.sqrt(a * b)
    side = high or low
    c = max(side) if high else min(side)
    step = factor if high else 1.0 / factor
    slope = log_slope(tried, target) if len(side) > 1 else 0.0
    if slope < -0.05:  # extrapolate along the measured power law, at most factor**3 away
        jump = math.exp((math.log(target) - math.log(max(tried[c], _FLOOR))) / slope)
        step = min(max(jump, factor), factor**3) if high else max(min(jump, 1.0 / factor), factor**-3)
    return c * step


def calibrate_l1(measure: Callable[[float], float], target_l0: float, *, start_l1: float = 0.05,
                 tolerance: float = 0.1, max_tries: int = 6, factor: float = 4.0,
                 tried: Mapping[float, float] | None = None) -> dict:  # fmt: skip
    """Search the L1 coefficient whose L0 is ``target_l0`` (see the module notes).

    Parameters
    ----------
    measure : callable
        ``measure(l1) -> L0`` (mean active features per frame of a ReLU SAE trained with ``l1``).
    target_l0 : float
        What to reach (TopK's ``k``).
    start_l1 : float
        The first coefficient tried.
    tolerance : float
        Stop once ``|L0 / target - 1| <= tolerance``.
    max_tries : int
        At most this many measurements (those in ``tried`` count).
    factor : float
        Step while the target is not bracketed.
    tried : mapping, optional
        ``{l1: L0}`` measured before (a resumed search reuses them).

    Returns
    -------
    dict
        ``l1`` (the best coefficient), ``l0`` (its L0), ``target_l0``, ``matched`` (within
        ``tolerance``), ``tries`` (``[{"l1", "l0"}]`` in the order measured) and ``slope``
        (d log L0 / d log l1).

    Raises
    ------
    ConfigError
        A target, start, tolerance, factor or try count out of range.

    Examples
    --------
    >>> r = calibrate_l1(lambda c: 2.0 / c, 32.0, start_l1=0.05)
    >>> round(r["l1"], 4), r["matched"]
    (0.0625, True)
    """
    if not (target_l0 > 0 and start_l1 > 0 and 0 < tolerance < 1 and factor > 1):
        raise ConfigError(f"calibrate_l1: target_l0 ({target_l0}) and start_l1 ({start_l1}) must be > 0, "
                          f"tolerance ({tolerance}) in (0, 1), factor ({factor}) > 1")
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ConfigError(f"max_tries ({max_tries!r}) must be a whole number >= 1")
    found = {float(c): float(v) for c, v in (tried or {}).items()}
    order = list(found)
    while not any(within(v, target_l0, tolerance) for v in found.values()) and len(found) < max_tries:
        c = _next(found, target_l0, start_l1, factor)
        if c in found:  # nothing new to learn
            break
        found[c] = float(measure(c))
        order.append(c)
    best = _closest(found, target_l0)
    return {"l1": best, "l0": found[best], "target_l0": float(target_l0),
            "matched": within(found[best], target_l0, tolerance), "slope": log_slope(found, target_l0),
            "tries": [{"l1": c, "l0": found[c]} for c in order]}  # fmt: skip


def corrected_l1(l1: float, l0: float, target_l0: float, slope: float) -> float:
    """The coefficient expected to move ``l0`` (measured at ``l1``) to ``target_l0`` along ``slope``."""
    if slope >= 0:
        slope = -1.0
    return l1 * math.exp((math.log(target_l0) - math.log(max(l0, _FLOOR))) / slope)


MATCHED_COLUMNS = ["SAE", "L0 (held-out)", "L0 / k", "EV", "MSE", "dead", "dense", "keyword acc change", "WER change"]


def matched_rows(section: Mapping) -> list:
    """The report's rows for a ``matched_l0`` entry (``topk`` and ``relu`` results with names)."""
    rows = []
    for side in ("topk", "relu"):
        r = section[side]
        d = r.get("downstream") or {}
        rows.append([section[f"{side}_name"], r["l0"], r["l0"] / section["k"], r["explained_variance"], r["mse"],
                     r["dead_fraction"], r["dense_fraction"], d.get("keyword_accuracy_change"), d.get("wer_change")])
    return rows
