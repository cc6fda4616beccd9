"""Combining per-pair maps into a sweep's mean map, and per-pair checkpoints for resuming."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np

from intervene.maps import CausalMap
from tasks.errors import ConfigError, ModelLoadError

__all__ = ["combine_maps", "load_or_patch"]

logger = logging.getLogger(__name__)


def _onset_frame(m: CausalMap) -> int:
    answer = (m.meta.get("answers") or [""])[0]
    words = m.meta.get("words") or []
    match = [w for w in words if str(w[0]).lower() == str(answer).lower()] or words[:1]
    if not match:
        raise ConfigError("align='onset' needs word spans on every pair (pair.words)")
    return int(np.floor(float(match[0][1]) / float(m.meta.get("frame_s", 0.02)) + 1e-9))


def combine_maps(maps: list, align: str = "start") -> CausalMap:
    """Mean of per-pair maps over a common grid (NaN where a pair has no column)."""
    first = maps[0]
    for m in maps[1:]:
        if m.dims != first.dims or any(m.coords[d] != first.coords[d] for d in first.dims[:-1] if d not in ("frame",)):
            raise ConfigError(f"maps differ in their axes ({m.dims} vs {first.dims}); sweep the same sites with the same units")
    last = first.dims[-1] if first.dims else None
    if last == "frame":
        offsets = [_onset_frame(m) if align == "onset" else 0 for m in maps]
        cols = sorted({int(c) - off for m, off in zip(maps, offsets) for c in m.coords["frame"]})
        where = {c: i for i, c in enumerate(cols)}
        shape = first.values.shape[:-1] + (len(cols),)
        per, per_p = np.full((len(maps),) + shape, np.nan), np.full((len(maps),) + shape, np.nan)
        for k, (m, off) in enumerate(zip(maps, offsets)):
            idx = [where[int(c) - off] for c in m.coords["frame"]]
            per[k][..., idx] = m.values
            per_p[k][..., idx] = m.patched
        coords = dict(first.coords, frame=cols)
        times = np.asarray(cols, dtype=float) * float(first.meta.get("frame_s", 0.02))
    else:
        for m in maps[1:]:
            if last and m.coords[last] != first.coords[last]:
                raise ConfigError(f"maps differ in their {last} axis; sweep pairs with the same decoder prefix")
        per = np.stack([m.values for m in maps])
        per_p = np.stack([m.patched for m in maps])
        coords, times = dict(first.coords), first.times_s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        values, patched = np.nanmean(per, axis=0), np.nanmean(per_p, axis=0)
    clean = np.array([m.clean_metric for m in maps])
    corrupt = np.array([m.corrupt_metric for m in maps])
    meta = dict(first.meta)
    meta["align"] = align
    meta["pairs"] = [
        {k: m.meta.get(k) for k in ("answers", "corruption", "params", "seed", "words", "changed_spans", "duration_s",
                                    "pair_metadata", "guards")}
        | {"clean_metric": m.clean_metric, "corrupt_metric": m.corrupt_metric}
        for m in maps
    ]
    kinds = []
    for m in maps:
        c = m.meta.get("corruption")
        if c not in kinds:
            kinds.append(c)
    meta["corruption"] = kinds[0] if len(kinds) == 1 else kinds
    if align == "onset":
        meta["time_origin"] = "answer word onset"
    same_len = len({m.meta.get("duration_s") for m in maps}) == 1
    spectrum = align == "start" and same_len and len(maps) >= 1
    return CausalMap(
        values=values, dims=first.dims, coords=coords, patched=patched,
        clean_metric=float(clean.mean()), corrupt_metric=float(corrupt.mean()), times_s=times,
        per_pair=per, per_pair_patched=per_p, per_pair_clean=clean, per_pair_corrupt=corrupt,
        spectrogram_clean=first.spectrogram_clean if spectrum else None,
        spectrogram_corrupt=first.spectrogram_corrupt if spectrum else None,
        meta=meta,
    )


def _key(pair, kwargs: dict, sites) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(pair.clean, dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(pair.corrupt, dtype="<f4").tobytes())
    h.update(json.dumps({k: repr(v) for k, v in sorted(kwargs.items())}, sort_keys=True).encode())
    h.update(repr([getattr(s, "key", s) for s in (sites if isinstance(sites, (list, tuple)) else [sites])]).encode())
    return h.hexdigest()[:16]


def load_or_patch(checkpoint_dir, index: int, compute, pair, kwargs: dict, sites) -> CausalMap:
    """The pair's map from ``checkpoint_dir`` if a complete one is there; else compute and save it."""
    if checkpoint_dir is None:
        return compute()
    path = Path(checkpoint_dir) / f"pair{index:04d}-{_key(pair, kwargs, sites)}.npz"
    if path.with_suffix(".json").is_file():
        try:
            return CausalMap.load(path)
        except (ModelLoadError, OSError, ValueError) as exc:
            logger.warning("checkpoint %s is unreadable (%s); recomputing it", path, exc)
    m = compute()
    m.save(path)
    return m
