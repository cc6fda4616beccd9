"""Word spans found by an aligner, with a confidence per word.

:class:`AlignedWord` is a :class:`~tasks.utterance.WordSpan` (a 3-tuple ``(word, start_s,
end_s)``: everything that takes word spans takes it) that also carries ``confidence`` (the
mean probability the model gave the word's tokens, 0 to 1) and ``low_confidence`` (below
:data:`LOW_CONFIDENCE`). A transcript that does not match the audio gives low confidences:
the words are still returned, flagged, never dropped.

:func:`trim_to_speech` pulls aligned edges in to the audible part of each span (an aligner
working on 20 ms frames gives leading silence to the first word and pauses to the word
before them).
"""

from __future__ import annotations

import math

import numpy as np

from tasks._energy import active_range, frame_rms, FRAME_S
from tasks.errors import ConfigError
from tasks.utterance import WordSpan

__all__ = ["AlignedWord", "LOW_CONFIDENCE", "LOW_CLIP_CONFIDENCE", "SPEECH_TOP_DB", "trim_to_speech",
           "low_confidence_words"]

LOW_CONFIDENCE = 0.05
"""Words whose confidence is below this are flagged ``low_confidence``.

On whisper-tiny.en and espeak speech (736 words, 8 voices, 2 rates), words of the matching
transcript score a median of 0.83 and 7.6% of them fall below 0.05."""
LOW_CLIP_CONFIDENCE = 0.1
"""An alignment whose mean word confidence is below this is flagged as a whole (and every word
in it): the transcript probably does not match the audio. On the 32 clips of
benchmarks/alignment.py, matching transcripts score 0.30 to 0.93 on whisper-tiny.en (median
0.73) and 0.18 to 0.9 on whisper-base (median 0.62); an unrelated transcript scores below 0.01."""
SPEECH_TOP_DB = 40.0
""":func:`trim_to_speech` keeps frames within this many dB of the clip's loudest frame."""


class AlignedWord(WordSpan):
    """A word span with the aligner's confidence.

    Unpacks as ``word, start_s, end_s`` like any WordSpan; ``confidence`` (0-1, NaN when the
    aligner gives none) and ``low_confidence`` are attributes.
    """

    def __new__(cls, word: str, start_s: float, end_s: float, confidence: float = math.nan,
                low_confidence: bool | None = None):  # fmt: skip
        self = super().__new__(cls, str(word), float(start_s), float(end_s))
        self.confidence = float(confidence)
        if low_confidence is None:
            low_confidence = bool(self.confidence < LOW_CONFIDENCE) if math.isfinite(self.confidence) else False
        self.low_confidence = bool(low_confidence)
        return self

    def __getnewargs__(self):  # pickling keeps the attributes
        return (self.word, self.start_s, self.end_s, self.confidence, self.low_confidence)

    def with_span(self, start_s: float, end_s: float) -> "AlignedWord":
        return AlignedWord(self.word, start_s, end_s, self.confidence, self.low_confidence)

    def _replace(self, **changes) -> "AlignedWord":
        fields = dict(zip(("word", "start_s", "end_s"), self)) | changes
        return AlignedWord(**fields, confidence=self.confidence, low_confidence=self.low_confidence)

    def to_dict(self) -> dict:
        return {"word": self.word, "start_s": self.start_s, "end_s": self.end_s,
                "confidence": self.confidence, "low_confidence": self.low_confidence}  # fmt: skip

    def __repr__(self) -> str:
        flag = ", LOW" if getattr(self, "low_confidence", False) else ""
        confidence = getattr(self, "confidence", math.nan)
        return (f"AlignedWord({self.word!r}, start_s={self.start_s:.3f}, end_s={self.end_s:.3f}, "
                f"confidence={confidence:.3f}{flag})")  # fmt: skip


def low_confidence_words(words) -> list:
    """The flagged words of an alignment."""
    return [w for w in words if getattr(w, "low_confidence", False)]


def trim_to_speech(words, audio: np.ndarray, sample_rate: int, top_db: float = SPEECH_TOP_DB) -> list:
    """Each span pulled in to its first and last audible 5 ms frame.

    A frame is audible when its RMS is within ``top_db`` dB of the loudest frame of the whole
    clip. Spans are only shortened, never moved past each other; a span with no audible
    frame is kept as it is.

    Parameters
    ----------
    words : sequence of WordSpan or AlignedWord
    audio : np.ndarray, float32 (samples,)
    sample_rate : int
    top_db : float

    Returns
    -------
    list, of the same types as ``words``
    """
    if top_db <= 0:
        raise ConfigError(f"top_db ({top_db!r}) must be > 0 dB")
    audio = np.asarray(audio, dtype=np.float32)
    frame = max(1, int(round(FRAME_S * sample_rate)))
    reference = float(frame_rms(audio, frame).max()) if audio.size else 0.0
    out = []
    for w in words:
        a = min(max(int(round(w[1] * sample_rate)), 0), audio.shape[0])
        b = min(max(int(round(w[2] * sample_rate)), a), audio.shape[0])
        found = None if b <= a or reference <= 0 else active_range(audio[a:b], sample_rate, top_db, reference)
        if found is None:
            out.append(w)
            continue
        start_s, end_s = (a + found[0]) / sample_rate, (a + found[1]) / sample_rate
        out.append(w.with_span(start_s, end_s) if hasattr(w, "with_span") else WordSpan(w[0], start_s, end_s))
    return out
