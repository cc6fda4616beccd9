"""How good an SAE is on a set of activations: several numbers, never one.

:func:`evaluate` gives explained variance, MSE, L0, the dead fraction (features never active
on these frames) and the dense fraction (active on more than 10% of them);
:func:`stability` the share of one SAE's features that another (e.g. a second seed) also has
(a decoder row with cosine above 0.7); :func:`match_directions` the best cosine of each known
direction among an SAE's decoder rows (recovery of planted features).
"""

from __future__ import annotations

import torch

from tasks.checks import check_int, check_real
from tasks.errors import ConfigError

__all__ = ["DENSE_ABOVE", "evaluate", "match_directions", "stability"]

DENSE_ABOVE = 0.1
"""A feature active on more than this share of frames counts as dense."""


@torch.no_grad()
def evaluate(sae, x: torch.Tensor, batch_size: int = 4096) -> dict:
    """Reconstruction and sparsity of ``sae`` on activations ``x (frames, d_in)``.

    Returns
    -------
    dict
        ``explained_variance`` (1 - residual / total variance), ``mse`` (per value), ``l0``
        (mean active features per frame), ``dead_fraction``, ``dense_fraction``, ``frames``,
        and ``frequency`` (float32 (width,): share of frames each feature is active on).
    """
    x = sae.check_input(torch.as_tensor(x).float())
    if x.ndim != 2 or x.shape[0] == 0:
        raise ConfigError(f"activations have shape {tuple(x.shape)}; give (frames >= 1, {sae.d_in})")
    batch_size = check_int("batch_size", batch_size, low=1)
    sq_err, active, count = 0.0, 0, torch.zeros(sae.width)
    for lo in range(0, x.shape[0], batch_size):
        b = x[lo: lo + batch_size]
        f = sae.encode(b)
        sq_err += float((b - sae.decode(f)).pow(2).sum())
        on = f > 0
        active += int(on.sum())
        count += on.sum(0).float()
    total = float((x - x.mean(0)).pow(2).sum())
    n = x.shape[0]
    freq = count / n
    return {
        "explained_variance": 1.0 - sq_err / total if total > 0 else float("nan"),
        "mse": sq_err / x.numel(),
        "l0": active / n,
        "dead_fraction": float((count == 0).float().mean()),
        "dense_fraction": float((freq > DENSE_ABOVE).float().mean()),
        "frames": n,
        "frequency": freq,
    }


def _unit(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def match_directions(sae, directions) -> torch.Tensor:
    """For each row of ``directions (n, d_in)``: the best cosine with one of the SAE's decoder rows."""
    d = torch.as_tensor(directions).float()
    if d.ndim != 2 or d.shape[1] != sae.d_in:
        raise ConfigError(f"directions have shape {tuple(d.shape)}; give (n, {sae.d_in})")
    return (_unit(d) @ _unit(sae.W_dec.detach().float()).t()).max(1).values


@torch.no_grad()
def stability(a, b, threshold: float = 0.7) -> float:
    """Share of ``a``'s features whose decoder row has a match in ``b`` with cosine above ``threshold``."""
    threshold = check_real("threshold", threshold, low=-1.0, high=1.0)
    if a.d_in != b.d_in:
        raise ConfigError(f"the SAEs read different widths ({a.d_in} and {b.d_in}); compare SAEs of one site")
    return float((match_directions(b, a.W_dec) > threshold).float().mean())
