"""Activation patching sweeps: ``patch`` (one pair) and ``sweep`` (many pairs, averaged).

Each cell of a map patches one site at one group of positions from the source run into the
base run and records the task metric; the map holds the normalised effect
``(m(patched) - m(base)) / (m(source) - m(base))``. Guards run first (see
:mod:`intervene.guards`).

Methods: ``"exact"`` (default; cached activations, re-running only what a patch changes),
``"pyvene"`` (the plain loop through ``pyvene.IntervenableModel``, any intervention type) and
``"attribution"`` (an estimate of every cell from one backward pass; see
:mod:`intervene.attribution` for its estimators).
"""

from __future__ import annotations

import logging

import numpy as np

from intervene.context import PairContext
from intervene.engine import ExactEngine, Patch
from intervene.grid import UNITS, all_axis, frame_axis, parse_sites, row_axes, token_axis
from intervene.guards import run_guards
from intervene.maps import CausalMap
from intervene.pyvene_engine import PyveneEngine, resolve_intervention
from tasks.errors import ConfigError
from tasks.metrics import normalized_effect

__all__ = ["patch", "sweep", "METHODS"]

logger = logging.getLogger(__name__)

METHODS = ("exact", "pyvene", "attribution")


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cell", leave=False)


def _resolve(model, sites, unit, method, intervention, context_frames):
    sites = parse_sites(model, sites)
    streams = sorted({s.stream for s in sites})
    if unit is None:
        unit = "all" if len(streams) > 1 else ("frame" if streams == ["encoder"] else "token")
    if unit not in UNITS:
        from tasks.errors import unknown_name

        raise unknown_name("unit", unit, UNITS)
    if unit == "frame" and streams != ["encoder"]:
        raise ConfigError(f"unit='frame' patches encoder time frames; these sites include {streams}: use unit='token' for decoder sites")
    if unit == "token" and streams != ["decoder"]:
        raise ConfigError(f"unit='token' patches decoder positions; these sites include {streams}: use unit='frame' for encoder sites")
    cls, inst, _ = resolve_intervention(intervention)
    interchange = inst is None and cls is not None and cls.__name__ == "VanillaIntervention"
    if method is None:
        method = "exact" if interchange else "pyvene"
    if method not in METHODS:
        from tasks.errors import unknown_name

        raise unknown_name("method", method, METHODS)
    if method in ("exact", "attribution") and not interchange:
        raise ConfigError(f"method={method!r} runs interchange interventions; use method='pyvene' for {intervention!r}")
    if context_frames is not None and method == "pyvene":
        raise ConfigError("context_frames (a truncated encoder) works with method='exact' or 'attribution', not 'pyvene'")
    return sites, unit, method


