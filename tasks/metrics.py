"""The normalised patching effect, defined once.

    effect = (m(patched) - m(base)) / (m(source) - m(base))

0 means the patch changed nothing (the run still behaves like the base), 1 means it restored
the source's metric completely. For a denoising run the base is the corrupt clip and the
source the clean one; for a noising run the reverse.
"""

from __future__ import annotations

import numpy as np

from tasks.errors import PairError

__all__ = ["normalized_effect", "MIN_METRIC_GAP"]

MIN_METRIC_GAP = 0.05
"""Smallest |m(source) - m(base)| (in the metric's units, nats) a normalised effect is defined for."""


def normalized_effect(patched, base: float, source: float, min_gap: float = MIN_METRIC_GAP):
    """Normalise metric values of patched runs by the base-to-source gap.

    Parameters
    ----------
    patched : float or array
        Metric values of patched runs.
    base, source : float
        The metric on the unpatched base and source runs.
    min_gap : float
        Refuse gaps smaller than this: the two halves barely differ, and the ratio would be noise.

    Returns
    -------
    float or np.ndarray, like ``patched``

    Raises
    ------
    PairError
        ``|source - base| < min_gap``.

    Examples
    --------
    >>> normalized_effect([-2.0, 0.0, 2.0], base=-2.0, source=2.0)
    array([0. , 0.5, 1. ])
    """
    gap = float(source) - float(base)
    if not np.isfinite(gap) or abs(gap) < min_gap:
        raise PairError(
            f"the metric barely differs between the two halves of the pair (source {float(source):.4f}, "
            f"base {float(base):.4f}, gap {gap:.2g} < {min_gap}); a normalised effect would divide by ~0. "
            "Use a stronger corruption (lower SNR, a word swap) or check that the corruption changed the audio."
        )
    out = (np.asarray(patched, dtype=np.float64) - float(base)) / gap
    return float(out) if out.ndim == 0 else out
