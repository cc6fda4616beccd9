"""The signal processing behind every corruption, as pure functions.

Each function takes arrays and numbers (and, where it draws, an explicit
:class:`numpy.random.Generator`) and returns a new float32 array; none keeps state or
touches a global random generator. The corruption classes only validate, draw
parameters and call these.

Audio is float32 mono ``(samples,)``; spans are sample indices ``[a, b)``.
"""

from __future__ import annotations

import math

import numpy as np

from tasks.errors import AudioError, ConfigError

__all__ = [
    "NOISE_COLORS",
    "power",
    "rms",
    "snr_db",
    "colored_noise",
    "mix_at_snr",
    "fit_length",
    "tile_to_length",
    "replace_span",
    "crossfade",
    "crossfade_cut",
    "splice",
    "pitch_shift",
    "time_stretch_to",
    "butterworth",
    "decaying_ir",
    "convolve_same",
    "changed_spans",
    "frame_distance_db",
]

NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}
"""Noise colors and their spectral exponent beta: power spectral density ~ 1 / f**beta."""


def power(audio: np.ndarray) -> float:
    """Mean square of ``audio`` (0.0 for an empty array), computed in float64."""
    audio = np.asarray(audio, dtype=np.float64)
    return float(np.mean(audio * audio)) if audio.size else 0.0


def rms(audio: np.ndarray) -> float:
    """Root mean square of ``audio``."""
    return math.sqrt(power(audio))


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Measured SNR in dB: power of ``clean`` over power of ``noisy - clean`` (inf if equal)."""
    clean = np.asarray(clean, dtype=np.float64)
    noise_power = power(np.asarray(noisy, dtype=np.float64) - clean)
    if noise_power == 0.0:
        return math.inf
    return 10.0 * math.log10(power(clean) / noise_power) if power(clean) > 0 else -math.inf


def colored_noise(rng: np.random.Generator, n_samples: int, color: str = "white") -> np.ndarray:
    """Gaussian noise with power spectral density ~ 1/f**beta, scaled to unit RMS.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    n_samples : int
    color : {"white", "pink", "brown", "blue", "violet"}
        beta = 0, 1, 2, -1, -2 (pink falls 3 dB per octave, brown 6 dB).

    Returns
    -------
    np.ndarray, float32 (n_samples,)

    Examples
    --------
    >>> x = colored_noise(np.random.default_rng(0), 16000, "pink")
    >>> round(float(np.sqrt(np.mean(x.astype(float) ** 2))), 3)
    1.0
    """
    if color not in NOISE_COLORS:
        raise ConfigError(f"color ({color!r}) must be one of {', '.join(map(repr, NOISE_COLORS))}")
    n_samples = int(n_samples)
    if n_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    white = rng.standard_normal(n_samples)
    beta = NOISE_COLORS[color]
    if beta != 0.0 and n_samples > 2:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n_samples)
        scale = np.zeros_like(freqs)
        scale[1:] = freqs[1:] ** (-beta / 2.0)
        noise = np.fft.irfft(spectrum * scale, n=n_samples)
    else:
        noise = white
    level = rms(noise)
    return (noise / level if level > 0 else noise).astype(np.float32)


def mix_at_snr(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` to ``audio`` scaled so that power(audio) / power(added) = 10**(snr_db/10).

    Both powers are mean squares over the whole of the given arrays (pass the span you
    corrupt). ``snr_db=inf`` returns ``audio`` unchanged.

    Raises
    ------
    AudioError
        Lengths differ, ``noise`` is silent, or ``audio`` is silent (the SNR is undefined).
    """
    audio = np.asarray(audio, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float64)
    if math.isinf(snr_db) and snr_db > 0:
        return audio.copy()
    if noise.shape != audio.shape:
        raise AudioError(f"noise has shape {noise.shape} but audio has {audio.shape}; they must match")
    signal_power, noise_power = power(audio), power(noise)
    if signal_power == 0.0:
        raise AudioError(
            "the audio where noise is added is digital silence, so its SNR is undefined; "
            "add noise over a span with speech, or use the 'gap' corruption with fill='noise'"
        )
    if noise_power == 0.0:
        raise AudioError("the noise is digital silence; give noise with energy")
    gain = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (audio.astype(np.float64) + gain * noise).astype(np.float32)


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim ``audio`` to ``n_samples`` or pad it with trailing zeros (float32 copy)."""
    out = np.zeros(int(n_samples), dtype=np.float32)
    m = min(out.size, audio.shape[0])
    out[:m] = audio[:m]
    return out


def tile_to_length(audio: np.ndarray, n_samples: int, offset: int = 0) -> np.ndarray:
    """``n_samples`` of ``audio`` read from ``offset`` on, looping when it runs out."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise AudioError("cannot loop an empty noise clip; give a clip with at least one sample")
    index = (int(offset) + np.arange(int(n_samples))) % audio.size
    return audio[index]


