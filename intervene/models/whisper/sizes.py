"""The published Whisper sizes: their shapes and the alignment heads of each checkpoint.

The alignment heads are the decoder cross-attention heads whose attention follows the words
in time (OpenAI, Whisper word timestamps). They were decoded from openai-whisper 20250625's
``whisper/__init__.py`` ``_ALIGNMENT_HEADS`` (MIT licence): base85 text of a gzip'd boolean
mask of shape (decoder layers, heads); tiny.en and base agree with FACTS.md.

:func:`alignment_heads` picks a model's heads: the checkpoint's own
``generation_config.alignment_heads`` (Hugging Face checkpoints carry them), else the table
entry its name or its shape identifies, else openai-whisper's default for unknown models (every
head of the second half of the decoder layers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["WhisperSize", "SIZES", "size_named", "size_of", "alignment_heads"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WhisperSize:
    """One published checkpoint's shape and alignment heads ((decoder layer, head) pairs)."""

    name: str
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    vocab_size: int
    num_mel_bins: int
    alignment_heads: tuple

    def matches(self, config) -> bool:
        """Whether a transformers ``WhisperConfig`` has exactly this shape."""
        return (
            int(config.d_model) == self.d_model
            and int(config.encoder_layers) == self.encoder_layers
            and int(config.decoder_layers) == self.decoder_layers
            and int(config.decoder_attention_heads) == self.heads
            and int(config.vocab_size) == self.vocab_size
            and int(config.num_mel_bins) == self.num_mel_bins
        )


_EN, _MULTI, _V3 = 51864, 51865, 51866
SIZES = {
    s.name: s
    for s in (
        WhisperSize("tiny.en", 384, 4, 4, 6, _EN, 80, ((1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4))),
        WhisperSize("tiny", 384, 4, 4, 6, _MULTI, 80, ((2, 2), (3, 0), (3, 2), (3, 3), (3, 4), (3, 5))),
        WhisperSize("base.en", 512, 6, 6, 8, _EN, 80, ((3, 3), (4, 7), (5, 1), (5, 5), (5, 7))),
        WhisperSize("base", 512, 6, 6, 8, _MULTI, 80, ((3, 1), (4, 2), (4, 3), (4, 7), (5, 1), (5, 2), (5, 4), (5, 6))),
        WhisperSize("small.en", 768, 12, 12, 12, _EN, 80, (
            (6, 6), (7, 0), (7, 3), (7, 8), (8, 2), (8, 5), (8, 7), (9, 0), (9, 4), (9, 8), (9, 10), (10, 0),
            (10, 1), (10, 2), (10, 3), (10, 6), (10, 11), (11, 2), (11, 4))),
        WhisperSize("small", 768, 12, 12, 12, _MULTI, 80, (
            (5, 3), (5, 9), (8, 0), (8, 4), (8, 7), (8, 8), (9, 0), (9, 7), (9, 9), (10, 5))),
        WhisperSize("medium.en", 1024, 24, 24, 16, _EN, 80, (
            (11, 4), (14, 1), (14, 12), (14, 14), (15, 4), (16, 0), (16, 4), (16, 9), (17, 12), (17, 14), (18, 7),
            (18, 10), (18, 15), (20, 0), (20, 3), (20, 9), (20, 14), (21, 12))),
        WhisperSize("medium", 1024, 24, 24, 16, _MULTI, 80, ((13, 15), (15, 4), (15, 15), (16, 1), (20, 0), (23, 4))),
        WhisperSize("large-v1", 1280, 32, 32, 20, _MULTI, 80, (
            (9, 19), (11, 2), (11, 4), (11, 17), (22, 7), (22, 11), (22, 17), (23, 2), (23, 15))),
        WhisperSize("large-v2", 1280, 32, 32, 20, _MULTI, 80, (
            (10, 12), (13, 17), (16, 11), (16, 12), (16, 13), (17, 15), (17, 16), (18, 4), (18, 11), (18, 19),
            (19, 11), (21, 2), (21, 3), (22, 3), (22, 9), (22, 12), (23, 5), (23, 7), (23, 13), (25, 5), (26, 1),
            (26, 12), (27, 15))),
        WhisperSize("large-v3", 1280, 32, 32, 20, _V3, 128, (
            (7, 0), (10, 17), (12, 18), (13, 12), (16, 1), (17, 14), (19, 11), (21, 4), (24, 1), (25, 6))),
        WhisperSize("large-v3-turbo", 1280, 32, 4, 20, _V3, 128, ((2, 4), (2, 11), (3, 3), (3, 6), (3, 11), (3, 14))),
    )
}  # fmt: skip
"""Every published Whisper checkpoint by its openai-whisper name."""

_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}


def size_named(name: str) -> WhisperSize | None:
    """The size a model name points at: ``"openai/whisper-small.en"``, ``"whisper-tiny.en"``, ``"base"``."""
    stem = PurePosixPath(str(name).replace("\\", "/").rstrip("/")).name.lower()
    if stem.startswith("whisper-"):
        stem = stem[len("whisper-"):]
    stem = _ALIASES.get(stem, stem)
    return SIZES.get(stem)


def size_of(config, name: str = "") -> WhisperSize | None:
    """The published size of a model: by name when the shape agrees, else the one size of that shape."""
    named = size_named(name) if name else None
    if named is not None and named.matches(config):
        return named
    shaped = [s for s in SIZES.values() if s.matches(config)]
    return shaped[0] if len(shaped) == 1 else None


def alignment_heads(model) -> tuple[list, str]:
    """The (decoder layer, head) pairs to align with, and where they came from.

    Parameters
    ----------
    model : WhisperSpeechModel

    Returns
    -------
    heads : list of (int, int)
    origin : str
        "checkpoint" (generation_config), "table:<size>", or "default" (second half of the
        decoder layers, every head; openai-whisper's choice for models it does not know).
    """
    config = model.config
    layers, n_heads = int(config.decoder_layers), int(config.decoder_attention_heads)
    generation = getattr(model.model, "generation_config", None)
    given = getattr(generation, "alignment_heads", None) if generation is not None else None
    if given:
        heads = [(int(a), int(b)) for a, b in given]
        if all(0 <= a < layers and 0 <= b < n_heads for a, b in heads):
            return heads, "checkpoint"
        logger.warning("generation_config.alignment_heads of %s do not fit the model; ignoring them", model.name)
    size = size_of(config, model.name)
    if size is not None:
        return [tuple(h) for h in size.alignment_heads], f"table:{size.name}"
    logger.info("no published alignment heads for %s; using every head of decoder layers %d-%d",
                model.name, layers // 2, layers - 1)  # fmt: skip
    return [(a, b) for a in range(layers // 2, layers) for b in range(n_heads)], "default"
