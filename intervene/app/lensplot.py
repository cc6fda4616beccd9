"""Pictures of lens tables: the answer's probability per layer and token, with each cell's top token.

One panel is the layer x token table: colour is the probability of the token each column is
scored on (its target), the text in a cell is the layer's top token there, and the answer's
column is outlined. The encoder lens adds a panel of WER per layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.atomic import atomic_path

__all__ = ["plot_lens"]


def _short(text: str, n: int = 8) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _layer_label(table, layer: int) -> str:
    if layer == -1:
        return "stem" if table.kind == "encoder" else "embed"
    return str(layer)


def plot_lens(table, path=None, max_tokens: int = 40):
    """A figure of ``table`` (the first ``max_tokens`` columns); saved as PNG to ``path`` if given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n_layers = len(table.layers)
    cols = min(len(table.tokens), max_tokens)
    wer = table.wer is not None
    width = min(18.0, 3.0 + 0.75 * cols + (3.5 if wer else 0.0))
    fig = Figure(figsize=(width, 1.6 + 0.5 * n_layers), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2, width_ratios=[max(cols, 2), 4]) if wer else fig.add_gridspec(1, 1)
    ax = fig.add_subplot(grid[0, 0])
    probs = table.target_probs[:, :cols]
    image = ax.imshow(probs, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    top1 = table.top1()
    for i in range(n_layers):
        for j in range(cols):
            ax.text(j, i, _short(top1[i][j]), ha="center", va="center", fontsize=7,
                    color="black" if probs[i, j] > 0.6 else "white")
    if table.answer_position < cols:
        ax.add_patch(Rectangle((table.answer_position - 0.5, -0.5), 1, n_layers, fill=False, edgecolor="red", lw=2))
    ax.set_xticks(range(cols), [_short(table.token(t), 10) for t in table.targets[:cols]], rotation=60, ha="right",
                  fontsize=8)
    ax.set_yticks(range(n_layers), [_layer_label(table, v) for v in table.layers])
    what = "encoder layer the decoder reads" if table.kind == "encoder" else "decoder layer"
    ax.set(xlabel="target token (the column's next token; red: the answer)", ylabel=what)
    more = f", first {cols} of {len(table.tokens)} tokens" if cols < len(table.tokens) else ""
    first = table.first_top_layer
    ax.set_title(f"{table.kind} lens, {table.model}{more}: P(target); cell text = layer's top token\n"
                 f"answer {table.answer!r}: top from layer {first if first is not None else '-'}", fontsize=9)
    fig.colorbar(image, ax=ax, label="probability of the target", shrink=0.8)
    if wer:
        bx = fig.add_subplot(grid[0, 1])
        y = np.arange(n_layers)
        bx.barh(y, table.wer, color="tab:orange")
        bx.set_yticks(y, [_layer_label(table, v) for v in table.layers])
        bx.set(xlabel="WER of the greedy transcript", title="transcript per layer")
        bx.set_xlim(0, max(1.0, float(np.max(table.wer)) * 1.05))
    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    return fig
