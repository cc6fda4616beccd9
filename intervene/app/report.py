"""Self-contained HTML reports and text tables: the one implementation SpeechLens uses.

``speechlens demo`` builds its page with :class:`Report`; the scripts in ``benchmarks/`` build
theirs on top of the same class and :class:`Table` (they import this module, never the
reverse). Pictures and sounds are files in the report folder, referenced by relative paths,
so the folder can be zipped and opened anywhere. Every file is written atomically.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from tasks.atomic import write_text
from tasks.errors import ConfigError

__all__ = ["Report", "Table", "format_table", "CSS"]

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 72em;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ccc; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5em 1em .5em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption, .player span { font-size: .85em; color: #555; }
.card { border: 1px solid #e3e3e3; border-radius: 6px; padding: .6em 1em; margin: 1em 0; }
.audio { display: flex; flex-wrap: wrap; align-items: center; gap: .4em 2em; margin: .4em 0; }
.player { display: flex; align-items: center; gap: .6em; flex: 0 1 34em; }
p.text { white-space: pre-wrap; } .note { color: #555; font-size: .92em; }
code { background: #f5f5f5; padding: 0 .25em; }
"""
"""The inline style sheet of every report (no external files, no network)."""


@dataclass(frozen=True)
class Table:
    """A table rendered both as HTML and as fixed-width text.

    Parameters
    ----------
    columns : sequence of str
    rows : sequence of sequences
        One value per column: str, int, float (``digits`` decimals), or None/NaN (shown as '-').
    title : str
    digits : int
        Decimals of float cells.
    shade : bool
        HTML only: colour positive numeric cells by value (confusion matrices, heatmaps).

    Raises
    ------
    ConfigError
        A row whose length is not the number of columns.

    Examples
    --------
    >>> print(Table(["model", "accuracy"], [["tiny", 0.8412]]).to_text())
    model  accuracy
    -----  --------
    tiny      0.841
    """

    columns: tuple
    rows: tuple
    title: str = ""
    digits: int = 3
    shade: bool = False

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(str(c) for c in self.columns))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ConfigError(f"row {i} of table {self.title!r} has {len(row)} cells; it needs {len(self.columns)}")

    @staticmethod
    def _is_number(value) -> bool:
        return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))

    def cell(self, value) -> str:
        """The text of one cell."""
        if value is None or (self._is_number(value) and not math.isfinite(float(value))):
            return "-"
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.{self.digits}f}"
        return str(value)

    def to_text(self) -> str:
        """Fixed-width text: numeric columns right-aligned, other columns left-aligned."""
        cells = [[self.cell(v) for v in row] for row in self.rows]
        widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(self.columns)]
        numeric = [bool(self.rows) and all(self._is_number(r[j]) or r[j] is None for r in self.rows)
                   for j in range(len(self.columns))]  # fmt: skip

        def line(values):
            return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

        lines = [self.title] if self.title else []
        lines += [line(self.columns), line(["-" * w for w in widths])]
        lines += [line(r) for r in cells]
        return "\n".join(lines)

    def to_html(self) -> str:
        """An HTML ``<table>`` (escaped; classes from :data:`CSS`)."""
        numbers = [float(v) for r in self.rows for v in r if self._is_number(v) and math.isfinite(float(v))]
        top = max(numbers, default=0.0)
        out = ["<table>"]
        if self.title:
            out.append(f"<caption>{html.escape(self.title)}</caption>")
        out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in self.columns) + "</tr>")
        for row in self.rows:
            tds = []
            for value in row:
                text = html.escape(self.cell(value))
                if self._is_number(value):
                    style = ""
                    if self.shade and top > 0 and math.isfinite(float(value)) and float(value) > 0:
                        style = f' style="background: rgba(31, 119, 180, {float(value) / top * 0.6:.3f})"'
                    tds.append(f'<td class="num"{style}>{text}</td>')
                else:
                    tds.append(f"<td>{text}</td>")
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</table>")
        return "\n".join(out)


