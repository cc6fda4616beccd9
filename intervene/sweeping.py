"""Sweeps: the same patching over many pairs, each pair's map kept, and their mean.

:func:`sweep_pairs` yields one :class:`PairOutcome` per pair (its map, or why it was skipped);
:func:`combine_maps` averages maps over a common grid; :func:`sweep` is the two together.
With a :class:`~intervene.workstore.WorkStore` (or ``checkpoint_dir``) every pair's outcome
is kept as it finishes, and a rerun with the same folder loads it instead of recomputing.
Pairs are consumed lazily, a few at a time. ``executor=`` says where pairs run: in this
process ("local") or on Ray actors ("ray", :mod:`intervene.executors`); only this process
reads and writes the store, and the numbers are the same either way. ``sweep(per_pair=False)``
streams: each pair's map is folded into a running mean and spread
(:class:`~intervene.aggregate.MapAccumulator`) and dropped, so a dataset of any size fits.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from intervene.aggregate import PAIR_FIELDS, MapAccumulator, onset_frame
from intervene.context import PairContext
from intervene.executors import WorkUnit, make_executor, run_units
from intervene.maps import CausalMap
from intervene.patching import check_patch_kwargs, patch_context
from intervene.workstore import WorkStore, make_key
from tasks.errors import ConfigError, PairError

__all__ = ["sweep", "sweep_pairs", "combine_maps", "PairOutcome", "pair_key", "stored_outcome", "checkpoint_settings"]

_FORMAT = "speechlens.sweep/1"


@dataclass
class PairOutcome:
    """What a sweep did with one pair.

    Attributes
    ----------
    index : int
        The pair's position in the sweep.
    key : str
        Its work-store key.
    status : {"used", "skipped"}
    reason : str or None
        Why a pair was skipped (metric gap below ``min_gap``, or refused by :func:`patch`).
    clean_metric, corrupt_metric, gap : float or None
        The plain-forward metrics of the halves and ``clean - corrupt``.
    seconds : float
        Compute time (0 when loaded from the store).
    map : CausalMap or None
    reused : bool
        Loaded from the work store rather than computed.
    """

    index: int
    key: str
    status: str
    reason: str | None = None
    clean_metric: float | None = None
    corrupt_metric: float | None = None
    gap: float | None = None
    seconds: float = 0.0
    map: CausalMap | None = None
    reused: bool = False

    def record(self) -> dict:
        return {"status": self.status, "reason": self.reason, "clean_metric": self.clean_metric,
                "corrupt_metric": self.corrupt_metric, "gap": self.gap, "seconds": self.seconds}


def pair_key(pair, index: int, settings) -> str:
    """A work key for a pair: its index and a digest of both halves and the sweep's settings."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(pair.clean, dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(pair.corrupt, dtype="<f4").tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return make_key(f"pair{index:04d}-{h.hexdigest()[:16]}")


def _spans(span, n_hint: int | None):
    """A per-pair span function from one span, a sequence of spans or a callable."""
    if callable(span):
        return span
    if isinstance(span, (list, tuple)) and span and all(isinstance(s, (list, tuple, str)) for s in span) \
            and not (len(span) == 2 and all(isinstance(s, (int, float)) for s in span)):
        spans = list(span)
        if n_hint is not None and len(spans) != n_hint:
            raise ConfigError(f"span gives {len(spans)} spans for {n_hint} pairs; give one span per pair or one for all")
        return lambda pair, i: spans[i]
    return lambda pair, i: span


def _check_min_gap(min_gap):
    if min_gap is None:
        return None
    if isinstance(min_gap, bool) or not isinstance(min_gap, (int, float)) or not math.isfinite(min_gap):
        raise ConfigError(f"min_gap ({min_gap!r}) must be a finite number (nats of the metric) or None")
    return float(min_gap)