def patch(
    model,
    task,
    pair,
    sites,
    unit: str | None = None,
    *,
    window_ms: float | None = None,
    span="changed",
    margin_ms: float = 100.0,
    tokens=None,
    direction: str = "denoise",
    method: str | None = None,
    intervention="interchange",
    guards: bool = True,
    batch_size: int | None = None,
    context_frames: int | None = None,
    estimator: str | None = None,
    ig_steps: int = 0,
    progress: bool = False,
) -> CausalMap:
    """Patch ``sites`` of ``model`` between the halves of ``pair``; return a :class:`CausalMap`.

    Parameters
    ----------
    model : SpeechModel
    task : KeywordTask or CarrierTask
        Supplies the metric.
    pair : MinimalPair
    sites : Site, key, list of them, or "stream.component"
        E.g. ``model.sites("encoder", "block_output")`` or ``"encoder.block_output"`` (every layer).
    unit : {"frame", "token", "all"}, optional
        Columns of the map: encoder time windows (default for encoder sites), decoder token
        positions (default for decoder sites) or none (every position of the span at once).
    window_ms : float, optional
        Width of a time window (a multiple of the 20 ms frame; default one frame).
    span : "changed", "clip", "word", "all" or (start_s, end_s)
        Frames covered: where the pair differs plus ``margin_ms`` (default), the whole clip,
        the target word plus the margin, or given times ("all": every encoder position, unit="all" only).
    tokens : list of int, optional
        Decoder positions for unit="token" (default: the whole decoder prefix).
    direction : {"denoise", "noise"}
        Denoising patches clean activations into the corrupt run; noising the reverse.
    method : {"exact", "pyvene", "attribution"}, optional
        Default "exact" for interchange, "pyvene" for other interventions.
    intervention : str, pyvene Intervention class/instance or function
        "interchange" (default), "zero", "noise", any pyvene intervention, or ``f(base, source)``.
    guards : bool
        Run the correctness guards first (default True).
    batch_size : int, optional
        Exact method: cells per batch (default 16 on CUDA, 1 on the CPU).
    context_frames : int, optional
        Whisper: encoder positions to run (default 1500). Fewer is faster and approximate.
    estimator : {"lookahead", "atp", "ig"}, optional
        Attribution: "lookahead" (default; the patched positions carried exactly, first order only
        in the spill-over onto other positions; Whisper encoder sites, others use "atp"), "atp"
        (plain gradient x difference) or "ig" (integrated gradients, ``ig_steps`` steps).
    ig_steps : int
        Attribution: integrated-gradient steps (> 0 selects estimator "ig").
    progress : bool
        Show a progress bar.

    Returns
    -------
    CausalMap
        Dims e.g. ("layer", "frame") for encoder block outputs with default units.

    Raises
    ------
    PairError, ConfigError, UnknownNameError, InterventionError, GuardError

    Examples
    --------
    >>> m = intervene.load_model("whisper-tiny.en")  # doctest: +SKIP
    >>> pair = corruptions.get("word_swap", word="no").pair(tasks.speak("yes"), seed=0)  # doctest: +SKIP
    >>> cmap = intervene.patch(m, tasks.KeywordTask(), pair, m.sites("encoder", "block_output"))  # doctest: +SKIP
    >>> cmap.dims  # doctest: +SKIP
    ('layer', 'frame')
    """
    sites, unit, method = _resolve(model, sites, unit, method, intervention, context_frames)
    if method != "attribution" and (estimator is not None or ig_steps):
        raise ConfigError(f"estimator and ig_steps apply to method='attribution', not {method!r}")
    # Plain-forward metrics are the guards' independent reference and the pyvene loop's
    # normalisation; the exact engine (unguarded) and attribution compute their own.
    ctx = PairContext.build(model, task, pair, direction, compute_metrics=method == "pyvene" or guards)
    if unit == "frame":
        axis = frame_axis(ctx, span, window_ms, margin_ms)
    elif unit == "token":
        axis = token_axis(ctx, tokens)
    else:
        streams = {s.stream for s in sites}
        axis = all_axis(ctx, "encoder" if streams == {"encoder"} else "decoder", span, margin_ms)
    dims, row_coords, index = row_axes(sites)

    guard_records: list = []
    attribution_info: dict = {}
    engine = None
    if method == "attribution":
        from intervene.attribution import attribution_metrics

        base_metric, source_metric, metrics, attribution_info = attribution_metrics(
            ctx, sites, axis.groups, estimator=estimator, ig_steps=ig_steps, context_frames=context_frames
        )
        guard_records = [{"guard": "none", "note": "attribution is an estimate; compare with method='exact'"}]
    else:
        engine = ExactEngine(ctx, batch_size, context_frames) if method == "exact" else PyveneEngine(ctx, intervention)
        base_metric, source_metric = ctx.base_metric, ctx.source_metric
        if isinstance(engine, ExactEngine):
            engine.prepare(sites)
            truncated = engine.runner is not None and engine.runner.truncated
            if truncated or not guards:  # the truncated model's own metrics / no plain reference computed
                base_metric, source_metric = engine.base_metric, engine.source_metric
        normalized_effect(0.0, base_metric, source_metric)  # refuse pairs that barely differ, before any work
        cells = [[Patch(site, group)] for site in sites for group in axis.groups]
        if guards:
            guard_records = run_guards(ctx, engine, sites, base_metric, source_metric)
        bar = _progress(progress, len(cells), f"patching {len(sites)} sites x {len(axis.groups)} columns")
        try:
            metrics = engine.run(cells, bar).reshape(len(sites), len(axis.groups))
        finally:
            if bar is not None:
                bar.close()

    values_flat = normalized_effect(metrics, base_metric, source_metric)
    shape = [len(c) for c in row_coords] + ([len(axis.groups)] if axis.name else [])
    values = np.full(shape, np.nan)
    patched = np.full(shape, np.nan)
    for i, site in enumerate(sites):
        key = index[site]
        if axis.name:
            values[key] = values_flat[i]
            patched[key] = metrics[i]
        else:
            values[key] = values_flat[i, 0]
            patched[key] = metrics[i, 0]
    all_dims = list(dims) + ([axis.name] if axis.name else [])
    coords = {d: list(c) for d, c in zip(dims, row_coords)}
    if axis.name:
        coords[axis.name] = list(axis.coords)
    clean_m, corrupt_m = (source_metric, base_metric) if direction == "denoise" else (base_metric, source_metric)
    meta = _meta(ctx, model, task, pair, method, unit, window_ms, span, margin_ms, axis, sites, guard_records,
                 context_frames, intervention, ig_steps) | attribution_info
    spec_c = spec_k = None
    if axis.name == "frame":
        spec_c = model.log_mel(pair.clean, pair.sample_rate)
        spec_k = model.log_mel(pair.corrupt, pair.sample_rate)
    return CausalMap(
        values=values, dims=tuple(all_dims), coords=coords, patched=patched,
        clean_metric=clean_m, corrupt_metric=corrupt_m, times_s=axis.times_s,
        spectrogram_clean=spec_c, spectrogram_corrupt=spec_k, meta=meta,
    )


