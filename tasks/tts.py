"""Offline speech synthesis with word timings, on libespeak-ng (PyPI ``espeakng-loader``).

:func:`speak` turns text into an :class:`~tasks.utterance.Utterance`: float32 mono audio at
16 kHz with one :class:`~tasks.utterance.WordSpan` per word. No network, no model download,
about 10 ms per short utterance.

How the audio and the word spans are made
-----------------------------------------
1. espeak-ng synthesizes int16 audio at 22050 Hz and reports a word event (character position
   in the text, audio position in ms) where each word's phonemes start.
2. The audio is scaled to [-1, 1) and resampled to 16 kHz (:func:`tasks.audio.resample`).
3. Leading and trailing silence is cut to exactly :data:`PADDING_S` (50 ms) on each side: the
   audible part (frames within :data:`TRIM_TOP_DB` of the loudest 5 ms frame) starts at 50 ms
   and ends 50 ms before the clip's end (zeros are added where espeak gave less).
4. Word ``i`` owns the audio from its event to the next word's event (or the clip's end). Its
   span runs from the first to the end of the last frame in that stretch within
   :data:`WORD_TOP_DB` of the utterance's loudest frame, so pauses after a comma and the
   silence before the next word stay outside the span. Spans are accurate to 5 ms.
5. A span's text is the written text from its event to the next one, without surrounding
   punctuation. espeak-ng reports numbers digit group by digit group (merged back into one
   word here) and speaks some word pairs as one, without an event for the second word
   ('in the' gives one span labelled 'in the'), so a sentence can have fewer spans than
   written words.

Determinism and threads
-----------------------
The same arguments give bit-identical samples, whatever was spoken before (each call runs on a
freshly loaded instance of the C library; see :mod:`tasks._espeak`). The library has global
state, so synthesis runs under a module-level lock: :func:`speak` is thread-safe, and calls
from several threads run one at a time.
"""

from __future__ import annotations

import math
import numbers
import string
import unicodedata

import numpy as np

from tasks import _espeak
from tasks._energy import FRAME_S, active_range, frame_rms
from tasks.audio import SAMPLE_RATE, resample
from tasks.errors import ConfigError, UnknownNameError, close_names
from tasks.utterance import Utterance, WordSpan

__all__ = [
    "speak",
    "voices",
    "speaker_id",
    "canonical_voice",
    "MIN_RATE",
    "MAX_RATE",
    "MIN_PITCH",
    "MAX_PITCH",
    "PADDING_S",
]

MIN_RATE, MAX_RATE = 80, 450
"""Allowed speaking rates in words per minute (espeak-ng's own limits are 80 and 450)."""
MIN_PITCH, MAX_PITCH = 0, 99
"""Allowed pitch settings (espeak-ng's 0-99 scale; 50 is the voice's normal pitch)."""
PADDING_S = 0.05
"""Silence kept before the first and after the last audible sample, in seconds."""
TRIM_TOP_DB = 50.0
"""Frames quieter than this many dB below the loudest frame count as silence when trimming."""
WORD_TOP_DB = 40.0
"""Frames quieter than this many dB below the loudest frame are left out of word spans."""

_VOICES = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-029",
    "en-gb-scotland",
    "en-us+f3",
    "en-us+m3",
    "en+f2",
    "en+m7",
    "en-gb-x-rp+f1",
    "en-029+f5",
    "en-gb-scotland+f4",
    "en-us-nyc+m1",
    "en-gb-x-gbclan+m5",
)
# Five accents with espeak's default male voice, then accents combined with female and male
# variants (pitch from about 100 to 225 Hz). The order is part of the API: datasets index it.


def voices() -> list[str]:
    """The English voices SpeechLens uses by default, in a fixed order.

    Each gives audibly different speech (accent, pitch or timbre). :func:`speak` also takes
    any other espeak-ng language (``'de'``, ``'en-us-nyc'``) with an optional ``+variant``
    (``'en-us+f4'``, ``'en+klatt'``).

    Examples
    --------
    >>> voices()[:3]
    ['en-us', 'en', 'en-gb-x-rp']
    """
    return list(_VOICES)


