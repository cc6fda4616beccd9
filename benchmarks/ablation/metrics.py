"""Numbers behind the corruption ablation, on plain arrays: distances, spans, rank agreement.

Pure numpy/scipy functions, no model: each is tested on synthetic arrays
(``tests/benchmarks/test_corruption_ablation.py``). Rank agreement uses
:func:`benchmarks.common.stats.spearman`.

Off-distribution distance
    A reference is fitted on clean activations ``(samples, dims)``: the mean, the
    per-dimension standard deviation, and a Ledoit-Wolf shrinkage covariance (the sample
    covariance pulled towards a scaled identity by the amount that minimises the expected
    squared error; Ledoit & Wolf 2004, the estimator ``sklearn.covariance.LedoitWolf``
    implements). A frame's distance is its Mahalanobis distance from the mean under that
    covariance (``"ledoit_wolf"``) or under the diagonal of standard deviations (``"diag"``).
    For reference-like Gaussian samples the squared distance is about chi-square with
    ``dims`` degrees of freedom.

Localisation
    The share of a map's total ``|effect|`` in the time windows that overlap given spans
    (widened by a margin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.common.stats import spearman
from tasks.errors import ConfigError

__all__ = [
    "DISTANCES",
    "Reference",
    "ledoit_wolf",
    "fit_reference",
    "mahalanobis",
    "zscore",
    "frames_in_spans",
    "windows_in_spans",
    "span_share",
    "spearman",
    "agreement_matrix",
]

DISTANCES = ("ledoit_wolf", "diag")
"""The distance kinds :func:`mahalanobis` computes."""


@dataclass(frozen=True)
class Reference:
    """A fitted reference distribution of activations.

    Attributes
    ----------
    mean, std : np.ndarray, float64 (dims,)
    precision : np.ndarray, float64 (dims, dims)
        Inverse of the Ledoit-Wolf covariance.
    shrinkage : float
        Ledoit-Wolf shrinkage intensity in [0, 1] (0: the sample covariance).
    n_samples : int
    """

    mean: np.ndarray
    std: np.ndarray
    precision: np.ndarray
    shrinkage: float
    n_samples: int

    @property
    def dims(self) -> int:
        return int(self.mean.shape[0])


def _samples(name: str, x, dims: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ConfigError(f"{name} has shape {x.shape}; pass a 2-D array (samples, dims) with samples > 0")
    if dims is not None and x.shape[1] != dims:
        raise ConfigError(f"{name} has {x.shape[1]} dims; the reference has {dims}")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{name} holds NaN or infinite values; every activation must be finite")
    return x


def ledoit_wolf(x) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrinkage covariance of ``x`` (samples, dims).

    Returns
    -------
    (np.ndarray (dims, dims), float)
        The shrunk covariance ``(1 - s) * S + s * mu * I`` (``S`` the maximum-likelihood sample
        covariance, ``mu`` its mean eigenvalue) and the shrinkage ``s`` in [0, 1].

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(5000, 3))
    >>> cov, s = ledoit_wolf(x)
    >>> bool(np.allclose(cov, np.eye(3), atol=0.05)), 0.0 <= s <= 1.0
    (True, True)
    """
    x = _samples("x", x)
    n, p = x.shape
    xc = x - x.mean(axis=0)
    emp = xc.T @ xc / n
    mu = float(np.trace(emp)) / p
    x2 = xc**2
    beta_ = float(np.sum(x2.T @ x2))
    delta_ = float(np.sum(emp**2))
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * float(np.trace(emp)) + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if delta <= 0 else float(np.clip(beta / delta, 0.0, 1.0))
    cov = (1.0 - shrinkage) * emp + shrinkage * mu * np.eye(p)
    return cov, shrinkage


def fit_reference(x) -> Reference:
    """Fit the mean, per-dimension std and Ledoit-Wolf precision of ``x`` (samples, dims).

    Raises
    ------
    ConfigError
        Fewer than 2 samples, or non-finite values.
    """
    x = _samples("reference samples", x)
    if x.shape[0] < 2:
        raise ConfigError(f"the reference needs at least 2 samples; got {x.shape[0]}")
    cov, shrinkage = ledoit_wolf(x)
    std = x.std(axis=0)
    std = np.where(std > 0, std, max(float(std.max()), 1.0) * 1e-6)  # a constant dimension must not divide by 0
    return Reference(mean=x.mean(axis=0), std=std, precision=np.linalg.pinv(cov, hermitian=True),
                     shrinkage=shrinkage, n_samples=int(x.shape[0]))  # fmt: skip


def mahalanobis(x, reference: Reference, kind: str = "ledoit_wolf") -> np.ndarray:
    """Distance of each row of ``x`` (samples, dims) from ``reference``; returns (samples,).

    ``kind="ledoit_wolf"``: ``sqrt((x - mean)^T P (x - mean))`` with ``P`` the inverse
    Ledoit-Wolf covariance; ``kind="diag"``: ``sqrt(sum(((x - mean) / std)^2))``.

    Examples
    --------
    >>> ref = fit_reference(np.random.default_rng(0).normal(size=(20000, 4)))
    >>> round(float(np.mean(mahalanobis(np.zeros((1, 4)) + [[2, 0, 0, 0]], ref, "diag"))), 1)
    2.0
    """
    x = _samples("x", x, reference.dims)
    d = x - reference.mean
    if kind == "diag":
        sq = np.sum((d / reference.std) ** 2, axis=1)
    elif kind == "ledoit_wolf":
        sq = np.einsum("ij,jk,ik->i", d, reference.precision, d)
    else:
        raise ConfigError(f"kind ({kind!r}) must be one of {', '.join(DISTANCES)}")
    return np.sqrt(np.maximum(sq, 0.0))