def replace_span(audio: np.ndarray, a: int, b: int, fill) -> np.ndarray:
    """A copy of ``audio`` with ``[a, b)`` set to ``fill`` (a scalar or ``b - a`` samples)."""
    out = np.array(audio, dtype=np.float32, copy=True)
    out[a:b] = fill
    return out


def _fade_out(n: int) -> np.ndarray:
    """Raised-cosine weights from 1 to 0 over ``n`` samples (its complement fades in)."""
    t = (np.arange(n) + 0.5) / n
    return 0.5 * (1.0 + np.cos(np.pi * t))


def crossfade(first: np.ndarray, second: np.ndarray, center: int, half: int) -> np.ndarray:
    """``first`` before ``center - half``, ``second`` from ``center + half``, a raised-cosine blend between.

    Outside the blend each sample is copied bit for bit from its track.
    """
    n = first.shape[0]
    weight = np.zeros(n, dtype=np.float64)
    lo, hi = center - half, center + half
    weight[: max(lo, 0)] = 1.0
    if half > 0:
        fade = _fade_out(2 * half)
        i0, i1 = max(lo, 0), min(hi, n)
        if i1 > i0:
            weight[i0:i1] = fade[i0 - lo : i1 - lo]
    out = first.astype(np.float64) * weight + second.astype(np.float64) * (1.0 - weight)
    return out.astype(np.float32)


def _place(n: int, segment: np.ndarray, at: int) -> np.ndarray:
    """A zero track of ``n`` samples with ``segment`` starting at index ``at`` (clipped)."""
    track = np.zeros(n, dtype=np.float32)
    lo, hi = max(at, 0), min(at + segment.shape[0], n)
    if hi > lo:
        track[lo:hi] = segment[lo - at : hi - at]
    return track


def crossfade_cut(audio: np.ndarray, a: int, b: int, crossfade_samples: int) -> np.ndarray:
    """Cut ``[a, b)`` out, blend the two sides over ``crossfade_samples``, pad zeros at the end.

    The length is kept: everything after the cut moves ``b - a`` samples earlier and the last
    ``b - a`` samples are digital silence. Samples before ``a - crossfade_samples // 2`` are
    untouched; samples from ``a + crossfade_samples // 2`` on are exact copies of ``audio[b + ...]``.
    """
    n = audio.shape[0]
    half = crossfade_samples // 2
    half = min(half, a, n - b)
    later = _place(n, audio[max(b - half, 0) :], a - half)
    return crossfade(audio, later, a, half)


