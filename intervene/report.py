"""Self-contained HTML reports: headings, text, tables, pictures and audio players.

Used by ``speechlens demo`` and by the scripts in ``benchmarks/``. Pictures and sounds are
files in the report folder, referenced by relative paths, so the folder can be zipped and
opened anywhere. Every file is written atomically.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from tasks.atomic import write_text

__all__ = ["Report", "format_table"]

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: .4em 0; }
.card { border: 1px solid #e3e3e3; border-radius: 6px; padding: .6em 1em; margin: 1em 0; }
.audio { display: flex; gap: 2em; flex-wrap: wrap; align-items: center; }
.note { color: #555; font-size: .92em; } code { background: #f5f5f5; padding: 0 .25em; }
"""


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.3f}"
    return str(v)


def format_table(headers: list, rows: list) -> str:
    """A fixed-width text table for the terminal."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    return "\n".join(out)


@dataclass
class Report:
    """An HTML page built piece by piece, then written to ``folder/index.html``.

    Examples
    --------
    >>> r = Report("Demo")
    >>> r.heading("Maps"); r.text("What the maps show."); r.table(["a", "b"], [[1, 2.5]])
    >>> "<table>" in r.html()
    True
    """

    title: str
    parts: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def code(self, text: str) -> None:
        self.parts.append(f"<pre><code>{html.escape(text)}</code></pre>")

    def table(self, headers: list, rows: list) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r) + "</tr>" for r in rows)
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def image(self, rel_path: str, alt: str = "") -> None:
        self.parts.append(f'<img src="{html.escape(rel_path)}" alt="{html.escape(alt)}" loading="lazy">')

    def audio(self, items: list) -> None:
        """Audio players side by side: ``items`` = [(label, relative wav path), ...]."""
        players = "".join(
            f'<div>{html.escape(label)}<br><audio controls preload="none" src="{html.escape(p)}"></audio></div>'
            for label, p in items
        )
        self.parts.append(f'<div class="audio">{players}</div>')

    def card(self, build) -> None:
        """Group what ``build(sub_report)`` adds into a bordered card."""
        sub = Report(self.title)
        build(sub)
        self.parts.append('<div class="card">' + "\n".join(sub.parts) + "</div>")

    def html(self) -> str:
        body = "\n".join(self.parts)
        return (
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )

    def write(self, folder) -> Path:
        path = Path(folder) / "index.html"
        write_text(path, self.html())
        return path
