"""Whisper's cached runner for ablations, attention windows, head masks and steering.

The interventions of :mod:`intervene.anatomy` act through hooks that stay installed while a
cell runs; this runner decides how much of the model the cell re-runs. The base run is done
once per pair: the residual stream entering every encoder layer, the encoder output, and the
decoder's cross-attention keys and values. A cell whose first change is at encoder layer L
re-runs blocks L.. (not the stem, not the blocks before), the final norm and the decoder; a
cell that changes only the decoder re-runs only the decoder, on the cached cross-attention
keys and values (the encoder output is unchanged, so they are too). No autograd.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["WhisperAnatomyRunner"]


class WhisperAnatomyRunner:
    """Re-run only what a cell changes (see the module notes).

    Parameters
    ----------
    ctx : PairContext
    runner : WhisperRunner
        The model's pieces.
    """

    name = ("whisper: cached base run; a cell re-runs encoder blocks from the first layer it changes, "
            "decoder-only cells the decoder on cached cross-attention keys and values")

    def __init__(self, ctx, runner):
        self.ctx, self.model, self.runner = ctx, ctx.model, runner
        self.n_layers = runner.n_layers
        self.forwards = 0
        self._ready = False

    @torch.no_grad()
    def prepare(self) -> None:
        """The base run, once: residuals, encoder output and cross-attention keys and values."""
        if self._ready:
            return
        feats = self.ctx.base_inputs["input_features"]
        self.base_res = self.runner.residuals(feats)
        self.base_enc = self.runner.final(self.base_res[-1])
        self._cross = None
        self._decode_cached(self.base_enc)  # fills the cross-attention cache
        self._ready = True

    def _decode_cached(self, enc):
        """Decoder logits (1, rows, tokens, vocab) reusing the base run's cross-attention keys/values."""
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        ids = self.ctx.readout.decoder_input_ids
        rows = ids.shape[0]
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache() if self._cross is None else self._cross)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # past_key_values is being renamed in transformers 5.x
            hidden = self.model.core.decoder(input_ids=ids, encoder_hidden_states=enc.expand(rows, -1, -1),
                                             past_key_values=cache, use_cache=True).last_hidden_state
        if self._cross is None:
            self._cross = cache.cross_attention_cache
        return self.model.lm_head(hidden)[None]

    @torch.no_grad()
    def logits(self, start: int | None) -> torch.Tensor:
        """Logits (1, rows, tokens, vocab) of the base run with the hooks installed now.

        ``start`` is the first encoder layer the cell changes (None: only the decoder).
        """
        self.prepare()
        ids = self.ctx.readout.decoder_input_ids
        if start is None:
            return self._decode_cached(self.base_enc)
        self.forwards += 1
        enc = self.runner.final(self.runner.blocks(self.base_res[start], start))
        return self.runner.decode(enc, ids)
