"""The speech of the anatomy benchmark: multi-sentence clips in several voices, keyword clips,
and the clips a steering direction is computed from (never scored).

Every clip is synthesized offline (espeak-ng through :func:`tasks.speak`), so its words and
their spans are known; a clip is padded with ``lead_s`` of silence on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import tasks

__all__ = ["DIRECTION_SENTENCES", "SENTENCES", "SpeechClip", "direction_clips", "keyword_clip", "speech_clips"]

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
    """One scored clip: its key, voice, the padded Utterance (words and spans shifted) and its text."""

    key: str
    voice: str
    utterance: object
    text: str

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
