"""Attention windows: each encoder self-attention query sees only the keys within +-k frames.

Reid (2023) restricts Whisper tiny's encoder this way: +-75 frames keep a good transcript,
+-20 breaks it. The restriction is a mask added to the attention scores, supplied by the
model's adapter (:meth:`SpeechModel.attention_bias <intervene.models.SpeechModel.attention_bias>`;
Whisper: :mod:`intervene.models.whisper.attention`), for every head of the chosen layers or
only the chosen heads. pyvene has no intervention on attention scores, so windows run on
hooks only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch

from intervene.anatomy.base import Kind
from intervene.sites import Site
from tasks.errors import CapabilityError, ConfigError

__all__ = ["AttentionWindow", "WINDOW_COMPONENTS", "window_bias"]

WINDOW_COMPONENTS = ("attention_output", "attention_head")
"""Map rows of a window sweep: a whole layer's self-attention, or one head of it."""


@lru_cache(maxsize=8)
def _window_bias(n: int, k: int, n_heads: int, heads, queries, dtype, device: str):
    idx = torch.arange(n, device=device)
    outside = (idx[:, None] - idx[None, :]).abs() > k  # (queries, keys)
    if queries is not None:
        keep = torch.ones(n, dtype=torch.bool, device=device)
        keep[torch.as_tensor(queries, dtype=torch.long, device=device)] = False
        outside[keep] = False
    bias = torch.zeros(n, n, dtype=dtype, device=device).masked_fill_(outside, torch.finfo(dtype).min)
    if heads is None:
        return bias[None, None]
    out = torch.zeros(1, n_heads, n, n, dtype=dtype, device=device)
    out[0, list(heads)] = bias
    return out


def window_bias(n_positions: int, k: int, n_heads: int, heads=None, queries=None, dtype=torch.float32,
                device="cpu") -> torch.Tensor:
    """The additive score mask of a +-``k`` frame window: ``(1, heads or 1, n, n)`` (cached).

    ``heads``: only these heads are restricted (default all, one shared slice); ``queries``:
    only these query positions (default all). 0 inside the window, the dtype's most negative
    number outside; ``k >= n - 1`` masks nothing.

    Examples
    --------
    >>> (window_bias(4, 1, 2)[0, 0] < 0).int()
    tensor([[0, 0, 1, 1],
            [0, 0, 0, 1],
            [1, 0, 0, 0],
            [1, 1, 0, 0]], dtype=torch.int32)
    """
    heads = None if heads is None else tuple(sorted({int(h) for h in heads}))
    queries = None if queries is None else tuple(sorted({int(q) for q in queries}))
    return _window_bias(int(n_positions), int(k), int(n_heads), heads, queries, dtype, str(device))


def _int_list(values, name: str):
    if values is None:
        return None
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ConfigError(f"{name} ({values!r}) must be non-negative integers")
        out.append(int(v))
    if not out:
        raise ConfigError(f"{name} is empty; give at least one index, or None for all")
    return tuple(sorted(set(out)))


@dataclass(frozen=True, eq=False, repr=False)
class AttentionWindow(Kind):
    """Restrict encoder self-attention to keys within +-``k`` frames of each query.

    Parameters
    ----------
    k : int
        Half-width of the window in encoder frames (20 ms each), >= 1. A ``k`` of at least
        the number of positions minus one restricts nothing (the window guard).
    layers : int or sequence of int, optional
        Encoder layers restricted (default: every layer).
    heads : int or sequence of int, optional
        Heads restricted in those layers (default: every head).
    positions : tuple of int, optional
        Only these query frames are restricted (default: all; what a map's time cells set).

    Raises
    ------
    ConfigError
        k < 1 or not an integer; negative layer or head indices (ranges are checked against the
        model when installed).
    CapabilityError
        Installed on a model whose adapter offers no attention-score masks.

    Examples
    --------
    >>> AttentionWindow(10, layers=[0, 1]).layers
    (0, 1)
    """

    k: int = 1
    layers: tuple | None = None
    heads: tuple | None = None
    positions: tuple | None = None
    site: object = None
    name: ClassVar[str] = "window"

    def __post_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ConfigError(f"k ({self.k!r}) must be an integer >= 1 (frames of 20 ms on each side of the query)")
        object.__setattr__(self, "k", int(self.k))
        object.__setattr__(self, "layers", _int_list(self.layers, "layers"))
        object.__setattr__(self, "heads", _int_list(self.heads, "heads"))

    def at(self, site, positions=None):
        """The window on one map row: ``encoder.L.attention_output`` (all heads of layer L) or
        ``encoder.L.attention_head.H`` (head H of layer L)."""
        s = Site.parse(site)
        if s.stream != "encoder" or s.component not in WINDOW_COMPONENTS:
            raise ConfigError(
                f"window maps take encoder self-attention sites ('encoder.attention_output' for layers, "
                f"'encoder.attention_head' for heads), not {s.key!r}"
            )
        return dataclasses.replace(self, layers=(s.layer,), heads=None if s.head is None else (s.head,), site=s,
                                   positions=None if positions is None else tuple(positions))

    def describe(self) -> str:
        return f"AttentionWindow(k={self.k}, layers={self.layers or 'all'}, heads={self.heads or 'all'})"

    def to_dict(self) -> dict:
        return {"type": "window", "k": self.k, "layers": self.layers, "heads": self.heads}

    def identity(self, env):
        """The guard's twin: a window covering every frame."""
        return dataclasses.replace(self, k=max(env.seq_len("encoder") - 1, 1))

    def encoder_start(self, model):
        return (0 if self.layers is None else min(self.layers), 0)

    def biases(self, model, env) -> dict:
        """``{layer: (1, heads or 1, n, n) additive mask}`` for this window on ``model``."""
        n_layers = model.num_layers("encoder")
        layers = tuple(range(n_layers)) if self.layers is None else self.layers
        bad = [v for v in layers if v >= n_layers]
        if bad:
            raise ConfigError(f"layers {bad} are out of range; the encoder has {n_layers} layers (0..{n_layers - 1})")
        try:
            n_heads = model.num_heads("encoder.0.attention_head")
        except (ConfigError, KeyError) as exc:
            raise CapabilityError(f"{model.name}: no encoder self-attention heads to restrict ({exc})") from None
        if self.heads is not None and max(self.heads) >= n_heads:
            raise ConfigError(f"heads {list(self.heads)}: head {max(self.heads)} is out of range (0..{n_heads - 1})")
        n = env.seq_len("encoder")
        dtype = next(model.model.parameters()).dtype
        bias = window_bias(n, self.k, n_heads, self.heads, self.positions, dtype=dtype, device=model.device)
        return {layer: bias for layer in layers}

    def install(self, model, env, rows=None):
        # One mask for every row: windows act on the encoder, whose cells never share a batch.
        return model.attention_bias(self.biases(model, env))

    def pyvene_intervention(self, model, site, positions, env, rows: int, head: bool):
        raise CapabilityError("pyvene has no intervention on attention scores; attention windows run on hooks "
                              "(engine 'cached' or 'hooks')")
