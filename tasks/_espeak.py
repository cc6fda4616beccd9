"""Private ctypes binding to libespeak-ng, as shipped by the PyPI package ``espeakng-loader``.

Only :mod:`tasks.tts` uses this module. It knows the C API and the library's quirks;
it knows nothing about word spans, trimming or the 16 kHz world.

Why a fresh library instance per call
-------------------------------------
espeak-ng keeps synthesis state in function-static C variables (the pitch-flutter phase in
``AdvanceParameters``, the automatic gain control and cycle counter in ``Wavegen``, ...).
``espeak_Terminate`` does not reset them, so the same text spoken twice in one process
differs by a few samples. The one reliable way to get bit-identical audio is a library whose
static data is freshly initialised: every :func:`synthesize` call ``dlopen``\\ s a private
copy of ``libespeak-ng.so`` (copied once per library content into the cache folder,
``<cache>/espeak/<sha256>/``; see :func:`_library_copy`), initialises it,
synthesizes, terminates it and ``dlclose``\\ s it. This costs about 7 ms per call. The private
copy also keeps SpeechLens apart from any other user of the same library in the process.

Thread safety
-------------
The C library has global state, so every call runs under the module-level :data:`LOCK`.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.atomic import atomic_path
from tasks.cachedir import cache_root
from tasks.errors import ModelLoadError, UnknownNameError

logger = logging.getLogger(__name__)

__all__ = ["LOCK", "PhonemeEvent", "RawSpeech", "WordEvent", "synthesize", "language_names", "variant_names"]

LOCK = threading.Lock()
"""Serialises every use of the C library (it has process-wide global state)."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_INITIALIZE_PHONEME_EVENTS = 0x0001  # report espeakEVENT_PHONEME (off unless asked)
_EE_NOT_FOUND = 2
_RAND_SEED = 0  # seed of espeak's own noise generator (breathy and whispered variants)


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character index into the text
        ("length", ctypes.c_int),  # characters
        ("audio_position", ctypes.c_int),  # ms from the start of the audio
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # a union of int, const char*, char[8]
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class WordEvent:
    """One ``espeakEVENT_WORD``: where a word is in the text and where its sound starts.

    Attributes
    ----------
    char_start : int
        0-based index of the word's first character in the synthesized text.
    char_length : int
        Number of characters of the word (punctuation after it is not counted).
    start_s : float
        Where the synthesizer starts the word's phonemes, in seconds from the audio's start.
    """

    char_start: int
    char_length: int
    start_s: float


@dataclass(frozen=True)
class PhonemeEvent:
    """One ``espeakEVENT_PHONEME``: a phoneme (espeak-ng's mnemonic, e.g. ``"'aU"``, stress marks
    included; ``"_"`` is a pause) and where its sound starts, in seconds from the audio's start."""

    name: str
    start_s: float


@dataclass(frozen=True, eq=False)
class RawSpeech:
    """What the synthesizer gives: int16 samples at its own rate, word events and, when asked
    for, phoneme events."""

    samples: np.ndarray  # int16 (samples,)
    sample_rate: int
    word_events: tuple
    phoneme_events: tuple = ()


# The callback appends into these; they are only touched while LOCK is held.
_chunks: list = []
_events: list = []
_phonemes: list = []


@_SynthCallback
def _on_audio(wav, n_samples, events):
    if wav and n_samples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        event = events[i]
        if event.type == _EVENT_WORD:
            _events.append((event.text_position, event.length, event.audio_position))
        elif event.type == _EVENT_PHONEME:
            _phonemes.append((bytes(event.id).decode("utf-8", "replace"), event.audio_position))
        i += 1
    return 0  # 0 = go on synthesizing


_private_library: Path | None = None


def _data_path() -> Path:
    try:
        import espeakng_loader

        return Path(espeakng_loader.get_data_path())
    except (ImportError, RuntimeError) as exc:
        raise ModelLoadError(
            f"cannot find espeak-ng's data ({exc}); install the PyPI package 'espeakng-loader'"
        ) from exc


def _installed_library() -> Path:
    try:
        import espeakng_loader

        source = Path(espeakng_loader.get_library_path())
    except (ImportError, RuntimeError) as exc:
        raise ModelLoadError(
            f"cannot find libespeak-ng ({exc}); install the PyPI package 'espeakng-loader'"
        ) from exc
    if not source.is_file():
        raise ModelLoadError(f"libespeak-ng '{source}' does not exist; reinstall 'espeakng-loader'")
    return source


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached_copy(source: Path, digest: str) -> Path:
    """The one cached copy of ``source``, keyed by its content: ``<cache>/espeak/<sha256>/<name>``.

    Written atomically (a temporary file beside it, then a rename), so a process killed while
    copying leaves at most a ``.part`` file that the next copy replaces, and processes that
    copy at the same time each rename a complete file into place. A copy whose content does
    not match its key (damaged on disk) is replaced.
    """
    target = cache_root() / "espeak" / digest[:32] / source.name
    if target.is_file() and target.stat().st_size == source.stat().st_size and _sha256(target) == digest:
        return target
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    for part in target.parent.glob(f".{source.name}.*.part*"):  # left by copies killed mid-way
        if part.stat().st_mtime < time.time() - 3600:
            part.unlink(missing_ok=True)
    return target


