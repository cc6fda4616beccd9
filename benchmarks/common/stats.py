"""Summary statistics the benchmark reports share: proportions with intervals, rank agreement."""

from __future__ import annotations

import math

import numpy as np

from tasks.errors import ConfigError

__all__ = ["wilson_interval", "spearman"]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% for ``z=1.96``); (nan, nan) when ``n == 0``.

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(84, 100)]
    [0.756, 0.899]
    """
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def spearman(a, b) -> float:
    """Spearman rank correlation of two equally shaped arrays over cells finite in both.

    NaN when fewer than 3 such cells or when either side is constant there.

    Examples
    --------
    >>> spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 25.0, 100.0])
    1.0
    """
    from scipy.stats import rankdata

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ConfigError(f"maps of {a.size} and {b.size} cells cannot be compared; use the same grid")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    ra, rb = rankdata(a[ok]), rankdata(b[ok])
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
