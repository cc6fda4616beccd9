"""The words of the ``speechlens`` help: what each choice means, examples, the corruption list.

Everything here is plain text and imports nothing heavy, so ``speechlens --help`` and
``speechlens <command> --help`` stay fast (no torch, transformers or pyvene).

The names a value must be one of still come from the registries: the CLI checks ``--method``
against :func:`intervene.methods.names` and ``--estimator`` against
:data:`intervene.methods.ESTIMATORS` after parsing (importing them costs seconds, so it is done
only when a command runs). The notes below explain the built-in names; a test keeps them in
step with the registries.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap

__all__ = [
    "METHOD_NOTES",
    "ESTIMATOR_NOTES",
    "DIRECTION_NOTES",
    "UNIT_NOTES",
    "MAP_SPAN_NOTES",
    "choices_help",
    "parameter_docs",
    "corruption_listing",
    "MAIN_EPILOG",
    "PATCH_EPILOG",
    "PAIR_EPILOG",
    "DEMO_EPILOG",
]

METHOD_NOTES = {
    "exact": "activation patching computed exactly, re-running only what each patch changes (the default)",
    "pyvene": "the same patching through pyvene.IntervenableModel, one call per cell (slower; a cross-check)",
    "attribution": "a gradient estimate of the exact map in a few passes (fast, approximate, not guarded; "
    "see --estimator)",
}
"""The methods ``speechlens patch --method`` can run (each patches activations between the two clips)."""

ESTIMATOR_NOTES = {
    "lookahead": "exact through the next attention layer, gradient x difference after it (default)",
    "atp": "plain attribution patching: gradient x activation difference",
    "ig": "integrated gradients over --ig-steps steps",
}
"""The estimators of ``--method attribution``."""

DIRECTION_NOTES = {
    "denoise": "run the corrupt clip and patch in the clean clip's activations: which cells bring the clean "
    "answer back (default)",
    "noise": "run the clean clip and patch in the corrupt clip's activations: which cells break the answer",
}

UNIT_NOTES = {
    "frame": "one column per encoder time window of --window-ms (default for encoder sites)",
    "token": "one column per decoder token position (default for decoder sites)",
    "all": "a single column: every position of the span patched at once",
}

MAP_SPAN_NOTES = {
    "changed": "the frames where the two clips differ, plus --margin-ms on each side (default)",
    "clip": "the whole clip",
    "word": "the target word, plus --margin-ms on each side",
    "all": "every encoder position, silence padding included (--unit all only)",
    "START,END": "given times in seconds, e.g. 0.2,0.6",
}
"""Values of ``--map-span``: which stretch of the clip the map's time columns cover."""


def choices_help(notes: dict, lead: str = "") -> str:
    """``lead`` then ``name: note; name: note`` for an argparse help string (``%`` escaped)."""
    text = "; ".join(f"{name}: {note}" for name, note in notes.items())
    return (lead + " " if lead else "") + text.replace("%", "%%")


# ----------------------------------------------------------------------------- corruptions
_PARAM_LINE = re.compile(r"^(?P<names>[A-Za-z_][\w, ]*?)\s*:\s*(?P<type>.*)$")


def parameter_docs(cls) -> dict[str, tuple[str, str]]:
    """``{name: (type, description)}`` from the numpydoc Parameters section of ``cls``'s docstring.

    ``start_s, duration_s : float`` documents both names.
    """
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][A-Za-z ]+\n-+\n|\Z)", doc, flags=re.S | re.M)
    if not match:
        return {}
    out: dict[str, tuple[str, str]] = {}
    current: list[str] = []
    for line in match.group(1).splitlines():
        head = _PARAM_LINE.match(line) if line and not line[0].isspace() else None
        if head:
            current = [n.strip() for n in head.group("names").split(",") if n.strip()]
            for name in current:
                out[name] = (head.group("type").strip(), "")
        elif line.strip() and current:
            for name in current:
                kind, text = out[name]
                out[name] = (kind, (text + " " + line.strip()).strip())
    return out


_SPAN_NOTE = "where the corruption acts in the clip (not the map's --map-span)"


