"""Writing a synthetic Speech Commands set: :func:`synthesize_speech_commands` and its pure
helpers (argument checks, the speaker split, clip placement, synthetic background noise).

Public as :func:`tasks.synthesize_speech_commands`. The reader and the layout's names live in
:mod:`tasks.speech_commands`, which this module imports (never the other way round).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import zlib
from pathlib import Path

import numpy as np

from tasks.atomic import write_json, write_text
from tasks.audio import SAMPLE_RATE, write_wav
from tasks.errors import ConfigError, DatasetError
from tasks.tts import (
    MAX_PITCH,
    MAX_RATE,
    MIN_PITCH,
    MIN_RATE,
    _check_int,
    canonical_voice,
    speak,
    speaker_id,
    voices,
)
from tasks.speech_commands import BACKGROUND_NOISE_DIR, LIST_FILES, SIDECAR_FORMAT, SIDECAR_NAME, SpeechCommands
from tasks.utterance import Utterance

__all__ = ["synthesize_speech_commands", "DEFAULT_WORDS", "NOISE_DURATION_S", "NOISE_RMS"]

logger = logging.getLogger(__name__)

DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The ten core command words of Speech Commands."""
NOISE_DURATION_S = 5.0
"""Length of each synthetic background-noise clip, in seconds."""
NOISE_RMS = 0.1
"""RMS level of each synthetic noise clip (white, pink, brown)."""


def _check_names(name: str, values, rule: str) -> list:
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if not values:
        raise ConfigError(f"{name} ({values!r}) is empty; give at least one value ({rule})")
    return values


def _check_word(word) -> str:
    bad = (
        not isinstance(word, str)
        or not word.strip()
        or word != word.strip()
        or any(ch.isspace() or ch in "/\\" for ch in word)
        or word.startswith(("_", "."))
    )
    if bad:
        raise ConfigError(
            f"word ({word!r}) must be one word usable as a folder name: no spaces or slashes, "
            "not starting with '_' or '.'"
        )
    return word


def _check_fraction(name: str, value) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if not ok or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name} ({value!r}) must be a fraction of the speakers, at least 0 and below 1")
    return float(value)


def _unique(name: str, values: list) -> list:
    seen = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{name} lists {value!r} twice; give each value once")
        seen.add(value)
    return values


def check_config(
    words, voices_, rates, pitches, duration_s, seed, validation_fraction, testing_fraction
) -> dict:
    """Check the arguments of synthesize_speech_commands and return them as a JSON-able dict."""
    words = _unique("words", [_check_word(w) for w in _check_names("words", words, "such as 'yes'")])
    voices_ = voices() if voices_ is None else _check_names("voices", voices_, "such as 'en-us'")
    voices_ = _unique("voices", [canonical_voice(v) for v in voices_])
    rates = _unique("rates", [
        _check_int("rate", r, MIN_RATE, MAX_RATE, "words per minute")
        for r in _check_names("rates", rates, f"{MIN_RATE} to {MAX_RATE} words per minute")
    ])  # fmt: skip
    pitches = _unique("pitches", [
        _check_int("pitch", p, MIN_PITCH, MAX_PITCH, "")
        for p in _check_names("pitches", pitches, f"{MIN_PITCH} to {MAX_PITCH}")
    ])  # fmt: skip
    is_number = isinstance(duration_s, numbers.Real) and not isinstance(duration_s, bool)
    if not is_number or not math.isfinite(float(duration_s)) or not 0.1 <= float(duration_s) <= 30.0:
        raise ConfigError(f"duration_s ({duration_s!r}) must be between 0.1 and 30 seconds")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed ({seed!r}) must be a non-negative integer")
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    testing_fraction = _check_fraction("testing_fraction", testing_fraction)
    return {
        "words": words,
        "voices": voices_,
        "rates": rates,
        "pitches": pitches,
        "duration_s": float(duration_s),
        "seed": int(seed),
        "validation_fraction": validation_fraction,
        "testing_fraction": testing_fraction,
    }


def speakers_of(config: dict) -> dict:
    """``{speaker id: {"voice", "rate", "pitch"}}`` for every voice x rate x pitch, in that order."""
    return {
        speaker_id(v, r, p): {"voice": v, "rate": r, "pitch": p}
        for v in config["voices"]
        for r in config["rates"]
        for p in config["pitches"]
    }