def _library_copy() -> Path:
    """The private copy of libespeak-ng this process loads (found or made once per process).

    One copy per library content is kept in the cache folder (:func:`tasks.cachedir.cache_root`),
    not one per process in the temporary folder: a process killed with SIGKILL cannot clean up
    after itself, and every such kill used to leave a 650 KB copy behind. Where the cache
    cannot be written, a temporary folder (removed at exit) is used as before.
    """
    global _private_library
    if _private_library is None:
        source = _installed_library()
        try:
            _private_library = _cached_copy(source, _sha256(source))
        except OSError as exc:
            logger.warning("cannot keep libespeak-ng in the cache (%s); using a temporary copy", exc)
            folder = Path(tempfile.mkdtemp(prefix="speechlens-espeak-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            target = folder / source.name
            shutil.copyfile(source, target)
            _private_library = target
    return _private_library


def _dlclose(handle: int) -> None:
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(handle)


def _load():
    mode = getattr(os, "RTLD_LOCAL", 0)
    try:
        lib = ctypes.CDLL(str(_library_copy()), mode=mode)
    except OSError:
        # A temporary folder mounted noexec cannot hold libraries: use the installed file.
        # Output is still deterministic unless something else in the process keeps it loaded.
        import espeakng_loader

        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path(), mode=mode)
        except OSError as exc:
            raise ModelLoadError(f"cannot load libespeak-ng: {exc}") from exc
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth.restype = ctypes.c_int
    return lib


@functools.lru_cache(maxsize=1)
def language_names() -> tuple[str, ...]:
    """The language voices espeak-ng has data for: the file names in ``lang/``, lower-case
    (``'en-us'``, ``'en-gb-x-rp'``). ``espeak_SetVoiceByName`` takes these names; it refuses
    the languages a file merely declares (``'en-gb'``: use ``'en'``)."""
    lang = _data_path() / "lang"
    return tuple(sorted({p.name.lower() for p in lang.rglob("*") if p.is_file()}))


@functools.lru_cache(maxsize=1)
def variant_names() -> tuple[str, ...]:
    """The voice variants (the part after ``+``: ``'f3'``, ``'m3'``, ``'klatt'``, ...)."""
    return tuple(sorted(p.name for p in (_data_path() / "voices" / "!v").iterdir() if p.is_file()))


def synthesize(text: str, voice: str, rate: int, pitch: int, phonemes: bool = False) -> RawSpeech:
    """Synthesize ``text``; arguments must already be checked (see :func:`tasks.speak`).

    ``phonemes=True`` also collects phoneme events (``RawSpeech.phoneme_events``); the samples
    are the same either way.

    espeak-ng silently ignores an unknown ``+variant``, so callers check variants against
    :func:`variant_names` first (:func:`tasks.tts.canonical_voice` does).

    Raises
    ------
    UnknownNameError
        espeak-ng does not know ``voice`` (or its ``+variant``).
    ModelLoadError
        The library or its data cannot be loaded, or synthesis fails.
    """
    data = str(_data_path()).encode()
    text_bytes = text.encode("utf-8")
    with LOCK:
        _chunks.clear()
        _events.clear()
        _phonemes.clear()
        lib = _load()
        try:
            sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT
                                             | (_INITIALIZE_PHONEME_EVENTS if phonemes else 0))
            if sample_rate <= 0:
                raise ModelLoadError(
                    f"espeak_Initialize failed (returned {sample_rate}) with data folder {data.decode()!r}"
                )
            try:
                lib.espeak_SetSynthCallback(_on_audio)
                if hasattr(lib, "espeak_ng_SetRandSeed"):
                    lib.espeak_ng_SetRandSeed(ctypes.c_long(_RAND_SEED))
                status = lib.espeak_SetVoiceByName(voice.encode("utf-8"))
                if status == _EE_NOT_FOUND:
                    raise UnknownNameError(f"espeak-ng has no voice {voice!r}")
                if status != 0:
                    raise ModelLoadError(f"espeak_SetVoiceByName({voice!r}) failed with status {status}")
                lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
                lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
                status = lib.espeak_Synth(text_bytes, len(text_bytes) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
                if status != 0:
                    raise ModelLoadError(f"espeak_Synth failed with status {status} on text {text!r}")
            finally:
                lib.espeak_Terminate()
        finally:
            _dlclose(lib._handle)
        samples = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
        events = tuple(WordEvent(pos - 1, length, ms / 1000.0) for pos, length, ms in _events)
        phoneme_events = tuple(PhonemeEvent(name, ms / 1000.0) for name, ms in _phonemes)
        _chunks.clear()
        _events.clear()
        _phonemes.clear()
    return RawSpeech(samples=samples.astype(np.int16), sample_rate=int(sample_rate), word_events=events,
                     phoneme_events=phoneme_events)