def _default_text(field) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return repr(field.default_factory())
    return "(required)"


def corruption_listing(kinds: dict, kind: str | None = None, width: int = 100) -> str:
    """The text of ``speechlens corruptions``: every kind, its parameters, defaults and ranges.

    Parameters
    ----------
    kinds : dict
        Kind name -> Corruption class (the registry).
    kind : str, optional
        Only this kind, with its whole docstring.
    """
    lines = []
    names = [kind] if kind else sorted(kinds)
    for name in names:
        cls = kinds[name]
        doc = inspect.getdoc(cls) or ""
        summary = doc.split("\n\n", 1)[0].replace("\n", " ")
        lines.append(f"{name}: {summary}")
        docs = parameter_docs(cls)
        for field in dataclasses.fields(cls):
            kind_text, text = docs.get(field.name, ("", ""))
            if field.name == "span":
                text = f"{_SPAN_NOTE}. {text}".strip()
            head = f"  --param {field.name}=  default {_default_text(field)}"
            lines.append(head + (f"  [{kind_text}]" if kind_text else ""))
            if text:
                lines.extend(textwrap.wrap(text, width=width, initial_indent=" " * 6, subsequent_indent=" " * 6))
        if kind:
            lines += ["", doc]
        lines.append("")
    lines.append(
        "Values are JSON where they parse as JSON (numbers, true/false, [low, high] ranges drawn per pair), "
        "else text: --param snr_db=-5 --param color=pink --param span=word. "
        "`speechlens corruptions KIND` prints one kind with its whole description."
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- examples
MAIN_EPILOG = """\
examples:
  speechlens demo --quick                       maps for a few corruption designs + an HTML page
  speechlens corruptions                        the corruption kinds, their parameters and defaults
  speechlens pair --word yes --swap no --out pairs/yes-no
  speechlens patch --pair pairs/yes-no          patch a saved pair (make it first, as above)
  speechlens patch --word cat --swap dog --text "the {word} sat on the mat"
  speechlens <command> --help                   every option of a command, with its default

Runs need no network: whisper-tiny.en comes with the package. Output folders are created;
a folder another run is writing to is refused.
"""

PATCH_EPILOG = """\
what a map shows:
  Each cell copies one site's activations (a layer) over one column (a time window or a
  token) from one clip's run into the other's and reports the normalised effect
  (m(patched) - m(base)) / (m(source) - m(base)): 1 = the patch moves the metric all the
  way to the source run's value, 0 = not at all (denoise: base = corrupt, source = clean).
  The metric m is the logit difference between the two answers for a word swap, else the
  log-odds of the word among the candidate words. Hatched cells were not computed.

examples:
  speechlens patch --word yes --swap no                       a synthesized yes/no pair
  speechlens patch --word yes --corruption noise --param snr_db=-5 --param span=word
  speechlens patch --word cat --swap dog --text "the {word} sat on the mat" --window-ms 40
  speechlens pair --word yes --swap no --out pairs/yes && speechlens patch --pair pairs/yes
  speechlens patch --pair pairs/yes --pair pairs/stop --map-span clip --window-ms 100   (sweep)
  speechlens patch --word yes --swap no --method attribution --estimator atp

writes into --out: map.npz + map.json (the data), map.png (the picture), summary.json, pair/.
"""

PAIR_EPILOG = """\
examples:
  speechlens pair --word yes --swap no --out pairs/yes-no
  speechlens pair --word stop --corruption gap --param fill=noise --out pairs/stop-gap
  speechlens pair --word cat --swap dog --text "the {word} sat on the mat" --out pairs/cat-dog

writes clean.wav, corrupt.wav and pair.json (how the pair was made) into --out; give the
folder to `speechlens patch --pair`. `speechlens corruptions` lists the kinds and parameters.
"""

DEMO_EPILOG = """\
The demo synthesizes keywords, corrupts them four ways (word swap, noise, gap, pitch shift),
patches every encoder layer x time window and writes index.html with the maps, spectrograms,
audio players and the map data. Pairs whose corruption barely moves the metric, or moves it
the wrong way, are flagged on the page and in the log. --quick: one word, two designs.
"""