def splice(
    audio: np.ndarray, a: int, b: int, new: np.ndarray, new_a: int, new_b: int,
    crossfade_samples: int, segment: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Replace ``audio[a:b]`` with ``new[new_a:new_b]`` (or ``segment``), keeping ``audio``'s length.

    The new segment starts at ``a``; what followed ``b`` follows the segment (shifted by the
    length difference; trailing audio is trimmed or zero-padded). Both joins are raised-cosine
    crossfades of ``crossfade_samples``, using ``new``'s own audio just outside its span, so
    ``audio[: a - crossfade_samples // 2]`` is untouched.
    """
    n = audio.shape[0]
    half = crossfade_samples // 2
    seg = np.asarray(new[new_a:new_b] if segment is None else segment, dtype=np.float32)
    m = seg.shape[0]
    pre = new[max(new_a - half, 0) : new_a]
    post = new[new_b : new_b + half]
    track = np.zeros(n, dtype=np.float32)
    for part, at in ((pre, a - pre.shape[0]), (seg, a), (post, a + m)):
        lo, hi = max(at, 0), min(at + part.shape[0], n)
        if hi > lo:
            track[lo:hi] = part[lo - at : hi - at]
    head = crossfade(audio, track, a, min(half, a))
    tail = _place(n, audio[max(b - half, 0) :], a + m - (b - max(b - half, 0)))
    return crossfade(head, tail, a + m, half)


def pitch_shift(audio: np.ndarray, sample_rate: int, semitones: float, n_fft: int = 1024) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping the duration (librosa phase vocoder + soxr resampling).

    Deterministic; ``semitones=0`` returns a copy.
    """
    if semitones == 0:
        return np.array(audio, dtype=np.float32, copy=True)
    import librosa

    out = librosa.effects.pitch_shift(
        np.asarray(audio, dtype=np.float32), sr=int(sample_rate), n_steps=float(semitones),
        res_type="soxr_hq", n_fft=n_fft, hop_length=n_fft // 4,
    )  # fmt: skip
    return fit_length(out, audio.shape[0])


def time_stretch_to(audio: np.ndarray, n_samples: int, n_fft: int = 512) -> np.ndarray:
    """Stretch or squeeze ``audio`` to ``n_samples`` without changing its pitch (phase vocoder)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] == n_samples or audio.shape[0] == 0 or n_samples == 0:
        return fit_length(audio, n_samples)
    import librosa

    rate = audio.shape[0] / n_samples
    out = librosa.effects.time_stretch(audio, rate=rate, n_fft=n_fft, hop_length=n_fft // 4)
    return fit_length(out, n_samples)


def butterworth(
    audio: np.ndarray, sample_rate: int, filter_type: str, *, cutoff_hz: float | None = None,
    center_hz: float | None = None, bandwidth_hz: float | None = None, rolloff_db: int = 24,
    zero_phase: bool = True,
) -> np.ndarray:  # fmt: skip
    """Apply audiomentations' Butterworth ``LowPassFilter`` or ``BandStopFilter`` with fixed parameters.

    The transform's parameters are set and frozen before the call, so audiomentations
    never draws from the global random generators. ``zero_phase=True`` filters forwards and
    backwards (no delay, so frames stay aligned; the slope is ``rolloff_db`` dB/octave).
    """
    from audiomentations import BandStopFilter, LowPassFilter

    common = {"min_rolloff": rolloff_db, "max_rolloff": rolloff_db, "zero_phase": zero_phase, "p": 1.0}
    if filter_type == "lowpass":
        transform = LowPassFilter(min_cutoff_freq=cutoff_hz, max_cutoff_freq=cutoff_hz, **common)
        transform.parameters = {"should_apply": True, "rolloff": rolloff_db, "cutoff_freq": cutoff_hz}
    elif filter_type == "bandstop":
        fraction = bandwidth_hz / center_hz
        transform = BandStopFilter(
            min_center_freq=center_hz, max_center_freq=center_hz, min_bandwidth_fraction=fraction,
            max_bandwidth_fraction=fraction, **common,
        )  # fmt: skip
        transform.parameters = {
            "should_apply": True, "rolloff": rolloff_db, "center_freq": center_hz, "bandwidth": bandwidth_hz,
        }  # fmt: skip
    else:
        raise ConfigError(f"filter_type ({filter_type!r}) must be 'lowpass' or 'bandstop'")
    transform.freeze_parameters()
    out = transform(np.ascontiguousarray(audio, dtype=np.float32), int(sample_rate))
    return np.asarray(out, dtype=np.float32)


def decaying_ir(rng: np.random.Generator, sample_rate: int, rt60_s: float, drr_db: float) -> np.ndarray:
    """A synthetic room impulse response: a direct path, then exponentially decaying Gaussian noise.

    The tail falls 60 dB over ``rt60_s`` (and ends there); its energy is ``drr_db`` below the
    direct path's. The response is scaled to unit energy, so reverberation keeps the
    expected level. The direct path is at lag 0, so nothing moves in time.

    Returns
    -------
    np.ndarray, float64 (1 + round(rt60_s * sample_rate),)
    """
    n_tail = int(round(rt60_s * sample_rate))
    ir = np.zeros(1 + n_tail)
    ir[0] = 1.0
    if n_tail > 0:
        t = np.arange(1, n_tail + 1) / sample_rate
        tail = rng.standard_normal(n_tail) * np.exp(-math.log(1000.0) * t / rt60_s)
        tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / np.sum(tail * tail))
        ir[1:] = tail
    return ir / math.sqrt(np.sum(ir * ir))


def convolve_same(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Causal convolution of ``audio`` with ``ir``, trimmed to ``audio``'s length."""
    from scipy.signal import fftconvolve

    out = fftconvolve(np.asarray(audio, dtype=np.float64), ir)[: audio.shape[0]]
    return out.astype(np.float32)


def changed_spans(clean: np.ndarray, corrupt: np.ndarray, sample_rate: int, merge_s: float = 0.02) -> list:
    """Spans ``[(start_s, end_s), ...]`` where the samples differ, runs closer than ``merge_s`` merged."""
    differ = np.asarray(clean) != np.asarray(corrupt)
    if not differ.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], differ.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]
    merge = int(round(merge_s * sample_rate))
    spans = [[int(starts[0]), int(ends[0])]]
    for a, b in zip(starts[1:], ends[1:]):
        if a - spans[-1][1] < merge:
            spans[-1][1] = int(b)
        else:
            spans.append([int(a), int(b)])
    return [(a / sample_rate, b / sample_rate) for a, b in spans]