def canonical_voice(voice) -> str:
    """Check ``voice`` and return its canonical spelling (language lower-case, variant as filed).

    Raises
    ------
    ConfigError
        ``voice`` is not a string.
    UnknownNameError
        espeak-ng has no such language or no such ``+variant``; the message lists close names.

    Examples
    --------
    >>> canonical_voice("EN-US+f3")
    'en-us+f3'
    """
    if not isinstance(voice, str):
        raise ConfigError(f"voice ({voice!r}) must be a string such as 'en-us' or 'en-us+f3'")
    base, plus, variant = voice.strip().partition("+")
    base = base.lower()
    if base not in _espeak.language_names():
        known = list(dict.fromkeys(_VOICES + _espeak.language_names()))
        raise UnknownNameError(
            f"unknown voice {voice!r}{close_names(voice.strip().lower(), known)} "
            f"Known English voices: {', '.join(_VOICES)}; any espeak-ng language "
            f"(such as 'de', 'en-us-nyc') with an optional '+variant' (such as '+f4') also works"
        )
    if not plus:
        return base
    by_lower = {name.lower(): name for name in _espeak.variant_names()}
    if variant.lower() not in by_lower:
        raise UnknownNameError(
            f"unknown voice variant {variant!r} in voice {voice!r}"
            f"{close_names(variant, sorted(by_lower.values()))} "
            f"Known variants: {', '.join(sorted(by_lower.values()))}"
        )
    return f"{base}+{by_lower[variant.lower()]}"


def speaker_id(voice: str, rate: int, pitch: int) -> str:
    """A stable speaker id for synthesized speech, without ``'_'`` (Speech Commands file names
    split on it): ``speaker_id("en-us+f3", 175, 50) == "en-us+f3-r175-p50"``."""
    safe = "".join("-" if ch in "_ /\\" else ch for ch in canonical_voice(voice))
    return f"{safe}-r{int(rate)}-p{int(pitch)}"


def _check_int(name: str, value, low: int, high: int, unit: str) -> int:
    unit_text = f" {unit}" if unit else ""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not math.isfinite(float(value)) or float(value) != int(value):
        raise ConfigError(f"{name} ({value!r}) must be a whole number between {low} and {high}{unit_text}")
    if not low <= int(value) <= high:
        raise ConfigError(f"{name} ({value!r}) must be between {low} and {high}{unit_text}")
    return int(value)


_ALLOWED_CONTROLS = "\t\n\r"
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a lone surrogate (not valid Unicode text)",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
}


def _check_text(text) -> str:
    """The text to speak, stripped; ConfigError for text whose spoken words would not match its labels.

    espeak-ng reads C strings: a NUL ends the text early (``"yes\\x00no"`` says "yes" but its
    word span would be labelled 'yes\\x00no'), and lone surrogates cannot be encoded at all.
    Control, invisible-format, private-use and unassigned characters are refused (tab, newline
    and carriage return are allowed: they are whitespace).
    """
    if not isinstance(text, str):
        raise ConfigError(f"text ({text!r}) must be a string")
    for i, ch in enumerate(text):
        what = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if what is not None and ch not in _ALLOWED_CONTROLS:
            raise ConfigError(
                f"text ({text!r}) holds {what}, U+{ord(ch):04X}, at position {i}; "
                "the synthesizer would not say what the word labels say: remove it"
            )
    if not text.strip():
        raise ConfigError(f"text ({text!r}) is empty; give at least one word to speak")
    return text.strip()


