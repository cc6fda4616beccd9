"""``perf.py --data``: the timed pairs from a dataset instead of synthesized word swaps.

- ``speech_commands:PATH``: speaker-matched pairs (the same speaker saying two core words; the
  second recording spliced over the first's word, :func:`benchmarks.common.data.speaker_pairs`),
  the natural counterpart of perf's synthesized word swaps, read by :class:`tasks.KeywordTask`;
- sentence datasets (``librispeech:``, ``manifest:``, ``hf:``, ``folder:`` with transcripts):
  noise at -5 dB SNR on one aligned content word of each clip
  (:func:`benchmarks.common.data.word_pairs`), read by :class:`tasks.TranscriptTask`.

``n`` pairs in all, speech_commands specs first, then sentences in spec order.
"""

from __future__ import annotations

import logging

import tasks
from benchmarks.common.data import (
    data_clips,
    lazy_aligner,
    open_data,
    speaker_pairs,
    word_pairs,
)
from tasks.errors import DatasetError

__all__ = ["data_pairs", "SENTENCE_CORRUPTION"]

logger = logging.getLogger("perf")

SENTENCE_CORRUPTION = {"kind": "noise", "snr_db": -5.0, "span": "word"}
"""What corrupts the word inside a sentence clip (a word swap there has no natural partner)."""


def data_pairs(specs, n: int, model_name: str, device=None, seed: int = 0) -> list[tuple]:
    """``[(task, MinimalPair), ...]``: up to ``n`` pairs from ``specs`` (see the module notes).

    Raises
    ------
    DatasetError
        The data gives no pair.
    """
    out = []
    for spec in (s for s in specs if s.startswith("speech_commands:")):
        if len(out) >= n:
            break
        words = [w for w in tasks.SPEECH_COMMANDS_CORE if w in open_data(spec).reader.words_available()]
        out += [(tasks.KeywordTask(), p) for p in speaker_pairs(spec, words, n - len(out), seed)]
    sentences = [s for s in specs if not s.startswith("speech_commands:")]
    if sentences and len(out) < n:
        clips = data_clips(sentences, None, lazy_aligner(model_name, device), need_text=True)
        for clip, pair, reason in word_pairs(clips, SENTENCE_CORRUPTION, n - len(out), seed):
            if pair is None:
                logger.info("%s: no pair (%s)", clip.id, reason)
                continue
            out.append((tasks.TranscriptTask(), pair))
    if not out:
        raise DatasetError(f"--data {list(specs)} gives no pair to time")
    return out[:n]
