"""The speech the alignment benchmark aligns: synthesised sentences with known word spans, or
dataset clips (``--data``) with word spans of their own (a manifest's words, MFA TextGrids).

Evaluation and calibration use disjoint sentences, voices and rates, so the lag correction
measured by ``--calibrate`` is never fitted to the numbers it is judged by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import tasks

__all__ = ["Clip", "EVAL_SENTENCES", "CALIBRATION_SENTENCES", "synthetic_clips", "dataset_clips"]

EVAL_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call Stella and ask her to bring these things with her.",
    "Seven purple elephants sang loudly under a tin roof at midnight.",
    "My neighbour fixed the broken window before the storm arrived.",
    "Every morning she walks to the bakery and buys fresh bread.",
    "Turn the lights off when you leave the kitchen tonight.",
    "Our teacher explained how rivers carve deep valleys over time.",
    "A small green boat drifted slowly toward the distant island.",
)
"""Sentences scored by the benchmark (about nine words each)."""

CALIBRATION_SENTENCES = (
    "Several farmers gathered apples while the children played outside.",
    "Nobody noticed the silver key hidden beneath the old carpet.",
    "Bright yellow kites danced above the crowded summer beach.",
    "The doctor asked him to breathe slowly and count to ten.",
)
"""Sentences for ``--calibrate`` only (never scored)."""


@dataclass
class Clip:
    """One clip to align: audio, transcript, reference spans (maybe none) and where it came from."""

    key: str
    audio: np.ndarray
    text: str
    reference: tuple
    group: dict


def synthetic_clips(sentences, voices, rates, per_combo: int, lead_s: float) -> list[Clip]:
    """``per_combo`` sentences (rotating through ``sentences``) for each voice x rate, each placed
    after ``lead_s`` of silence and followed by as much (so the first and last words have room)."""
    out = []
    n = 0
    for voice in voices:
        for rate in rates:
            for _ in range(per_combo):
                text = sentences[n % len(sentences)]
                n += 1
                utt = tasks.speak(text, voice=voice, rate=rate)
                pad = np.zeros(int(round(lead_s * utt.sample_rate)), dtype=np.float32)
                audio = np.concatenate([pad, utt.audio, pad])
                ref = tuple(tasks.WordSpan(w.word, w.start_s + lead_s, w.end_s + lead_s) for w in utt.words)
                out.append(Clip(f"{voice}/{rate}/{sentences.index(text)}", audio, text, ref,
                                {"voice": voice, "rate": rate, "source": "synthetic"}))  # fmt: skip
    return out


def dataset_clips(spec: str, max_clips: int) -> list[Clip]:
    """Up to ``max_clips`` clips of a dataset spec, with the dataset's own spans as reference (if any)."""
    data = tasks.open_dataset(spec)
    out = []
    for clip in data[:max_clips]:
        ref = tuple(tasks.WordSpan(*w) for w in clip.words)
        out.append(Clip(f"{spec}/{clip.id}", clip.audio, clip.text or "", ref,
                        {"voice": clip.speaker or "-", "rate": "-", "source": spec}))  # fmt: skip
    return out
