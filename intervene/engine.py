"""The exact intervention engine: cached activations, re-running only what a patch changes.

A *cell* is a set of :class:`Patch` es applied together (site + positions); the engine returns
the task metric of the base run with the cell's source activations patched in. Source (and
base) activations are computed once per pair. For Whisper, a patch at encoder layer L re-runs
encoder blocks from L on (not the stem, not the blocks before) and the decoder; a patch in
the decoder re-runs only the decoder. Other architectures re-run the base forward once per
cell (still one forward instead of pyvene's two). No autograd anywhere.

Cells can be batched as rows (``batch_size``): on a GPU that pays; on a CPU it does not.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import torch

from intervene import hooks
from intervene.sites import Site
from intervene.whisper_runner import WhisperRunner

__all__ = ["Patch", "ExactEngine"]


@dataclass(frozen=True)
class Patch:
    """Patch ``site`` at ``positions`` (a tuple of ints; None = every position)."""

    site: Site
    positions: tuple | None = None


RESIDUAL = ("block_input", "block_output")


def _mask(seq: int, rows: list, device) -> torch.Tensor:
    """(len(rows), seq) bool: True where each row's positions are patched."""
    m = torch.zeros(len(rows), seq, dtype=torch.bool, device=device)
    for i, pos in enumerate(rows):
        if pos is None:
            m[i] = True
        elif len(pos):
            m[i, torch.as_tensor(pos, device=device)] = True
    return m


