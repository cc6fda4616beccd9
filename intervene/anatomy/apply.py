"""Installing interventions on a model: hooks that stay on for every forward inside the block.

:func:`applied` installs a list of interventions together (they compose: hooks on one tensor
run in list order) for one run. The value interventions (ablations, steering) do their
arithmetic with pyvene's intervention types (``ZeroIntervention``, a constant-source
``VanillaIntervention``, ``AdditionIntervention``) on the selected activations, so this hook
path and the ``pyvene.IntervenableModel`` path (:mod:`intervene.anatomy.engine`) compute the
same thing; head masks and attention windows act inside attention (a head's slice of the
``out_proj`` input; a mask on the scores through the adapter).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch

from intervene import hooks
from intervene._pyvene import pyvene as pv
from tasks.errors import ConfigError

__all__ = ["applied", "on_site", "as_list", "pyvene_op"]


def as_list(interventions) -> list:
    """One intervention or an iterable of them, as a list (each checked to be an intervention)."""
    from intervene.anatomy.base import Kind

    if interventions is None:
        return []
    items = [interventions] if isinstance(interventions, Kind) else list(interventions)
    for i, iv in enumerate(items):
        if not isinstance(iv, Kind):
            raise ConfigError(
                f"interventions[{i}] ({type(iv).__name__}) is not an intervention; use intervene.Ablation, "
                "AttentionWindow, HeadMask or Steering"
            )
    return items


def pyvene_op(instance: "pv.Intervention"):
    """``op(selected) -> new`` running a source-free pyvene intervention on a copy of ``selected``."""

    def op(sel: torch.Tensor) -> torch.Tensor:
        return instance(sel.clone(), None)

    return op


def on_site(model, site, positions, op, rows=None):
    """Context manager: in every forward, ``site``'s activations at ``positions`` (None: all)
    become ``op(selected)``, ``selected`` being ``(batch, n, size)`` (a head's slice for head
    sites); ``rows`` (a slice) limits it to those batch rows (cells run together as row blocks)."""
    r = model.resolve(site)
    last = slice(None) if r.head_slice is None else r.head_slice
    batch = slice(None) if rows is None else rows

    def fn(t: torch.Tensor) -> torch.Tensor:
        idx = slice(None) if positions is None else torch.as_tensor(positions, device=t.device)
        t = t.clone()
        if r.codec is not None:  # an SAE feature site: op acts on the feature values, written back
            sel = t[batch, idx]
            t[batch, idx] = r.codec.write(sel, op(r.codec.read(sel)).to(sel.dtype))
            return t
        t[batch, idx, last] = op(t[batch, idx, last]).to(t.dtype)
        return t

    return hooks.on_sites(model, {r: fn})


@contextmanager
def applied(model, interventions, env, rows=None):
    """Install ``interventions`` (a list runs together) for the forwards inside the block.

    Parameters
    ----------
    model : SpeechModel
    interventions : intervention or list of them
    env : RunEnv
        The run they act on.
    rows : slice, optional
        Only these batch rows (a cell's block when several cells run as one batch).

    Every hook is removed on exit, also after an exception.
    """
    with ExitStack() as stack:
        for iv in as_list(interventions):
            stack.enter_context(iv.install(model, env, rows))
        yield
