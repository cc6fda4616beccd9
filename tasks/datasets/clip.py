"""A clip of a dataset: audio read on demand, transcript, speaker and aligned word spans.

A :class:`Clip` carries the fields corruptions and tasks read (``audio``, ``sample_rate``,
``text``, ``speaker``, ``words``), like :class:`tasks.Utterance`, so any corruption takes a
clip as its source; ``dataset`` lets a word swap find the same speaker's recording of another
word (``clip.dataset.find(word, speaker)``).

Word spans come, in this order, from the dataset itself (a manifest's ``words``, a TextGrid
beside the audio, a synthetic set's record), else from the ``aligner`` given to
:func:`tasks.open_dataset` (called once per clip, on first use of ``.words``), else they are
empty (corruptions that act on a word then ask for them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from tasks.audio import SAMPLE_RATE
from tasks.utterance import Utterance, WordSpan, find_word

__all__ = ["Clip"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Clip:
    """One recording of a dataset.

    Attributes
    ----------
    id : str
        Unique within the dataset (LibriSpeech: ``'84-121123-0000'``; others: the relative path).
    text : str or None
        The transcript as the dataset writes it (None when the dataset has none).
    speaker : str or None
    path : Path or None
        The audio file (None for audio held inside a Hugging Face dataset).
    word : str or None
        The clip's label word (Speech Commands), else None.
    split : str or None
    dataset : Dataset
        The reader it came from.
    """

    id: str
    text: str | None
    speaker: str | None
    path: Path | None
    load: Callable[[], np.ndarray] = field(repr=False)
    dataset: object = field(default=None, repr=False)
    word: str | None = None
    split: str | None = None
    given_words: Callable[[], tuple] | None = field(default=None, repr=False)
    aligner: Callable | None = field(default=None, repr=False)

    @property
    def audio(self) -> np.ndarray:
        """float32 (samples,) at 16 kHz, read (and resampled) on every access."""
        return self.load()

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @cached_property
    def words(self) -> tuple:
        """Aligned word spans (see the module notes); computed once."""
        if self.given_words is not None:
            return tuple(self.given_words())
        if self.aligner is not None:
            found = self.aligner(self.audio, transcript=self.text, sample_rate=SAMPLE_RATE)
            self.__dict__["alignment"] = found
            return tuple(found)
        return ()

    @property
    def alignment(self):
        """What the aligner returned (with its confidence summary), or None when no aligner ran."""
        self.words  # noqa: B018  (runs the aligner once)
        return self.__dict__.get("alignment")

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / SAMPLE_RATE

    def word_span(self, word: str | None = None) -> WordSpan:
        """The span of ``word`` (the first word when None); see :func:`tasks.utterance.find_word`."""
        return find_word(self.words, word)

    def to_utterance(self) -> Utterance:
        """The clip as an Utterance (audio read once)."""
        return Utterance(audio=self.audio, sample_rate=SAMPLE_RATE, text=self.text or "", words=self.words,
                         speaker=self.speaker)  # fmt: skip
