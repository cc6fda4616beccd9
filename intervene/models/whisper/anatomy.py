"""Whisper's cached runner for ablations, attention windows, head masks and steering.

The interventions of :mod:`intervene.anatomy` act through hooks that stay installed while a
cell runs; this runner decides how much of the model the cell re-runs. The base run is done
once per pair: the residual stream entering every encoder layer, each layer's self-attention
output before ``out_proj`` (the heads), the encoder output, and the decoder's cross-attention
keys and values. A cell says where its first change is (``start``):

``(L, 0)``  anywhere in encoder layer L: blocks L.. are re-run (not the stem, not the blocks before);
``(L, 1)``  at layer L's attention heads or attention output (head masks): the cached heads go
            through ``out_proj`` (whose hooks apply the change), then the rest of layer L and the
            blocks after it; the layer's queries, keys, values and attention are not recomputed;
``None``    only in the decoder: the decoder alone, on the cached cross-attention keys and values
            (the encoder output is unchanged, so they are too). Several such cells run together
            as blocks of batch rows (:meth:`decoder_logits`), each with its own hooks.

The numbers are those of an ordinary forward with the same hooks (the tests check it). No autograd.
"""

from __future__ import annotations

import warnings

import torch

from intervene import hooks

__all__ = ["WhisperAnatomyRunner"]


class WhisperAnatomyRunner:
    """Re-run only what a cell changes (see the module notes).

    Parameters
    ----------
    ctx : PairContext
    runner : WhisperRunner
        The model's pieces (full encoder context).
    """

    name = ("whisper: cached base run; a cell re-runs encoder blocks from the first layer it changes (head masks: "
            "from that layer's out_proj), decoder-only cells the decoder on cached cross-attention keys and values, "
            "several at once as batch rows")
    decoder_batch = 8
    """Decoder-only cells run together (batch rows); each needs a copy of the cross-attention cache."""

    def __init__(self, ctx, runner):
        self.ctx, self.model, self.runner = ctx, ctx.model, runner
        self.layers = runner.encoder.layers
        self.n_layers = runner.n_layers
        self.forwards = 0
        self._ready = False
        self._cross: dict = {}

    @torch.no_grad()
    def prepare(self) -> None:
        """The base run, once: residuals, heads, encoder output and cross-attention keys and values."""
        if self._ready:
            return
        feats = self.ctx.base_inputs["input_features"]
        modules = [(i, layer.self_attn.out_proj, "in") for i, layer in enumerate(self.layers)]
        with hooks.record(modules) as heads:
            self.base_res = self.runner.residuals(feats)
        self.base_heads = [heads[i].detach() for i in range(self.n_layers)]
        self.base_enc = self.runner.final(self.base_res[-1])
        self._decode_cached(1)  # fills the cross-attention cache of one cell
        self._ready = True

    def _cross_cache(self, cells: int):
        """The cross-attention cache for ``cells`` blocks of decoder rows (built from one cell's)."""
        from transformers.cache_utils import DynamicCache

        if cells not in self._cross:
            one = self._cross[1]
            cache = DynamicCache()
            for i, layer in enumerate(one.layers):
                cache.update(layer.keys.repeat(cells, 1, 1, 1), layer.values.repeat(cells, 1, 1, 1), i)
            self._cross[cells] = cache
        return self._cross[cells]

    def _decode_cached(self, cells: int) -> torch.Tensor:
        """Decoder logits ``(cells, rows, tokens, vocab)`` on the base encoder output, cached cross-attention."""
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        ids = self.ctx.readout.decoder_input_ids
        rows = ids.shape[0] * cells
        first = 1 not in self._cross
        cross = DynamicCache() if first else self._cross_cache(cells)
        cache = EncoderDecoderCache(DynamicCache(), cross)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # past_key_values is being renamed in transformers 5.x
            hidden = self.model.core.decoder(input_ids=ids.repeat(cells, 1), past_key_values=cache, use_cache=True,
                                             encoder_hidden_states=self.base_enc.expand(rows, -1, -1)).last_hidden_state
        if first:
            self._cross[1] = cache.cross_attention_cache
        return self.model.lm_head(hidden).reshape(cells, ids.shape[0], *hidden.shape[1:-1], -1)

    @torch.no_grad()
    def decoder_logits(self, cells: int) -> torch.Tensor:
        """Logits ``(cells, rows, tokens, vocab)`` of ``cells`` decoder-only cells run as row blocks
        (cell i's hooks act on rows ``i * rows .. (i + 1) * rows``)."""
        self.prepare()
        return self._decode_cached(cells)

    def _mid_layer(self, layer: int) -> torch.Tensor:
        """Layer ``layer`` from its cached heads: out_proj (hooks apply), residual, MLP."""
        block = self.layers[layer]
        h = self.base_res[layer] + block.self_attn.out_proj(self.base_heads[layer])
        return h + block.fc2(block.activation_fn(block.fc1(block.final_layer_norm(h))))

    @torch.no_grad()
    def logits(self, start) -> torch.Tensor:
        """Logits ``(1, rows, tokens, vocab)`` of one cell with the hooks installed now.

        ``start``: ``(layer, stage)`` of the cell's first change (see the module notes) or None.
        """
        self.prepare()
        if start is None:
            return self._decode_cached(1)
        layer, stage = start
        self.forwards += 1
        if stage == 1:
            x = self.runner.blocks(self._mid_layer(layer), layer + 1)
        else:
            x = self.runner.blocks(self.base_res[layer], layer)
        return self.runner.decode(self.runner.final(x), self.ctx.readout.decoder_input_ids)
