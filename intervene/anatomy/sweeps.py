"""Maps over an intervention's parameter: k x layer (attention windows), alpha x layer (steering).

:func:`intervene.patch` maps one intervention over sites and positions; these run it once per
parameter value on the same prepared pair and stack the maps along a new first axis ("k" or
"alpha"). The guards run with the first value (they check the engine, which every value
shares); the map's ``meta.guards`` holds their records.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from intervene.anatomy.steering import Steering, check_alpha
from intervene.anatomy.window import AttentionWindow
from intervene.maps import CausalMap
from tasks.errors import ConfigError

__all__ = ["stack_maps", "window_map", "steer_map"]


def stack_maps(maps: list, dim: str, coords: list) -> CausalMap:
    """Stack maps of the same pair and sites along a new first axis ``dim`` labelled ``coords``."""
    if not maps or len(maps) != len(coords):
        raise ConfigError(f"stack_maps needs one map per {dim} value ({len(maps)} maps, {len(coords)} values)")
    first = maps[0]
    for m in maps[1:]:
        if m.dims != first.dims or m.values.shape != first.values.shape:
            raise ConfigError(f"maps to stack must share dims and shape ({m.dims} {m.values.shape} vs "
                              f"{first.dims} {first.values.shape})")
    cells_s = sum((m.meta.timings or {}).get("cells_s", 0.0) for m in maps)
    timings = dict(first.meta.timings or {}, cells_s=cells_s)
    meta = first.meta.replace(timings=timings, runner=first.meta.runner)
    return CausalMap(
        values=np.stack([m.values for m in maps]), dims=(dim, *first.dims),
        coords={dim: list(coords), **first.coords}, patched=np.stack([m.patched for m in maps]),
        clean_metric=first.clean_metric, corrupt_metric=first.corrupt_metric, times_s=first.times_s,
        spectrogram_clean=first.spectrogram_clean, spectrogram_corrupt=first.spectrogram_corrupt, meta=meta,
    )


def _over(model, task, pair, method, templates, dim, coords, sites, direction, guards, kwargs) -> CausalMap:
    from intervene.context import PairContext
    from intervene.patching import patch_context

    ctx = PairContext.build(model, task, pair, direction)
    maps = [patch_context(ctx, sites, method=method, intervention=t, guards=guards and i == 0, **kwargs)
            for i, t in enumerate(templates)]
    return stack_maps(maps, dim, coords)


def window_map(model, task, pair, ks, sites="encoder.attention_output", *, window=None, unit="all", span="all",
               direction="noise", guards=True, **kwargs) -> CausalMap:
    """A k x layer map (``sites="encoder.attention_head"``: k x layer x head) of attention windows.

    Parameters
    ----------
    ks : sequence of int
        Window half-widths (frames); a k of at least the positions - 1 restricts nothing.
    window : AttentionWindow, optional
        A template for other settings (default ``AttentionWindow(k)``).
    unit, span, direction, guards, **kwargs
        As :func:`intervene.patch` (default: every query frame restricted, noising: the base is
        the clean clip, so 1 = as bad as the corrupt clip).

    Examples
    --------
    >>> cmap = window_map(m, tasks.TranscriptTask(), transcript_pair(utt), [1499, 100, 50, 10])  # doctest: +SKIP
    >>> cmap.dims  # doctest: +SKIP
    ('k', 'layer')
    """
    ks = [int(k) for k in ks]
    if not ks:
        raise ConfigError("ks is empty; give window half-widths such as [100, 50, 10]")
    base = window or AttentionWindow(ks[0])
    templates = [dataclasses.replace(base, k=k) for k in ks]  # each checked by the constructor
    return _over(model, task, pair, "window", templates, "k", ks, sites, direction, guards,
                 dict(unit=unit, span=span, **kwargs))


def steer_map(model, task, pair, steering: Steering, alphas, sites, *, unit="all", span="clip", direction="noise",
              guards=True, **kwargs) -> CausalMap:
    """An alpha x layer (x frame) map of steering with the template ``steering`` at each alpha."""
    alphas = [check_alpha(a) for a in alphas]
    if not alphas:
        raise ConfigError("alphas is empty; give steering strengths such as [-4, 0, 4]")
    templates = [dataclasses.replace(steering, alpha=a) for a in alphas]
    return _over(model, task, pair, "steer", templates, "alpha", alphas, sites, direction, guards,
                 dict(unit=unit, span=span, **kwargs))
