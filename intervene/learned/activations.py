"""A site's activations over clips and time windows: what probes and erasers are fitted on.

:func:`collect` runs each clip once (one forward, every requested site captured through
:func:`intervene.hooks.capture`) and keeps the frames that cover the clip; :func:`window_frames`
turns a time span into encoder frames; :func:`features` pools or stacks the frames of a
window into probe samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from intervene import hooks
from tasks.checks import check_span
from tasks.errors import ConfigError, InterventionError

__all__ = ["collect", "window_frames", "resolve_windows", "features", "clip_audio"]


def clip_audio(clip) -> tuple:
    """``(audio, sample_rate)`` of a clip: an Utterance-like object or a bare float array (16 kHz)."""
    if isinstance(clip, np.ndarray):
        return clip, 16000
    audio = getattr(clip, "audio", None)
    if audio is None:
        raise ConfigError(f"clip ({clip!r:.60}) must be an Utterance (with .audio and .sample_rate) or a float32 array")
    return audio, int(getattr(clip, "sample_rate", 16000))


@torch.no_grad()
def collect(model, sites, clips, progress=None) -> dict:
    """Activations of ``sites`` on each clip: ``{Site: [float32 (frames, size) per clip]}``.

    Only the frames covering each clip are kept (encoder sites; Whisper encodes 1500
    positions however short the clip). One forward per clip captures every site.

    Raises
    ------
    ConfigError
        A decoder site (probes here read the encoder's frames) or a clip that is not audio.
    """
    sites = [model.site(s) for s in sites]
    for s in sites:
        if s.stream != "encoder":
            raise ConfigError(f"site {s.key!r}: probes and erasers read encoder frames; give an encoder site")
    out: dict = {s: [] for s in sites}
    for clip in clips:
        audio, rate = clip_audio(clip)
        prepared = model.prepare(audio, rate, name="clip")
        n = model.num_frames(prepared.shape[0])
        with hooks.capture(model, sites) as acts:
            model.logits(model.inputs(prepared, model.sample_rate, checked=True))
        for s in sites:
            out[s].append(acts[s][0, :n].float().cpu().numpy())
        if progress is not None:
            progress.update(1)
    return out


def window_frames(model, span, n_frames: int, what: str = "times_s") -> list:
    """Encoder frames ``[floor(start / frame_s), ceil(end / frame_s))`` of a time span, checked
    against the clip's ``n_frames``."""
    lo, hi = check_span(what, span)
    first, last = int(math.floor(lo / model.frame_s + 1e-9)), int(math.ceil(hi / model.frame_s - 1e-9))
    last = max(last, first + 1)
    if not (0 <= first and last <= n_frames):
        raise InterventionError(f"{what} {tuple(span)} lies outside the clip's {n_frames * model.frame_s:g} s "
                                f"({n_frames} frames)")
    return list(range(first, last))


def resolve_windows(clips, times_s, relative_to: str = "clip") -> tuple:
    """``(windows, per_clip)``: the time windows of a probe and, per clip, each window's absolute span.

    ``times_s`` None: each clip's word span (its first and last word), or the whole clip;
    a (start_s, end_s) pair: one window; a list of pairs: a sweep over windows.
    ``relative_to="onset"`` measures windows from each clip's first word onset.
    """
    if relative_to not in ("clip", "onset"):
        raise ConfigError(f"relative_to ({relative_to!r}) must be 'clip' or 'onset'")
    if times_s is None:
        spans = []
        for c in clips:
            words = getattr(c, "words", ()) or ()
            audio, rate = clip_audio(c)
            spans.append((words[0].start_s, words[-1].end_s) if words else (0.0, audio.shape[0] / rate))
        return ["word"], [[s] for s in spans]
    if len(times_s) == 2 and all(isinstance(t, (int, float, np.floating, np.integer)) for t in times_s):
        windows = [tuple(float(t) for t in times_s)]
    else:
        windows = [tuple(float(t) for t in check_span(f"times_s[{i}]", w)) for i, w in enumerate(times_s)]
        if not windows:
            raise ConfigError("times_s ([]) is empty; give a (start_s, end_s) span or a list of them")
    per_clip = []
    for c in clips:
        shift = 0.0
        if relative_to == "onset":
            words = getattr(c, "words", ()) or ()
            if not words:
                raise ConfigError("relative_to='onset' needs clips with word spans (.words)")
            shift = words[0].start_s
        per_clip.append([(w[0] + shift, w[1] + shift) for w in windows])
    return windows, per_clip


def features(model, acts: list, spans: list, pool: str) -> tuple:
    """Probe samples from one site's activations: ``(X, clip_index, frame_index)``.

    ``pool="mean"``: one sample per clip, the mean over the span's frames; ``"frames"``:
    every frame of the span a sample.
    """
    xs, idx, frames = [], [], []
    for i, (a, span) in enumerate(zip(acts, spans)):
        pos = window_frames(model, span, a.shape[0], what=f"the window {tuple(round(s, 3) for s in span)} of clip {i}")
        if pool == "mean":
            xs.append(a[pos].mean(axis=0, keepdims=True))
            idx.append(i)
            frames.append(pos[0])
        elif pool == "frames":
            xs.append(a[pos])
            idx += [i] * len(pos)
            frames += pos
        else:
            raise ConfigError(f"pool ({pool!r}) must be 'mean' (one sample per clip) or 'frames' (one per frame)")
    return np.concatenate(xs, axis=0), np.asarray(idx), np.asarray(frames)
