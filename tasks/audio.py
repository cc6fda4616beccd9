"""Audio checks and conversions shared by every package.

All of SpeechLens works on float32 mono audio at 16 kHz. :func:`prepare_audio` is the one
gate: it resamples other rates (polyphase filter, :func:`scipy.signal.resample_poly`),
down-mixes stereo with a warning, and refuses empty, non-finite or over-long audio with an
:class:`~tasks.errors.AudioError` that names the argument.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from tasks.atomic import atomic_path
from tasks.errors import AudioError, ConfigError

__all__ = ["SAMPLE_RATE", "prepare_audio", "resample", "read_wav", "write_wav", "check_sample_rate",
           "wav_truncation", "AudioWarning"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""The rate every model and corruption in SpeechLens works at, in Hz."""


class AudioWarning(UserWarning):
    """Audio that can be used but may not be what was meant (a truncated file, down-mixed channels)."""


def check_sample_rate(sample_rate, name: str = "sample_rate") -> int:
    """Return ``sample_rate`` as an int, or raise ConfigError if it is not a positive integer."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer, float)):
        raise ConfigError(f"{name} ({sample_rate!r}) must be a positive integer number of Hz")
    if not math.isfinite(float(sample_rate)) or float(sample_rate) != int(sample_rate) or sample_rate <= 0:
        raise ConfigError(f"{name} ({sample_rate!r}) must be a positive integer number of Hz")
    return int(sample_rate)


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample float32 ``(samples,)`` audio with a polyphase filter; exact rates only."""
    if orig_rate == target_rate:
        return audio
    from scipy.signal import resample_poly

    ratio = Fraction(target_rate, orig_rate)
    out = resample_poly(audio.astype(np.float64), ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


def _to_mono(audio: np.ndarray, name: str) -> np.ndarray:
    if audio.ndim == 1:
        return audio
    if audio.ndim == 2:
        # The channel axis is the short one: (samples, channels) as soundfile gives, or
        # (channels, samples) as torchaudio gives.
        axis = 1 if audio.shape[1] <= audio.shape[0] else 0
        if audio.shape[axis] == 1:
            return audio.reshape(-1)
        if audio.shape[axis] > 8:
            raise AudioError(
                f"{name} has shape {audio.shape}: expected mono (samples,) or a few channels"
            )
        warnings.warn(
            f"{name} has {audio.shape[axis]} channels; down-mixing to mono by averaging",
            AudioWarning,
            stacklevel=3,
        )
        return audio.mean(axis=axis)
    raise AudioError(f"{name} has {audio.ndim} dimensions (shape {audio.shape}); expected mono (samples,)")


def prepare_audio(
    audio,
    sample_rate,
    *,
    target_rate: int = SAMPLE_RATE,
    name: str = "audio",
    max_duration_s: float | None = None,
) -> np.ndarray:
    """Check ``audio`` and return it as float32 mono at ``target_rate``.

    Parameters
    ----------
    audio : array-like, float (samples,) or (samples, channels) / (channels, samples)
    sample_rate : int
        Rate of ``audio`` in Hz. Other rates than ``target_rate`` are resampled.
    name : str
        How error messages call this audio (an argument name or a file path).
    max_duration_s : float, optional
        Longest allowed duration after resampling (Whisper: 30 s).

    Returns
    -------
    np.ndarray, float32 (samples,)

    Raises
    ------
    AudioError
        Empty audio, NaN/inf samples, more than 2 dimensions, or longer than ``max_duration_s``.
    ConfigError
        ``sample_rate`` is not a positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> prepare_audio(np.zeros(8000), 8000).shape
    (16000,)
    """
    sample_rate = check_sample_rate(sample_rate)
    if hasattr(audio, "detach"):  # a torch tensor
        audio = audio.detach().cpu().numpy()
    arr = np.asarray(audio)
    if arr.dtype.kind not in "fiu":
        raise AudioError(f"{name} has dtype {arr.dtype}; expected floating-point samples")
    if arr.dtype.kind == "i":
        # Signed integer PCM: scale to [-1, 1) as soundfile does.
        arr = arr.astype(np.float64) / float(np.iinfo(arr.dtype).max + 1)
    elif arr.dtype.kind == "u":
        # Unsigned PCM is offset-binary (8-bit WAV): the midpoint is silence, so centre it first.
        half = float(np.iinfo(arr.dtype).max + 1) / 2.0
        arr = (arr.astype(np.float64) - half) / half
    arr = _to_mono(arr, name)
    if arr.size == 0:
        raise AudioError(f"{name} is empty (0 samples); give at least one sample of audio")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise AudioError(f"{name} has {bad} NaN or infinite samples; every sample must be finite")
    arr = resample(arr, sample_rate, target_rate)
    if max_duration_s is not None:
        duration_s = arr.size / target_rate
        if duration_s > max_duration_s + 1e-9:
            raise AudioError(
                f"{name} is {duration_s:.2f} s long; the model takes at most {max_duration_s:g} s. "
                "Cut it into shorter clips."
            )
    return np.ascontiguousarray(arr, dtype=np.float32)


def wav_truncation(path) -> tuple[int, int] | None:
    """``(declared, present)`` data bytes of a RIFF/WAVE file whose data chunk is cut short, else None.

    libsndfile reads a truncated WAV without complaint (it shortens the clip to the bytes
    present), so a copy cut off by a full disk or a killed download would load as a shorter
    clip. The header still says how long the data should be; this compares the two.
    Files that are not RIFF/WAVE, and streamed WAVs whose header leaves the size unset, give None.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, n = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                present = size - pos - 8
                if n in (0, 0xFFFFFFFF):  # size left unset by a streaming writer
                    return None
                return (n, present) if present < n else None
            pos += 8 + n + (n & 1)
    return None


def read_wav(path, *, target_rate: int = SAMPLE_RATE, max_duration_s: float | None = None,
             truncated: str = "warn") -> np.ndarray:
    """Read a sound file as float32 mono at ``target_rate`` (resampling and down-mixing).

    Parameters
    ----------
    truncated : {"warn", "error"}
        What to do with a WAV file whose data is cut short (see :func:`wav_truncation`):
        read what is there with an :class:`AudioWarning` naming the file, or raise AudioError.

    Raises
    ------
    AudioError
        The file is missing or unreadable, or truncated with ``truncated="error"``.
    """
    import soundfile as sf

    if truncated not in ("warn", "error"):
        raise ConfigError(f"truncated ({truncated!r}) must be 'warn' or 'error'")
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file '{path}' " + ("is a folder, not a file" if path.is_dir() else "does not exist"))
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, sf.SoundFileError) as exc:  # soundfile raises LibsndfileError(RuntimeError)
        raise AudioError(f"cannot read audio file '{path}': {exc}") from exc
    cut = wav_truncation(path)
    if cut is not None:
        message = (f"audio file '{path}' is truncated: its header declares {cut[0]} bytes of audio but only "
                   f"{cut[1]} are present ({100.0 * cut[1] / cut[0]:.1f}%); the clip is shorter than recorded")
        if truncated == "error":
            raise AudioError(message)
        warnings.warn(message, AudioWarning, stacklevel=2)
        logger.warning(message)
    return prepare_audio(data, rate, target_rate=target_rate, name=f"'{path}'", max_duration_s=max_duration_s)


def write_wav(path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write float32 audio as a 32-bit float WAV file, atomically.

    Float WAV keeps the samples bit-exact, so a saved pair reloads to the same arrays.
    The file appears under its name only once it is complete.
    """
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(audio, dtype=np.float32), int(sample_rate), subtype="FLOAT", format="WAV")
    return Path(path)
