"""Reading the audio files of a dataset: which formats, and typed errors naming the file.

Audio is decoded by libsndfile (through ``soundfile``): WAV (PCM and float, WAVEX, RF64,
W64), FLAC, OGG (Vorbis and Opus), MP3, AIFF, AU and CAF. Other containers (M4A/AAC, MP4,
WMA, WebM, AMR) are refused with a message saying how to convert them. Every clip comes back
as float32 mono at 16 kHz (:func:`tasks.audio.prepare_audio` resamples and down-mixes).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tasks.audio import SAMPLE_RATE, prepare_audio
from tasks.errors import AudioError

__all__ = ["SUPPORTED_EXTENSIONS", "UNSUPPORTED_EXTENSIONS", "is_audio_file", "read_audio", "decode_audio",
           "check_extension"]

SUPPORTED_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf",
                        ".w64", ".rf64")
"""File name endings read as audio (lower case)."""
UNSUPPORTED_EXTENSIONS = (".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr", ".3gp", ".mka", ".ac3")
"""Audio containers libsndfile cannot decode: refused with a conversion hint."""
_HINT = ("supported formats: " + ", ".join(e.lstrip(".") for e in SUPPORTED_EXTENSIONS)
         + "; convert others first, e.g. ffmpeg -i in.m4a -ac 1 -ar 16000 out.wav")


def is_audio_file(path) -> bool:
    """Whether ``path``'s name ends in a supported or known-unsupported audio extension."""
    suffix = Path(path).suffix.lower()
    return suffix in SUPPORTED_EXTENSIONS or suffix in UNSUPPORTED_EXTENSIONS


def check_extension(path) -> Path:
    """``path`` as a Path, or AudioError when its extension is not a supported audio format."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise AudioError(f"audio file '{path}' has the unsupported format '{path.suffix or '(none)'}'; {_HINT}")
    return path


def decode_audio(data: bytes, name: str) -> np.ndarray:
    """Decode an encoded audio file held in memory; float32 mono at 16 kHz."""
    import soundfile as sf

    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (RuntimeError, sf.SoundFileError, TypeError) as exc:
        raise AudioError(f"cannot decode audio {name}: {exc}; {_HINT}") from exc
    return prepare_audio(samples, rate, target_rate=SAMPLE_RATE, name=name)


def read_audio(path) -> np.ndarray:
    """Read an audio file as float32 mono at 16 kHz.

    Raises
    ------
    AudioError
        The file is missing, its format is not supported (the message lists the supported
        ones), or it cannot be decoded (corrupt, empty, not audio).
    """
    import soundfile as sf

    path = check_extension(path)
    if not path.is_file():
        raise AudioError(f"audio file '{path}' does not exist")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, sf.SoundFileError, TypeError) as exc:
        raise AudioError(f"cannot read audio file '{path}': {exc}; {_HINT}") from exc
    return prepare_audio(samples, rate, target_rate=SAMPLE_RATE, name=f"'{path}'")
