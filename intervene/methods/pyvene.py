"""``method="pyvene"``: each cell is one ``pyvene.IntervenableModel`` call.

This is the plain loop (a source and a base forward per cell) and the path for any pyvene
intervention type: vanilla interchange, zero, noise, rotated-space (DAS) or a user-defined
function ``f(base, source) -> tensor``. It steers around pyvene 0.1.8's traps (FACTS.md):
``use_fast`` is pinned off so per-row locations are honoured, and forward hooks the user had
put on the model are put back after every pyvene call (pyvene removes every forward hook of
the model it wraps).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from intervene._pyvene import pyvene as pv
from intervene.interventions import resolve_intervention
from intervene.methods.base import Method

__all__ = ["PyveneMethod", "build_intervenable", "keep_user_hooks", "locations"]


@contextmanager
def keep_user_hooks(module: torch.nn.Module):
    """Restore the forward hooks of ``module``'s submodules after the block (pyvene clears them)."""
    saved = [(m, dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in module.modules()]
    try:
        yield
    finally:
        for m, fwd, pre in saved:
            m._forward_hooks.clear()
            m._forward_hooks.update(fwd)
            m._forward_pre_hooks.clear()
            m._forward_pre_hooks.update(pre)


def build_intervenable(model, reps: list) -> "pv.IntervenableModel":
    """A ``pyvene.IntervenableModel`` over ``model``'s module for representation configs ``reps``."""
    with keep_user_hooks(model.model):
        iv = pv.IntervenableModel(pv.IntervenableConfig(reps), model.model, use_fast=False)
    iv.disable_model_gradients()
    iv.use_fast = False  # FACTS.md: a shorthand call may flip it on
    return iv


def locations(site, positions: list, rows: int) -> list:
    """pyvene unit locations of one intervention for ``rows`` batch rows."""
    if site.head is None:
        return [positions] * rows
    return [[[site.head]] * rows, [positions] * rows]


def representation(site, n_units: int, cls=None, instance=None) -> "pv.RepresentationConfig":
    if site.is_feature:  # an SAE's features: the intervention acts on feature values (features/sites.py)
        from intervene.features.sites import wrap_intervention

        cls, instance = None, wrap_intervention(site, cls, instance)
    unit = "pos" if site.head is None else "h.pos"
    if instance is not None:
        return pv.RepresentationConfig(site.layer, site.pyvene_component, unit, max(n_units, 1), intervention=instance)
    return pv.RepresentationConfig(site.layer, site.pyvene_component, unit, max(n_units, 1), intervention_type=cls)


def call(model, iv, base: dict, sources: list | None, locs: list):
    """One pyvene forward (with sources, or source-free); the output logits. User hooks survive."""
    with keep_user_hooks(model.model):
        if sources is not None:
            _, out = iv(base, sources, {"sources->base": (locs, locs)})
        else:
            _, out = iv(base, unit_locations={"base": locs})
    return out.logits if hasattr(out, "logits") else out


class PyveneMethod(Method):
    """Run cells through ``pyvene.IntervenableModel`` (one base + one source forward each).

    Options
    -------
    intervention : str, pyvene class/instance or function
        "interchange" (default), "zero", "noise", a pyvene Intervention or ``f(base, source)``.
    """

    name = "pyvene"
    summary = "the plain pyvene loop, one IntervenableModel call per cell (any pyvene intervention)"
    options = {"intervention": "interchange"}

    def __init__(self, ctx, intervention="interchange"):
        super().__init__(ctx)
        self.cls, self.instance, self.needs_source = resolve_intervention(intervention)
        self._ivs: dict = {}
        self.forwards = 0
        ids = ctx.readout.decoder_input_ids
        self.rows = 1 if ids is None else int(ids.shape[0])
        batched = getattr(self.model, "batched", lambda x: x)
        self.base = batched(ctx.base_inputs)
        self.source = batched(ctx.source_inputs)

    @classmethod
    def accepts(cls, intervention) -> bool:
        resolve_intervention(intervention)  # typed error for what pyvene cannot run either
        return True

    def prepare(self, sites) -> None:
        pass

    def metrics(self) -> tuple[float, float]:
        return self.ctx.reference_metrics()

    def _iv(self, patches):
        key = tuple((p.site, 0 if p.positions is None else len(p.positions)) for p in patches)
        if key not in self._ivs:
            reps = [representation(p.site, self.ctx.seq_len(p.site.stream) if p.positions is None else len(p.positions),
                                   self.cls, self.instance) for p in patches]
            self._ivs[key] = build_intervenable(self.model, reps)
        iv = self._ivs[key]
        iv.use_fast = False  # FACTS.md: a shorthand call may have flipped it on
        return iv

    @torch.no_grad()
    def run_cell(self, patches, source_inputs=None) -> torch.Tensor:
        """Logits of the base run with ``patches`` applied by pyvene."""
        patches = [p for p in patches if p.positions is None or len(p.positions)]
        if not patches:
            return self.model.logits(self.ctx.base_inputs)
        locs = [locations(p.site, list(range(self.ctx.seq_len(p.site.stream))) if p.positions is None
                          else list(p.positions), self.rows) for p in patches]
        source = self.source if source_inputs is None else source_inputs
        sources = [source] * len(patches) if self.needs_source else None
        self.forwards += 2 if self.needs_source else 1
        return call(self.model, self._iv(patches), self.base, sources, locs)

    def run(self, cells: list, progress=None) -> np.ndarray:
        out = np.full(len(cells), np.nan)  # a cell left unmeasured stays NaN (patch refuses it), never garbage
        for i, cell in enumerate(cells):
            out[i] = float(self.ctx.readout.metric(self.run_cell(cell)))
            if progress is not None:
                progress.update(1)
        return out

    def record(self) -> dict:
        return {"runner": "pyvene.IntervenableModel, a source and a base forward per cell"}
