"""Verifying saved artifacts whole: checksums over the sidecar JSON, and typed field checks.

A saved artifact (a causal map's ``.npz`` + ``.json``, a minimal pair's WAVs + ``pair.json``)
must load exactly as written or not at all. Two tools serve every loader:

* :func:`content_digest` is the SHA-256 of a JSON document in a canonical form (keys sorted,
  no whitespace), without its own ``"checksum"`` field. A writer stores it under
  ``"checksum"``; a reader recomputes it, so an edit to any field of the JSON (coordinates,
  metrics, spans) is detected. The document also holds the SHA-256 of the binary files it
  describes, so the one checksum covers the whole artifact.
* :class:`FieldReader` reads fields of a loaded JSON document with a type, range and shape
  rule each, and raises the loader's error class naming the file, the field, the value and
  the rule (never a ``KeyError`` or ``TypeError`` from deep inside).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from tasks.checks import is_real

__all__ = ["CHECKSUM_FIELD", "content_digest", "seal", "read_json_object", "read_npz_arrays", "FieldReader", "file_sha256"]

CHECKSUM_FIELD = "checksum"


def _canonical(doc: dict) -> bytes:
    body = {k: v for k, v in doc.items() if k != CHECKSUM_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True).encode()


def content_digest(doc: dict) -> str:
    """SHA-256 (hex) of ``doc`` in canonical JSON form, leaving out its ``"checksum"`` field.

    ``doc`` must hold plain JSON types; a document read back from its file gives the same
    digest as the one written (floats round-trip exactly through Python's JSON).
    """
    return hashlib.sha256(_canonical(doc)).hexdigest()


def seal(doc: dict) -> dict:
    """``doc`` (as read back from JSON) with its checksum: ``{"checksum": {"sha256": ...}}``."""
    doc = json.loads(json.dumps(doc, allow_nan=True))
    doc[CHECKSUM_FIELD] = {"sha256": content_digest(doc), "covers": "this file without this field (canonical JSON: "
                           "sorted keys, no whitespace); the file checksums it lists cover the data files"}
    return doc


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json_object(path, error, what: str) -> dict:
    """The JSON object in ``path``, or ``error`` naming the file (unreadable, not JSON, not an object)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} '{path}': {exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise error(f"'{path}' is not valid JSON ({exc}); the {what} file is damaged or truncated") from exc
    if not isinstance(doc, dict):
        raise error(f"'{path}' holds a JSON {type(doc).__name__}; a {what} file holds a JSON object")
    return doc


def read_npz_arrays(npz, names: list, error) -> dict:
    """The arrays ``names`` of the numpy file ``npz`` (exactly those), or ``error`` naming the file."""
    import zipfile
    import zlib

    import numpy as np

    try:
        with np.load(npz, allow_pickle=False) as data:
            files = set(data.files)
            if files != set(names):
                raise error(f"'{npz}' holds arrays {sorted(files)} but its JSON lists {sorted(names)}")
            return {k: np.asarray(data[k]) for k in names}
    except error:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as exc:
        raise error(f"'{npz}' is not a readable numpy .npz file ({type(exc).__name__}: {exc})") from exc


class FieldReader:
    """Typed reads of a loaded JSON document; failures raise ``error`` naming file and field.

    Examples
    --------
    >>> from tasks.errors import PairError
    >>> r = FieldReader("pair.json", PairError)
    >>> r.integer({"n": 3}, "n", low=1)
    3
    >>> r.integer({"n": "3"}, "n", low=1)
    Traceback (most recent call last):
    ...
    tasks.errors.PairError: 'pair.json' field 'n' ('3') must be an integer >= 1
    """

    def __init__(self, path, error):
        self.path = Path(path)
        self.error = error

    def fail(self, field: str, value, rule: str):
        raise self.error(f"'{self.path}' field {field!r} ({_short(value)}) {rule}")

    def get(self, doc: dict, key: str, field: str | None = None, *, required: bool = True):
        if not isinstance(doc, dict):
            self.fail(field or key, doc, "must be a JSON object")
        if key not in doc:
            if required:
                raise self.error(f"'{self.path}' lacks the field {field or key!r}; the file is incomplete or was edited")
            return None
        return doc[key]

    def number(self, value, field: str, *, low=None, high=None, allow_none=False, allow_inf=False):
        """A finite real (JSON number, not a bool) within ``[low, high]``."""
        if value is None and allow_none:
            return None
        ok = is_real(value) and not math.isnan(value) and (allow_inf or math.isfinite(value))
        ok = ok and (low is None or value >= low) and (high is None or value <= high)
        if not ok:
            self.fail(field, value, "must be a " + ("number" if allow_inf else "finite number") + _range(low, high))
        return float(value)

    def integer(self, value, field: str, *, low=None, high=None, allow_none=False):
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) or (
                high is not None and value > high):
            self.fail(field, value, "must be an integer" + _range(low, high))
        return value

    def string(self, value, field: str, *, allow_none=False, choices=None):
        if value is None and allow_none:
            return None
        if not isinstance(value, str) or (choices is not None and value not in choices):
            self.fail(field, value, "must be a string" + (f", one of {', '.join(map(repr, choices))}" if choices else ""))
        return value

    def mapping(self, value, field: str, *, allow_none=False):
        if value is None and allow_none:
            return None
        if not isinstance(value, dict):
            self.fail(field, value, "must be a JSON object")
        return value

    def sequence(self, value, field: str, *, allow_none=False, length=None):
        if value is None and allow_none:
            return None
        if not isinstance(value, list) or (length is not None and len(value) != length):
            self.fail(field, value, "must be a list" + (f" of {length} items" if length is not None else ""))
        return value

    def span(self, value, field: str, *, duration_s: float | None = None):
        """A ``[start_s, end_s]`` with finite ``0 <= start <= end (<= duration_s)``."""
        start, end = self.sequence(value, field, length=2)
        start = self.number(start, f"{field}[0]", low=0)
        end = self.number(end, f"{field}[1]", low=start)
        if duration_s is not None and end > duration_s + 1e-3:
            self.fail(field, value, f"must lie inside the clip (0 to {duration_s:g} s)")
        return start, end

    def word_spans(self, value, field: str, *, duration_s: float | None = None, allow_none=False):
        """A list of ``[word, start_s, end_s]`` inside the clip."""
        if value is None and allow_none:
            return None
        out = []
        for i, item in enumerate(self.sequence(value, field)):
            self.sequence(item, f"{field}[{i}]", length=3)
            word = self.string(item[0], f"{field}[{i}][0]")
            out.append((word, *self.span(item[1:], f"{field}[{i}]", duration_s=duration_s)))
        return out


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f" between {low:g} and {high:g}"
    if low is not None:
        return f" >= {low:g}"
    if high is not None:
        return f" <= {high:g}"
    return ""


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