def _trim(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Cut or pad silence to PADDING_S each side; returns the audio and the shift in samples
    (new index = old index + shift)."""
    bounds = active_range(audio, sample_rate, TRIM_TOP_DB)
    if bounds is None:
        return audio, 0
    pad = int(round(PADDING_S * sample_rate))
    start, stop = bounds
    out = np.zeros(stop - start + 2 * pad, dtype=np.float32)
    out[pad : pad + stop - start] = audio[start:stop]
    return out, pad - start


_EDGE_PUNCTUATION = string.punctuation + "\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026\u2013\u2014"


def _group_events(text: str, events) -> list:
    """Merge word events that espeak-ng emits inside one written word.

    espeak-ng reports numbers digit group by digit group ('1234' gives events at '1' and at
    '234'); an event that starts right after a letter or digit continues the word before it.
    """
    groups = []
    for event in events:
        start = event.char_start
        if not 0 <= start < len(text):
            continue
        if groups and (start <= groups[-1][0] or text[start - 1].isalnum()):
            continue
        groups.append((start, event.start_s))
    return groups


def _word_spans(text: str, events, audio: np.ndarray, sample_rate: int, shift: int) -> tuple:
    """One WordSpan per spoken word, tightened to the audible frames of its stretch.

    A word's text runs from its event to the next word's event, without surrounding
    punctuation; where espeak-ng speaks several written words as one (it gives no event for
    'the' in 'in the') the span's text holds them all ('in the').
    """
    groups = _group_events(text, events)
    labelled = []
    for i, (start, start_s) in enumerate(groups):
        stop = groups[i + 1][0] if i + 1 < len(groups) else len(text)
        word = " ".join(text[start:stop].split()).strip(_EDGE_PUNCTUATION + " ")
        if word:
            labelled.append((word, start_s))
    n = audio.shape[0]
    starts = [min(max(int(round(start_s * sample_rate)) + shift, 0), n) for _, start_s in labelled]
    # The loudest frame of the whole utterance is the reference for every word, so a quiet
    # word keeps its quiet consonants and a pause never counts as speech.
    reference = float(frame_rms(audio, max(1, int(round(FRAME_S * sample_rate)))).max())
    spans = []
    for i, (word, _) in enumerate(labelled):
        lo = starts[i]
        hi = max(starts[i + 1] if i + 1 < len(labelled) else n, lo)
        found = None if hi == lo else active_range(audio[lo:hi], sample_rate, WORD_TOP_DB, reference)
        if found is not None:
            lo, hi = lo + found[0], lo + found[1]
        spans.append(WordSpan(word, lo / sample_rate, hi / sample_rate))
    return tuple(spans)


def speak(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> Utterance:
    """Synthesize ``text`` offline and return it with word timings.

    Parameters
    ----------
    text : str
        What to say (UTF-8; surrounding whitespace is dropped).
    voice : str
        An espeak-ng voice, optionally with a variant: see :func:`voices`.
    rate : int
        Speaking rate in words per minute, 80 to 450.
    pitch : int
        Pitch on espeak-ng's scale, 0 to 99 (50: the voice's normal pitch).

    Returns
    -------
    Utterance
        ``audio`` float32 (samples,) at 16000 Hz with 50 ms of silence before and after the
        speech; ``words``: one WordSpan per spoken word, in order; ``voice`` (canonical
        spelling), ``rate``, ``pitch``, and ``speaker`` (see :func:`speaker_id`).

    Raises
    ------
    ConfigError
        Empty text, text holding control characters (NUL, ...), lone surrogates or other
        characters that are not speakable text, ``rate`` / ``pitch`` out of range or not whole
        numbers, or text that gives no audible speech.
    UnknownNameError
        An unknown voice or variant (the message lists close names).
    ModelLoadError
        libespeak-ng or its data cannot be loaded.

    Notes
    -----
    Deterministic (bit-identical for the same arguments) and thread-safe; see the module notes.

    Examples
    --------
    >>> utt = speak("yes", voice="en-us+f3")
    >>> utt.sample_rate, utt.speaker, [w.word for w in utt.words]
    (16000, 'en-us+f3-r175-p50', ['yes'])
    """
    text = _check_text(text)
    voice = canonical_voice(voice)
    rate = _check_int("rate", rate, MIN_RATE, MAX_RATE, "words per minute")
    pitch = _check_int("pitch", pitch, MIN_PITCH, MAX_PITCH, "")
    raw = _espeak.synthesize(text, voice, rate, pitch)
    audio = resample(raw.samples.astype(np.float32) / 32768.0, raw.sample_rate, SAMPLE_RATE)
    if float(np.abs(audio).max(initial=0.0)) < 1e-4:  # espeak-ng gives silence for '...'
        raise ConfigError(f"text ({text!r}) gave no audible speech with voice {voice!r}; give words to speak")
    audio, shift = _trim(audio, SAMPLE_RATE)
    words = _word_spans(text, raw.word_events, audio, SAMPLE_RATE, shift)
    return Utterance(
        audio=np.ascontiguousarray(audio, dtype=np.float32),
        sample_rate=SAMPLE_RATE,
        text=text,
        words=words,
        voice=voice,
        rate=rate,
        pitch=pitch,
        speaker=speaker_id(voice, rate, pitch),
    )
