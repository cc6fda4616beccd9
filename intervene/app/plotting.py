"""Pictures of causal-effect maps.

Frame maps are drawn as layer x time heatmaps aligned under the clean clip's log-mel
spectrogram (same time axis), word spans marked, the corrupted span shaded, a diverging
colour scale centred on 0, and a title naming model, task, corruption, direction and metric.
Token and head maps are plain labelled heatmaps with the same colour scale.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_map"]


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
    ans = f" {answers[0]}->{answers[1]}" if answers and answers[0] != answers[1] else ""
    line1 = f"{meta.model or '?'} | {meta.task or '?'}{ans} | corruption: {corr_txt}"
    method = (meta.method or "?") + (f" ({meta.estimator})" if meta.estimator else "")
    method += f", context {meta.context_frames}" if meta.context_frames else ""
    line2 = (
        f"{meta.direction or '?'} | metric: {meta.metric or '?'} "
        f"(clean {m.clean_metric:.2f}, corrupt {m.corrupt_metric:.2f}) | {method} | pairs: {m.n_pairs}"
    )
    return line1 + "\n" + line2


def _norm(values: np.ndarray, vmax: float | None):
    from matplotlib.colors import TwoSlopeNorm

    finite = np.abs(values[np.isfinite(values)])
    v = vmax if vmax is not None else max(float(finite.max()) if finite.size else 1.0, 1e-6)
    return TwoSlopeNorm(vcenter=0.0, vmin=-v, vmax=v)


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


def plot_map(m, path=None, vmax: float | None = None, cmap: str = "RdBu_r", show_std: bool = False):
    """Draw ``m``; save to ``path`` (PNG/SVG/PDF, atomically) if given; return the figure.

    Parameters
    ----------
    m : CausalMap
    vmax : float, optional
        Colour scale limit (symmetric around 0); default: the largest |effect|.
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
        if time_axis:
            times = np.asarray(m.times_s, dtype=float)
            extent = (times[0], times[-1] + window_s, len(rows) - 0.5, -0.5)
            image = ax.imshow(vals, aspect="auto", cmap="viridis" if is_std else cmap, norm=None if is_std else norm,
                              extent=extent, interpolation="nearest")
            for s, e in changed:
                ax.axvspan(s, e, color="k", alpha=0.07, lw=0)
            for w, s, e in words:
                ax.axvline(s, color="k", lw=0.6, ls="--")
                ax.axvline(e, color="k", lw=0.6, ls=":")
        else:
            image = ax.imshow(vals, aspect="auto", cmap="viridis" if is_std else cmap, norm=None if is_std else norm,
                              interpolation="nearest")
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
        axes[-1].set_xlabel("time (s)")
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
