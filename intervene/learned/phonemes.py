"""Phoneme timings of synthesized speech, from espeak-ng's own phoneme events.

:func:`tasks.speak` keeps only word events. For frame labels ("which class of phoneme is this
20 ms frame in?") this module synthesizes the same text again with phoneme events switched on
(``espeakINITIALIZE_PHONEME_EVENTS``), through :mod:`tasks._espeak`'s private library copy and
lock, checks that the samples are bit-identical to :func:`tasks.speak`'s (so the timings belong
to the clip being probed), and maps the events through the same trimming and the clip's
padding offset.

Phoneme classes (:data:`CLASSES`) come from espeak-ng's English mnemonics: vowels (``a``,
``'E``, ``aI``, ``@``, ...), stops (``p b t d k g ?``), fricatives and affricates (``f v T D s
z S Z h tS dZ``), nasals (``m n N``), approximants (``l r w j R``), and silence (``_``, and
every frame outside the speech).
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from tasks.errors import ConfigError

__all__ = ["CLASSES", "phoneme_class", "phoneme_events", "frame_phonemes"]

CLASSES = ("silence", "vowel", "stop", "fricative", "nasal", "approximant")
_PHONEME_EVENTS = 0x0001
_EVENT_PHONEME = 7
_STOPS = set("pbtdkg?")
_FRICATIVES = set("fvTDszSZhxC")
_NASALS = set("mnN")
_APPROXIMANTS = set("lrwjR")


def phoneme_class(mnemonic: str) -> str:
    """The class (one of :data:`CLASSES`) of an espeak-ng phoneme mnemonic.

    Examples
    --------
    >>> [phoneme_class(p) for p in ("j", "'E", "s", "_:", "tS", "n")]
    ['approximant', 'vowel', 'fricative', 'silence', 'fricative', 'nasal']
    """
    core = mnemonic.lstrip("',%=")
    if not core or core.startswith("_"):
        return "silence"
    if core[:2] in ("tS", "dZ"):
        return "fricative"
    first = core[0]
    for members, name in ((_STOPS, "stop"), (_FRICATIVES, "fricative"), (_NASALS, "nasal"),
                          (_APPROXIMANTS, "approximant")):  # fmt: skip
        if first in members:
            return name
    return "vowel"


@functools.lru_cache(maxsize=512)
def phoneme_events(text: str, voice: str, rate: int, pitch: int) -> tuple:
    """``((mnemonic, start_s), ...)`` of :func:`tasks.speak` ``(text, voice, rate, pitch)``, on its
    time line (after trimming; before any padding).

    Raises
    ------
    ConfigError
        The re-synthesized samples differ from :func:`tasks.speak`'s (the timings would not fit).
    """
    from tasks import _espeak as E
    from tasks import tts
    from tasks.audio import SAMPLE_RATE, resample

    chunks: list = []
    events: list = []

    @E._SynthCallback
    def on_audio(wav, n_samples, evs):
        if wav and n_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while evs[i].type != E._EVENT_LIST_TERMINATED:
            if evs[i].type == _EVENT_PHONEME:
                events.append((bytes(evs[i].id).split(b"\0")[0].decode("ascii", "replace"), evs[i].audio_position))
            i += 1
        return 0

    data = str(E._data_path()).encode()
    text_bytes = text.encode("utf-8")
    with E.LOCK:
        lib = E._load()
        try:
            lib.espeak_Initialize(E._AUDIO_OUTPUT_SYNCHRONOUS, 0, data, E._INITIALIZE_DONT_EXIT | _PHONEME_EVENTS)
            try:
                lib.espeak_SetSynthCallback(on_audio)
                if hasattr(lib, "espeak_ng_SetRandSeed"):
                    lib.espeak_ng_SetRandSeed(ctypes.c_long(E._RAND_SEED))
                lib.espeak_SetVoiceByName(voice.encode("utf-8"))
                lib.espeak_SetParameter(E._PARAM_RATE, int(rate), 0)
                lib.espeak_SetParameter(E._PARAM_PITCH, int(pitch), 0)
                lib.espeak_Synth(text_bytes, len(text_bytes) + 1, 0, 0, 0, E._CHARS_UTF8, None, None)
            finally:
                lib.espeak_Terminate()
        finally:
            E._dlclose(lib._handle)
    raw = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    reference = E.synthesize(text, voice, rate, pitch)
    if not np.array_equal(raw, reference.samples):
        raise ConfigError(f"espeak-ng gave other samples with phoneme events on for {text!r} ({voice}); "
                          "phoneme labels are not available for it")
    audio = resample(raw.astype(np.float32) / 32768.0, reference.sample_rate, SAMPLE_RATE)
    _, shift = tts._trim(audio, SAMPLE_RATE)
    return tuple((name, ms / 1000.0 + shift / SAMPLE_RATE) for name, ms in events)


def frame_phonemes(clip, n_frames: int, frame_s: float) -> np.ndarray:
    """The phoneme class of each of the first ``n_frames`` frames of a synthesized clip (its
    centre's phoneme; "silence" outside the speech): str array (n_frames,).

    ``clip`` is a :class:`tasks.Utterance` made by :func:`tasks.speak` (possibly ``.padded``):
    it needs ``text``, ``voice``, ``rate``, ``pitch`` and its word spans.

    Raises
    ------
    ConfigError
        The clip does not say how it was synthesized.
    """
    import tasks

    for name in ("text", "voice", "rate", "pitch"):
        if getattr(clip, name, None) in (None, ""):
            raise ConfigError(f"phoneme labels need synthesized clips (tasks.speak): this clip has no {name}")
    spoken = tasks.speak(clip.text, voice=clip.voice, rate=clip.rate, pitch=clip.pitch)
    if not clip.words or not spoken.words:
        raise ConfigError(f"clip {clip.text!r} has no word spans to place its phonemes by")
    offset = clip.words[0].start_s - spoken.words[0].start_s  # the padding's shift
    events = phoneme_events(clip.text, clip.voice, int(clip.rate), int(clip.pitch))
    starts = np.array([t + offset for _, t in events])
    names = [phoneme_class(n) for n, _ in events]
    centres = (np.arange(n_frames) + 0.5) * frame_s
    out = np.full(n_frames, "silence", dtype=object)
    end_s = spoken.words[-1].end_s + offset
    for i, c in enumerate(centres):
        k = int(np.searchsorted(starts, c, side="right")) - 1
        if 0 <= k and c < end_s:
            out[i] = names[k]
    return out.astype(str)