def _log_mel_frames(audio, sample_rate, hop, n_frames, n_mels, window_s) -> np.ndarray:
    import librosa

    win = int(round(window_s * sample_rate))
    n_fft = 1 << max(win - 1, 1).bit_length()
    # Frame i is centred on the middle of model frame i: (i + 0.5) * hop.
    left = n_fft // 2 - hop // 2
    need = (n_frames - 1) * hop + n_fft
    padded = np.pad(np.asarray(audio, dtype=np.float32), (max(left, 0), 0))
    padded = np.pad(padded, (0, max(need - padded.shape[0], 0)))
    mel = librosa.feature.melspectrogram(
        y=padded, sr=sample_rate, n_fft=n_fft, hop_length=hop, win_length=win, center=False,
        n_mels=n_mels, power=2.0,
    )  # fmt: skip
    return mel[:, :n_frames].astype(np.float64)


def frame_distance_db(
    clean: np.ndarray, corrupt: np.ndarray, sample_rate: int, frame_s: float, *, n_mels: int = 80,
    window_s: float = 0.025, dynamic_range_db: float = 80.0,
) -> np.ndarray:  # fmt: skip
    """Per-frame mean absolute log-mel difference in dB between two equal-length clips.

    Frame ``i`` covers ``[i * frame_s, (i + 1) * frame_s)``; its ``window_s`` analysis window
    is centred on that interval's middle; there are ``ceil(duration_s / frame_s)`` frames.
    Mel powers are floored at ``dynamic_range_db`` below the louder clip's peak (the same floor
    for both), so differences in inaudible residue do not count.

    Returns
    -------
    np.ndarray, float64 (n_frames,)
    """
    n = clean.shape[0]
    hop = int(round(frame_s * sample_rate))
    if hop <= 0:
        raise ConfigError(f"frame_s ({frame_s!r}) must be at least one sample (1/{sample_rate} s)")
    n_frames = max(1, math.ceil(n / (frame_s * sample_rate) - 1e-9))
    mel_a = _log_mel_frames(clean, sample_rate, hop, n_frames, n_mels, window_s)
    mel_b = _log_mel_frames(corrupt, sample_rate, hop, n_frames, n_mels, window_s)
    peak = max(float(mel_a.max()), float(mel_b.max()), 1e-20)
    floor = peak * 10.0 ** (-dynamic_range_db / 10.0)
    db_a = 10.0 * np.log10(np.maximum(mel_a, floor))
    db_b = 10.0 * np.log10(np.maximum(mel_b, floor))
    return np.mean(np.abs(db_a - db_b), axis=0)
