"""A corpus clip's audio with its word and phoneme marks.

- Synthesized clips (a voice, rate and pitch are known): the words come from espeak-ng's word
  events (:func:`tasks.speak`), the phonemes from its phoneme events
  (:func:`tasks.phonemes.phoneme_spans`); both are exact for the synthesized audio.
- Recordings with a model that aligns: the words come from :func:`intervene.align` (the clip's
  transcript, or the model's own when it has none), the phonemes are estimated from them
  (:func:`tasks.phonemes.spread_phonemes`: each word's synthesized phonemes stretched onto its
  aligned span).
- Noise, silence, and recordings that cannot be aligned: no marks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["ClipMarks", "clip_marks"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ClipMarks:
    """``audio`` float32 (samples,) at 16 kHz; ``words`` and ``phonemes``: tuples of
    ``(label, start_s, end_s)``; ``source``: where the marks come from
    ("synthesis", "alignment" or "none")."""

    audio: np.ndarray
    words: tuple
    phonemes: tuple
    source: str


def clip_marks(clip, model=None, align: bool = True) -> ClipMarks:
    """The audio of ``clip`` (a :class:`~intervene.features.corpus.CorpusClip`) with its marks
    (see the module notes). ``model`` aligns recordings when ``align`` is set."""
    import tasks

    if clip.kind == "speech" and clip.voice is not None and clip.text:
        from tasks.phonemes import phoneme_spans

        utt = tasks.speak(clip.text, voice=clip.voice, rate=clip.rate or 175, pitch=clip.pitch or 50)
        phonemes = phoneme_spans(clip.text, voice=clip.voice, rate=clip.rate or 175, pitch=clip.pitch or 50)
        return ClipMarks(utt.audio, tuple(tuple(w) for w in utt.words), tuple(tuple(p) for p in phonemes), "synthesis")
    audio = np.asarray(clip.load(), dtype=np.float32)
    if clip.kind != "speech" or not align or model is None:
        return ClipMarks(audio, (), (), "none")
    from intervene.alignment import align as align_words
    from tasks.errors import CapabilityError, ConfigError
    from tasks.phonemes import spread_phonemes

    try:
        words = align_words(model, audio, clip.text or None, 16000)
    except (CapabilityError, ConfigError) as exc:
        logger.warning("no word marks for clip %s: %s", clip.id, exc)
        return ClipMarks(audio, (), (), "none")
    words = tuple((str(w[0]), float(w[1]), float(w[2])) for w in words)
    return ClipMarks(audio, words, tuple(tuple(p) for p in spread_phonemes(words)), "alignment")