def _meta(ctx, model, task, pair, method, unit, window_ms, span, margin_ms, axis, sites, guards, context_frames,
          intervention, ig_steps) -> dict:
    corruption = getattr(pair, "corruption", None) or {}
    return {
        "model": model.name,
        "task": getattr(task, "name", type(task).__name__),
        "task_config": task.to_dict() if hasattr(task, "to_dict") else None,
        "direction": ctx.direction,
        "method": method,
        "intervention": intervention if isinstance(intervention, str) else getattr(intervention, "__name__", type(intervention).__name__),
        "metric": ctx.readout.metric_name,
        "answers": [ctx.readout.clean_answer, ctx.readout.corrupt_answer],
        "unit": unit,
        "window_ms": float(window_ms) if window_ms is not None else model.frame_s * 1000.0,
        "frame_s": model.frame_s,
        "span": span if isinstance(span, str) else list(span),
        "span_s": list(axis.span_s) if axis.span_s else None,
        "margin_ms": margin_ms,
        "sites": [s.key for s in sites],
        "corruption": corruption,
        "params": getattr(pair, "params", None),
        "seed": getattr(pair, "seed", None),
        "words": [list(w) for w in (getattr(pair, "words", None) or [])],
        "changed_spans": [list(s) for s in (getattr(pair, "changed_spans", None) or [])],
        "duration_s": ctx.n_samples / model.sample_rate,
        "pair_metadata": getattr(pair, "metadata", None),
        "guards": guards,
        "context_frames": context_frames,
        "ig_steps": ig_steps if method == "attribution" else None,
    }


def sweep(model, task, pairs, sites, *, align: str = "start", progress: bool = False, checkpoint_dir=None,
          **patch_kwargs) -> CausalMap:
    """Patch every pair and average the maps; the per-pair maps are kept in ``per_pair``.

    Parameters
    ----------
    pairs : sequence of MinimalPair
    align : {"start", "onset"}
        Frame maps: align columns by clip time ("start") or by the clean answer word's onset
        ("onset"; coordinates become frames relative to the onset). Columns a pair lacks are
        NaN and left out of its mean.
    checkpoint_dir : path, optional
        Save each pair's map there as it finishes; a rerun with the same folder loads them
        instead of recomputing (resume after an interruption).
    **patch_kwargs
        Everything :func:`patch` takes (unit, span, window_ms, direction, method, ...).
    """
    from intervene.combine import combine_maps, load_or_patch

    pairs = list(pairs)
    if not pairs:
        raise ConfigError("pairs is empty; give at least one MinimalPair")
    if align not in ("start", "onset"):
        raise ConfigError(f"align ({align!r}) must be 'start' or 'onset'")
    maps = []
    iterator = pairs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(pairs, desc="pairs", unit="pair")
    for i, pair in enumerate(iterator):
        maps.append(load_or_patch(checkpoint_dir, i, lambda p=pair: patch(model, task, p, sites, **patch_kwargs),
                                  pair, patch_kwargs, sites))
    return combine_maps(maps, align)
