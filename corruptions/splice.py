"""Splicing a word into a sentence in place: the word's slot changes, nothing else does.

A word swap inside a sentence must be a minimal pair: only the word differs. The new word is
cut from a synthesis of the same sentence with the word replaced (same voice, rate and pitch,
so its coarticulation with the neighbours fits), time-stretched to the old word's *slot*,
matched in loudness, and written over the slot with short crossfades inside it. Every sample
outside the slot is copied bit for bit, so later words do not move.

A word's slot is its span widened towards the neighbouring words, by at most
:data:`MAX_MARGIN_S` on each side: the stop closure before "cat" or the voicing before "dog"
falls in the gap between spans, and two slots cut this way line up where the two sentences'
words meet.

Examples
--------
>>> import numpy as np
>>> from tasks.utterance import WordSpan
>>> words = [WordSpan("the", 0.05, 0.147), WordSpan("cat", 0.197, 0.458), WordSpan("sat", 0.458, 0.742)]
>>> word_slot(words, 1, 1.36)
(0.157, 0.458)
>>> audio = np.ones(100, np.float32)
>>> out = splice_in_place(audio, 40, 60, np.zeros(20, np.float32), 4)
>>> bool((out[:40] == 1).all() and (out[60:] == 1).all() and (out[44:56] == 0).all())
True
"""

from __future__ import annotations

import math

import numpy as np

from corruptions import functional as F
from tasks.errors import ConfigError

__all__ = ["MAX_MARGIN_S", "MAX_GAIN_DB", "word_slot", "splice_in_place", "loudness_gain_db"]

MAX_MARGIN_S = 0.04
"""How far a slot may reach beyond its word's span on each side, in seconds."""

MAX_GAIN_DB = 12.0
"""The loudness match never scales the new word by more than this (either way), in dB."""


def word_slot(words, index: int, duration_s: float, max_margin_s: float = MAX_MARGIN_S) -> tuple[float, float]:
    """The slot of ``words[index]``: its span widened towards its neighbours by at most ``max_margin_s``.

    Parameters
    ----------
    words : sequence of WordSpan (or (word, start_s, end_s))
        The sentence's word spans, in order.
    index : int
    duration_s : float
        The clip's length (the last word's slot ends there at the latest).

    Returns
    -------
    (start_s, end_s)
    """
    if not 0 <= index < len(words):
        raise ConfigError(f"index ({index}) must point at one of the {len(words)} words")
    _, start_s, end_s = words[index]
    before = words[index - 1][2] if index > 0 else 0.0
    after = words[index + 1][1] if index + 1 < len(words) else duration_s
    lo = max(min(start_s, max(before, start_s - max_margin_s)), 0.0)
    hi = min(max(end_s, min(after, end_s + max_margin_s)), duration_s)
    return round(lo, 6), round(hi, 6)


def loudness_gain_db(reference: np.ndarray, segment: np.ndarray) -> float:
    """The gain (dB) that gives ``segment`` the RMS of ``reference``, within +-:data:`MAX_GAIN_DB`."""
    ref, seg = F.rms(reference), F.rms(segment)
    if ref <= 0.0 or seg <= 0.0:
        return 0.0
    gain_db = 20.0 * math.log10(ref / seg)
    return float(min(max(gain_db, -MAX_GAIN_DB), MAX_GAIN_DB))


def splice_in_place(audio: np.ndarray, a: int, b: int, segment: np.ndarray, crossfade_samples: int) -> np.ndarray:
    """``audio`` with ``[a, b)`` replaced by ``segment`` (``b - a`` samples), crossfaded inside the slot.

    The blend runs over the first and the last ``crossfade_samples`` of the slot (raised
    cosine; shortened to half the slot if the slot is short), so ``audio[:a]`` and
    ``audio[b:]`` are copied bit for bit.

    Returns
    -------
    np.ndarray, float32 (samples,)

    Raises
    ------
    ConfigError
        A segment whose length is not ``b - a``, or a slot outside the audio.
    """
    n = audio.shape[0]
    segment = np.asarray(segment, dtype=np.float32)
    if not 0 <= a <= b <= n:
        raise ConfigError(f"slot [{a}, {b}) must lie within the {n} samples of the audio")
    if segment.shape != (b - a,):
        raise ConfigError(f"segment has shape {segment.shape}; the slot [{a}, {b}) needs ({b - a},)")
    out = np.array(audio, dtype=np.float32, copy=True)
    if b == a:
        return out
    fade = min(int(crossfade_samples), (b - a) // 2)
    weight = np.ones(b - a, dtype=np.float64)  # weight of the new segment
    if fade > 0:
        rise = 0.5 * (1.0 - np.cos(np.pi * (np.arange(fade) + 0.5) / fade))  # raised cosine, 0 -> 1
        weight[:fade] = rise
        weight[b - a - fade :] = rise[::-1]
    old = audio[a:b].astype(np.float64)
    out[a:b] = (old * (1.0 - weight) + segment.astype(np.float64) * weight).astype(np.float32)
    return out