def split_speakers(speakers: list, seed: int, validation_fraction: float, testing_fraction: float) -> dict:
    """Assign whole speakers to splits, as the real dataset does (no speaker in two splits).

    A seeded shuffle of the speakers; a non-zero fraction gets at least one speaker.

    Raises
    ------
    ConfigError
        The fractions leave no speaker for 'train'.
    """
    n = len(speakers)

    def count(fraction: float) -> int:
        return 0 if fraction == 0 else max(1, int(round(fraction * n)))

    n_validation, n_testing = count(validation_fraction), count(testing_fraction)
    if n_validation + n_testing >= n:
        raise ConfigError(
            f"validation_fraction ({validation_fraction}) and testing_fraction ({testing_fraction}) "
            f"leave no training speaker among {n} speakers; lower them or add voices, rates or pitches"
        )
    order = np.random.default_rng(seed).permutation(n)
    split = {}
    for rank, index in enumerate(order):
        split[speakers[index]] = (
            "validation" if rank < n_validation else "testing" if rank < n_validation + n_testing else "train"
        )
    return split


def file_rng(seed: int, relative_path: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the file's path (crc32, stable across runs),
    so any one clip can be rebuilt on its own."""
    return np.random.default_rng([seed, zlib.crc32(relative_path.encode("utf-8"))])


def place_in_clip(utterance: Utterance, clip_samples: int, rng: np.random.Generator):
    """Put the utterance at a random onset in a silent clip so that all of it fits.

    Returns
    -------
    (clip, start_s, end_s, onset_s) : float32 (clip_samples,), float, float, float
        The clip and where the speech (first word's start to last word's end) lies in it.

    Raises
    ------
    ConfigError
        The speech itself is longer than the clip.
    """
    audio = utterance.audio
    rate = utterance.sample_rate
    if utterance.words:
        start = int(round(utterance.words[0].start_s * rate))
        stop = int(round(utterance.words[-1].end_s * rate))
    else:  # no word event: the whole utterance is the word
        start, stop = 0, audio.shape[0]
    if stop - start > clip_samples:
        raise ConfigError(
            f"{utterance.text!r} by voice {utterance.voice!r} at rate {utterance.rate} lasts "
            f"{(stop - start) / rate:.2f} s, longer than duration_s ({clip_samples / rate:g} s); "
            "raise duration_s or the rates"
        )
    if audio.shape[0] > clip_samples:
        # Give up some of the silence padding, the same amount on each side where possible.
        spare = clip_samples - (stop - start)
        lo = min(max(0, start - spare // 2), audio.shape[0] - clip_samples)
        audio, start, stop = audio[lo : lo + clip_samples], start - lo, stop - lo
    onset = int(rng.integers(0, clip_samples - audio.shape[0] + 1))
    clip = np.zeros(clip_samples, dtype=np.float32)
    clip[onset : onset + audio.shape[0]] = audio
    return clip, (onset + start) / rate, (onset + stop) / rate, onset / rate


def noise_clips(seed: int, duration_s: float = NOISE_DURATION_S, sample_rate: int = SAMPLE_RATE) -> dict:
    """Seeded white, pink (1/f power) and brown (1/f^2 power) noise at RMS :data:`NOISE_RMS`.

    Returns
    -------
    dict of str -> float32 (samples,)
    """
    rng = np.random.default_rng([seed, 1])
    n = int(round(duration_s * sample_rate))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    freqs[0] = freqs[1]  # no infinite gain at DC; the mean is removed below anyway
    clips = {}
    for name, exponent in (("white_noise", 0.0), ("pink_noise", 0.5), ("brown_noise", 1.0)):
        shaped = np.fft.irfft(spectrum / freqs**exponent, n=n)
        shaped -= shaped.mean()
        clips[name] = (shaped * (NOISE_RMS / np.sqrt(np.mean(shaped**2)))).astype(np.float32)
    return clips


def _resume_state(out_dir: Path, config: dict, sidecar_name: str) -> bool:
    """True when ``out_dir`` already holds this complete set; raise if it holds something else."""
    sidecar = out_dir / sidecar_name
    if not sidecar.is_file():
        if out_dir.is_dir() and any(out_dir.iterdir()):
            raise DatasetError(
                f"out_dir '{out_dir}' is not empty and has no {sidecar_name}; refusing to write a "
                "synthetic set into it. Choose an empty or new folder."
            )
        return False
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read synthesis record '{sidecar}': {exc}") from exc
    old = record.get("config", {}) if isinstance(record, dict) else {}
    if old != config:
        changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
        detail = "; ".join(f"{k}: {old.get(k)!r} there, {config.get(k)!r} asked" for k in changed)
        raise DatasetError(
            f"out_dir '{out_dir}' already holds a synthetic set made with other settings ({detail}); "
            "choose another out_dir or delete that one"
        )
    files = record.get("files", {})
    return bool(record.get("complete")) and all((out_dir / rel).is_file() for rel in files)


def synthesize_speech_commands(
    out_dir,
    words=DEFAULT_WORDS,
    voices=None,
    rates=(150, 190),
    pitches=(40, 60),
    duration_s: float = 1.0,
    seed: int = 0,
    validation_fraction: float = 0.1,
    testing_fraction: float = 0.1,
) -> SpeechCommands:
    """Write a synthetic Speech Commands set in the official layout and return its reader.

    Every voice x rate x pitch is a speaker (id from :func:`tasks.tts.speaker_id`, without
    '_'); each speaker says each word once: ``<word>/<speaker>_nohash_0.wav``, a float32 WAV of
    ``duration_s`` at 16 kHz with the word (and its 50 ms synthesis padding) at a seeded random
    onset, silence elsewhere. Whole speakers go to validation_list.txt / testing_list.txt (a
    seeded shuffle). ``_background_noise_/`` gets seeded white, pink and brown noise (5 s each).
    ``synthesis.json`` records the arguments, each speaker's voice/rate/pitch/split and each
    clip's word span.

    Every file is written atomically; ``synthesis.json`` is marked complete last. Called again
    on a complete folder with the same arguments, it does no work; on an interrupted one it
    finishes the set (synthesis is deterministic, so rewritten clips are identical).

    Parameters
    ----------
    out_dir : str or Path
        An empty or new folder, or one this function filled with the same arguments.
    words : sequence of str
        The word folders (one word each, usable as a folder name).
    voices : sequence of str, optional
        espeak-ng voices; default :func:`tasks.voices`.
    rates, pitches : sequence of int
        Speaking rates (80-450 words per minute) and pitches (0-99).
    duration_s : float
        Clip length, 0.1 to 30 s.
    seed : int
        Seeds the onsets, the split and the noise.
    validation_fraction, testing_fraction : float
        Fractions of the speakers in each split (a non-zero one gets at least one speaker).

    Returns
    -------
    SpeechCommands

    Raises
    ------
    ConfigError
        A bad argument, a word longer than ``duration_s``, or fractions that leave no
        training speaker.
    UnknownNameError
        An unknown voice.
    DatasetError
        ``out_dir`` holds other files, or a set made with other arguments.

    Examples
    --------
    >>> import tempfile
    >>> data = synthesize_speech_commands(tempfile.mkdtemp(), words=("yes", "no"), voices=["en-us"])
    >>> len(data), sorted({e.split for e in data})
    (8, ['testing', 'train', 'validation'])
    """
    config = check_config(
        words, voices, rates, pitches, duration_s, seed, validation_fraction, testing_fraction
    )
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"out_dir '{out_dir}' is a file, not a folder")
    if _resume_state(out_dir, config, SIDECAR_NAME):
        logger.info("'%s' already holds this synthetic set; nothing to do", out_dir)
        return SpeechCommands(out_dir)
    speakers = speakers_of(config)
    splits = split_speakers(
        list(speakers), config["seed"], config["validation_fraction"], config["testing_fraction"]
    )
    record = {"format": SIDECAR_FORMAT, "version": 1, "complete": False, "config": config}
    write_json(out_dir / SIDECAR_NAME, record)
    for name, audio in noise_clips(config["seed"]).items():
        write_wav(out_dir / BACKGROUND_NOISE_DIR / f"{name}.wav", audio)
    clip_samples = int(round(config["duration_s"] * SAMPLE_RATE))
    files = {}
    for word in config["words"]:
        for speaker, settings in speakers.items():
            relative = f"{word}/{speaker}_nohash_0.wav"
            utterance = speak(word, **settings)
            clip, start_s, end_s, onset_s = place_in_clip(
                utterance, clip_samples, file_rng(config["seed"], relative)
            )
            write_wav(out_dir / relative, clip)
            files[relative] = {
                "word": word, "speaker": speaker, "start_s": start_s, "end_s": end_s, "onset_s": onset_s,
            }  # fmt: skip
    for split, list_name in LIST_FILES.items():
        lines = "".join(f"{rel}\n" for rel in sorted(files) if splits[files[rel]["speaker"]] == split)
        write_text(out_dir / list_name, lines)
    record.update(
        complete=True,
        sample_rate=SAMPLE_RATE,
        speakers={s: {**settings, "split": splits[s]} for s, settings in speakers.items()},
        files=files,
    )
    write_json(out_dir / SIDECAR_NAME, record)
    logger.info("wrote %d clips of %d speakers to '%s'", len(files), len(speakers), out_dir)
    return SpeechCommands(out_dir)
