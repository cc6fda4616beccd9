"""What the atlas page plays and draws for a clip: a 16-bit WAV and a small log-mel spectrogram.

The spectrogram is 64 mel bands (0-8 kHz) every 10 ms from a 25 ms Hann window, in dB
clipped to the clip's top 80 dB, scaled to bytes 0-255 and base64-encoded (rows are frames,
columns bands from low to high), so a 2 s clip takes about 17 KB of JSON and the page draws it
on a canvas without a PNG decoder or a plotting library.
"""

from __future__ import annotations

import base64
import io
import wave

import numpy as np

__all__ = ["HOP_S", "N_MELS", "spectrogram", "wav_bytes"]

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
HOP_S = HOP / SAMPLE_RATE
N_MELS = 64
TOP_DB = 80.0


def wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """``audio`` float (samples,) in [-1, 1] as a mono 16-bit PCM WAV file."""
    pcm = (np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def _mel_filters() -> np.ndarray:
    """Triangular mel filters ``(N_FFT // 2 + 1, N_MELS)`` (HTK mel scale, 0-8 kHz)."""
    import torchaudio

    return torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE).numpy()


def spectrogram(audio: np.ndarray) -> dict:
    """A byte-scaled log-mel spectrogram of 16 kHz ``audio`` (see the module notes).

    Returns
    -------
    dict
        ``{"frames": int, "bands": 64, "hop_s": 0.01, "data": base64 of uint8 (frames, bands)}``.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.shape[0] < N_FFT:
        x = np.pad(x, (0, N_FFT - x.shape[0]))
    n = 1 + (x.shape[0] - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * np.hanning(N_FFT), axis=1)) ** 2
    db = 10.0 * np.log10(np.maximum(power @ _mel_filters(), 1e-10))
    db = np.maximum(db, db.max() - TOP_DB)
    scaled = np.round((db - db.min()) / max(db.max() - db.min(), 1e-9) * 255.0).astype(np.uint8)
    return {"frames": int(n), "bands": N_MELS, "hop_s": HOP_S, "data": base64.b64encode(scaled.tobytes()).decode()}
