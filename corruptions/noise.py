"""Additive noise at a target signal-to-noise ratio, over the whole clip or a span."""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_choice, check_number, draw_choice, draw_number, need
from corruptions.source import Source, as_source, span_samples
from corruptions.span import check_span_fields, draw_span
from tasks.audio import SAMPLE_RATE, prepare_audio, read_wav
from tasks.errors import ConfigError, unknown_name

__all__ = ["Noise"]

_COLORS = tuple(F.NOISE_COLORS) + ("clip",)


@functools.lru_cache(maxsize=8)
def _read_clips(path: str) -> tuple:
    """``((name, float32 audio at 16 kHz), ...)`` from a WAV file or a folder of them (sorted)."""
    p = Path(path)
    files = sorted(p.glob("*.wav")) if p.is_dir() else [p]
    if not files:
        raise ConfigError(f"clips ('{path}') is a folder without .wav files; give a folder of noise WAV files")
    return tuple((f.name, read_wav(f)) for f in files)


def _normalise_clips(clips):
    if clips is None or (isinstance(clips, str) and clips == "dataset"):
        return clips
    if isinstance(clips, (str, Path)):
        if not Path(clips).exists():
            raise ConfigError(f"clips ('{clips}') does not exist; give a folder of WAV files, a WAV file or 'dataset'")
        return str(clips)
    if isinstance(clips, np.ndarray) and clips.ndim == 1:
        clips = [clips]
    if isinstance(clips, dict):
        clips = list(clips.items())
    if not isinstance(clips, (list, tuple)) or not clips:
        raise ConfigError(f"clips ({type(clips).__name__}) must be None, 'dataset', a path, or a list of arrays")
    if all(isinstance(c, dict) and "sha256" in c for c in clips):
        raise ConfigError(
            "clips were given as arrays when this config was saved, and configs do not store audio; "
            "pass clips= the same arrays again (see MinimalPair.rebuild(source, corruption=...))"
        )
    out = []
    for i, clip in enumerate(clips):
        name, audio = (clip if isinstance(clip, tuple) and len(clip) == 2 else (f"clip{i}", clip))
        out.append((str(name), prepare_audio(audio, SAMPLE_RATE, name=f"clips[{i}]")))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Noise(Corruption):
    """Additive noise at a target SNR (dB): white, pink, brown (blue, violet) or real noise clips.

    SNR definition: over the samples ``[a, b)`` where noise is added (the whole clip for
    ``span="all"``, the word for ``span="word"``), ``snr_db = 10 log10(mean(x**2) / mean(n**2))``
    with ``x`` the clean signal and ``n`` the added noise, both over that same span. Silence
    inside the span counts towards the signal power (it lowers it), so on a clip with long
    pauses the noise is quieter relative to the speech itself: the speech-only SNR is higher
    than ``snr_db``. Use ``span="word"`` for a local SNR. Outside the span the audio is
    untouched, bit for bit.

    Parameters
    ----------
    snr_db : float or (low, high)
        Target SNR, between -20 and 80 dB; ``inf`` adds nothing (the identity).
    color : str or tuple of str
        ``"white"``, ``"pink"``, ``"brown"``, ``"blue"``, ``"violet"``, or a tuple to draw from.
        Set to ``"clip"`` when ``clips`` are given.
    clips : None, "dataset", path, or list of arrays / (name, array) pairs
        Real noise: a WAV file or folder (e.g. Speech Commands' ``_background_noise_``),
        ``"dataset"`` for ``source.dataset.background_noise()``, or 16 kHz arrays (arrays are
        not stored in ``to_dict()``; see :meth:`MinimalPair.rebuild`). A clip and a random
        offset into it are drawn; a clip shorter than the span is looped.
    span : {"all", "word", "times"}
        Where noise goes (see :mod:`corruptions.span`); ``start_s``/``duration_s`` select ``"times"``.
    start_s, duration_s : float or (low, high), optional
    margin_s : float or (low, high)
        Widening of a word span on each side, in seconds.

    Examples
    --------
    >>> import numpy as np, corruptions
    >>> audio = np.sin(np.arange(16000) * 0.05).astype(np.float32)
    >>> pair = corruptions.get("noise", snr_db=10.0, color="pink").pair(audio, seed=0)
    >>> round(corruptions.functional.snr_db(pair.clean, pair.corrupt), 3)
    10.0
    """

    kind: ClassVar[str] = "noise"

    snr_db: float | tuple = 0.0
    color: str | tuple = "white"
    clips: object = None
    span: str = "all"
    start_s: float | tuple | None = None
    duration_s: float | tuple | None = None
    margin_s: float | tuple = 0.0

    def __post_init__(self):
        object.__setattr__(self, "snr_db", check_number("snr_db", self.snr_db, low=-20.0, high=80.0,
                                                        allow_inf=True, unit="dB"))  # fmt: skip
        clips = _normalise_clips(self.clips)
        object.__setattr__(self, "clips", clips)
        color = check_choice("color", self.color, _COLORS)
        if clips is not None:
            if color not in ("white", "clip"):
                raise ConfigError(
                    f"color ({color!r}) and clips are both given; noise is either colored or from clips"
                )
            color = "clip"
        elif color == "clip" or (isinstance(color, tuple) and "clip" in color):
            raise ConfigError("color='clip' needs clips= (a folder, 'dataset', or a list of arrays)")
        object.__setattr__(self, "color", color)
        check_span_fields(self, default_span="all")

    def to_dict(self) -> dict:
        out = super().to_dict()
        if isinstance(self.clips, tuple):
            out["clips"] = [
                {"name": name, "sha256": hashlib.sha256(audio.tobytes()).hexdigest()} for name, audio in self.clips
            ]
        return out

    def __repr__(self) -> str:
        clips = f"<{len(self.clips)} arrays>" if isinstance(self.clips, tuple) else repr(self.clips)
        return (
            f"Noise(snr_db={self.snr_db!r}, color={self.color!r}, clips={clips}, span={self.span!r}, "
            f"start_s={self.start_s!r}, duration_s={self.duration_s!r}, margin_s={self.margin_s!r})"
        )

    def _clips(self, src: Source) -> tuple:
        if isinstance(self.clips, str) and self.clips == "dataset":
            dataset = src.dataset
            if dataset is None or not hasattr(dataset, "background_noise"):
                raise ConfigError(
                    "clips='dataset' needs a dataset example whose .dataset has background_noise(); "
                    "this source has none: pass clips= a folder or arrays"
                )
            clips = tuple((str(n), prepare_audio(a, SAMPLE_RATE, name=f"noise clip {n!r}"))
                          for n, a in dataset.background_noise())  # fmt: skip
            if not clips:
                raise ConfigError("clips='dataset': the dataset has no background noise clips")
            return clips
        if isinstance(self.clips, str):
            return _read_clips(self.clips)
        return self.clips

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """Draw the span, the SNR and the noise (a seed for colored noise; a clip and offset).

        Returns
        -------
        dict
            ``span, start_s, end_s, snr_db, color`` and ``noise_seed`` (colored) or
            ``clip, offset_s`` (clips).
        """
        src = as_source(source)
        params = draw_span(rng, src, target, self)
        params["snr_db"] = draw_number(rng, self.snr_db)
        if self.clips is None:
            params["color"] = draw_choice(rng, self.color)
            params["noise_seed"] = int(rng.integers(2**63))
            return params
        clips = self._clips(src)
        name, audio = clips[int(rng.integers(len(clips)))]
        a, b = span_samples(params["start_s"], params["end_s"], src.sample_rate, src.n_samples)
        offset = int(rng.integers(max(audio.shape[0] - (b - a), 0) + 1))
        params.update(color="clip", clip=name, offset_s=offset / src.sample_rate)
        return params

    def apply(self, source, params: dict) -> np.ndarray:
        """Add the noise ``params`` describe; float32 ``(samples,)``, bit-identical outside the span."""
        src = as_source(source)
        start_s, end_s, snr, color = need(params, self.kind, "start_s", "end_s", "snr_db", "color")
        a, b = span_samples(start_s, end_s, src.sample_rate, src.n_samples)
        out = src.audio.copy()
        if b <= a or (math.isinf(snr) and snr > 0):
            return out
        if color == "clip":
            (name, offset_s) = need(params, self.kind, "clip", "offset_s")
            clips = dict(self._clips(src))
            if name not in clips:
                raise unknown_name("noise clip", name, clips)
            offset = int(round(offset_s * src.sample_rate))
            noise = F.tile_to_length(clips[name], b - a, offset)
        else:
            (noise_seed,) = need(params, self.kind, "noise_seed")
            noise = F.colored_noise(np.random.default_rng(int(noise_seed)), b - a, color)
        out[a:b] = F.mix_at_snr(src.audio[a:b], noise, snr)
        return out
