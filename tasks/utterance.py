"""The unit of speech data: audio plus what is said where.

:class:`Utterance` is what :func:`tasks.speak` returns and what corruptions take as their
``source``; dataset examples (:class:`tasks.SpeechCommandsExample`) carry the same fields
(``audio``, ``sample_rate``, ``words``) so one corruption serves both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from tasks.audio import SAMPLE_RATE, check_sample_rate
from tasks.checks import check_real
from tasks.errors import AudioError, ConfigError, UnknownNameError

__all__ = ["WordSpan", "Utterance", "find_word", "check_word_spans", "MAX_PADDED_S"]

MAX_PADDED_S = 3600.0
"""Longest clip :meth:`Utterance.padded` makes, in seconds (a typo such as 1e9 would exhaust memory)."""
_SPAN_SLACK_S = 1e-3  # spans computed from sample indices may pass the clip's end by rounding


def check_word_spans(words, duration_s: float | None = None, name: str = "words") -> tuple:
    """``words`` as WordSpans: each ``(word: str, start_s, end_s)`` with finite
    ``0 <= start_s <= end_s`` (``<= duration_s`` when given). ConfigError otherwise."""
    if isinstance(words, (str, bytes)) or not hasattr(words, "__iter__"):
        raise ConfigError(f"{name} ({words!r:.80}) must be a list of (word, start_s, end_s)")
    spans = []
    for i, item in enumerate(words):
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) != 3:
            raise ConfigError(f"{name}[{i}] ({item!r:.80}) must be a (word, start_s, end_s) triple")
        word, start, end = item
        if not isinstance(word, str):
            raise ConfigError(f"{name}[{i}] word ({word!r}) must be a string")
        start = check_real(f"{name}[{i}] start_s", start, low=0, unit="s")
        end = check_real(f"{name}[{i}] end_s", end, low=start, unit="s")
        if duration_s is not None and end > duration_s + _SPAN_SLACK_S:
            raise ConfigError(f"{name}[{i}] ({word!r}, {start:g}, {end:g}) ends after the clip ({duration_s:g} s)")
        spans.append(WordSpan(word, start, end))
    return tuple(spans)


class WordSpan(NamedTuple):
    """A word and where it is in the audio, in seconds from the clip's start."""

    word: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def find_word(words, word: str | None = None) -> WordSpan:
    """The span of ``word`` in ``words`` (case-insensitive); the first word if ``word`` is None.

    Raises
    ------
    AudioError
        ``words`` is empty (the audio has no word spans).
    UnknownNameError
        ``word`` is not among the words.
    """
    words = list(words)
    if not words:
        raise AudioError("the audio has no word spans; give a source whose .words lists (word, start_s, end_s)")
    if word is None:
        return WordSpan(*words[0])
    for span in words:
        if span[0].lower() == word.lower():
            return WordSpan(*span)
    raise UnknownNameError(f"word {word!r} is not in the audio; its words are {[w[0] for w in words]}")


@dataclass(frozen=True, eq=False)
class Utterance:
    """Mono speech with its transcript and word timings.

    Attributes
    ----------
    audio : np.ndarray, float32 (samples,)
    sample_rate : int
        Always 16000 for utterances made by SpeechLens.
    text : str
        What is said.
    words : tuple of WordSpan
        ``(word, start_s, end_s)`` per word, in order.
    voice, rate, pitch :
        The synthesizer settings that made it (None for recorded speech).
    speaker : str or None
        A speaker id (for recorded speech; for synthesized speech, derived from the voice).
    """

    audio: np.ndarray
    sample_rate: int = SAMPLE_RATE
    text: str = ""
    words: tuple = field(default_factory=tuple)
    voice: str | None = None
    rate: int | None = None
    pitch: int | None = None
    speaker: str | None = None

    def __post_init__(self):
        audio = np.asarray(self.audio)
        if audio.ndim != 1:
            raise AudioError(f"Utterance.audio must be mono (samples,), got shape {audio.shape}")
        if audio.dtype != np.float32:
            audio = audio.astype(np.float32)
        object.__setattr__(self, "audio", audio)
        object.__setattr__(self, "sample_rate", check_sample_rate(self.sample_rate))
        duration_s = audio.shape[0] / self.sample_rate
        object.__setattr__(self, "words", check_word_spans(self.words, duration_s, "Utterance.words"))

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def word_span(self, word: str | None = None) -> WordSpan:
        """The span of ``word`` (the first word when None); see :func:`find_word`."""
        return find_word(self.words, word)

    def padded(self, duration_s: float = 1.0, onset_s: float | None = None) -> "Utterance":
        """This utterance placed in silence: ``duration_s`` long, first word starting at ``onset_s``.

        Speech Commands clips are 1 s; synthesized words are shorter. Padding gives a word
        room (a swapped-in longer word is not cut off) and frames far from it.
        Default onset: the speech centred in the clip.

        Raises
        ------
        ConfigError
            ``duration_s`` not a finite number in (0, MAX_PADDED_S], ``onset_s`` not a finite
            number >= 0, or the speech does not fit at that onset.
        """
        duration_s = check_real("duration_s", duration_s, low=0, low_open=True, high=MAX_PADDED_S, unit="s")
        onset_s = check_real("onset_s", onset_s, low=0, allow_none=True, unit="s")
        n = int(round(duration_s * self.sample_rate))
        first = self.words[0].start_s if self.words else 0.0
        last = self.words[-1].end_s if self.words else self.duration_s
        if onset_s is None:
            onset_s = max(0.0, (duration_s - (last - first)) / 2)
        shift = int(round((onset_s - first) * self.sample_rate))
        lo, hi = max(0, -shift), min(self.audio.shape[0], n - shift)
        speech_lo = int(first * self.sample_rate)
        speech_hi = int(np.ceil(last * self.sample_rate))
        if shift + speech_lo < 0 or shift + speech_hi > n:
            raise ConfigError(
                f"the speech ({last - first:.3f} s) does not fit in {duration_s:g} s with its onset at {onset_s:g} s"
            )
        audio = np.zeros(n, dtype=np.float32)
        audio[lo + shift : hi + shift] = self.audio[lo:hi]
        dt = shift / self.sample_rate
        words = tuple(WordSpan(w, s + dt, e + dt) for w, s, e in self.words)
        return Utterance(audio, self.sample_rate, self.text, words, self.voice, self.rate, self.pitch, self.speaker)

    def __repr__(self) -> str:
        return (
            f"Utterance(text={self.text!r}, voice={self.voice!r}, duration_s={self.duration_s:.3f}, "
            f"words={[w.word for w in self.words]})"
        )
