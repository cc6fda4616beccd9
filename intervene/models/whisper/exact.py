"""Whisper's fast exact-patching runner: cached activations, re-running only what a patch changes.

A patch at encoder layer L re-runs encoder blocks from L on (not the stem, not the blocks
before) and the decoder; a patch in the decoder re-runs only the decoder. A residual-stream
patch at the layer a batch starts from is written straight into the cached stream instead of
through a hook. No autograd anywhere. Source and base activations are computed once per pair.
"""

from __future__ import annotations

import numpy as np
import torch

from intervene import hooks

__all__ = ["WhisperExactRunner"]

RESIDUAL = ("block_input", "block_output")


class WhisperExactRunner:
    """The exact method's runner for Whisper (see :class:`intervene.methods.exact.ExactRunner`).

    Parameters
    ----------
    ctx : PairContext
    runner : WhisperRunner
        The model's pieces (possibly on a truncated encoder context).
    """

    name = "whisper: cached runs, re-running blocks from the patched layer"

    def __init__(self, ctx, runner):
        self.ctx, self.model, self.runner = ctx, ctx.model, runner
        self.n_layers = runner.n_layers
        self.sources: dict = {}
        self._cached = False
        self.forwards = 0

    @torch.no_grad()
    def prepare(self, sites) -> None:
        """Run the base and source once, capturing the source activations of ``sites``.

        Later calls only run what new sites need (decoder sites: the decoder).
        """
        need = [s for s in sites if s not in self.sources]
        if self._cached and not need:
            return
        ctx, runner = self.ctx, self.runner
        ids = ctx.readout.decoder_input_ids
        enc_sites = [s for s in need if s.stream == "encoder"]
        dec_sites = [s for s in need if s.stream == "decoder"]
        if not self._cached:
            self.base_res = runner.residuals(ctx.base_inputs["input_features"])
            self.base_enc = runner.final(self.base_res[-1])
            self.base_metric = float(ctx.readout.metric(runner.decode(self.base_enc, ids))[0])
        if enc_sites or not self._cached:
            with hooks.capture(self.model, enc_sites) as acts:
                self.source_res = runner.residuals(ctx.source_inputs["input_features"])
            self.sources.update(acts)
            self.source_enc = runner.final(self.source_res[-1])
        if dec_sites or not self._cached:
            with hooks.capture(self.model, dec_sites) as dacts:
                src_logits = runner.decode(self.source_enc, ids)
            self.sources.update(dacts)
            if not self._cached:
                self.source_metric = float(ctx.readout.metric(src_logits)[0])
        self._cached = True

    def order_key(self, cell) -> int:
        """The first encoder layer a cell must re-run (n_layers + 1: decoder only)."""
        # a block output is written straight into the next block's input, unless it is an SAE
        # feature site (patched by a hook on the block, so the block itself is re-run)
        starts = [p.site.layer + (p.site.component == "block_output" and not p.site.is_feature) for p in cell
                  if p.site.stream == "encoder"]
        return min(starts) if starts else self.n_layers + 1

    @torch.no_grad()
    def run_batch(self, batch: list) -> np.ndarray:
        """Metric after each cell of ``batch`` (cells run together as batch rows)."""
        ctx, runner, n = self.ctx, self.runner, self.n_layers
        start = min(self.order_key(c) for c in batch)
        direct = set()
        if start <= n:
            x = self.base_res[start].expand(len(batch), -1, -1).clone()
            for row, cell in enumerate(batch):
                for p in cell:
                    s = p.site
                    at = s.layer + (s.component == "block_output")
                    if s.stream == "encoder" and s.component in RESIDUAL and at == start and not s.is_feature:
                        pos = slice(None) if p.positions is None else list(p.positions)
                        x[row, pos] = self.source_res[start][0, pos]
                        direct.add(p)
        with hooks.patched(self.model, batch, self.sources, skip=direct):
            if start <= n:
                enc = runner.final(runner.blocks(x, start))
                self.forwards += 1
            else:
                enc = self.base_enc.expand(len(batch), -1, -1)
            logits = runner.decode(enc, ctx.readout.decoder_input_ids)
        return ctx.readout.metric(logits).reshape(len(batch)).cpu().numpy()
