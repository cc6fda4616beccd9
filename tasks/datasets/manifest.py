"""A manifest: one clip per row of a CSV file or a JSON-lines file.

Columns / keys: ``path`` (the audio file, relative to the manifest's folder), ``text`` (the
transcript), and optionally ``speaker``, ``id`` and ``words`` (word spans: a JSON list of
``[word, start_s, end_s]`` or of ``{"word", "start_s", "end_s"}``, or the path of a TextGrid).
A clip without ``words`` gets a TextGrid beside its audio, else the aligner's spans.

CSV::

    path,text,speaker,words
    clips/a.wav,turn the lights off,alice,"[[""turn"", 0.05, 0.31], ...]"

JSON lines::

    {"path": "clips/a.wav", "text": "turn the lights off", "speaker": "alice"}
"""

from __future__ import annotations

import csv
import json
from functools import partial
from pathlib import Path

from tasks.datasets.audio_files import check_extension, read_audio
from tasks.datasets.base import Dataset, Entry
from tasks.datasets.words import parse_words, textgrid_beside
from tasks.errors import DatasetError

__all__ = ["Manifest", "open_manifest", "MANIFEST_SUFFIXES"]

MANIFEST_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


class Manifest(Dataset):
    """Clips listed in a CSV or JSON-lines manifest (see the module notes)."""

    kind = "manifest"


def _rows(path: Path):
    kind = MANIFEST_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DatasetError(f"manifest '{path}' must end in .csv, .tsv or .jsonl (JSON lines); got '{path.suffix}'")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read manifest '{path}': {exc}") from exc
    if kind in ("csv", "tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="," if kind == "csv" else "\t")
        missing = [c for c in ("path", "text") if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"manifest '{path}' lacks the column(s) {missing}; its header is {reader.fieldnames}. "
                               "Columns: path, text, and optionally speaker, id, words")  # fmt: skip
        for n, row in enumerate(reader, 2):
            yield n, row
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"manifest '{path}' line {n} is not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"manifest '{path}' line {n} must be a JSON object with 'path' and 'text'")
        yield n, row


def open_manifest(path, aligner=None, spec: str | None = None) -> Manifest:
    """Open a CSV or JSON-lines manifest.

    Raises
    ------
    DatasetError
        The manifest is missing, unreadable, lacks ``path``/``text``, a row has no path, or a
        row's ``words`` are malformed (messages name the file and line).
    AudioError
        A row names an audio file of an unsupported format (the supported ones are listed).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"manifest '{path}' does not exist")
    base = path.parent
    entries, seen = [], set()
    for n, row in _rows(path):
        where = f"manifest '{path}' line {n}"
        rel = str(row.get("path") or "").strip()
        if not rel:
            raise DatasetError(f"{where} has no audio path")
        if "text" not in row or row["text"] is None:
            raise DatasetError(f"{where} has no 'text' (give an empty string when there is no transcript)")
        audio = Path(rel).expanduser()
        audio = check_extension(audio if audio.is_absolute() else base / audio)
        clip_id = str(row.get("id") or rel)
        if clip_id in seen:
            raise DatasetError(f"{where}: clip id {clip_id!r} appears twice; ids must be unique")
        seen.add(clip_id)
        words = parse_words(row.get("words"), where, base) or textgrid_beside(audio)
        speaker = row.get("speaker")
        entries.append(Entry(id=clip_id, text=str(row["text"]).strip() or None,
                             speaker=None if speaker in (None, "") else str(speaker), path=audio,
                             load=partial(read_audio, audio), words=words, split=row.get("split") or None))  # fmt: skip
    if not entries:
        raise DatasetError(f"manifest '{path}' lists no clips")
    return Manifest(spec or f"manifest:{path}", path, entries, aligner)
