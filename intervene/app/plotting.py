"""Pictures of causal-effect maps.

Frame maps are drawn as layer x time heatmaps aligned under the clean clip's log-mel
spectrogram (same time axis), word spans marked, the corrupted span shaded, a diverging
colour scale centred on 0, and a title naming model, task, the sites patched, corruption,
direction and metric. Token and head maps are plain labelled heatmaps with the same colour
scale.

Cells that were not computed (outside the map's span, or NaN where a sweep's pair lacks a
column) are drawn grey and hatched, never in the colour of 0. :func:`shared_scale` gives one
colour limit for several maps, so the maps of a report can be compared by colour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

__all__ = ["plot_map", "shared_scale", "sites_text", "NOT_COMPUTED"]

NOT_COMPUTED = {"facecolor": "0.86", "edgecolor": "0.62", "hatch": "///", "linewidth": 0.0}
"""How cells that were not computed are drawn (grey, hatched): distinct from every effect colour."""


def shared_scale(maps: Iterable) -> float:
    """One colour limit for several maps: the largest |effect| over all of them (1.0 if none is finite).

    Pass it as ``vmax`` to :func:`plot_map` (or ``CausalMap.plot``) for each map so that equal
    colours mean equal effects across the maps of a report.

    Examples
    --------
    >>> import numpy as np
    >>> from intervene.maps import CausalMap
    >>> a = CausalMap(np.array([[0.5, np.nan]]), ("layer", "frame"), {"layer": [0], "frame": [0, 1]},
    ...               np.zeros((1, 2)), 1.0, 0.0)
    >>> b = CausalMap(np.array([[-1.5, 0.2]]), ("layer", "frame"), {"layer": [0], "frame": [0, 1]},
    ...               np.zeros((1, 2)), 1.0, 0.0)
    >>> shared_scale([a, b])
    1.5
    """
    top = 0.0
    for m in maps:
        values = np.asarray(m.values, dtype=float)
        finite = np.abs(values[np.isfinite(values)])
        if finite.size:
            top = max(top, float(finite.max()))
    return top if top > 0 else 1.0


def sites_text(sites) -> str:
    """The sites of a map in a few words: ``encoder.block_output, layers 0-3`` or ``encoder.3.block_output``."""
    sites = [str(s) for s in sites or []]
    if not sites:
        return "?"
    if len(sites) == 1:
        return sites[0]
    groups: dict[str, list] = {}
    other = []
    for key in sites:
        match = re.fullmatch(r"(\w+)\.(\d+)\.(.+)", key)
        if match:
            groups.setdefault(f"{match.group(1)}.{match.group(3)}", []).append(int(match.group(2)))
        else:
            other.append(key)
    parts = []
    for name, layers in groups.items():
        layers = sorted(layers)
        contiguous = layers == list(range(layers[0], layers[-1] + 1))
        which = f"{layers[0]}-{layers[-1]}" if contiguous and len(layers) > 2 else ",".join(map(str, layers))
        parts.append(f"{name}, layer{'s' if len(layers) > 1 else ''} {which}")
    return "; ".join(parts + other)


def _title(m) -> str:
    meta = m.meta
    corr = meta.corruption or {}
    if isinstance(corr, list):
        kinds = sorted({c.get("kind", "?") for c in corr if isinstance(c, dict)})
        corr_txt = "+".join(kinds) if kinds else "?"
    else:
        corr_txt = corr.get("kind", "?")
        extra = {k: v for k, v in corr.items() if k != "kind" and v is not None and not isinstance(v, (list, dict))}
        if extra:
            corr_txt += " (" + ", ".join(f"{k}={v}" for k, v in list(extra.items())[:3]) + ")"
    answers = meta.answers
    swapped = bool(answers) and len(answers) == 2 and answers[0] != answers[1]
    ans = f" {answers[0]}->{answers[1]}" if swapped else ""
    if swapped and isinstance(corr, dict):  # a word swap: the words say more than its settings
        corr_txt = f"{corr.get('kind', '?')} '{answers[0]}' -> '{answers[1]}'"
    line1 = f"{meta.model or '?'} | {meta.task or '?'}{ans} | site: {sites_text(meta.sites)}"
    method = (meta.method or "?") + (f" ({meta.estimator})" if meta.estimator else "")
    method += f", context {meta.context_frames}" if meta.context_frames else ""
    line2 = (
        f"{meta.direction or '?'} | metric: {meta.metric or '?'} "
        f"(clean {m.clean_metric:.2f}, corrupt {m.corrupt_metric:.2f}) | {method} | pairs: {m.n_pairs}"
    )
    return f"{line1}\ncorruption: {corr_txt}\n{line2}"


def _norm(values: np.ndarray, vmax: float | None):
    from matplotlib.colors import TwoSlopeNorm

    finite = np.abs(values[np.isfinite(values)])
    v = vmax if vmax is not None else max(float(finite.max()) if finite.size else 1.0, 1e-6)
    return TwoSlopeNorm(vcenter=0.0, vmin=-v, vmax=v)


def _colormap(name: str):
    """``name`` with NaN cells transparent, so the hatched not-computed background shows through."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def _not_computed_background(ax) -> None:
    """Grey hatching over the whole panel, under the heatmap: what the heatmap does not cover shows it."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, zorder=0, label="not computed", **NOT_COMPUTED))


def _panels(m) -> list[tuple[str, np.ndarray, list]]:
    """Split a map into 2-D (rows x columns) panels: one per component / layer as needed."""
    dims, vals = list(m.dims), m.values
    if len(dims) == 1:
        return [("", vals[None, :], ["all"])]
    if len(dims) == 2:
        return [("", vals, list(m.coords[dims[0]]))]
    # 3-D: first axis becomes panels
    first = dims[0]
    return [(f"{first} {c}", vals[i], list(m.coords[dims[1]])) for i, c in enumerate(m.coords[first])]


def _duration_s(m) -> float | None:
    """The clip's length in seconds, from the map's metadata or its spectrogram (10 ms hops)."""
    if m.meta.duration_s:
        return float(m.meta.duration_s)
    if m.spectrogram_clean is not None:
        return np.asarray(m.spectrogram_clean).shape[1] * 0.01
    return None


def plot_map(m, path=None, vmax: float | None = None, cmap: str = "RdBu_r", show_std: bool = False):
    """Draw ``m``; save to ``path`` (PNG/SVG/PDF, atomically) if given; return the figure.

    Parameters
    ----------
    m : CausalMap
    vmax : float, optional
        Colour scale limit (symmetric around 0); default: the largest |effect|. Give the same
        value to several maps (:func:`shared_scale`) to compare them by colour.
    show_std : bool
        Sweeps: add panels with the spread across pairs.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    time_axis = m.dims[-1] == "frame" and m.times_s is not None
    panels = _panels(m)
    if show_std and m.std is not None:
        std_panels = [(f"{t} spread (std over {m.n_pairs} pairs)".strip(), v, r) for t, v, r in _panels(
            type(m)(values=m.std, dims=m.dims, coords=m.coords, patched=m.patched, clean_metric=m.clean_metric,
                    corrupt_metric=m.corrupt_metric))]
    else:
        std_panels = []
    has_spec = time_axis and m.spectrogram_clean is not None
    heights = ([1.3] if has_spec else []) + [max(0.9, 0.28 * p[1].shape[0] + 0.5) for p in panels + std_panels]
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(9, 1.2 + 1.15 * sum(heights)), sharex=time_axis,
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )
    axes = axes[:, 0]
    norm = _norm(m.values, vmax)
    window_s = m.meta.window_s
    words = m.meta.words or []
    changed = m.meta.changed_spans or []
    k = 0
    if has_spec:
        ax = axes[0]
        spec = np.asarray(m.spectrogram_clean)
        dur = spec.shape[1] * 0.01
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, dur, 0, spec.shape[0]))
        ax.set_ylabel("mel")
        ax.set_title(_title(m), fontsize=9, loc="left")
        for w, s, e in words:
            ax.axvline(s, color="w", lw=0.6, ls="--")
            ax.text(s, spec.shape[0] * 0.92, str(w), color="w", fontsize=8, va="top")
        k = 1
    image = None
    for title, vals, rows in panels + std_panels:
        ax = axes[k]
        k += 1
        is_std = "spread" in title
        _not_computed_background(ax)
        colours = _colormap("viridis" if is_std else cmap)
        if time_axis:
            times = np.asarray(m.times_s, dtype=float)
            extent = (times[0], times[-1] + window_s, len(rows) - 0.5, -0.5)
            image = ax.imshow(vals, aspect="auto", cmap=colours, norm=None if is_std else norm,
                              extent=extent, interpolation="nearest", zorder=1)
            for s, e in changed:
                ax.axvspan(s, e, color="k", alpha=0.07, lw=0)
            for w, s, e in words:
                ax.axvline(s, color="k", lw=0.6, ls="--")
                ax.axvline(e, color="k", lw=0.6, ls=":")
        else:
            image = ax.imshow(vals, aspect="auto", cmap=colours, norm=None if is_std else norm,
                              interpolation="nearest", zorder=1)
            cols = m.coords[m.dims[-1]] if len(m.dims) > 1 else ["all"]
            ax.set_xticks(range(len(cols)))
            ax.set_xticklabels([str(c) for c in cols], rotation=60 if len(cols) > 8 else 0, fontsize=8)
            ax.set_xlabel(m.dims[-1] if len(m.dims) > 1 else "")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([str(r) for r in rows], fontsize=8)
        ax.set_ylabel(m.dims[-2] if len(m.dims) >= 2 else "")
        if title:
            ax.set_title(title, fontsize=8, loc="left")
        if not has_spec and k == 1:
            ax.set_title(_title(m) + (("\n" + title) if title else ""), fontsize=9, loc="left")
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.03, label="std" if is_std else "normalised effect")
    if time_axis:
        axes[-1].set_xlabel("time (s)  [hatched: not computed]")
        duration_s = _duration_s(m)
        if duration_s is not None and m.meta.time_origin in (None, "start"):
            # The whole clip, so that the part outside the computed span shows as not computed.
            times = np.asarray(m.times_s, dtype=float)
            axes[-1].set_xlim(min(0.0, float(times[0])), max(duration_s, float(times[-1]) + window_s))
        if has_spec:
            # An invisible colour bar keeps the spectrogram as wide as the heatmaps below it.
            fig.colorbar(image, ax=axes[0], pad=0.01, fraction=0.03).ax.set_visible(False)
    fig.tight_layout()
    if path is not None:
        from tasks.atomic import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png")
        plt.close(fig)
    return fig