def zscore(values, reference_values) -> np.ndarray:
    """``(values - mean(reference_values)) / std(reference_values)``.

    Raises
    ------
    ConfigError
        Fewer than 2 reference values, or reference values without spread.
    """
    ref = np.asarray(reference_values, dtype=np.float64).ravel()
    if ref.size < 2 or not np.std(ref) > 0:
        raise ConfigError(f"reference_values ({ref.size} values) must hold at least 2 values that differ")
    return (np.asarray(values, dtype=np.float64) - ref.mean()) / ref.std()


def _spans(spans) -> list[tuple[float, float]]:
    out = []
    for span in spans or ():
        a, b = (float(v) for v in span)
        if not b >= a:
            raise ConfigError(f"span ({a}, {b}) must have end_s >= start_s")
        out.append((a, b))
    return out


def windows_in_spans(starts_s, ends_s, spans, margin_s: float = 0.0) -> np.ndarray:
    """Which windows ``[starts_s[i], ends_s[i])`` overlap a span ``[a - margin_s, b + margin_s)``.

    Returns
    -------
    np.ndarray, bool (windows,)

    Examples
    --------
    >>> windows_in_spans([0.0, 0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], [(0.15, 0.25)]).tolist()
    [False, True, True, False]
    """
    starts = np.asarray(starts_s, dtype=np.float64)
    ends = np.asarray(ends_s, dtype=np.float64)
    if starts.shape != ends.shape:
        raise ConfigError(f"starts_s {starts.shape} and ends_s {ends.shape} must have the same shape")
    if margin_s < 0:
        raise ConfigError(f"margin_s ({margin_s}) must be >= 0")
    inside = np.zeros(starts.shape, dtype=bool)
    eps = 1e-9  # windows that only touch a span's edge are outside it
    for a, b in _spans(spans):
        inside |= (starts < b + margin_s - eps) & (ends > a - margin_s + eps)
    return inside


def frames_in_spans(n_frames: int, frame_s: float, spans, margin_s: float = 0.0) -> np.ndarray:
    """Which of ``n_frames`` frames of ``frame_s`` seconds overlap a span (widened by ``margin_s``).

    Examples
    --------
    >>> np.flatnonzero(frames_in_spans(10, 0.02, [(0.05, 0.09)])).tolist()
    [2, 3, 4]
    """
    starts = np.arange(int(n_frames)) * float(frame_s)
    return windows_in_spans(starts, starts + float(frame_s), spans, margin_s)


def span_share(values, starts_s, ends_s, spans, margin_s: float = 0.0) -> float:
    """Share of ``sum |values|`` in the windows that overlap ``spans`` (NaN cells ignored).

    Parameters
    ----------
    values : array (rows, windows)
        A causal map (e.g. layer x time window).
    starts_s, ends_s : array (windows,)
        Each window's start and end time.
    spans : sequence of (start_s, end_s)
    margin_s : float
        Widening of each span on both sides.

    Returns
    -------
    float in [0, 1], or NaN for a map without any effect.

    Examples
    --------
    >>> span_share([[0.0, 1.0, 3.0, 0.0]], [0, 1, 2, 3], [1, 2, 3, 4], [(2, 3)])
    0.75
    """
    v = np.abs(np.asarray(values, dtype=np.float64))
    if v.ndim == 1:
        v = v[None, :]
    inside = windows_in_spans(starts_s, ends_s, spans, margin_s)
    if v.shape[-1] != inside.shape[0]:
        raise ConfigError(f"values has {v.shape[-1]} windows but {inside.shape[0]} window times were given")
    total = float(np.nansum(v))
    if not total > 0:
        return float("nan")
    return float(np.nansum(v[..., inside]) / total)


def agreement_matrix(maps: dict, labels) -> tuple[np.ndarray, np.ndarray]:
    """Mean over clips of the Spearman correlation between each two designs' maps.

    Parameters
    ----------
    maps : dict
        ``{design label: {clip id: map values}}``; a design without a map for a clip leaves
        it out.
    labels : sequence of str
        The designs, in matrix order.

    Returns
    -------
    (np.ndarray (designs, designs), np.ndarray of int (designs, designs))
        The mean correlation (NaN where two designs share no clip with a defined
        correlation; 1 on the diagonal of a design with any map) and the number of clips
        behind each entry.
    """
    labels = list(labels)
    n = len(labels)
    mean = np.full((n, n), np.nan)
    count = np.zeros((n, n), dtype=int)
    for i, a in enumerate(labels):
        ma = maps.get(a, {})
        if ma:
            mean[i, i], count[i, i] = 1.0, len(ma)
        for j in range(i + 1, n):
            mb = maps.get(labels[j], {})
            rhos = [spearman(ma[c], mb[c]) for c in ma if c in mb]
            rhos = [r for r in rhos if np.isfinite(r)]
            if rhos:
                mean[i, j] = mean[j, i] = float(np.mean(rhos))
                count[i, j] = count[j, i] = len(rhos)
    return mean, count
