"""Scoring aligned word spans against reference spans: onset and offset errors per word.

The reference may merge words (espeak-ng speaks 'in the' as one word and gives it one span);
such spans and the transcript words they cover are left out, and counted.
"""

from __future__ import annotations

import numpy as np

from tasks.transcript_text import split_words

__all__ = ["match_words", "word_errors", "summarize", "lag_estimate"]


def match_words(text: str, aligned, reference) -> tuple[list, int]:
    """Pairs ``(aligned span, reference span)`` of single words, and how many words were skipped.

    ``aligned`` has one span per transcript word (in order); ``reference`` spans may each cover
    several of them (their label has several words).
    """
    labels = [w.label for w in split_words(text)]
    if len(aligned) != len(labels):
        return [], len(labels)
    pairs, skipped, i = [], 0, 0
    for ref in reference:
        n = len(str(ref[0]).split())
        if i + n > len(labels):
            return [], len(labels)
        if n == 1 and labels[i].lower() == str(ref[0]).lower():
            pairs.append((aligned[i], ref))
        else:
            skipped += n
        i += n
    return pairs, skipped + (len(labels) - i)


def word_errors(pairs) -> dict:
    """Per-word signed errors in ms (aligned minus reference) of onsets and offsets."""
    onset = [1000.0 * (a[1] - r[1]) for a, r in pairs]
    offset = [1000.0 * (a[2] - r[2]) for a, r in pairs]
    return {"onset_ms": onset, "offset_ms": offset}


def summarize(onset_ms, offset_ms) -> dict:
    """Median and 90th percentile of |error|, median signed error (bias) and mean |error|, in ms."""
    out = {"words": len(onset_ms)}
    for name, values in (("onset", onset_ms), ("offset", offset_ms)):
        v = np.asarray(values, dtype=float)
        if v.size == 0:
            out.update({f"{name}_median_ms": None, f"{name}_p90_ms": None, f"{name}_bias_ms": None,
                        f"{name}_mean_ms": None})  # fmt: skip
            continue
        out.update({
            f"{name}_median_ms": float(np.median(np.abs(v))),
            f"{name}_p90_ms": float(np.percentile(np.abs(v), 90)),
            f"{name}_bias_ms": float(np.median(v)),
            f"{name}_mean_ms": float(np.mean(np.abs(v))),
            f"{name}_within_50ms": float(np.mean(np.abs(v) <= 50.0)),
        })  # fmt: skip
    return out


def lag_estimate(onset_ms, offset_ms) -> float:
    """The lag (seconds, rounded to 10 ms) that centres raw boundaries: median signed error of
    onsets and offsets pooled."""
    pooled = np.concatenate([np.asarray(onset_ms, float), np.asarray(offset_ms, float)])
    return float(np.round(np.median(pooled) / 10.0) * 10.0 / 1000.0) if pooled.size else 0.0
