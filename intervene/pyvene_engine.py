"""The pyvene engine: each cell is one ``pyvene.IntervenableModel`` call.

This is the plain loop (a source and a base forward per cell) and the path for any pyvene
intervention type: vanilla interchange, zero, noise, rotated-space (DAS) or a user-defined
function ``f(base, source) -> tensor``. It steers around pyvene 0.1.8's traps (FACTS.md):
``use_fast`` is pinned off so per-row locations are honoured, and nothing here relies on
hooks surviving a pyvene forward (pyvene removes every forward hook of the model).
"""

from __future__ import annotations

import numpy as np
import torch

from intervene._pyvene import pyvene as pv
from tasks.errors import ConfigError

__all__ = ["PyveneEngine", "resolve_intervention", "INTERVENTIONS"]

INTERVENTIONS = {
    "interchange": pv.VanillaIntervention,
    "vanilla": pv.VanillaIntervention,
    "zero": pv.ZeroIntervention,
    "noise": pv.NoiseIntervention,
}
"""Intervention names accepted besides pyvene classes, instances and functions."""


def resolve_intervention(intervention):
    """Return ``(pyvene class or None, instance or None, needs_source)`` for a user's choice."""
    if intervention is None:
        intervention = "interchange"
    if isinstance(intervention, str):
        if intervention not in INTERVENTIONS:
            from tasks.errors import unknown_name

            raise unknown_name("intervention", intervention, INTERVENTIONS)
        intervention = INTERVENTIONS[intervention]
    if isinstance(intervention, type):
        if not issubclass(intervention, pv.Intervention):
            raise ConfigError(f"intervention class {intervention.__name__} is not a pyvene Intervention")
        needs_source = not issubclass(intervention, (pv.ConstantSourceIntervention, pv.SourcelessIntervention))
        return intervention, None, needs_source
    if isinstance(intervention, pv.Intervention):
        return None, intervention, not getattr(intervention, "is_source_constant", False)
    if callable(intervention):
        return None, intervention, True
    raise ConfigError(
        f"intervention ({intervention!r}) must be a name ({', '.join(INTERVENTIONS)}), a pyvene Intervention "
        "class or instance, or a function f(base, source) -> tensor"
    )


class PyveneEngine:
    """Run cells through ``pyvene.IntervenableModel`` (one base + one source forward each).

    Parameters
    ----------
    ctx : PairContext
    intervention : str, pyvene class/instance or function
        "interchange" (default), "zero", "noise", a pyvene Intervention or ``f(base, source)``.
    """

    def __init__(self, ctx, intervention="interchange"):
        self.ctx = ctx
        self.model = ctx.model
        self.cls, self.instance, self.needs_source = resolve_intervention(intervention)
        self._ivs: dict = {}
        self.forwards = 0
        rows = self.ctx.readout.decoder_input_ids
        self.rows = 1 if rows is None else int(rows.shape[0])
        batched = getattr(self.model, "batched", lambda x: x)
        self.base = batched(ctx.base_inputs)
        self.source = batched(ctx.source_inputs)

    def _iv(self, patches) -> "pv.IntervenableModel":
        key = tuple((p.site, 0 if p.positions is None else len(p.positions)) for p in patches)
        if key not in self._ivs:
            reps = []
            for p in patches:
                n = self.ctx.seq_len(p.site.stream) if p.positions is None else len(p.positions)
                unit = "pos" if p.site.head is None else "h.pos"
                kw = {"intervention": self.instance} if self.instance is not None else {}
                reps.append(pv.RepresentationConfig(p.site.layer, p.site.pyvene_component, unit, max(n, 1), **kw))
            config = (
                pv.IntervenableConfig(reps)
                if self.instance is not None
                else pv.IntervenableConfig(reps, intervention_types=self.cls)
            )
            iv = pv.IntervenableModel(config, self.model.model, use_fast=False)
            iv.disable_model_gradients()
            self._ivs[key] = iv
        iv = self._ivs[key]
        iv.use_fast = False  # FACTS.md: a shorthand call may have flipped it on
        return iv

    def _locations(self, patches) -> list:
        locs = []
        for p in patches:
            pos = list(range(self.ctx.seq_len(p.site.stream))) if p.positions is None else list(p.positions)
            if p.site.head is None:
                locs.append([pos] * self.rows)
            else:
                locs.append([[[p.site.head]] * self.rows, [pos] * self.rows])
        return locs

    @torch.no_grad()
    def run_cell(self, patches, source_inputs=None) -> torch.Tensor:
        """Logits of the base run with ``patches`` applied by pyvene."""
        patches = [p for p in patches if p.positions is None or len(p.positions)]
        if not patches:
            return self.model.logits(self.ctx.base_inputs)
        iv = self._iv(patches)
        locs = self._locations(patches)
        source = self.source if source_inputs is None else source_inputs
        if self.needs_source:
            _, out = iv(self.base, [source] * len(patches), {"sources->base": (locs, locs)})
            self.forwards += 2
        else:
            _, out = iv(self.base, unit_locations={"base": locs})
            self.forwards += 1
        return out.logits if hasattr(out, "logits") else out

    def run(self, cells: list, progress=None) -> np.ndarray:
        out = np.empty(len(cells))
        for i, cell in enumerate(cells):
            out[i] = float(self.ctx.readout.metric(self.run_cell(cell)))
            if progress is not None:
                progress.update(1)
        return out