def format_table(headers: Sequence, rows: Sequence, digits: int = 3) -> str:
    """A fixed-width text table for the terminal (see :meth:`Table.to_text`).

    Examples
    --------
    >>> print(format_table(["pair", "effect"], [["yes-no", 0.25]]))
    pair    effect
    ------  ------
    yes-no   0.250
    """
    return Table(headers, rows, digits=digits).to_text()


def _url(rel_path) -> str:
    """A relative file path as an escaped URL (spaces and the like percent-encoded)."""
    return html.escape(quote(Path(rel_path).as_posix()))


@dataclass
class Report:
    """An HTML page built piece by piece, then written to ``folder/index.html``.

    Every text is escaped; paths are relative to the report folder.

    Examples
    --------
    >>> r = Report("Demo")
    >>> r.heading("Maps"); r.text("What the maps show."); r.table(["a", "b"], [[1, 2.5]])
    >>> "<table>" in r.html() and "<title>Demo</title>" in r.html()
    True
    """

    title: str
    parts: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        """A heading; ``anchor`` gives it an id that :meth:`contents` can link to."""
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        self.parts.append(f"<h{level}{ident}>{html.escape(text)}</h{level}>")

    def contents(self, entries: Sequence[tuple[str, str]]) -> None:
        """A list of links to headings: ``entries`` = [(anchor, text), ...]."""
        links = "".join(f'<li><a href="#{html.escape(a)}">{html.escape(t)}</a></li>' for a, t in entries)
        self.parts.append(f"<ul>{links}</ul>")

    def text(self, text: str, note: bool = False) -> None:
        """A paragraph (its line breaks kept); ``note`` sets it in small grey type."""
        cls = "text note" if note else "text"
        self.parts.append(f'<p class="{cls}">{html.escape(text)}</p>')

    def raw(self, markup: str) -> None:
        """Markup added as is (not escaped)."""
        self.parts.append(markup)

    def code(self, text: str) -> None:
        self.parts.append(f"<pre><code>{html.escape(text)}</code></pre>")

    def table(self, headers, rows: Sequence | None = None, **kwargs) -> None:
        """A table: a :class:`Table`, or ``headers`` and ``rows`` (``kwargs`` go to :class:`Table`)."""
        table = headers if isinstance(headers, Table) else Table(headers, rows if rows is not None else [], **kwargs)
        self.parts.append(table.to_html())

    def image(self, rel_path, alt: str = "", caption: str | None = None) -> None:
        """A picture; with a ``caption`` it is set as a figure with the caption below."""
        img = f'<img src="{_url(rel_path)}" alt="{html.escape(alt or caption or "")}" loading="lazy">'
        if caption is None:
            self.parts.append(img)
        else:
            self.parts.append(f"<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>")

    def links(self, items: Sequence[tuple[str, str]], lead: str = "") -> None:
        """A line of links to files in the report folder: ``items`` = [(label, relative path), ...]."""
        anchors = ", ".join(
            f'<a href="{_url(p)}">{html.escape(label)}</a> <code>{html.escape(Path(p).as_posix())}</code>'
            for label, p in items
        )
        self.parts.append(f'<p class="links note">{html.escape(lead)}{" " if lead else ""}{anchors}</p>')

    def audio(self, items: Sequence[tuple[str, str]]) -> None:
        """Audio players in a row (wrapping): ``items`` = [(label, relative wav path), ...]."""
        players = "".join(
            f'<span class="player"><audio controls preload="none" src="{_url(p)}"></audio>'
            f"<span>{html.escape(label)}</span></span>"
            for label, p in items
        )
        self.parts.append(f'<div class="audio">{players}</div>')

    def card(self, build: Callable[["Report"], None]) -> None:
        """Group what ``build(sub_report)`` adds into a bordered card."""
        sub = Report(self.title)
        build(sub)
        self.parts.append('<div class="card">' + "\n".join(sub.parts) + "</div>")

    def html(self) -> str:
        """The whole page: one self-contained HTML document."""
        body = "\n".join(self.parts)
        title = html.escape(self.title)
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{CSS}</style></head>\n"
            f"<body><h1>{title}</h1>\n{body}\n</body></html>\n"
        )

    def write(self, folder) -> Path:
        """Write ``folder/index.html`` atomically; returns its path."""
        path = Path(folder) / "index.html"
        write_text(path, self.html())
        return path
