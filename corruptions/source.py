"""What a corruption reads from its source, in one checked, 16 kHz view.

A source is a :class:`tasks.Utterance`, a dataset example (``tasks.SpeechCommandsExample``),
anything else with ``.audio``, ``.sample_rate`` and ``.words``, or a bare float array
(taken to be at 16 kHz, with no words). :func:`as_source` turns each into a :class:`Source`
whose audio went through :func:`tasks.audio.prepare_audio`, so sources at other rates are
resampled once and every corruption works at :data:`tasks.audio.SAMPLE_RATE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.audio import SAMPLE_RATE, prepare_audio
from tasks.errors import AudioError, ConfigError, unknown_name
from tasks.utterance import WordSpan

__all__ = ["Source", "as_source", "resolve_target", "target_span", "span_samples"]


@dataclass(frozen=True, eq=False)
class Source:
    """A source's audio at 16 kHz plus what corruptions and pairs need to know about it.

    Attributes
    ----------
    audio : np.ndarray, float32 (samples,)
        At ``sample_rate`` (always 16000).
    words : tuple of WordSpan
        Word spans in seconds, clipped to the audio.
    word : str or None
        The example's label (dataset examples), else None.
    original : object
        What was passed in; word swaps need its ``.dataset`` and ``.speaker``.
    """

    audio: np.ndarray
    sample_rate: int
    words: tuple
    word: str | None = None
    text: str = ""
    voice: str | None = None
    rate: int | None = None
    pitch: int | None = None
    speaker: str | None = None
    path: str | None = None
    dataset: object = None
    original: object = None

    @property
    def n_samples(self) -> int:
        return int(self.audio.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def metadata(self) -> dict:
        """The JSON-able facts a :class:`MinimalPair` keeps about its source."""
        dataset = self.dataset
        if dataset is not None:
            dataset = str(getattr(dataset, "name", None) or getattr(dataset, "root", None) or type(dataset).__name__)
        return {
            "text": self.text,
            "word": self.word,
            "voice": self.voice,
            "rate": self.rate,
            "pitch": self.pitch,
            "speaker": self.speaker,
            "path": self.path,
            "dataset": dataset,
        }


def _optional_int(value):
    return None if value is None else int(value)


def as_source(source) -> Source:
    """Check ``source`` and return its :class:`Source` view at 16 kHz (a Source as is).

    Raises
    ------
    ConfigError
        ``source`` has no ``.audio``/``.sample_rate`` and is not an array.
    AudioError
        The audio is empty, not finite, or not mono (from :func:`tasks.audio.prepare_audio`).
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, np.ndarray):
        audio = prepare_audio(source, SAMPLE_RATE, name="source")
        return Source(audio=audio, sample_rate=SAMPLE_RATE, words=(), original=source)
    if not (hasattr(source, "audio") and hasattr(source, "sample_rate")):
        raise ConfigError(
            f"source ({type(source).__name__}) must have .audio and .sample_rate (a tasks.Utterance or a "
            "dataset example), or be a float32 array at 16 kHz"
        )
    audio = prepare_audio(source.audio, source.sample_rate, name="source.audio")
    duration_s = audio.shape[0] / SAMPLE_RATE
    words = []
    for span in getattr(source, "words", None) or ():
        word, start_s, end_s = span
        start_s, end_s = min(float(start_s), duration_s), min(float(end_s), duration_s)
        words.append(WordSpan(str(word), start_s, end_s))
    word = getattr(source, "word", None)
    text = getattr(source, "text", None) or (word or " ".join(w.word for w in words))
    path = getattr(source, "path", None)
    return Source(
        audio=audio,
        sample_rate=SAMPLE_RATE,
        words=tuple(words),
        word=None if word is None else str(word),
        text=str(text),
        voice=getattr(source, "voice", None),
        rate=_optional_int(getattr(source, "rate", None)),
        pitch=_optional_int(getattr(source, "pitch", None)),
        speaker=None if getattr(source, "speaker", None) is None else str(source.speaker),
        path=None if path is None else str(path),
        dataset=getattr(source, "dataset", None),
        original=source,
    )


def resolve_target(src: Source, target: str | None) -> str | None:
    """The word a pair is about: ``target``, else the source's label, else its only word.

    Returns None for a source without words or label (e.g. a bare array) when no target is
    given; corruptions that need a word span then say so.

    Raises
    ------
    ConfigError
        ``target`` is not a string, or the source has several words and no label.
    UnknownNameError
        ``target`` is not among the source's words.
    """
    if target is not None:
        if not isinstance(target, str) or not target.strip():
            raise ConfigError(f"target ({target!r}) must be a non-empty word of the source")
        if src.words and not any(w.word.lower() == target.lower() for w in src.words):
            raise unknown_name("target word", target, [w.word for w in src.words])
        return target
    if src.word is not None:
        return src.word
    if len(src.words) == 1:
        return src.words[0].word
    if len(src.words) > 1:
        raise ConfigError(
            f"target (None) is ambiguous: the source says {[w.word for w in src.words]}; "
            "pass target= to name the word the pair is about"
        )
    return None


def target_span(src: Source, target: str | None) -> WordSpan:
    """The span of ``target`` (case-insensitive; the first match) in ``src.words``.

    Raises
    ------
    AudioError
        The source has no word spans or no target word.
    UnknownNameError
        ``target`` is not among the words.
    """
    if not src.words:
        raise AudioError(
            "the source has no word spans; give a source with .words (a tasks.Utterance or a dataset "
            "example) or place the span with start_s= and duration_s="
        )
    if target is None:
        target = resolve_target(src, None)
    for span in src.words:
        if span.word.lower() == str(target).lower():
            return span
    raise unknown_name("target word", target, [w.word for w in src.words])


def span_samples(start_s: float, end_s: float, sample_rate: int, n_samples: int) -> tuple[int, int]:
    """Sample indices ``[a, b)`` of the span ``[start_s, end_s)``, clipped to the audio."""
    a = int(round(start_s * sample_rate))
    b = int(round(end_s * sample_rate))
    a = min(max(a, 0), n_samples)
    return a, min(max(b, a), n_samples)
