"""Pictures of ``patching_heatmaps.py``: mean maps with their spread, per-pair grids, an overview.

Every effect panel uses a diverging colour map centred on 0 with a symmetric scale (the
largest |effect| shown), so red is restoration and blue the reverse. Time axes are in
milliseconds from the word's onset (the onset is the solid line at 0, the mean end of the
clean word the dotted line); spread panels (standard deviation across pairs) use a
sequential colour map from 0.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np

from benchmarks.common import new_figure

__all__ = ["token_label", "mean_figure", "pairs_figure", "overview_figure"]

EFFECT_CMAP = "RdBu_r"
SPREAD_CMAP = "viridis"
EFFECT_LABEL = "normalised effect\n(1 = clean restored)"


def token_label(text: str) -> str:
    """A short axis label of a decoder token: ``'<|startoftranscript|>'`` -> ``'<sot>'``.

    Examples
    --------
    >>> [token_label(t) for t in ["<|startoftranscript|>", "<|en|>", " Please"]]
    ['<sot>', '<en>', 'Please']
    """
    if text.startswith("<|") and text.endswith("|>"):
        inner = text[2:-2]
        return "<" + {"startoftranscript": "sot", "notimestamps": "no-ts"}.get(inner, inner) + ">"
    return text.strip() or repr(text)


def _suptitle(fig, title: str, width_in: float) -> None:
    """A left-aligned figure title, each line wrapped to the figure's width."""
    chars = max(40, int(width_in * 13))
    lines = [w for line in title.split("\n") for w in textwrap.wrap(line, chars) or [""]]
    fig.suptitle("\n".join(lines), fontsize=10, x=0.01, ha="left")


def _cell_text(value: float, top: float) -> str:
    """Two significant decimals for the scale of the panel; no '-0.00'."""
    digits = 2 if top >= 0.1 else 3
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _limit(values) -> float:
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return max(float(finite.max()) if finite.size else 1.0, 1e-6)


def _geometry(cmap) -> dict:
    """How to draw a combined map: its rows, columns and (for time maps) the time extent."""
    dims = list(cmap.dims)
    rows = [str(r) for r in cmap.coords[dims[0]]] if len(dims) == 2 else ["all"]
    last = dims[-1]
    geo = {"rows": rows, "row_name": dims[0] if len(dims) == 2 else "", "time": last == "frame"}
    if geo["time"]:
        frame_ms = float(cmap.meta.frame_s) * 1000.0
        window_ms = float(cmap.meta.window_ms if cmap.meta.window_ms is not None else frame_ms)
        cols = np.asarray(cmap.coords["frame"], dtype=float) * frame_ms
        geo.update(extent=(cols[0], cols[-1] + window_ms, len(rows) - 0.5, -0.5), xlabel="time from word onset (ms)")
    else:
        labels = [token_label(str(c)) if last == "token" else str(c) for c in cmap.coords[last]]
        geo.update(cols=labels, xlabel=last)
    return geo


def _draw(ax, values, geo: dict, *, vmax: float | None, word_end_ms: float | None = None, annotate: bool = False):
    """One panel: effects (``vmax`` given, symmetric diverging scale) or spread (``vmax`` None)."""
    values = np.asarray(values, dtype=float).reshape(len(geo["rows"]), -1)
    style = ({"cmap": EFFECT_CMAP, "vmin": -vmax, "vmax": vmax} if vmax is not None
             else {"cmap": SPREAD_CMAP, "vmin": 0.0})  # fmt: skip
    if geo["time"]:
        image = ax.imshow(values, aspect="auto", interpolation="nearest", extent=geo["extent"], **style)
        ax.axvline(0.0, color="k", lw=1.3)
        if word_end_ms is not None:
            ax.axvline(word_end_ms, color="k", lw=1.0, ls=":")
    else:
        image = ax.imshow(values, aspect="auto", interpolation="nearest", **style)
        cols = geo["cols"]
        ax.set_xticks(range(len(cols)), cols, rotation=40 if max(map(len, cols)) > 4 else 0,
                      ha="right" if max(map(len, cols)) > 4 else "center", fontsize=8)  # fmt: skip
        if annotate:
            top = vmax if vmax is not None else _limit(values)
            for (i, j), v in np.ndenumerate(values):
                if np.isfinite(v):
                    light = abs(v) / top > 0.6 if vmax is not None else v / top < 0.5
                    ax.text(j, i, _cell_text(v, top), ha="center", va="center", fontsize=7,
                            color="white" if light else "black")  # fmt: skip
    ax.set_yticks(range(len(geo["rows"])), geo["rows"], fontsize=8)
    ax.set_ylabel(geo["row_name"])
    return image


