"""Reports of the benchmark scripts: sections, the atomic index.html + results.json, figures.

The HTML, its style sheet and the tables are :mod:`intervene.app.report`'s (one implementation
for ``speechlens demo`` and the benchmarks); this module adds what a benchmark needs on top:
sections with files checked to exist inside the report folder, ``results.json`` written last
(its presence means the report is complete; :mod:`benchmarks.common.rundir` retires it when a
run with other settings starts), and matplotlib figures saved atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intervene.app.report import Report, Table
from tasks.atomic import atomic_path, write_json, write_text
from tasks.errors import ConfigError
from tasks.jsonio import to_jsonable

__all__ = [
    "Table",
    "Section",
    "write_report",
    "new_figure",
    "save_figure",
    "heatmap",
]


@dataclass(frozen=True)
class Section:
    """One section of a report.

    Parameters
    ----------
    title : str
    text : str
        Paragraphs (blank-line separated), escaped.
    tables : sequence of Table
    images : sequence of path or (path, caption)
        PNG files inside the report folder (absolute, or relative to it).
    audio : sequence of path or (path, label)
        WAV files inside the report folder.
    """

    title: str
    text: str = ""
    tables: tuple = ()
    images: tuple = ()
    audio: tuple = ()

    def __post_init__(self):
        for name in ("tables", "images", "audio"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


def _media(out: Path, item) -> tuple[str, str]:
    """(path relative to ``out``, label) of a file inside ``out``; raise if it is missing or outside."""
    path, label = item if isinstance(item, tuple) else (item, None)
    path = Path(path)
    full = (path if path.is_absolute() else out / path).resolve()
    try:
        rel = full.relative_to(out.resolve())
    except ValueError:
        raise ConfigError(f"report file '{path}' is outside the report folder '{out}'; copy it there") from None
    if not full.is_file():
        raise ConfigError(f"report file '{path}' does not exist in '{out}'; write it before the report")
    return rel.as_posix(), str(label if label is not None else rel.name)


def write_report(out, title: str, sections: Sequence[Section], results: Mapping) -> dict:
    """Write ``out/index.html`` (self-contained) and then ``out/results.json``, both atomically.

    ``results.json`` is written last, so its presence means the report is complete.

    Parameters
    ----------
    out : str or Path
        The report folder; images and audio of the sections must already be in it.
    title : str
    sections : sequence of Section
    results : mapping
        Every number of the run (numpy values are converted; NaN becomes null).

    Returns
    -------
    dict
        ``{"html": Path, "results": Path}``.

    Raises
    ------
    ConfigError
        A section names a file that is missing or outside ``out``; a result is not JSON-able.
    """
    out = Path(out)
    results = to_jsonable(results)  # fail before writing anything
    page = Report(title)
    if len(sections) > 1:
        page.contents([(f"s{i}", s.title) for i, s in enumerate(sections)])
    for i, section in enumerate(sections):
        page.heading(section.title, anchor=f"s{i}")
        for paragraph in filter(None, (p.strip() for p in section.text.split("\n\n"))):
            page.text(paragraph)
        for table in section.tables:
            page.table(table)
        for item in section.images:
            rel, label = _media(out, item)
            page.image(rel, caption=label)
        if section.audio:
            page.audio([(label, rel) for rel, label in (_media(out, item) for item in section.audio)])
    paths = {"html": write_text(out / "index.html", page.html())}
    paths["results"] = write_json(out / "results.json", results)
    return paths


# --------------------------------------------------------------------------- figures
def new_figure(width_in: float = 6.0, height_in: float = 4.5):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Save ``fig`` as a PNG at ``path`` atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def _tick_positions(n: int, most: int = 30) -> list[int]:
    """Every index when there are at most ``most``, else about 12 evenly spaced ones."""
    return list(range(n)) if n <= most else sorted({int(round(i)) for i in np.linspace(0, n - 1, 12)})


def heatmap(matrix, row_labels: Sequence, col_labels: Sequence, *, title: str = "", xlabel: str = "",
            ylabel: str = "", annotations=None, colorbar_label: str = "", cmap: str = "viridis",
            vmin: float | None = None, vmax: float | None = None):  # fmt: skip
    """A heatmap figure of ``matrix`` (rows, columns), optionally with a text in each cell.

    Parameters
    ----------
    matrix : array (rows, columns)
        Colour values.
    annotations : array (rows, columns) of str, optional
        Cell texts (e.g. counts); skipped when None.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ConfigError
        The labels do not fit the matrix's shape.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(row_labels), len(col_labels)):
        raise ConfigError(f"matrix shape {matrix.shape} does not fit {len(row_labels)} x {len(col_labels)} labels")
    rows, cols = matrix.shape
    fig = new_figure(min(14.0, 2.5 + 0.55 * cols), min(12.0, 1.8 + 0.45 * rows))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    xs, ys = _tick_positions(cols), _tick_positions(rows)  # a 1500-frame axis gets ~12 labels, not 1500
    tilt = len(xs) > 6
    ax.set_xticks(xs, [str(col_labels[j]) for j in xs], rotation=45 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(ys, [str(row_labels[i]) for i in ys])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.colorbar(image, ax=ax, label=colorbar_label)
    if annotations is not None:
        lo, hi = image.get_clim()
        for (i, j), text in np.ndenumerate(np.asarray(annotations, dtype=object)):
            bright = hi > lo and (matrix[i, j] - lo) / (hi - lo) > 0.6
            ax.text(j, i, str(text), ha="center", va="center", fontsize=8, color="black" if bright else "white")
    return fig
