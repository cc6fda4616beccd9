"""Activation patching of one pair: ``patch`` (``sweep`` in :mod:`intervene.sweeping` runs many).

Each cell of a map patches one site at one group of positions from the source run into the
base run and records the task metric; the map holds the normalised effect
``(m(patched) - m(base)) / (m(source) - m(base))``. ``patch`` only resolves the sites, builds
the pair context and the axes, and hands the cells to a method from the registry
(:mod:`intervene.methods`: "exact", "pyvene", "attribution", ...); guards run first for
methods that are not estimates (:mod:`intervene.guards`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from intervene import methods
from intervene.context import PairContext
from intervene.grid import UNITS, all_axis, frame_axis, parse_sites, row_axes, token_axis
from intervene.interventions import intervention_name
from intervene.maps import CausalMap, MapMeta
from intervene.methods import Patch
from tasks.checks import check_bool, check_int, check_real
from tasks.errors import ConfigError, InterventionError, close_names, unknown_name
from tasks.metrics import normalized_effect

__all__ = ["patch", "patch_context", "check_options", "check_patch_kwargs", "PATCH_OPTIONS", "METHODS", "pair_meta"]

logger = logging.getLogger(__name__)

METHODS = ("exact", "pyvene", "attribution")
"""The built-in methods (``intervene.methods.names()`` lists every registered one)."""


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cell", leave=False)


MAX_IG_STEPS = 10_000
"""Largest ``ig_steps`` accepted (each step is a forward and a backward pass)."""


def check_options(*, window_ms=None, margin_ms=100.0, batch_size=None, context_frames=None, ig_steps=0,
                  guards=True, progress=False, estimator=None, method=None) -> dict:
    """The numeric and flag options of :func:`patch`, checked at the API edge (typed errors).

    Returns them converted (``batch_size=2.0`` -> 2); ranges that depend on the model or the
    clip (``context_frames`` against the clip) are checked once the pair is prepared.
    """
    if estimator is not None and not isinstance(estimator, str):
        raise ConfigError(f"estimator ({estimator!r}) must be a name such as 'lookahead', 'atp' or 'ig'")
    if method is not None and not isinstance(method, str):
        raise ConfigError(f"method ({method!r}) must be a registered method name: {', '.join(methods.names())}")
    return {
        "window_ms": check_real("window_ms", window_ms, low=0, low_open=True, allow_none=True, unit="ms"),
        "margin_ms": check_real("margin_ms", margin_ms, low=0, unit="ms"),
        "batch_size": check_int("batch_size", batch_size, low=1, allow_none=True),
        "context_frames": check_int("context_frames", context_frames, low=1, allow_none=True),
        "ig_steps": check_int("ig_steps", ig_steps, low=0, high=MAX_IG_STEPS),
        "guards": check_bool("guards", guards),
        "progress": check_bool("progress", progress),
    }


PATCH_OPTIONS = ("unit", "window_ms", "margin_ms", "tokens", "method", "intervention", "guards", "batch_size",
                 "context_frames", "estimator", "ig_steps")
"""The options of :func:`patch` a sweep passes through to every pair (``**patch_kwargs``)."""


def check_patch_kwargs(kwargs: dict, where: str = "sweep") -> None:
    """Refuse unknown options and bad values in a sweep's ``**patch_kwargs`` before any pair is run."""
    unknown = sorted(set(kwargs) - set(PATCH_OPTIONS))
    if unknown:
        hint = close_names(unknown[0], PATCH_OPTIONS)
        raise ConfigError(f"{where}() got unknown option {unknown[0]!r}{hint} It passes these on to patch(): "
                          f"{', '.join(PATCH_OPTIONS)}")
    names = ("window_ms", "margin_ms", "batch_size", "context_frames", "ig_steps", "guards", "estimator", "method")
    check_options(**{k: kwargs[k] for k in names if k in kwargs})


