"""Word timings for any recording: :func:`align`.

The model's adapter does the work (``model.align_words``): Whisper by DTW over its
alignment heads' cross-attention (``models/whisper/alignment.py``), Wav2Vec2 / HuBERT CTC
checkpoints by CTC forced alignment (``models/ctc_alignment.py``). This module checks the
input, transcribes when no transcript is given, pulls each span in to the audible part of the
audio, and flags low confidence: per word, and for the whole alignment when the transcript
does not seem to match the audio. Nothing is dropped or hidden.

Dataset readers take an aligner so that ``tasks`` never imports the engine::

    data = tasks.open_dataset("librispeech:~/LibriSpeech/dev-clean",
                              aligner=functools.partial(intervene.align, model))
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from tasks.aligned_words import LOW_CLIP_CONFIDENCE, AlignedWord, trim_to_speech
from tasks.audio import SAMPLE_RATE
from tasks.errors import ConfigError
from tasks.transcript_text import split_words

__all__ = ["align", "Alignment"]

logger = logging.getLogger(__name__)


class Alignment(list):
    """The aligned words (a list of :class:`~tasks.aligned_words.AlignedWord`) and a summary.

    Attributes
    ----------
    transcript : str
        The transcript aligned (the model's own when none was given).
    transcribed : bool
        Whether the transcript came from the model.
    confidence : float
        Mean word confidence (NaN without words).
    low_confidence : bool
        The mean is below :data:`~tasks.aligned_words.LOW_CLIP_CONFIDENCE`: the transcript
        probably does not match the audio (every word is then flagged too).
    model : str
        The model's name.
    """

    def __init__(self, words, transcript: str, transcribed: bool, model: str):
        super().__init__(words)
        self.transcript = transcript
        self.transcribed = transcribed
        self.model = model
        scores = [w.confidence for w in self if math.isfinite(getattr(w, "confidence", math.nan))]
        self.confidence = float(np.mean(scores)) if scores else math.nan
        self.low_confidence = bool(scores) and self.confidence < LOW_CLIP_CONFIDENCE

    def to_dict(self) -> dict:
        return {"transcript": self.transcript, "transcribed": self.transcribed, "model": self.model,
                "confidence": self.confidence, "low_confidence": self.low_confidence,
                "words": [w.to_dict() if hasattr(w, "to_dict") else list(w) for w in self]}  # fmt: skip


def align(model, audio, transcript: str | None = None, sample_rate: int = SAMPLE_RATE, *,
          trim_silence: bool = True) -> Alignment:  # fmt: skip
    """Where each word of ``transcript`` is in ``audio``, with a confidence per word.

    Parameters
    ----------
    model : SpeechModel
        Whisper (any size) or a Wav2Vec2 / HuBERT ``*ForCTC`` checkpoint.
    audio : array-like, float (samples,)
        Mono audio (resampled from ``sample_rate``; at most 30 s for Whisper).
    transcript : str, optional
        What is said. Default: the model's own transcript (greedy decoding).
    sample_rate : int
        Rate of ``audio`` in Hz.
    trim_silence : bool
        Pull each span in to its audible frames (within 40 dB of the clip's loudest 5 ms
        frame); aligners on 20 ms frames give leading silence and pauses to neighbouring words.

    Returns
    -------
    Alignment
        A list of :class:`~tasks.aligned_words.AlignedWord` ``(word, start_s, end_s)`` with
        ``.confidence`` and ``.low_confidence``, in transcript order; the list's
        ``.confidence`` / ``.low_confidence`` summarise it.

    Raises
    ------
    AudioError
        Empty, non-finite or over-long audio.
    ConfigError
        A transcript that is not a string or has no words, or one too long for the decoder.
    CapabilityError
        A model that cannot align (a classifier, a bare encoder).

    Warns
    -----
    UserWarning
        When the whole alignment has low confidence (the transcript probably does not match).

    Examples
    --------
    >>> m = intervene.load_model("whisper-tiny.en")  # doctest: +SKIP
    >>> utt = tasks.speak("turn the lights off")  # doctest: +SKIP
    >>> [(w.word, round(w.start_s, 2)) for w in intervene.align(m, utt.audio, utt.text)]  # doctest: +SKIP
    [('turn', 0.05), ('the', 0.29), ('lights', 0.38), ('off', 0.7)]
    """
    checked = model.prepare(audio, sample_rate, name="audio")
    transcribed = transcript is None
    if transcribed:
        transcript = model.transcribe(checked, model.sample_rate)
        logger.info("aligning the model's transcript %r", transcript)
        if not split_words(transcript):
            warnings.warn(f"{model.name} hears no words in the audio; nothing to align", stacklevel=2)
            return Alignment([], transcript, True, model.name)
    elif not isinstance(transcript, str) or not split_words(transcript):
        raise ConfigError(f"transcript ({transcript!r:.80}) must be a string with at least one word")
    words = model.align_words(checked, transcript, checked=True)
    if trim_silence:
        words = trim_to_speech(words, checked, model.sample_rate)
    result = Alignment(words, transcript, transcribed, model.name)
    if result.low_confidence:
        result[:] = [AlignedWord(w.word, w.start_s, w.end_s, getattr(w, "confidence", math.nan), True) for w in result]
        warnings.warn(
            f"the transcript {transcript!r:.80} may not match the audio: mean word confidence "
            f"{result.confidence:.3f} < {LOW_CLIP_CONFIDENCE} on {model.name}; every word is flagged low_confidence",
            stacklevel=2,
        )
    return result
