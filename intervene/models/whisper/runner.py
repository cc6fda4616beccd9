"""Whisper's forward pass in pieces, for exact sweeps that re-run only what a patch changes.

``transformers``' encoder always runs the convolutional stem and every block; a patch at
encoder layer L only changes blocks after L and the decoder. :class:`WhisperRunner` exposes
the pieces (stem, blocks from layer L, final norm, decoder) built from the model's own
modules, so a re-run from layer L computes exactly what the full forward computes.

It also runs Whisper on fewer than 1500 encoder positions (``context_frames``, as
whisper.cpp's ``audio_ctx``): the stem sees the first ``2 * context_frames`` mel frames and
the positional embedding is cut to match. That is an approximation of the model; maps made
with it say so.
"""

from __future__ import annotations

import torch

from intervene.models.base import Runner
from tasks.errors import ConfigError

__all__ = ["WhisperRunner"]


class WhisperRunner(Runner):
    """Pieces of a Whisper forward pass (built once per model and ``context_frames``:
    :meth:`SpeechModel.runner <intervene.models.SpeechModel.runner>`).

    Parameters
    ----------
    model : WhisperSpeechModel
    context_frames : int, optional
        Encoder positions to run (default: all, ``model.n_positions`` = 1500).
    """

    def __init__(self, model, context_frames: int | None = None):
        self.model = model
        self.core = model.core
        self.encoder = self.core.encoder
        full = model.n_positions
        if context_frames is None:
            context_frames = full
        if not isinstance(context_frames, int) or isinstance(context_frames, bool) or not 1 <= context_frames <= full:
            raise ConfigError(f"context_frames ({context_frames!r}) must be an integer between 1 and {full}")
        self.context_frames = context_frames
        self.n_layers = len(self.encoder.layers)

    @property
    def truncated(self) -> bool:
        return self.context_frames < self.model.n_positions

    # ------------------------------------------------ the Runner protocol
    def reference_logits(self, inputs: dict) -> torch.Tensor:
        """The full model's own forward, or the truncated pieces when truncated."""
        if self.truncated:
            return self.logits(inputs["input_features"], inputs["decoder_input_ids"])
        return self.model.logits(inputs)

    def encoded(self, inputs: dict) -> torch.Tensor:
        """Encoder output states of ``inputs``: a decoder-only patch reuses them."""
        feats = inputs["input_features"]
        return self.encode(feats) if self.truncated else self.core.encoder(feats).last_hidden_state

    def logits_from_encoded(self, encoded, inputs: dict) -> torch.Tensor:
        return self.model.decode(encoded, inputs["decoder_input_ids"])

    def start(self, inputs: dict) -> torch.Tensor:
        """The residual stream entering encoder layer 0 (attribution's path starts there)."""
        return self.stem(inputs["input_features"])

    def logits_from_start(self, x: torch.Tensor, inputs: dict) -> torch.Tensor:
        return self.decode(self.final(self.blocks(x)), inputs["decoder_input_ids"])

    # ------------------------------------------------ the pieces

    def stem(self, features: torch.Tensor) -> torch.Tensor:
        """Conv stem + positions: the residual stream entering encoder layer 0, (B, positions, d)."""
        enc = self.encoder
        feats = features[..., : 2 * self.context_frames]
        x = torch.nn.functional.gelu(enc.conv1(feats))
        x = torch.nn.functional.gelu(enc.conv2(x))
        x = x.permute(0, 2, 1)
        return x + enc.embed_positions.weight[: x.shape[1]]

    def blocks(self, x: torch.Tensor, start: int = 0, collect: list | None = None) -> torch.Tensor:
        """Run encoder layers ``start..`` on the residual stream ``x`` entering layer ``start``.

        ``collect``, if given, receives the residual stream leaving each layer run.
        """
        for layer in self.encoder.layers[start:]:
            x = layer(x, None)
            if collect is not None:
                collect.append(x)
        return x

    def final(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's final layer norm: encoder output states."""
        return self.encoder.layer_norm(x)

    def residuals(self, features: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream entering each layer and leaving the last: n_layers + 1 tensors."""
        x = self.stem(features)
        out = [x]
        self.blocks(x, 0, out)
        return out

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        return self.final(self.blocks(self.stem(features)))

    def decode(self, enc: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Decoder logits for encoder states ``enc`` (B, positions, d) and decoder rows ``ids`` (R, T).

        Returns ``(B, R, T, vocab)``: every encoder batch row is decoded with every decoder row.
        """
        b, r = enc.shape[0], ids.shape[0]
        enc_rows = enc.repeat_interleave(r, dim=0) if r > 1 else enc
        ids_rows = ids.repeat(b, 1) if b > 1 else ids
        logits = self.model.decode(enc_rows, ids_rows)
        return logits.reshape(b, r, *logits.shape[1:])

    def logits(self, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Full forward: ``(1, R, T, vocab)``."""
        return self.decode(self.encode(features), ids)