def sweep_pairs(model, task, pairs: Iterable, sites, *, span="changed", min_gap: float | None = None,
                direction: str = "denoise", store: WorkStore | None = None, keys: Sequence[str] | None = None,
                map_paths: Sequence | None = None, progress: bool = False, executor="local", total: int | None = None,
                **patch_kwargs):  # fmt: skip
    """Patch every pair; yield a :class:`PairOutcome` per pair, in order.

    Parameters
    ----------
    model : SpeechModel, str or Path
        A loaded model, or its name or folder (loaded once by the executor's workers).
    pairs : iterable of MinimalPair
        Consumed lazily (a few pairs per worker are held at a time).
    span : span, sequence of spans (one per pair) or callable ``span(pair, index)``
        What :func:`intervene.patch` takes as ``span``, per pair.
    min_gap : float, optional
        Skip pairs whose clean-minus-corrupt metric is below this (too small or of the wrong
        sign: the normalised effect would be noise).
    store : WorkStore, optional
        Keep every pair's outcome (and map) there; outcomes already there are loaded.
    keys : sequence of str, optional
        The work key of each pair (default: :func:`pair_key` of its audio and the settings).
    map_paths : sequence of paths, optional
        Where each pair's map is saved (default: beside its record in the store).
    progress : bool
        A progress bar with the rate and, when the number of pairs is known, the time left.
    executor : {"local", "ray"} or intervene.executors.Executor
        Where pairs are patched: here (default), or on Ray actors that each load the model by
        its name or folder (``pip install "speechlens[ray]"``; pass a
        :class:`~intervene.executors.RayExecutor` to choose the cluster, actors and threads).
        Outcomes are stored by this process alone, as each pair finishes.
    total : int, optional
        How many pairs a ``pairs`` without ``len()`` holds (for the progress bar).
    **patch_kwargs
        Everything else :func:`intervene.patch` takes (unit, window_ms, method, ...).
    """
    min_gap = _check_min_gap(min_gap)
    check_patch_kwargs(patch_kwargs, "sweep_pairs")
    if pairs is None or isinstance(pairs, (str, bytes, dict)) or not hasattr(pairs, "__iter__"):
        raise ConfigError(f"pairs ({pairs!r:.80}) must be an iterable of MinimalPair")
    n_hint = len(pairs) if hasattr(pairs, "__len__") else None
    for name, given in (("keys", keys), ("map_paths", map_paths)):
        if given is not None and n_hint is not None and len(given) != n_hint:
            raise ConfigError(f"{name} gives {len(given)} entries for {n_hint} pairs; give one per pair")
    span_of = _spans(span, n_hint)
    settings = {"sites": [getattr(s, "key", s) for s in (sites if isinstance(sites, (list, tuple)) else [sites])],
                "direction": direction, "min_gap": min_gap} | {k: repr(v) for k, v in sorted(patch_kwargs.items())}

    def units():
        for i, pair in enumerate(pairs):
            this_span = span_of(pair, i)
            key = keys[i] if keys is not None else pair_key(pair, i, settings | {"span": repr(this_span)})
            yield WorkUnit(key, i, (i, key, pair, this_span))

    def lookup(unit: WorkUnit):
        return stored_outcome(store, unit.key, unit.index, min_gap)

    def record(unit: WorkUnit, outcome: PairOutcome, seconds: float) -> PairOutcome:
        outcome.seconds = round(seconds, 3)
        if store is not None:
            path = None if map_paths is None else map_paths[unit.index]
            if outcome.map is not None:
                store.put_map(unit.key, outcome.map, outcome.record(), path)
            else:
                store.put(unit.key, outcome.record())
        return outcome

    runner, owned = make_executor(executor)
    job = (task, sites, min_gap, direction, patch_kwargs)
    try:
        for result in run_units(runner, model, _pair_unit, units(), shared=job, lookup=lookup if store is not None else None,
                                record=record, progress=progress, total=n_hint if n_hint is not None else total,
                                desc="pairs", unit_name="pair"):  # fmt: skip
            yield result.value
    finally:
        if owned:
            runner.close()


def _pair_unit(model, job: tuple, index: int, key: str, pair, span) -> PairOutcome:
    """One work unit of a sweep (where the executor runs it): patch one pair."""
    task, sites, min_gap, direction, patch_kwargs = job
    return _patch_one(model, task, pair, sites, index, key, span, min_gap, direction, patch_kwargs)


_GAP_SKIP = "metric gap "


def stored_outcome(store: WorkStore, key: str, index: int = 0, min_gap: float | None = None) -> PairOutcome | None:
    """The finished outcome of ``key`` in ``store`` (``reused``), or None when the pair must be patched.

    ``min_gap`` only selects pairs, so it is applied again to what is stored: a stored map of a
    pair whose gap is below ``min_gap`` comes back as skipped, and a pair skipped for a gap
    that ``min_gap`` now allows must be patched (None). A record whose map is missing or
    damaged is None too.
    """
    record = store.get(key)
    if not isinstance(record, dict) or record.get("status") not in ("used", "skipped"):
        return None
    gap = record.get("gap")
    below = min_gap is not None and isinstance(gap, (int, float)) and gap < min_gap
    if below:
        fields = {k: record.get(k) for k in ("clean_metric", "corrupt_metric", "gap")}
        return PairOutcome(index, key, "skipped", f"{_GAP_SKIP}{gap:.2f} < min_gap {min_gap:g}",
                           seconds=record.get("seconds") or 0.0, reused=True, **fields)
    if record["status"] == "skipped" and str(record.get("reason") or "").startswith(_GAP_SKIP):
        return None  # skipped for a gap the current min_gap allows
    cmap = None
    if record["status"] == "used":
        cmap = store.load_map(record)
        if cmap is None:
            return None
    fields = {k: record.get(k) for k in ("reason", "clean_metric", "corrupt_metric", "gap")}
    return PairOutcome(index, key, record["status"], seconds=record.get("seconds") or 0.0, map=cmap, reused=True,
                       **fields)


