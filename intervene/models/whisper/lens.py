"""What the encoder and logit lenses read inside Whisper (:mod:`intervene.lenses` asks through
:meth:`WhisperSpeechModel.lens <intervene.models.whisper.WhisperSpeechModel.lens>`).

Encoder lens (DecoderLens, Langedijk et al. 2024): the decoder cross-attends to an intermediate
encoder layer's residual stream put through the encoder's final layer norm, as it normally
does to the last layer's. Logit lens (nostalgebraist 2020): each decoder layer's residual
stream put through the decoder's final layer norm and the (tied) unembedding, as the last
layer's normally is. Layer labels: ``-1`` is the stream entering layer 0 (encoder: conv stem +
positions; decoder: token + position embeddings), ``i`` the stream leaving layer ``i``; the
last label is what the model itself reads, so its lens is the model's own output.
"""

from __future__ import annotations

import torch

from intervene.hooks import record

__all__ = ["WhisperLens"]


class WhisperLens:
    """Whisper's pieces for the lenses (one per model; no state besides the model).

    Parameters
    ----------
    model : WhisperSpeechModel
    """

    def __init__(self, model):
        self.model = model
        self.runner = model.runner()

    # ------------------------------------------------------------- prompt and text
    @property
    def prompt_ids(self) -> list[int]:
        return list(self.model.prompt_ids)

    @property
    def eot_id(self) -> int:
        return int(self.model.eot_id)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    @property
    def max_positions(self) -> int:
        return int(self.model.config.max_target_positions)

    def text_tokens(self, text: str, leading_space: bool = True) -> list[int]:
        """The tokens of ``text`` as the decoder writes it (a space before the first word)."""
        full = (" " if leading_space and text and not text.startswith(" ") else "") + text
        return list(self.model.tokenizer(full, add_special_tokens=False)["input_ids"])

    def token_text(self, token_id: int) -> str:
        """One token as text (special tokens keep their ``<|name|>``)."""
        return self.model.tokenizer.decode([int(token_id)], skip_special_tokens=False)

    def decode_text(self, ids) -> str:
        return self.model.tokenizer.decode([int(t) for t in ids], skip_special_tokens=True).strip()

    def num_layers(self, stream: str) -> int:
        return self.model.num_layers(stream)

    # ------------------------------------------------------------------ encoder lens
    @torch.no_grad()
    def encoder_readouts(self, audio) -> list[torch.Tensor]:
        """What the decoder would read from each encoder layer: ``encoder.layer_norm`` of the
        residual stream entering layer 0 and leaving each layer; ``n_layers + 1`` tensors
        ``(1, positions, d)``, the last one the encoder's own output.

        ``audio``: float32 (samples,) at 16 kHz, already checked.
        """
        feats = self.model.features(audio, self.model.sample_rate, checked=True)
        return [self.runner.final(x) for x in self.runner.residuals(feats)]

    @torch.no_grad()
    def encoder_output(self, audio) -> torch.Tensor:
        """The encoder's output ``(1, positions, d)`` (the model's own forward)."""
        feats = self.model.features(audio, self.model.sample_rate, checked=True)
        return self.model.core.encoder(feats).last_hidden_state

    @torch.no_grad()
    def logits(self, encoded: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Decoder logits ``(tokens, vocab)`` for one decoder row ``ids`` ``(1, tokens)``."""
        return self.model.decode(encoded, ids)[0]

    @torch.no_grad()
    def greedy(self, encoded: torch.Tensor, max_new_tokens: int) -> list[int]:
        """Greedy tokens (no prompt, no end token) decoded from ``encoded``, as :meth:`transcribe`."""
        return self.model.greedy_from_encoder(encoded, max_new_tokens)

    # -------------------------------------------------------------------- logit lens
    @torch.no_grad()
    def decoder_layer_logits(self, encoded: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Each decoder layer's residual stream through the final norm and the unembedding.

        Returns ``(n_layers + 1, tokens, vocab)``: the stream entering layer 0 (embeddings), then
        leaving each layer; the last row is the model's own logits.
        """
        decoder = self.model.core.decoder
        layers = decoder.layers
        modules = [("in", layers[0], "in")] + [(i, layer, "out") for i, layer in enumerate(layers)]
        with record(modules) as store:
            self.model.decode(encoded, ids)
        streams = [store["in"]] + [store[i] for i in range(len(layers))]
        return torch.stack([self.model.lm_head(decoder.layer_norm(h))[0] for h in streams])
