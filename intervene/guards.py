"""Correctness guards, run on every sweep before its cells.

An intervention that silently does nothing is the worst bug in this field, so each sweep
first checks its own method's code path:

* **patch nothing = base**: an empty cell, run through the method's code path, must give the
  base metric of a plain forward pass;
* **patch everything = source**: for a residual-stream site (``block_input``/``block_output``),
  patching every position from the source must give the source metric (decoder sites also
  take the encoder's output from the source, since cross-attention reads it);
* SAE feature sites (:mod:`intervene.features.sites`) are compared with a plain torch-hook
  forward like component sites, and per SAE: writing back the feature values just read (patch
  no feature) must give the base metric (the reconstruction error is kept), and on an encoder
  residual site patching every feature and the error term from the source must give the source;
* for a component site (attention, MLP, head, cross-attention output), patching every
  position is not a complete cut of the network, so the method's result must instead equal a
  plain torch forward hook doing the same replacement in an ordinary forward pass.

Tolerance: |got - expected| <= ``tol`` * max(1, |expected|), with ``tol`` = 1e-4. A failure
raises :class:`~tasks.errors.GuardError` and stops the sweep.
"""

from __future__ import annotations

import torch

from intervene import hooks
from intervene.methods.base import Patch
from intervene.sites import Site
from tasks.errors import GuardError

__all__ = ["run_guards", "TOLERANCE", "RESIDUAL"]

TOLERANCE = 1e-4
RESIDUAL = ("block_input", "block_output")
"""Components whose every position, patched, is a complete cut of the network."""


def _check(name: str, got: float, expected: float, what: str, tol: float, record: list) -> None:
    err = abs(got - expected) / max(1.0, abs(expected))
    record.append({"guard": name, "got": got, "expected": expected, "relative_error": err, "against": what, "ok": err <= tol})
    if not err <= tol:
        raise GuardError(
            f"guard '{name}' failed: the method gave metric {got:.6f} but {what} is {expected:.6f} "
            f"(relative error {err:.2e} > {tol:g}). The sweep's numbers would be wrong, so it was stopped. "
            "If you changed the model or its hooks, check that nothing else hooks it (pyvene removes all hooks "
            "on every forward) and report this with the site and model."
        )


class _Reference:
    """Ordinary forward passes with plain torch hooks, independent of the method under test.

    Source activations of every component site are captured in one source forward. Where
    the model's runner can reuse the base run's encoder output (Whisper), a cell that touches
    only decoder sites re-runs only the decoder, since the encoder is not patched.
    """

    @torch.no_grad()
    def __init__(self, ctx, sites, runner):
        self.ctx, self.runner, self.model = ctx, runner, ctx.model
        with hooks.capture(self.model, sites) as acts:
            runner.reference_logits(ctx.source_inputs)
        self.source = dict(acts)
        self.base_encoded = runner.encoded(ctx.base_inputs)

    @torch.no_grad()
    def metric(self, patches) -> float:
        repl = {}
        for p in patches:
            src = self.source[p.site]
            repl[p.site] = (None, src) if p.positions is None else (list(p.positions), src[:, list(p.positions)])
        with hooks.replace(self.model, repl):
            if self.base_encoded is not None and all(p.site.stream == "decoder" for p in patches):
                logits = self.runner.logits_from_encoded(self.base_encoded, self.ctx.base_inputs)
            else:
                logits = self.runner.reference_logits(self.ctx.base_inputs)
        return float(self.ctx.readout.metric(logits).reshape(-1)[0])


def run_guards(ctx, method, sites, base_metric: float, source_metric: float, tol: float = TOLERANCE) -> list:
    """Run the guards for ``sites`` on ``method`` (prepared); return their records (raise on failure).

    The reference forward runs on the same model the method measures: the full model, or the
    truncated one when the method runs a truncated encoder context.
    """
    record: list = []
    runner = method.reference_runner()
    got = float(method.run([[]])[0])
    _check("patch nothing = base", got, base_metric, "the base metric of a plain forward", tol, record)
    n_enc = ctx.model.num_layers("encoder")
    components = [s for s in sites if s.component not in RESIDUAL or s.is_feature]
    reference = _Reference(ctx, components, runner) if components else None
    for site in sites:
        cell = [Patch(site, None)]
        if site.component in RESIDUAL and not site.is_feature:
            if site.stream == "decoder":
                cell.append(Patch(Site("encoder", n_enc - 1, "block_output"), None))
            expected, what = source_metric, "the source metric"
        else:
            expected, what = reference.metric(cell), "a plain torch-hook forward"
        got = float(method.run([cell])[0])
        _check(f"patch every position of {site.key}", got, expected, what, tol, record)
    for site in {s.base: s for s in sites if s.is_feature}.values():
        _feature_guards(ctx, runner, site, base_metric, source_metric, tol, record)
    return record


@torch.no_grad()
def _feature_guards(ctx, runner, site, base_metric: float, source_metric: float, tol: float, record: list) -> None:
    """An SAE's own guards, through plain hooks: writing back the feature values just read (patch no
    feature) gives the base run (the reconstruction error is kept); on an encoder residual site,
    patching every feature and the error from the source gives the source run."""
    from intervene.sites import FeatureSite

    model = ctx.model

    def metric(logits) -> float:
        return float(ctx.readout.metric(logits).reshape(-1)[0])

    with hooks.replace(model, {site: (None, lambda values: values)}):
        got = metric(runner.reference_logits(ctx.base_inputs))
    _check(f"patch no feature of the SAE at {site.base.key} = base", got, base_metric,
           "the base metric (the SAE's reconstruction error kept)", tol, record)
    if site.component not in RESIDUAL or site.stream != "encoder":
        return
    sae = model.resolve(site).codec.sae
    full = model.site(FeatureSite(site.stream, site.layer, site.component, site.head,
                                  tuple(range(sae.width)), True, site.sae))
    with hooks.capture(model, [full]) as acts:
        runner.reference_logits(ctx.source_inputs)
    with hooks.replace(model, {full: (None, acts[full])}):
        got = metric(runner.reference_logits(ctx.base_inputs))
    _check(f"patch every feature and the error of the SAE at {site.base.key} = source", got, source_metric,
           "the source metric", tol, record)