def _patch_one(model, task, pair, sites, index, key, span, min_gap, direction, patch_kwargs) -> PairOutcome:
    ctx = PairContext.build(model, task, pair, direction)
    clean, corrupt = None, None
    if min_gap is not None:
        clean, corrupt = ctx.clean_metric, ctx.corrupt_metric
        if clean - corrupt < min_gap:
            return PairOutcome(index, key, "skipped", f"{_GAP_SKIP}{clean - corrupt:.2f} < min_gap {min_gap:g}",
                               clean, corrupt, clean - corrupt)
    try:
        cmap = patch_context(ctx, sites, span=span, **patch_kwargs)
    except PairError as exc:
        return PairOutcome(index, key, "skipped", str(exc), clean, corrupt,
                           None if clean is None else clean - corrupt)
    return PairOutcome(index, key, "used", None, cmap.clean_metric, cmap.corrupt_metric,
                       cmap.clean_metric - cmap.corrupt_metric, map=cmap)


def sweep(model, task, pairs, sites, *, align: str = "start", span="changed", min_gap: float | None = None,
          progress: bool = False, checkpoint_dir=None, store: WorkStore | None = None, executor="local",
          per_pair: bool = True, total: int | None = None, **patch_kwargs) -> CausalMap:  # fmt: skip
    """Patch every pair and average the maps.

    Parameters
    ----------
    model : SpeechModel, str or Path
        A loaded model, or its name or folder.
    pairs : iterable of MinimalPair
        Consumed lazily (a generator over a dataset is fine).
    align : {"start", "onset"}
        Frame maps: align columns by clip time ("start") or by the clean answer word's onset
        ("onset"; coordinates become frames relative to the onset). Columns a pair lacks are
        NaN and left out of its mean.
    span : span, sequence of spans (one per pair) or callable ``span(pair, index)``
    min_gap : float, optional
        Leave out pairs whose clean-minus-corrupt metric is below this; they are listed in
        ``meta.skipped`` with the reason (so are pairs :func:`patch` refuses).
    checkpoint_dir : path, optional
        Keep each pair's map there as it finishes (a :class:`WorkStore` whose settings are the
        model, task, sites, direction and patch options: a folder written with other settings
        is refused); a rerun with the same folder loads them instead of recomputing (resume
        after an interruption, on any executor).
    store : WorkStore, optional
        Use this store instead (a benchmark's own).
    executor : {"local", "ray"} or intervene.executors.Executor
        Where pairs are patched (see :func:`sweep_pairs`); the numbers are the same.
    per_pair : bool
        True (default): keep every pair's map in memory and return them in ``per_pair`` (with
        ``std`` from them). False: stream; each map is folded into a running mean and variance
        (:class:`~intervene.aggregate.MapAccumulator`) and dropped, so memory does not grow with
        the number of pairs; the result has ``values_std`` and ``pair_counts`` instead of
        ``per_pair`` (each pair's map stays in the work store when there is one). The means
        are identical either way.
    total : int, optional
        How many pairs a ``pairs`` without ``len()`` holds (for the progress bar's time left).
    **patch_kwargs
        Everything :func:`patch` takes (unit, window_ms, direction, method, ...).

    Raises
    ------
    ConfigError
        No pairs, a bad ``align``, every pair skipped, or a ``checkpoint_dir`` holding work of
        other settings.

    Examples
    --------
    >>> cmap = intervene.sweep("whisper-tiny.en", tasks.KeywordTask(), pairs, "encoder.block_output",
    ...                        executor="ray", per_pair=False, checkpoint_dir="runs/big", progress=True)  # doctest: +SKIP
    """
    if align not in ("start", "onset"):
        raise ConfigError(f"align ({align!r}) must be 'start' or 'onset'")
    if checkpoint_dir is not None and not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise ConfigError(f"checkpoint_dir ({checkpoint_dir!r:.80}) must be a folder path")
    if store is not None and not isinstance(store, WorkStore):
        raise ConfigError(f"store ({store!r:.80}) must be an intervene.WorkStore")
    if not isinstance(per_pair, bool):
        raise ConfigError(f"per_pair ({per_pair!r}) must be True (keep every pair's map) or False (stream)")
    check_patch_kwargs({k: v for k, v in patch_kwargs.items() if k != "direction"}, "sweep")
    if store is None and checkpoint_dir is not None:
        store = WorkStore(checkpoint_dir, checkpoint_settings(model, task, sites, patch_kwargs))
    maps, acc, skipped, n = [], MapAccumulator(align), [], 0
    for o in sweep_pairs(model, task, pairs, sites, span=span, min_gap=min_gap, store=store, progress=progress,
                         executor=executor, total=total, **patch_kwargs):  # fmt: skip
        n += 1
        if o.status != "used":
            skipped.append({"index": o.index, "reason": o.reason})
        elif per_pair:
            maps.append(o.map)
        else:
            acc.add(o.map)  # and the outcome's map is dropped
    if not n:
        raise ConfigError("pairs is empty; give at least one MinimalPair")
    if not maps and not len(acc):
        raise ConfigError(f"every pair was skipped ({skipped[0]['reason']}); lower min_gap or use a stronger corruption")
    if not per_pair:
        return acc.result(skipped=skipped)
    cmap = combine_maps(maps, align)
    cmap.meta = cmap.meta.replace(skipped=skipped)
    return cmap


