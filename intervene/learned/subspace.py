"""pyvene's trainable rotated-space interventions, built, read and stored for DAS.

=============  ==================================================  ===========================
kind           pyvene class                                        subspace
=============  ==================================================  ===========================
"rotated"      ``RotatedSpaceIntervention`` (a full d x d           the first ``dim`` columns of
               orthogonal rotation)                                 the rotation
"low_rank"     ``LowRankRotatedSpaceIntervention`` (d x dim         its ``dim`` orthonormal
               orthonormal columns)                                 columns
"boundless"    ``BoundlessRotatedSpaceIntervention`` (a rotation     the first round(boundary x d)
               and a learned soft boundary)                         columns
=============  ==================================================  ===========================

Every one acts on each position of a time span alike (``keep_last_dim=True``: pyvene would
otherwise flatten the span's positions into one vector of ``positions x d``). The boundless
kind is pyvene's class with one fix: its boundary mask is built for a batch of vectors, so the
subclass here flattens the leading dimensions first (the arithmetic is pyvene's).

Saved state is the module's ``state_dict`` plus the materialised rotation; :func:`load_state`
checks that the loaded module reproduces the saved rotation (pyvene's orthogonal
parametrisation has had silent save/load bugs).
"""

from __future__ import annotations

import numpy as np
import torch

from intervene._pyvene import pyvene as pv
from tasks.errors import ConfigError, InterventionError, unknown_name

__all__ = ["KINDS", "make_intervention", "rotation", "subspace", "learned_dim", "state", "load_state",
           "BoundlessIntervention"]

KINDS = ("rotated", "low_rank", "boundless")


class BoundlessIntervention(pv.BoundlessRotatedSpaceIntervention):
    """pyvene's ``BoundlessRotatedSpaceIntervention`` for inputs of any leading shape (see the module notes)."""

    def forward(self, base, source, subspaces=None, **kwargs):
        shape = base.shape
        out = super().forward(base.reshape(-1, shape[-1]), source.reshape(-1, shape[-1]), subspaces, **kwargs)
        return out.reshape(shape)


def make_intervention(kind: str, embed_dim: int, dim: int, seed: int = 0):
    """A fresh trainable intervention of ``kind`` on vectors of ``embed_dim``, subspace size ``dim``.

    Raises
    ------
    UnknownNameError, ConfigError
        Unknown kind; ``dim`` not in 1..embed_dim (low_rank: 1..embed_dim).
    """
    if kind not in KINDS:
        raise unknown_name("DAS kind", kind, KINDS)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= int(dim) <= int(embed_dim):
        raise ConfigError(f"dim ({dim!r}) must be a whole number between 1 and the site's size {embed_dim}")
    dim = int(dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "rotated":
            iv = pv.RotatedSpaceIntervention(embed_dim=embed_dim, keep_last_dim=True)
            iv.set_interchange_dim(dim)
        elif kind == "low_rank":
            iv = pv.LowRankRotatedSpaceIntervention(embed_dim=embed_dim, low_rank_dimension=dim, keep_last_dim=True)
        else:
            iv = BoundlessIntervention(embed_dim=embed_dim, keep_last_dim=True)
            iv.intervention_boundaries.data.fill_(dim / embed_dim)
    return iv


def rotation(iv) -> torch.Tensor:
    """The materialised rotation (d, d) or low-rank basis (d, dim), detached."""
    return iv.rotate_layer.weight.detach().clone()


def learned_dim(iv, kind: str, dim: int) -> int:
    """The subspace size: ``dim``, or for boundless the number of rotated coordinates inside the
    learned boundary (coordinate k is swapped when k < boundary x d; at least 1)."""
    if kind != "boundless":
        return int(dim)
    d = int(iv.embed_dim)
    b = float(torch.clamp(iv.intervention_boundaries.detach(), 1e-3, 1.0)[0])
    return max(1, min(d, int(np.ceil(b * d - 1e-6))))


def subspace(iv, kind: str, dim: int) -> torch.Tensor:
    """An orthonormal basis (d, k) of the subspace the intervention swaps."""
    w = rotation(iv)
    return w if kind == "low_rank" else w[:, : learned_dim(iv, kind, dim)]


def state(iv) -> dict:
    """Tensors to save: the state_dict (prefixed ``state.``) and the materialised rotation."""
    out = {f"state.{k}": v.detach().cpu().clone() for k, v in iv.state_dict().items()}
    out["rotation"] = rotation(iv).cpu()
    return out


def load_state(iv, tensors: dict, where: str = "the saved intervention") -> None:
    """Load :func:`state` output into a fresh intervention of the same kind; check the rotation.

    Raises
    ------
    InterventionError
        The tensors do not fit (another size) or the loaded rotation differs from the saved one.
    """
    sd = {k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")}
    try:
        iv.load_state_dict(sd)
    except (RuntimeError, KeyError) as exc:
        raise InterventionError(f"{where} does not fit this intervention: {exc}") from None
    saved = tensors["rotation"]
    if rotation(iv).shape != saved.shape:
        raise InterventionError(f"{where}: rotation {tuple(saved.shape)} does not fit {tuple(rotation(iv).shape)}")
    if not torch.allclose(rotation(iv), saved, atol=1e-5):
        # The parametrisation did not reproduce the rotation: set it through its right inverse.
        with torch.no_grad():
            iv.rotate_layer.weight = saved.to(rotation(iv).dtype)
        if not torch.allclose(rotation(iv), saved, atol=1e-5):
            err = float((rotation(iv) - saved).abs().max())
            raise InterventionError(f"{where}: the loaded rotation differs from the saved one by {err:.2e}")