def _check_context(ctx, context_frames) -> None:
    """A truncated encoder context must still hold the whole clip (else its frames are cut off)."""
    if context_frames is not None and context_frames < ctx.clip_frames:
        raise ConfigError(
            f"context_frames ({context_frames}) is shorter than the clip ({ctx.clip_frames} encoder frames = "
            f"{ctx.duration_s:.2f} s); give context_frames >= {ctx.clip_frames} or leave it unset"
        )


def _check_metrics(metrics, n_cells: int, method_name: str) -> np.ndarray:
    """Every cell measured, and measured as a finite number (never uninitialised memory)."""
    out = np.asarray(metrics, dtype=np.float64)
    if out.shape != (n_cells,):
        raise InterventionError(f"method {method_name!r} returned {out.shape} metrics for {n_cells} cells; "
                                "every cell must get exactly one metric")
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise InterventionError(f"method {method_name!r} gave no finite metric for {bad.size} of {n_cells} cells "
                                f"(first: cell {int(bad[0])}); the map would hold invalid numbers")
    return out


def _unit(sites, unit):
    streams = sorted({s.stream for s in sites})
    if unit is None:
        return "all" if len(streams) > 1 else ("frame" if streams == ["encoder"] else "token")
    if unit not in UNITS:
        raise unknown_name("unit", unit, UNITS)
    if unit == "frame" and streams != ["encoder"]:
        raise ConfigError(f"unit='frame' patches encoder time frames; these sites include {streams}: use unit='token' for decoder sites")
    if unit == "token" and streams != ["decoder"]:
        raise ConfigError(f"unit='token' patches decoder positions; these sites include {streams}: use unit='frame' for encoder sites")
    return unit


_KEYWORD_OPTIONS = {"batch_size", "context_frames", "estimator", "ig_steps", "intervention"}


def _method_options(options, given: dict) -> dict:
    """A method's own options (those ``patch`` has no keyword for), checked to be a dict of names."""
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise ConfigError(f"method_options ({options!r}) must be a dict of option names to values")
    clash = sorted(set(options) & (set(given) | _KEYWORD_OPTIONS))
    if clash:
        raise ConfigError(f"method_options gives {clash}, which patch takes as keywords; pass them as keywords")
    return dict(options)


def _method(method, intervention, given: dict):
    """The method class to run and the options it takes (typed errors for options it does not)."""
    name = methods.default_for(intervention) if method is None else method
    cls = methods.get(name)
    if not cls.accepts(intervention):
        raise ConfigError(f"method={name!r} runs interchange interventions; use method='pyvene' for {intervention!r}")
    for option, value in given.items():
        if option not in cls.options:
            takers = [n for n in methods.names() if option in methods.get(n).options]
            raise ConfigError(f"{option}={value!r} applies to method={' or '.join(map(repr, takers))}, not {name!r}")
    if "intervention" in cls.options:
        given = dict(given, intervention=intervention)
    return cls, given


