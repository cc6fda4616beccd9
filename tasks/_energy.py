"""Short-time energy: where a clip is audible. Shared by :mod:`tasks.tts` and
:mod:`tasks.speech_commands`; pure functions on float32 ``(samples,)`` audio."""

from __future__ import annotations

import numpy as np

__all__ = ["FRAME_S", "frame_rms", "active_frames", "active_range"]

FRAME_S = 0.005
"""Frame length of the energy envelope in seconds (5 ms: fine enough for word edges)."""


def frame_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    """RMS of consecutive, non-overlapping frames of ``frame`` samples; the last one may be short.

    Returns
    -------
    np.ndarray, float64 (ceil(samples / frame),)
    """
    audio = np.asarray(audio, dtype=np.float64)
    n_frames = -(-audio.shape[0] // frame)
    padded = np.zeros(n_frames * frame)
    padded[: audio.shape[0]] = audio
    power = (padded.reshape(n_frames, frame) ** 2).sum(axis=1)
    counts = np.full(n_frames, float(frame))
    counts[-1] = audio.shape[0] - (n_frames - 1) * frame
    return np.sqrt(power / counts)


def active_frames(audio: np.ndarray, sample_rate: int, top_db: float, reference: float | None = None):
    """Frames whose RMS is within ``top_db`` dB of ``reference`` (default: the loudest frame).

    Returns
    -------
    (mask, frame) : bool (frames,), int
        The mask over frames and the frame length in samples. All False for silent audio.
    """
    frame = max(1, int(round(FRAME_S * sample_rate)))
    rms = frame_rms(audio, frame)
    ref = float(rms.max()) if reference is None else float(reference)
    if ref <= 0.0:
        return np.zeros(rms.shape[0], dtype=bool), frame
    return rms > ref * 10.0 ** (-top_db / 20.0), frame


def active_range(audio: np.ndarray, sample_rate: int, top_db: float, reference: float | None = None):
    """``(start, stop)`` sample indices from the first to the end of the last audible frame.

    ``None`` when no frame is audible (silent audio). Like ``librosa.effects.trim``, but with
    5 ms frames and no frame overlap, so edges are accurate to 5 ms.
    """
    mask, frame = active_frames(audio, sample_rate, top_db, reference)
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return None
    return int(hits[0] * frame), int(min((hits[-1] + 1) * frame, np.asarray(audio).shape[0]))