def _patch_fn(mask: torch.Tensor, source: torch.Tensor, sl: slice | None):
    """A hook body: rows of ``t`` take ``source`` where ``mask`` is set (on the head slice ``sl``)."""

    def fn(t: torch.Tensor) -> torch.Tensor:
        m = mask.repeat_interleave(t.shape[0] // mask.shape[0], dim=0)[..., None]
        src = source if source.shape[0] in (1, t.shape[0]) else source.repeat(t.shape[0] // source.shape[0], 1, 1)
        t = t.clone()
        if sl is None:
            return torch.where(m, src.to(t.dtype), t)
        t[..., sl] = torch.where(m, src.to(t.dtype), t[..., sl])
        return t

    return fn


class ExactEngine:
    """Exact patching with cached activations.

    Parameters
    ----------
    ctx : PairContext
    batch_size : int, optional
        Cells run together as batch rows (default: 16 on CUDA, 1 on the CPU).
    context_frames : int, optional
        Whisper only: run the encoder on this many positions instead of 1500 (approximate).
    """

    def __init__(self, ctx, batch_size: int | None = None, context_frames: int | None = None):
        self.ctx = ctx
        self.model = ctx.model
        self.device = self.model.device
        self.batch_size = batch_size or (16 if self.device.type == "cuda" else 1)
        self.whisper = getattr(self.model, "architecture", "") == "whisper"
        self.runner = WhisperRunner(self.model, context_frames) if self.whisper else None
        self._source: dict[Site, torch.Tensor] = {}
        self._cached = False
        self.forwards = 0  # encoder-block (or full) runs, for the record

    # ------------------------------------------------------------ caches
    @torch.no_grad()
    def prepare(self, sites) -> None:
        """Compute the base and source runs once, capturing the source activations of ``sites``.

        Later calls only run what new sites need (for Whisper decoder sites: the decoder).
        """
        need = [s for s in sites if s not in self._source]
        if self._cached and not need:
            return
        ctx, model = self.ctx, self.model
        if not self.whisper:
            with hooks.capture(model, need) as acts:
                src_logits = model.logits(ctx.source_inputs)
            self._source.update(acts)
            if not self._cached:
                self.base_metric = float(ctx.readout.metric(model.logits(ctx.base_inputs)))
                self.source_metric = float(ctx.readout.metric(src_logits))
            self._cached = True
            return
        ids = ctx.readout.decoder_input_ids
        enc_sites = [s for s in need if s.stream == "encoder"]
        dec_sites = [s for s in need if s.stream == "decoder"]
        if not self._cached:
            self.base_res = self.runner.residuals(ctx.base_inputs["input_features"])
            self.base_enc = self.runner.final(self.base_res[-1])
            self.base_metric = float(ctx.readout.metric(self.runner.decode(self.base_enc, ids))[0])
        if enc_sites or not self._cached:
            with hooks.capture(model, enc_sites) as acts:
                self.source_res = self.runner.residuals(ctx.source_inputs["input_features"])
            self._source.update(acts)
            self.source_enc = self.runner.final(self.source_res[-1])
        if dec_sites or not self._cached:
            with hooks.capture(model, dec_sites) as dacts:
                src_logits = self.runner.decode(self.source_enc, ids)
            self._source.update(dacts)
            if not self._cached:
                self.source_metric = float(ctx.readout.metric(src_logits)[0])
        self._cached = True

    def source_activation(self, site: Site) -> torch.Tensor:
        self.prepare([site])
        return self._source[site]

    # ------------------------------------------------------------- running
    @torch.no_grad()
    def run(self, cells: list, progress=None) -> np.ndarray:
        """Metric after each cell's patches: ``(len(cells),)``.

        A cell is a list of :class:`Patch`; an empty cell runs the base unpatched (through the
        same code path, which is what the patch-nothing guard checks).
        """
        self.prepare({p.site for cell in cells for p in cell})
        out = np.empty(len(cells))
        order = sorted(range(len(cells)), key=lambda i: self._start_layer(cells[i]))
        for k in range(0, len(order), self.batch_size):
            idx = order[k : k + self.batch_size]
            out[idx] = self._run_batch([cells[i] for i in idx])
            if progress is not None:
                progress.update(len(idx))
        return out

    def _start_layer(self, cell) -> int:
        """The first encoder layer a Whisper cell must re-run (n_layers: none; -1: decoder only)."""
        starts = [p.site.layer + (p.site.component == "block_output") for p in cell if p.site.stream == "encoder"]
        return min(starts) if starts else (self.runner.n_layers + 1 if self.whisper else 0)

    def _hook_stack(self, stack: ExitStack, batch: list, skip=()) -> None:
        """Register one mask hook per patched site for the cells in ``batch`` (except ``skip``)."""
        sites = {p.site for cell in batch for p in cell if p not in skip}
        for site in sites:
            rows = []
            for cell in batch:
                found = [p.positions for p in cell if p.site == site and p not in skip]
                if not found:
                    rows.append(())
                elif any(pos is None for pos in found):
                    rows.append(None)
                else:
                    rows.append(tuple(sorted(set().union(*found))))
            src = self._source[site]
            mask = _mask(src.shape[1], rows, self.device)
            stack.enter_context(_hooked(self.model, site, _patch_fn(mask, src, hooks.head_slice(self.model, site))))

    def _run_batch(self, batch: list) -> np.ndarray:
        ctx = self.ctx
        if not self.whisper:
            inputs = {k: v.expand(len(batch), *v.shape[1:]) for k, v in ctx.base_inputs.items()}
            with ExitStack() as stack:
                self._hook_stack(stack, batch)
                logits = self.model.logits(inputs)
            self.forwards += 1
            return ctx.readout.metric(logits).reshape(len(batch)).cpu().numpy()

        n = self.runner.n_layers
        start = min(self._start_layer(c) for c in batch)
        with ExitStack() as stack:
            direct = set()
            if start <= n:
                x = self.base_res[start].expand(len(batch), -1, -1).clone()
                for row, cell in enumerate(batch):
                    for p in cell:
                        s = p.site
                        at = s.layer + (s.component == "block_output")
                        if s.stream == "encoder" and s.component in RESIDUAL and at == start:
                            pos = slice(None) if p.positions is None else list(p.positions)
                            x[row, pos] = self.source_res[start][0, pos]
                            direct.add(p)
                self._hook_stack(stack, batch, skip=direct)
                enc = self.runner.final(self.runner.blocks(x, start))
                self.forwards += 1
            else:
                self._hook_stack(stack, batch)
                enc = self.base_enc.expand(len(batch), -1, -1)
            logits = self.runner.decode(enc, ctx.readout.decoder_input_ids)
        return ctx.readout.metric(logits).reshape(len(batch)).cpu().numpy()


class _hooked:
    """Context manager registering a replacing hook on a site (removed on exit)."""

    def __init__(self, model, site, fn):
        self.model, self.site, self.fn = model, site, fn

    def __enter__(self):
        self.handle = hooks._register(self.model, self.site, self.fn)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False
