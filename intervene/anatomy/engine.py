"""Maps of anatomy interventions: the shared :class:`AnatomyMethod` of the methods family.

Each map cell is the method's intervention (the ``intervention=`` template of
:func:`intervene.patch`, with the cell's site and positions filled in) held on during the
base run; the cell's value is the task metric. Three engines run a cell:

``cached``  the adapter's cached runner (:meth:`SpeechModel.anatomy_runner`): the base run is
            done once and a cell re-runs only what it changes (Whisper: encoder blocks from the
            first layer it touches, from ``out_proj`` for a head; decoder-only cells, only the
            decoder on cached cross-attention keys and values, several at once as batch rows).
            Without one: the whole forward per cell. The runner's protocol: ``prepare()``,
            ``logits(start)`` with ``start`` the cell's :meth:`~intervene.anatomy.base.Kind.encoder_start`
            (the earliest of its interventions'), and optionally ``decoder_logits(cells)`` with
            ``decoder_batch``.
``hooks``   the plain loop: the whole forward per cell with the hooks installed.
``pyvene``  the plain pyvene loop: one ``pyvene.IntervenableModel`` call per cell (ablations,
            steering and head masks; pyvene has no attention-score intervention).

The engines give the same numbers (tests and ``benchmarks/perf.py`` compare them).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import ClassVar

import numpy as np
import torch

from intervene.anatomy.apply import applied
from intervene.anatomy.base import Clip, RunEnv
from intervene.methods.base import Method
from tasks.errors import ConfigError, unknown_name

__all__ = ["AnatomyMethod", "ENGINES"]

ENGINES = ("cached", "hooks", "pyvene")


class AnatomyMethod(Method):
    """Base of the anatomy methods (``ablation``, ``window``, ``head_mask``, ``steer``).

    Subclasses set ``kind`` (the intervention class), ``name``, ``summary`` and
    ``default_engine``; :meth:`default_template` says what runs when no intervention is given.

    Parameters
    ----------
    ctx : PairContext
    intervention : intervention, optional
        The template (its site is ignored; each cell sets it).
    engine : {"cached", "hooks", "pyvene"}, optional
        How cells run (default: the method's ``default_engine``).
    """

    kind: ClassVar[type] = object
    options: ClassVar[dict] = {"intervention": None, "engine": None}
    default_engine: ClassVar[str] = "cached"

    def __init__(self, ctx, intervention=None, engine=None):
        super().__init__(ctx)
        self.template = self.make_template(intervention)
        engine = self.default_engine if engine is None else engine
        if engine not in ENGINES:
            raise unknown_name("engine", engine, ENGINES)
        self.engine = engine
        base, source = (ctx.corrupt_audio, ctx.clean_audio) if ctx.direction == "denoise" else (ctx.clean_audio,
                                                                                                 ctx.corrupt_audio)
        rate = self.model.sample_rate
        self.env = RunEnv(self.model, ctx.base_inputs, True, source=Clip(source, rate), base=Clip(base, rate))
        self.pieces = self.model.runner()
        self.fast = self._cached_runner() if engine == "cached" else None
        self.forwards = 0

    def _cached_runner(self):
        # One cached base run per prepared pair, shared by the maps made from it (a k x layer
        # sweep runs patch once per k on the same context); it lives as long as the context.
        runner = self.ctx.__dict__.get("_anatomy_runner")
        if runner is None:
            runner = self.model.anatomy_runner(self.ctx, self.pieces)
            self.ctx.__dict__["_anatomy_runner"] = runner
        return runner

    # ------------------------------------------------------------ templates
    @classmethod
    def default_template(cls):
        raise ConfigError(f"method={cls.name!r} needs intervention=intervene.{cls.kind.__name__}(...) "
                          "(its site is filled in per cell; give site=None)")

    @classmethod
    def make_template(cls, intervention):
        if intervention is None or (isinstance(intervention, str) and intervention == "interchange"):
            return cls.default_template()
        if isinstance(intervention, cls.kind):
            return intervention
        raise ConfigError(f"method={cls.name!r} runs intervene.{cls.kind.__name__} interventions, "
                          f"not {type(intervention).__name__}")

    @classmethod
    def accepts(cls, intervention) -> bool:
        return intervention is None or isinstance(intervention, cls.kind) or (
            isinstance(intervention, str) and intervention == "interchange")

    # ------------------------------------------------------------- protocol
    def prepare(self, sites) -> None:
        for site in sites:
            self.template.at(site, None).resolved_site(self.model)  # typed errors for sites this kind refuses
        prefetch = getattr(self.template, "prefetch", None)
        if prefetch is not None:
            prefetch(self.model, sites, self.env)
        if self.fast is not None:
            self.fast.prepare()

    def metrics(self) -> tuple[float, float]:
        return self.ctx.reference_metrics()

    def cell_interventions(self, cell) -> list:
        return [self.template.at(p.site, p.positions) for p in cell]

    def run(self, cells: list, progress=None) -> np.ndarray:
        out = np.full(len(cells), np.nan)  # a cell left unmeasured stays NaN, never garbage
        ivs = [self.cell_interventions(cell) for cell in cells]
        together = []
        if self.fast is not None and hasattr(self.fast, "decoder_logits"):
            together = [i for i, iv in enumerate(ivs) if iv and all(x.encoder_start(self.model) is None for x in iv)]
            size = max(1, int(getattr(self.fast, "decoder_batch", 1)))
            for k in range(0, len(together), size):
                idx = together[k : k + size]
                out[idx] = self._decoder_batch([ivs[i] for i in idx])
                if progress is not None:
                    progress.update(len(idx))
        alone = set(together)
        for i, iv in enumerate(ivs):
            if i not in alone:
                out[i] = self.run_interventions(iv)
                if progress is not None:
                    progress.update(1)
        return out

    @torch.no_grad()
    def _decoder_batch(self, batch: list) -> np.ndarray:
        """Metrics of decoder-only cells run together, cell j's hooks on its block of decoder rows."""
        rows = int(self.ctx.readout.decoder_input_ids.shape[0])
        with ExitStack() as stack:
            for j, interventions in enumerate(batch):
                stack.enter_context(applied(self.model, interventions, self.env, slice(j * rows, (j + 1) * rows)))
            logits = self.fast.decoder_logits(len(batch))
        return self.ctx.readout.metric(logits).reshape(len(batch)).cpu().numpy()

    def guard(self, sites, base_metric: float, source_metric: float) -> list:
        from intervene.anatomy.guards import run_anatomy_guards

        return run_anatomy_guards(self, sites, base_metric)

    def record(self) -> dict:
        how = {"cached": self.fast.name if self.fast is not None else "whole forward per cell (no cached runner)",
               "hooks": "whole forward per cell with hooks", "pyvene": "pyvene.IntervenableModel, one call per cell"}
        return {"runner": f"{self.engine}: {how[self.engine]}; {self.template.describe()}"}

    # ----------------------------------------------------------------- cells
    def metric(self, logits) -> float:
        return float(self.ctx.readout.metric(logits).reshape(-1)[0])

    @torch.no_grad()
    def run_interventions(self, interventions: list) -> float:
        """The metric of the base run with ``interventions`` held on (an empty list: unpatched)."""
        if self.engine == "pyvene":
            return self.metric(self._pyvene_logits(interventions))
        with applied(self.model, interventions, self.env):
            if self.fast is not None:
                starts = [s for s in (iv.encoder_start(self.model) for iv in interventions) if s is not None]
                logits = self.fast.logits(min(starts) if starts else None)
            else:
                self.forwards += 1
                logits = self.pieces.reference_logits(self.ctx.base_inputs)
        return self.metric(logits)

    def _pyvene_logits(self, interventions):
        from intervene.anatomy.base import PER_HEAD
        from intervene.methods.pyvene import build_intervenable, call, locations, representation

        model, ctx = self.model, self.ctx
        if not interventions:
            return model.logits(ctx.base_inputs)
        ids = ctx.readout.decoder_input_ids
        rows = 1 if ids is None else int(ids.shape[0])
        reps, locs = [], []
        for iv in interventions:
            site = iv.resolved_site(model)
            pos = iv.positions_for(model, site, self.env)
            pos = list(range(self.env.seq_len(site.stream))) if pos is None else list(pos)
            inst = iv.pyvene_intervention(model, site, pos, self.env, rows, site.component in PER_HEAD)
            reps.append(representation(site, len(pos), instance=inst))
            locs.append(locations(site, pos, rows))
        batched = getattr(model, "batched", lambda x: x)
        self.forwards += 1
        return call(model, build_intervenable(model, reps), batched(ctx.base_inputs), None, locs)
