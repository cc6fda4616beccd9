"""The speech of the anatomy benchmark: multi-sentence clips in several voices, keyword clips,
and the clips a steering direction is computed from (never scored).

By default every clip is synthesized offline (espeak-ng through :func:`tasks.speak`), so its
words and their spans are known. With ``--data`` the scored clips are a dataset's recordings
with transcripts (:func:`data_speech_clips`): their word spans are the dataset's own (a
manifest's ``words``, a TextGrid) or, without them, the model's alignment of the transcript
(an ``align`` unit). The keyword clips of the logit lens and the steering direction's speech
stay synthetic. A clip is padded with ``lead_s`` of silence on both sides.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace

import numpy as np

import tasks
from tasks.utterance import Utterance, WordSpan

__all__ = ["DIRECTION_SENTENCES", "SENTENCES", "SpeechClip", "data_speech_clips", "direction_clips", "keyword_clip",
           "speech_clips", "with_spans"]  # fmt: skip

logger = logging.getLogger("whisper_anatomy")

MAX_CLIP_S = 30.0
"""Whisper hears at most 30 s: longer recordings (with their padding) are left out."""

SENTENCES = (
    "Turn the lights off when you leave the kitchen tonight.",
    "Every morning she walks to the bakery and buys fresh bread.",
    "Please call Stella and ask her to bring these things with her.",
    "Our teacher explained how rivers carve deep valleys over time.",
    "A small green boat drifted slowly toward the distant island.",
    "My neighbour fixed the broken window before the storm arrived.",
    "Seven purple elephants sang loudly under a tin roof at midnight.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "The old man carried a basket of apples up the hill.",
)
"""Sentences of the scored clips (about ten words each; consecutive ones make a clip)."""

DIRECTION_SENTENCES = (
    ("Several farmers gathered apples while the children played outside.", "en-us"),
    ("Nobody noticed the silver key hidden beneath the old carpet.", "en-gb-x-rp"),
    ("Bright yellow kites danced above the crowded summer beach.", "en-us+f3"),
)
"""Speech of the steering direction (speech minus non-speech): other sentences than the scored ones."""


@dataclass
class SpeechClip:
    """One scored clip: its key, voice (a dataset's speaker id), the padded Utterance (words and
    spans shifted), its text and where its word spans come from (``"synthesizer"``,
    ``"dataset"`` or ``"aligner"``; ``"none"`` until an aligner has run)."""

    key: str
    voice: str
    utterance: object
    text: str
    spans: str = "synthesizer"
    spec: str | None = None  # the --data spec it comes from (None: synthesized)

    @property
    def duration_s(self) -> float:
        return float(self.utterance.duration_s)


def speech_clips(voices, sentences_per_clip: int, rate: int, lead_s: float) -> list[SpeechClip]:
    """One clip per voice, each ``sentences_per_clip`` consecutive sentences of :data:`SENTENCES`
    (clip ``i`` starts at sentence ``i * sentences_per_clip``, wrapping round), in silence."""
    out = []
    for i, voice in enumerate(voices):
        first = i * sentences_per_clip
        text = " ".join(SENTENCES[(first + j) % len(SENTENCES)] for j in range(sentences_per_clip))
        utt = tasks.speak(text, voice=voice, rate=rate)
        utt = utt.padded(utt.duration_s + 2 * lead_s, lead_s)
        out.append(SpeechClip(f"{voice}/{rate}/s{first % len(SENTENCES)}x{sentences_per_clip}", voice, utt, text))
    return out


def keyword_clip(word: str, voice: str, carrier: bool):
    """A keyword alone (1 s, onset 0.3 s) or in the carrier "please say the word X now"."""
    if carrier:
        utt = tasks.speak(f"please say the word {word} now", voice=voice)
        return utt.padded(utt.duration_s + 0.6, 0.3)
    return tasks.speak(word, voice=voice).padded(1.0, 0.3)


def direction_clips() -> list:
    """The speech clips of the steering direction (:data:`DIRECTION_SENTENCES`)."""
    return [tasks.speak(text, voice=voice) for text, voice in DIRECTION_SENTENCES]


def data_speech_clips(specs, max_clips: int | None, lead_s: float) -> tuple[list[SpeechClip], list[str]]:
    """The scored clips of ``--data``: each spec's first ``max_clips`` clips with a transcript,
    padded with ``lead_s`` of silence on both sides (spans shifted); their keys are
    ``data-<digest of the spec>/<clip id>`` (stable across runs).

    Returns
    -------
    (list of SpeechClip, list of str)
        The clips, and why any clip was left out (too long for Whisper's 30 s).
    """
    from benchmarks.common.data import data_clips

    out, left_out = [], []
    for clip in data_clips(specs, max_clips, need_text=True):
        audio = np.asarray(clip.audio, dtype=np.float32)
        duration_s = audio.shape[0] / clip.sample_rate
        if duration_s + 2 * lead_s > MAX_CLIP_S:
            left_out.append(f"{clip.id}: {duration_s:.1f} s (+ {2 * lead_s:g} s padding) is over Whisper's 30 s")
            continue
        words = tuple(clip.words) if clip.given_words is not None else ()
        lead = np.zeros(round(lead_s * clip.sample_rate), dtype=np.float32)
        shift_s = lead.shape[0] / clip.sample_rate
        utt = Utterance(np.concatenate([lead, audio, lead]), clip.sample_rate, clip.text,
                        tuple(WordSpan(w[0], w[1] + shift_s, w[2] + shift_s) for w in words), speaker=clip.speaker)  # fmt: skip
        spec = getattr(clip.dataset, "spec", "")
        key = f"data-{hashlib.sha256(spec.encode()).hexdigest()[:8]}/{clip.id}"
        out.append(SpeechClip(key, clip.speaker or "unknown", utt, clip.text, "dataset" if words else "none", spec))
    for reason in left_out:
        logger.warning("left out: %s", reason)
    return out, left_out


def with_spans(clip: SpeechClip, words, source: str = "aligner") -> SpeechClip:
    """``clip`` with word spans ``[(word, start_s, end_s), ...]`` (in the padded clip's time)."""
    utt = replace(clip.utterance, words=tuple(WordSpan(str(w), float(a), float(b)) for w, a, b in words))
    return replace(clip, utterance=utt, spans=source)
