"""Where a local corruption acts: the whole clip, a word, or given times.

Noise and gap share these placement parameters:

- ``span="all"``: the whole clip;
- ``span="word"``: the target word's span, widened by ``margin_s`` on each side;
- ``span="times"``: ``[start_s, start_s + duration_s)``, each a value or a ``(low, high)``
  range. Giving ``start_s``/``duration_s`` selects ``"times"``.
"""

from __future__ import annotations

import numpy as np

from corruptions.params import check_choice, check_number, draw_number
from corruptions.source import Source, target_span
from tasks.errors import ConfigError

__all__ = ["SPANS", "check_span_fields", "draw_span"]

SPANS = ("all", "word", "times")


def check_span_fields(obj, default_span: str) -> None:
    """Validate (and normalise in place) ``obj.span``, ``start_s``, ``duration_s``, ``margin_s``.

    Raises
    ------
    ConfigError
        An unknown span, times missing for ``"times"``, times given with another span, or
        negative values.
    """
    span = check_choice("span", obj.span, SPANS, allow_several=False)
    timed = obj.start_s is not None or obj.duration_s is not None
    if timed and span == default_span and default_span != "times":
        span = "times"
    if span == "times":
        if obj.start_s is None or obj.duration_s is None:
            raise ConfigError(
                f"span='times' needs both start_s ({obj.start_s!r}) and duration_s ({obj.duration_s!r}) in seconds"
            )
        object.__setattr__(obj, "start_s", check_number("start_s", obj.start_s, low=0.0, unit="s"))
        object.__setattr__(obj, "duration_s", check_number("duration_s", obj.duration_s, low=0.0, unit="s"))
    elif timed:
        raise ConfigError(
            f"start_s/duration_s ({obj.start_s!r}, {obj.duration_s!r}) are only used with span='times', "
            f"not span={span!r}"
        )
    object.__setattr__(obj, "span", span)
    object.__setattr__(obj, "margin_s", check_number("margin_s", obj.margin_s, low=0.0, unit="s"))


def draw_span(rng: np.random.Generator, src: Source, target: str | None, obj) -> dict:
    """Draw the span for ``src``: ``{"span", "start_s", "end_s"}`` (and ``"target"`` for words).

    Raises
    ------
    ConfigError
        A drawn ``start_s`` at or past the end of the clip.
    AudioError, UnknownNameError
        ``span="word"`` on a source without word spans or without the target word.
    """
    duration_s = src.duration_s
    if obj.span == "all":
        return {"span": "all", "start_s": 0.0, "end_s": duration_s}
    if obj.span == "word":
        word = target_span(src, target)
        margin_s = draw_number(rng, obj.margin_s)
        return {
            "span": "word",
            "target": word.word,
            "start_s": max(word.start_s - margin_s, 0.0),
            "end_s": min(word.end_s + margin_s, duration_s),
        }
    start_s = draw_number(rng, obj.start_s)
    length_s = draw_number(rng, obj.duration_s)
    if start_s >= duration_s:
        raise ConfigError(f"start_s ({start_s:g}) must be before the end of the {duration_s:.3f} s clip")
    return {"span": "times", "start_s": start_s, "end_s": min(start_s + length_s, duration_s)}
