"""Timed phonemes of synthesized speech, from libespeak-ng's own phoneme events.

espeak-ng reports an ``espeakEVENT_PHONEME`` (its phoneme mnemonic and the audio position in
ms) where each phoneme's sound starts when it is initialised with
``espeakINITIALIZE_PHONEME_EVENTS``. :func:`phoneme_spans` synthesizes the text exactly as
:func:`tasks.speak` does (same samples, same trimming), and gives each phoneme the audio from
its event to the next event (the last one ends where the audible speech ends), shifted by the
same trim as the word spans. Pauses (``_``) are left out. Labels are espeak-ng mnemonics
(``D`` for the th in "the", ``aU`` for the vowel in "brown") without stress marks (``'``,
``,``) and without the variant digit of reduced vowels (``@2`` -> ``@``).

For recordings there are no events: derive phoneme marks from aligned words instead
(:func:`spread_phonemes`: the synthesized phonemes of each word, stretched onto its span).
"""

from __future__ import annotations

import re

import numpy as np

from tasks import _espeak
from tasks.audio import SAMPLE_RATE, resample
from tasks.utterance import WordSpan

__all__ = ["phoneme_label", "phoneme_spans", "spread_phonemes"]

_STRESS = re.compile(r"['\",%=]")
_VARIANT = re.compile(r"(?<=\D)\d$")


def phoneme_label(name: str) -> str:
    """espeak-ng's mnemonic without stress marks and the variant digit: ``"'aU"`` -> ``"aU"``,
    ``"@2"`` -> ``"@"``; ``""`` for a pause."""
    label = _VARIANT.sub("", _STRESS.sub("", name.strip()))
    return "" if label.startswith("_") else label


def phoneme_spans(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> tuple:
    """The phonemes of ``tasks.speak(text, voice, rate, pitch)`` with their times.

    Parameters
    ----------
    text, voice, rate, pitch
        As for :func:`tasks.speak` (checked the same way).

    Returns
    -------
    tuple of WordSpan
        ``(phoneme, start_s, end_s)`` in order, times on the audio :func:`tasks.speak` returns.

    Raises
    ------
    ConfigError, UnknownNameError
        As :func:`tasks.speak`.

    Examples
    --------
    >>> [p.word for p in phoneme_spans("yes")]
    ['j', 'E', 's']
    """
    from tasks.tts import (
        MAX_PITCH,
        MAX_RATE,
        MIN_PITCH,
        MIN_RATE,
        _check_int,
        _check_text,
        _trim,
        canonical_voice,
    )

    text = _check_text(text)
    voice = canonical_voice(voice)
    rate = _check_int("rate", rate, MIN_RATE, MAX_RATE, "words per minute")
    pitch = _check_int("pitch", pitch, MIN_PITCH, MAX_PITCH, "")
    raw = _espeak.synthesize(text, voice, rate, pitch, phonemes=True)
    audio = resample(raw.samples.astype(np.float32) / 32768.0, raw.sample_rate, SAMPLE_RATE)
    audio, shift = _trim(audio, SAMPLE_RATE)
    n = audio.shape[0]
    from tasks.tts import PADDING_S

    speech_end = max(n - round(PADDING_S * SAMPLE_RATE), 0)
    events = raw.phoneme_events
    out = []
    for i, ev in enumerate(events):
        label = phoneme_label(ev.name)
        if not label:
            continue
        lo = min(max(round(ev.start_s * SAMPLE_RATE) + shift, 0), n)
        hi = round(events[i + 1].start_s * SAMPLE_RATE) + shift if i + 1 < len(events) else speech_end
        hi = min(max(hi, lo), n)
        if hi > lo:
            out.append(WordSpan(label, lo / SAMPLE_RATE, hi / SAMPLE_RATE))
    return tuple(out)


def spread_phonemes(words, voice: str = "en-us") -> tuple:
    """Phoneme marks for aligned words without phoneme timing (recordings).

    Each word is synthesized alone with ``voice``; its phonemes keep their synthesized share of
    the word's duration, stretched onto the aligned span. An estimate: it assumes the speaker
    says the word as espeak-ng would.

    Parameters
    ----------
    words : sequence of (word, start_s, end_s)

    Returns
    -------
    tuple of WordSpan
    """
    from tasks.errors import ConfigError

    out = []
    for word, start_s, end_s in words:
        try:
            spans = phoneme_spans(str(word), voice=voice)
        except ConfigError:  # a token espeak cannot say (punctuation only): no phonemes for it
            continue
        if not spans or end_s <= start_s:
            continue
        lo, hi = spans[0].start_s, spans[-1].end_s
        scale = (end_s - start_s) / max(hi - lo, 1e-9)
        out += [WordSpan(p.word, start_s + (p.start_s - lo) * scale, start_s + (p.end_s - lo) * scale) for p in spans]
    return tuple(out)
