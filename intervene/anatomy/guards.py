"""Guards of the anatomy methods, run before a map's cells (by default; ``guards=False`` skips them).

Each kind has a twin that must leave the run unchanged, and it runs through the method's own
engine at every site of the map:

=================  ======================================================================
ablation           a mean ablation over a reference set of one clip, the run's own input
window             a window covering every frame (k = positions - 1)
head_mask          no head masked (the empty cell)
steer              alpha = 0
=================  ======================================================================

plus "no intervention = base" (the empty cell through the engine) and, for the first site
of each component, the kind itself at every position against a plain forward with plain
torch hooks (:func:`intervene.hooks.replace`; windows: the adapter's mask on an ordinary
forward), so an engine that silently does nothing fails too. Tolerance:
|got - expected| <= 1e-4 * max(1, |expected|); a failure raises :class:`~tasks.errors.GuardError`.
"""

from __future__ import annotations

import torch

from intervene import hooks
from intervene.anatomy.ablation import Ablation
from intervene.anatomy.head_mask import HeadMask
from intervene.anatomy.steering import Steering
from intervene.anatomy.window import AttentionWindow
from tasks.errors import GuardError

__all__ = ["run_anatomy_guards", "plain_metric", "TOLERANCE"]

TOLERANCE = 1e-4


def _check(name: str, got: float, expected: float, what: str, record: list, tol: float = TOLERANCE) -> None:
    err = abs(got - expected) / max(1.0, abs(expected))
    record.append({"guard": name, "got": got, "expected": expected, "relative_error": err, "against": what,
                   "ok": err <= tol})
    if not err <= tol:
        raise GuardError(
            f"guard '{name}' failed: the method gave metric {got:.6f} but {what} is {expected:.6f} "
            f"(relative error {err:.2e} > {tol:g}). The map's numbers would be wrong, so it was stopped."
        )


def plain_hooks(model, iv, env):
    """``iv`` as plain torch hooks (:func:`intervene.hooks.replace`), independent of the engines."""
    if isinstance(iv, AttentionWindow):
        return model.attention_bias(iv.biases(model, env))
    site = iv.resolved_site(model)
    pos = iv.positions_for(model, site, env)
    if isinstance(iv, HeadMask) or (isinstance(iv, Ablation) and iv.kind == "zero"):
        values = torch.zeros_like
    elif isinstance(iv, Ablation):
        v = iv.values(model, site, env)
        values = v if pos is None else v[:, list(pos)]
    elif isinstance(iv, Steering):
        vec = iv.vector(model, site)

        def values(sel, vec=vec):
            return sel + vec
    else:
        raise GuardError(f"no plain reference for {type(iv).__name__}")
    return hooks.replace(model, {site: (None if pos is None else list(pos), values)})


@torch.no_grad()
def plain_metric(method, iv) -> float:
    """The metric of an ordinary forward of the base run with ``iv`` as plain torch hooks."""
    with plain_hooks(method.model, iv, method.env):
        logits = method.pieces.reference_logits(method.ctx.base_inputs)
    return method.metric(logits)


def run_anatomy_guards(method, sites, base_metric: float) -> list:
    """Run the guards of an :class:`~intervene.anatomy.engine.AnatomyMethod` (prepared); their records."""
    record: list = []
    _check("no intervention = base", method.run_interventions([]), base_metric,
           "the base metric of a plain forward", record)
    checked_components = set()
    for site in sites:
        iv = method.template.at(site, None)
        twin = iv.identity(method.env)
        if twin is not None:
            _check(f"{twin.describe()} at {site.key} = base", method.run_interventions([twin]), base_metric,
                   "the base metric of a plain forward", record)
        if site.component not in checked_components:
            checked_components.add(site.component)
            _check(f"{iv.describe()} at every position = plain torch hooks", method.run_interventions([iv]),
                   plain_metric(method, iv), "a plain torch-hook forward", record)
    return record
