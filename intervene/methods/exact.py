"""``method="exact"``: exact interchange patching from cached activations.

Source (and base) activations are computed once per pair; each batch of cells re-runs the
base with the cells' source activations patched in. How much of the model a cell re-runs is
the runner's business: a model whose adapter offers a fast exact runner
(:attr:`Capabilities.fast_exact <intervene.models.Capabilities>`; Whisper re-runs only the
blocks after the patched layer and the decoder) uses it, any other model the
:class:`PlainExactRunner` (one whole base forward per batch of cells, still one forward
instead of pyvene's two). The map's metadata names the runner. No autograd anywhere.

Cells can be batched as rows (``batch_size``): on a GPU that pays; on a CPU it does not.
"""

from __future__ import annotations

import numpy as np
import torch

from intervene import hooks
from intervene.methods.base import Method
from tasks.errors import ConfigError

__all__ = ["ExactMethod", "ExactRunner", "PlainExactRunner", "check_batch_size"]


class ExactRunner:
    """What the exact method needs of a runner (the protocol; see :class:`PlainExactRunner`).

    ``prepare(sites)`` caches the base and source runs and sets ``base_metric`` /
    ``source_metric`` and ``sources`` (``{site: (1, positions, size)}``);
    ``order_key(cell)`` sorts cells so that batches share work; ``run_batch(cells)`` returns
    each cell's metric; ``forwards`` counts the model runs; ``name`` says what it re-runs.
    """

    name = ""
    forwards = 0


class PlainExactRunner(ExactRunner):
    """Any architecture: capture the source once, then one whole base forward per batch of cells."""

    name = "plain: one whole base forward per batch of cells"

    def __init__(self, ctx, runner):
        self.ctx, self.model, self.runner = ctx, ctx.model, runner
        self.sources: dict = {}
        self._cached = False
        self.forwards = 0

    @torch.no_grad()
    def prepare(self, sites) -> None:
        need = [s for s in sites if s not in self.sources]
        if self._cached and not need:
            return
        with hooks.capture(self.model, need) as acts:
            src_logits = self.model.logits(self.ctx.source_inputs)
        self.sources.update(acts)
        if not self._cached:
            self.base_metric = float(self.ctx.readout.metric(self.model.logits(self.ctx.base_inputs)))
            self.source_metric = float(self.ctx.readout.metric(src_logits))
        self._cached = True

    def order_key(self, cell) -> int:
        return 0

    @torch.no_grad()
    def run_batch(self, batch: list) -> np.ndarray:
        inputs = {k: v.expand(len(batch), *v.shape[1:]) for k, v in self.ctx.base_inputs.items()}
        with hooks.patched(self.model, batch, self.sources):
            logits = self.model.logits(inputs)
        self.forwards += 1
        return self.ctx.readout.metric(logits).reshape(len(batch)).cpu().numpy()


def check_batch_size(batch_size) -> int | None:
    """``batch_size`` if None or a positive int (typed error otherwise)."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size ({batch_size!r}) must be a positive integer (cells run together)")
    return int(batch_size)


class ExactMethod(Method):
    """Exact interchange patching (see the module notes).

    Options
    -------
    batch_size : int, optional
        Cells per batch (default: 16 on CUDA, 1 on the CPU).
    context_frames : int, optional
        Encoder positions to run (models whose adapter offers a truncated context; fewer is
        faster and approximate).
    """

    name = "exact"
    summary = "exact patching from cached activations, re-running only what a patch changes (default)"
    options = {"batch_size": None, "context_frames": None}

    def __init__(self, ctx, batch_size=None, context_frames=None):
        super().__init__(ctx)
        self.batch_size = check_batch_size(batch_size) or (16 if self.model.device.type == "cuda" else 1)
        self.pieces = self.model.runner(context_frames)
        fast = self.model.exact_runner(ctx, self.pieces) if self.model.capabilities.fast_exact else None
        self.runner = fast if fast is not None else PlainExactRunner(ctx, self.pieces)

    @property
    def truncated(self) -> bool:
        return self.pieces.truncated

    def reference_runner(self):
        return self.pieces

    @property
    def forwards(self) -> int:
        return self.runner.forwards

    def prepare(self, sites) -> None:
        self.runner.prepare(sites)

    def metrics(self) -> tuple[float, float]:
        return self.runner.base_metric, self.runner.source_metric

    def run(self, cells: list, progress=None) -> np.ndarray:
        self.runner.prepare(list({p.site for cell in cells for p in cell}))
        out = np.full(len(cells), np.nan)  # a cell left unmeasured stays NaN (patch refuses it), never garbage
        order = sorted(range(len(cells)), key=lambda i: self.runner.order_key(cells[i]))
        for k in range(0, len(order), self.batch_size):
            idx = order[k : k + self.batch_size]
            out[idx] = self.runner.run_batch([cells[i] for i in idx])
            if progress is not None:
                progress.update(len(idx))
        return out

    def record(self) -> dict:
        return {"runner": self.runner.name}
