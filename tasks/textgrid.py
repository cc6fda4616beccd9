"""Word tiers in Praat TextGrid files (read and written with praatio).

The Montreal Forced Aligner writes one TextGrid per clip with a ``words`` and a ``phones``
interval tier; :func:`read_textgrid` turns a word tier into word spans, so its timings can be
used instead of a model's (dataset readers pick up ``<clip>.TextGrid`` next to the audio).
:func:`write_textgrid` writes any word spans (an alignment, a synthesiser's spans) as a
TextGrid for Praat or MFA tooling. Silence intervals (empty, ``sil``, ``sp``, ``spn``,
``<eps>``) are not words.
"""

from __future__ import annotations

import math
from pathlib import Path

from tasks.atomic import atomic_path
from tasks.errors import ConfigError, DatasetError, unknown_name
from tasks.utterance import WordSpan

__all__ = ["read_textgrid", "write_textgrid", "SILENCE_LABELS", "WORD_TIERS"]

SILENCE_LABELS = frozenset({"", "sil", "sp", "spn", "<eps>", "<sil>", "silence", "<unk>"})
"""Interval labels that mark silence or noise, not words (compared case-insensitively)."""
WORD_TIERS = ("words", "word", "Word", "Words")
"""Tier names tried, in order, when no tier is named (MFA writes ``words``)."""


def _open(path: Path):
    from praatio import textgrid
    from praatio.utilities.errors import PraatioException

    if not path.is_file():
        raise DatasetError(f"TextGrid file '{path}' does not exist")
    try:
        return textgrid.openTextgrid(str(path), includeEmptyIntervals=False, reportingMode="silence",
                                     duplicateNamesMode="rename")  # fmt: skip
    except (PraatioException, ValueError, IndexError, UnicodeDecodeError, OSError) as exc:
        raise DatasetError(f"cannot read TextGrid file '{path}': {type(exc).__name__}: {exc}") from exc


def read_textgrid(path, tier: str | None = None) -> tuple:
    """The word spans of one interval tier of a TextGrid file.

    Parameters
    ----------
    path : str or Path
    tier : str, optional
        The tier to read. Default: the first of :data:`WORD_TIERS` present, else the only
        interval tier.

    Returns
    -------
    tuple of WordSpan
        In time order, without silence intervals (:data:`SILENCE_LABELS`).

    Raises
    ------
    DatasetError
        The file is missing or not a TextGrid, or no tier can be chosen.
    UnknownNameError
        ``tier`` is not in the file (the message lists its tiers).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.TextGrid")
    >>> _ = write_textgrid(p, [("hello", 0.1, 0.4), ("world", 0.45, 0.9)], duration_s=1.0)
    >>> read_textgrid(p)
    (WordSpan(word='hello', start_s=0.1, end_s=0.4), WordSpan(word='world', start_s=0.45, end_s=0.9))
    """
    from praatio.data_classes.interval_tier import IntervalTier

    path = Path(path)
    grid = _open(path)
    names = list(grid.tierNames)
    intervals = [n for n in names if isinstance(grid.getTier(n), IntervalTier)]
    if tier is None:
        tier = next((n for n in WORD_TIERS if n in intervals), None)
        if tier is None and len(intervals) == 1:
            tier = intervals[0]
        if tier is None:
            raise DatasetError(
                f"TextGrid file '{path}' has no 'words' tier and {len(intervals)} interval tiers ({intervals}); "
                "name the tier to read (tier=...)"
            )
    elif tier not in names:
        raise unknown_name(f"tier of '{path}'", tier, names)
    elif tier not in intervals:
        raise DatasetError(f"tier {tier!r} of '{path}' is a point tier; word spans need an interval tier")
    spans = [
        WordSpan(str(label).strip(), float(start), float(end))
        for start, end, label in grid.getTier(tier).entries
        if str(label).strip().lower() not in SILENCE_LABELS
    ]
    return tuple(sorted(spans, key=lambda w: w.start_s))


def write_textgrid(path, words, duration_s: float | None = None, tier: str = "words") -> Path:
    """Write word spans as a one-tier TextGrid (long format), atomically.

    Parameters
    ----------
    path : str or Path
    words : sequence of (word, start_s, end_s)
        Non-overlapping spans (AlignedWords too).
    duration_s : float, optional
        The clip's length (the tier's end); default: the last span's end.
    tier : str
        The tier's name (``words``, as MFA writes).

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        Empty or overlapping spans, a span with end before start, or ``duration_s`` before
        the last span's end.
    """
    from praatio import textgrid

    entries = []
    for i, item in enumerate(words):
        if len(item) < 3:
            raise ConfigError(f"words[{i}] ({item!r}) must be (word, start_s, end_s)")
        label, start_s, end_s = str(item[0]), float(item[1]), float(item[2])
        if not (math.isfinite(start_s) and math.isfinite(end_s) and 0.0 <= start_s <= end_s):
            raise ConfigError(f"words[{i}] ({label!r}, {start_s}, {end_s}) must have 0 <= start_s <= end_s")
        if entries and start_s < entries[-1][1] - 1e-9:
            raise ConfigError(f"words[{i}] ({label!r}) starts at {start_s} before the previous word ends "
                              f"({entries[-1][1]}); TextGrid intervals cannot overlap")  # fmt: skip
        if end_s > start_s:  # an empty interval cannot be stored; the word is dropped from the tier
            entries.append((start_s, end_s, label))
    if not entries:
        raise ConfigError("words is empty (or every span has zero length); there is nothing to write")
    end = entries[-1][1] if duration_s is None else float(duration_s)
    if end < entries[-1][1] - 1e-9:
        raise ConfigError(f"duration_s ({duration_s}) is before the last word's end ({entries[-1][1]})")
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=end)
    grid.addTier(textgrid.IntervalTier(tier, entries, 0.0, end))
    path = Path(path)
    with atomic_path(path) as tmp:
        grid.save(str(tmp), format="long_textgrid", includeBlankSpaces=True, reportingMode="silence")
    return path
