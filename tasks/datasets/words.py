"""Word spans a dataset gives itself: lists in a manifest or a column, TextGrids beside the audio."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.errors import DatasetError
from tasks.textgrid import read_textgrid
from tasks.utterance import WordSpan

__all__ = ["parse_words", "textgrid_beside"]


def _span(item, where: str) -> WordSpan:
    if isinstance(item, dict):
        word = item.get("word", item.get("text"))
        start = item.get("start_s", item.get("start"))
        end = item.get("end_s", item.get("end"))
        item = (word, start, end)
    if not isinstance(item, (list, tuple)) or len(item) != 3:
        raise DatasetError(f"{where}: word span {item!r:.60} must be [word, start_s, end_s] or "
                           '{"word": ..., "start_s": ..., "end_s": ...}')  # fmt: skip
    word, start, end = item
    try:
        start_s, end_s = float(start), float(end)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: word span {item!r:.60} has non-numeric times") from exc
    if not isinstance(word, str) or not word.strip() or not 0.0 <= start_s <= end_s:
        raise DatasetError(f"{where}: word span {item!r:.60} must have a word and 0 <= start_s <= end_s")
    return WordSpan(word.strip(), start_s, end_s)


def parse_words(value, where: str, base: Path | None = None):
    """A callable giving the word spans ``value`` describes, or None when it is empty.

    ``value``: a list of spans, a JSON string of one, or the path of a TextGrid file
    (relative to ``base``). Lists are checked at once (errors name ``where``); a TextGrid is
    read when the spans are first used.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise DatasetError(f"{where}: words ({text[:60]!r}) is not valid JSON: {exc}") from exc
        else:
            path = Path(text).expanduser()
            path = path if path.is_absolute() or base is None else base / path
            if path.suffix.lower() != ".textgrid":
                raise DatasetError(f"{where}: words ({text[:60]!r}) must be a JSON list of spans or a .TextGrid path")
            if not path.is_file():
                raise DatasetError(f"{where}: TextGrid file '{path}' does not exist")
            return lambda: read_textgrid(path)
    if not isinstance(value, (list, tuple)):
        raise DatasetError(f"{where}: words ({value!r:.60}) must be a list of [word, start_s, end_s]")
    spans = tuple(_span(item, where) for item in value)
    return lambda: spans


def textgrid_beside(audio_path: Path):
    """A callable reading ``<stem>.TextGrid`` next to the audio file, or None when there is none."""
    for suffix in (".TextGrid", ".textgrid"):
        path = audio_path.with_suffix(suffix)
        if path.is_file():
            return lambda: read_textgrid(path)
    return None