def mean_figure(cmap, title: str, word_end_ms: float | None = None):
    """The mean map and its spread across pairs (time maps: stacked; others: side by side).

    Parameters
    ----------
    cmap : CausalMap
        A combined map (``per_pair`` set); frame coordinates relative to the word onset.
    title : str
        The figure title (model, task, corruption, sweep, pairs, metric).
    word_end_ms : float, optional
        Mean end of the clean word after its onset, marked on time axes.
    """
    geo = _geometry(cmap)
    n_rows = len(geo["rows"])
    vmax = _limit(cmap.values)
    std = cmap.std if cmap.std is not None else np.zeros_like(cmap.values)
    width = 9.0 if geo["time"] else min(15.0, 3.5 + 1.3 * len(geo["cols"]))
    if geo["time"]:
        fig = new_figure(width, 2.0 + 0.55 * n_rows * 2)
        axes = fig.subplots(2, 1, sharex=True)
    else:
        fig = new_figure(width, 2.0 + 0.5 * n_rows)
        axes = fig.subplots(1, 2, sharey=True)
    panels = ((axes[0], cmap.values, vmax, "mean effect", EFFECT_LABEL),
              (axes[1], std, None, f"spread: std across {cmap.n_pairs} pairs", "std of effect"))  # fmt: skip
    for ax, values, limit, name, label in panels:
        image = _draw(ax, values, geo, vmax=limit, word_end_ms=word_end_ms, annotate=True)
        ax.set_title(name, fontsize=9, loc="left")
        fig.colorbar(image, ax=ax, label=label, shrink=0.95)
    axes[-1].set_xlabel(geo["xlabel"])
    if not geo["time"]:
        axes[0].set_xlabel(geo["xlabel"])
    else:
        top = axes[0].get_xaxis_transform()
        axes[0].text(0.0, 1.02, "word onset", transform=top, fontsize=8, va="bottom", ha="center")
        if word_end_ms is not None:
            axes[0].text(word_end_ms, 1.02, "word end (mean)", transform=top, fontsize=8, va="bottom", ha="left")
    _suptitle(fig, title, width)
    return fig


def pairs_figure(cmap, labels: Sequence[str], title: str, word_ends_ms: Sequence | None = None, columns: int = 4):
    """Every pair's map behind the mean, on one shared symmetric scale.

    Parameters
    ----------
    labels : sequence of str
        One panel title per pair (e.g. ``"yes->no, en-us"``).
    word_ends_ms : sequence of float, optional
        Each pair's word end after its onset (time maps).
    """
    geo = _geometry(cmap)
    per_pair = np.asarray(cmap.per_pair)
    n = per_pair.shape[0]
    columns = max(1, min(columns, n))
    grid_rows = int(np.ceil(n / columns))
    panel_w = 3.2 if geo["time"] else max(2.6, 0.42 * len(geo["cols"]))
    width = min(16.0, 1.5 + panel_w * columns)
    fig = new_figure(width, 1.2 + grid_rows * (0.9 + 0.3 * len(geo["rows"])))
    axes = np.atleast_1d(fig.subplots(grid_rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    vmax = _limit(per_pair)
    image = None
    for k, ax in enumerate(axes):
        if k >= n:
            ax.set_visible(False)
            continue
        end = word_ends_ms[k] if word_ends_ms is not None else None
        image = _draw(ax, per_pair[k], geo, vmax=vmax, word_end_ms=end)
        ax.set_title(labels[k], fontsize=8)
        if k % columns:
            ax.set_ylabel("")
        if k + columns >= n:  # nothing below this panel: label its axis
            ax.set_xlabel(geo["xlabel"], fontsize=8)
            ax.tick_params(labelbottom=True)
    fig.colorbar(image, ax=list(axes[:n]), label=EFFECT_LABEL, shrink=0.9)
    _suptitle(fig, title, width)
    return fig


def overview_figure(panels: Sequence[tuple], title: str, columns: int):
    """Mean maps side by side: ``panels`` = [(cmap, panel title, word_end_ms or None), ...].

    Each panel has its own symmetric scale (its colour bar says how far it goes).
    """
    columns = max(1, min(columns, len(panels)))
    grid_rows = int(np.ceil(len(panels) / columns))
    width = 5.2 * columns
    fig = new_figure(width, 0.8 + 2.5 * grid_rows)
    axes = np.atleast_1d(fig.subplots(grid_rows, columns, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        cmap, name, end = panels[k]
        geo = _geometry(cmap)
        vmax = _limit(cmap.values)
        image = _draw(ax, cmap.values, geo, vmax=vmax, word_end_ms=end)
        ax.set_title(name, fontsize=8, loc="left")
        ax.set_xlabel(geo["xlabel"], fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.9)
    _suptitle(fig, title, width)
    return fig
