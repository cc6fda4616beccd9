"""Whisper's encoder self-attention under an additive score mask (attention windows).

The mask (built by :mod:`intervene.anatomy.window`: 0 inside a window, the dtype's most
negative number outside) is added to the attention scores before the softmax. transformers'
``WhisperEncoder`` calls each layer as ``layer(hidden_states, None)``; a forward pre-hook
(:func:`intervene.hooks.on_inputs`) puts the mask in that second argument, and the layer hands
it to its self-attention, where both the eager and the SDPA kernels add it to the scores.
:class:`~intervene.models.whisper.runner.WhisperRunner` calls the layers the same way, so the
fast runners see the same mask. Masks are ``(1, heads or 1, positions, positions)``.
"""

from __future__ import annotations

from contextlib import contextmanager

from intervene import hooks
from tasks.errors import ConfigError

__all__ = ["encoder_bias"]


@contextmanager
def encoder_bias(model, biases: dict):
    """Add ``biases[layer]`` (``(1, heads or 1, n, n)``) to encoder layers' self-attention scores.

    Several biases on one layer (from several interventions) are added together.
    """
    layers = model.core.encoder.layers
    n = len(layers)
    pairs = []
    for layer, bias in biases.items():
        if not isinstance(layer, int) or not 0 <= layer < n:
            raise ConfigError(f"encoder layer ({layer!r}) is out of range; the encoder has {n} layers (0..{n - 1})")

        def fn(args, bias=bias):
            old = args[1] if len(args) > 1 else None
            new = bias if old is None else old + bias
            return (args[0], new.to(args[0].dtype)) + tuple(args[2:])

        pairs.append((layers[layer], fn))
    with hooks.on_inputs(pairs):
        yield