def checkpoint_settings(model, task, sites, patch_kwargs: dict) -> dict:
    """The settings of a ``sweep(checkpoint_dir=...)`` store: what changes a pair's map.

    ``min_gap``, ``span`` and the executor are left out (the first two only select pairs or
    are part of each pair's key; the executor does not change a number).
    """
    to_dict = getattr(task, "to_dict", None)
    site_list = sites if isinstance(sites, (list, tuple)) else [sites]
    return {"format": _FORMAT, "model": getattr(model, "name", None) or str(model),
            "task": to_dict() if callable(to_dict) else type(task).__name__,
            "sites": [str(getattr(s, "key", s)) for s in site_list],
            "options": {k: repr(v) for k, v in sorted(patch_kwargs.items()) if k != "direction"},
            "direction": patch_kwargs.get("direction", "denoise")}  # fmt: skip


def combine_maps(maps: list, align: str = "start") -> CausalMap:
    """Mean of per-pair maps over a common grid (NaN where a pair has no column)."""
    if align not in ("start", "onset"):
        raise ConfigError(f"align ({align!r}) must be 'start' or 'onset'")
    if isinstance(maps, (str, bytes, CausalMap)) or not hasattr(maps, "__iter__"):
        raise ConfigError(f"maps ({maps!r:.80}) must be a list of CausalMap")
    maps = list(maps)
    if not maps:
        raise ConfigError("combine_maps needs at least one map")
    for i, m in enumerate(maps):
        if not isinstance(m, CausalMap):
            raise ConfigError(f"maps[{i}] ({m!r:.80}) must be a CausalMap")
    first = maps[0]
    for m in maps[1:]:
        if m.dims != first.dims or any(m.coords[d] != first.coords[d] for d in first.dims[:-1] if d not in ("frame",)):
            raise ConfigError(f"maps differ in their axes ({m.dims} vs {first.dims}); sweep the same sites with the same units")
    last = first.dims[-1] if first.dims else None
    if last == "frame":
        offsets = [onset_frame(m) if align == "onset" else 0 for m in maps]
        cols = sorted({int(c) - off for m, off in zip(maps, offsets) for c in m.coords["frame"]})
        where = {c: i for i, c in enumerate(cols)}
        shape = first.values.shape[:-1] + (len(cols),)
        per, per_p = np.full((len(maps),) + shape, np.nan), np.full((len(maps),) + shape, np.nan)
        for k, (m, off) in enumerate(zip(maps, offsets)):
            idx = [where[int(c) - off] for c in m.coords["frame"]]
            per[k][..., idx] = m.values
            per_p[k][..., idx] = m.patched
        coords = dict(first.coords, frame=cols)
        times = np.asarray(cols, dtype=float) * float(first.meta.frame_s)
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
    kinds = []
    for m in maps:
        if m.meta.corruption not in kinds:
            kinds.append(m.meta.corruption)
    meta = first.meta.replace(
        align=align,
        pairs=[{k: m.meta[k] for k in PAIR_FIELDS} | {"clean_metric": m.clean_metric, "corrupt_metric": m.corrupt_metric}
               for m in maps],
        corruption=kinds[0] if len(kinds) == 1 else kinds,
        time_origin="answer word onset" if align == "onset" else first.meta.time_origin,
    )
    same_len = len({m.meta.duration_s for m in maps}) == 1
    spectrum = align == "start" and same_len
    return CausalMap(
        values=values, dims=first.dims, coords=coords, patched=patched,
        clean_metric=float(clean.mean()), corrupt_metric=float(corrupt.mean()), times_s=times,
        per_pair=per, per_pair_patched=per_p, per_pair_clean=clean, per_pair_corrupt=corrupt,
        spectrogram_clean=first.spectrogram_clean if spectrum else None,
        spectrogram_corrupt=first.spectrogram_corrupt if spectrum else None,
        meta=meta,
    )