def _axis(ctx, sites, unit, span, window_ms, margin_ms, tokens):
    if unit == "frame":
        return frame_axis(ctx, span, window_ms, margin_ms)
    if unit == "token":
        return token_axis(ctx, tokens)
    streams = {s.stream for s in sites}
    return all_axis(ctx, "encoder" if streams == {"encoder"} else "decoder", span, margin_ms)


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
    method_options: dict | None = None,
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
    method : str, optional
        A registered method (:func:`intervene.methods.names`): "exact" (default for
        interchange), "pyvene" (default for other interventions) or "attribution".
    intervention : str, pyvene Intervention class/instance or function
        "interchange" (default), "zero", "noise", any pyvene intervention, or ``f(base, source)``.
    guards : bool
        Run the correctness guards first (default True; estimates are never guarded).
    batch_size : int, optional
        Exact method: cells per batch (default 16 on CUDA, 1 on the CPU).
    context_frames : int, optional
        Whisper: encoder positions to run (default 1500). Fewer is faster and approximate.
    estimator : {"lookahead", "atp", "ig"}, optional
        Attribution: "lookahead" (default where the model offers it; the patched positions
        carried exactly, first order only in the spill-over onto other positions; Whisper
        encoder sites, others use "atp"), "atp" (plain gradient x difference) or "ig"
        (integrated gradients, ``ig_steps`` steps).
    ig_steps : int
        Attribution: integrated-gradient steps (> 0 selects estimator "ig").
    progress : bool
        Show a progress bar.
    method_options : dict, optional
        Options of the chosen method that ``patch`` has no keyword for (a registered method
        declares them in its ``options``), e.g. ``{"engine": "pyvene"}``.

    Returns
    -------
    CausalMap
        Dims e.g. ("layer", "frame") for encoder block outputs with default units.

    Raises
    ------
    ConfigError
        A bad option: every number is checked for type, finiteness and range first
        (``batch_size=2.5``, ``window_ms=nan``, ``margin_ms=-1``, ``context_frames`` shorter than
        the clip, ...), ``sites=None``, a task without ``answers``/``readout``.
    PairError, CapabilityError, UnknownNameError, InterventionError, GuardError

    Examples
    --------
    >>> m = intervene.load_model("whisper-tiny.en")  # doctest: +SKIP
    >>> pair = corruptions.get("word_swap", word="no").pair(tasks.speak("yes"), seed=0)  # doctest: +SKIP
    >>> cmap = intervene.patch(m, tasks.KeywordTask(), pair, m.sites("encoder", "block_output"))  # doctest: +SKIP
    >>> cmap.dims  # doctest: +SKIP
    ('layer', 'frame')
    """
    check_options(window_ms=window_ms, margin_ms=margin_ms, batch_size=batch_size, context_frames=context_frames,
                  ig_steps=ig_steps, guards=guards, progress=progress, estimator=estimator, method=method)
    if sites is None:
        raise ConfigError("sites (None) must name what to patch, e.g. model.sites('encoder', 'block_output') "
                          "or 'encoder.block_output'")
    ctx = PairContext.build(model, task, pair, direction)
    return patch_context(ctx, sites, unit, window_ms=window_ms, span=span, margin_ms=margin_ms, tokens=tokens,
                         method=method, intervention=intervention, guards=guards, batch_size=batch_size,
                         context_frames=context_frames, estimator=estimator, ig_steps=ig_steps, progress=progress,
                         method_options=method_options)


def patch_context(ctx, sites, unit=None, *, window_ms=None, span="changed", margin_ms=100.0, tokens=None, method=None,
                  intervention="interchange", guards=True, batch_size=None, context_frames=None, estimator=None,
                  ig_steps=0, progress=False, method_options=None) -> CausalMap:
    """:func:`patch` on a pair already prepared as a :class:`~intervene.context.PairContext`
    (its plain-forward metrics, if already measured, are reused)."""
    model = ctx.model
    checked = check_options(window_ms=window_ms, margin_ms=margin_ms, batch_size=batch_size,
                            context_frames=context_frames, ig_steps=ig_steps, guards=guards, progress=progress,
                            estimator=estimator, method=method)
    window_ms, margin_ms, batch_size = checked["window_ms"], checked["margin_ms"], checked["batch_size"]
    context_frames, ig_steps, guards, progress = (checked[k] for k in ("context_frames", "ig_steps", "guards",
                                                                       "progress"))
    _check_context(ctx, context_frames)
    given = {"batch_size": batch_size, "context_frames": context_frames, "estimator": estimator, "ig_steps": ig_steps}
    given = {k: v for k, v in given.items() if v is not None and not (k == "ig_steps" and v == 0)}
    given |= _method_options(method_options, given)
    sites = parse_sites(model, sites)
    unit = _unit(sites, unit)
    method_cls, options = _method(method, intervention, given)
    axis = _axis(ctx, sites, unit, span, window_ms, margin_ms, tokens)
    t0 = time.perf_counter()
    runner = method_cls(ctx, **options)
    runner.prepare(sites)
    cells = [[Patch(site, group)] for site in sites for group in axis.groups]
    guard_records: list = [{"guard": "none", "note": f"{method_cls.name} is an estimate; compare with method='exact'"}]
    if method_cls.guarded:
        # The plain forward is the guards' independent reference and the map's normalisation,
        # unless the method measures a truncated model (then its own runs are the reference).
        base_metric, source_metric = runner.metrics() if runner.truncated or not guards else ctx.reference_metrics()
        normalized_effect(0.0, base_metric, source_metric)  # refuse pairs that barely differ, before any work
    t1 = time.perf_counter()
    if method_cls.guarded and guards:
        guard_records = runner.guard(sites, base_metric, source_metric)
    elif method_cls.guarded:
        guard_records = []
    t2 = time.perf_counter()
    bar = _progress(progress, len(cells), f"patching {len(sites)} sites x {len(axis.groups)} columns")
    try:
        metrics = _check_metrics(runner.run(cells, bar), len(cells), method_cls.name).reshape(len(sites),
                                                                                               len(axis.groups))
    finally:
        if bar is not None:
            bar.close()
    t3 = time.perf_counter()
    if not method_cls.guarded:
        base_metric, source_metric = runner.metrics()
    timings = {"prepare_s": t1 - t0, "guards_s": t2 - t1, "cells_s": t3 - t2}
    return _assemble(ctx, sites, axis, metrics, base_metric, source_metric, MapMeta(
        **pair_meta(ctx), method=method_cls.name, intervention=intervention_name(intervention), unit=unit,
        window_ms=float(window_ms) if window_ms is not None else model.frame_s * 1000.0,
        span=span if isinstance(span, str) else list(span), span_s=list(axis.span_s) if axis.span_s else None,
        margin_ms=margin_ms, sites=[s.key for s in sites], guards=guard_records, context_frames=context_frames,
        timings=timings, **runner.record()))


def pair_meta(ctx) -> dict:
    """The metadata fields a map takes from its pair context (model, task, answers, provenance)."""
    model, task, pair = ctx.model, ctx.task, ctx.pair
    return {
        "model": model.name,
        "task": getattr(task, "name", type(task).__name__),
        "task_config": task.to_dict() if hasattr(task, "to_dict") else None,
        "direction": ctx.direction,
        "metric": ctx.readout.metric_name,
        "answers": [ctx.readout.clean_answer, ctx.readout.corrupt_answer],
        "frame_s": model.frame_s,
        "corruption": getattr(pair, "corruption", None) or {},
        "params": getattr(pair, "params", None),
        "seed": getattr(pair, "seed", None),
        "words": [list(w) for w in (getattr(pair, "words", None) or [])],
        "changed_spans": [list(s) for s in (getattr(pair, "changed_spans", None) or [])],
        "duration_s": ctx.duration_s,
        "pair_metadata": getattr(pair, "metadata", None),
    }


def _assemble(ctx, sites, axis, metrics, base_metric, source_metric, meta: MapMeta) -> CausalMap:
    """The map: metrics laid out on the (component?, layer, head?) x columns grid, normalised."""
    values_flat = normalized_effect(metrics, base_metric, source_metric)
    dims, row_coords, index = row_axes(sites)
    shape = [len(c) for c in row_coords] + ([len(axis.groups)] if axis.name else [])
    values = np.full(shape, np.nan)
    patched = np.full(shape, np.nan)
    for i, site in enumerate(sites):
        key = index[site]
        values[key] = values_flat[i] if axis.name else values_flat[i, 0]
        patched[key] = metrics[i] if axis.name else metrics[i, 0]
    coords = {d: list(c) for d, c in zip(dims, row_coords)}
    if axis.name:
        coords[axis.name] = list(axis.coords)
    denoise = ctx.direction == "denoise"
    clean_m, corrupt_m = (source_metric, base_metric) if denoise else (base_metric, source_metric)
    spec_c = spec_k = None
    if axis.name == "frame":
        spec_c = ctx.model.log_mel(ctx.clean_audio, checked=True)
        spec_k = ctx.model.log_mel(ctx.corrupt_audio, checked=True)
    return CausalMap(
        values=values, dims=tuple(list(dims) + ([axis.name] if axis.name else [])), coords=coords, patched=patched,
        clean_metric=clean_m, corrupt_metric=corrupt_m, times_s=axis.times_s,
        spectrogram_clean=spec_c, spectrogram_corrupt=spec_k, meta=meta,
    )
