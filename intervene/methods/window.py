"""``method="window"``: maps of attention windows (k x layer, head x layer, time x layer).

``intervene.patch(model, task, pair, "encoder.attention_output", unit="all", span="all",
method="window", intervention=intervene.AttentionWindow(k=10))`` restricts each layer's encoder
self-attention to +-k frames (rows ``encoder.attention_head``: one head at a time) and records
the metric; :func:`intervene.anatomy.window_map` stacks such maps over several k. Cells run on
the adapter's cached runner (Whisper: the base run once, blocks re-run from the restricted
layer). Guards: a window covering every frame must give the base metric at every site; the
window must match an ordinary forward with the same mask.
"""

from __future__ import annotations

from intervene.anatomy.engine import AnatomyMethod
from intervene.anatomy.window import AttentionWindow

__all__ = ["WindowMethod"]


class WindowMethod(AnatomyMethod):
    """Restrict attention in each cell (see the module notes); ``intervention=`` an :class:`intervene.AttentionWindow`."""

    name = "window"
    summary = "restrict encoder self-attention to +-k frames per layer or head (intervention=intervene.AttentionWindow(k))"
    kind = AttentionWindow
    default_engine = "cached"
