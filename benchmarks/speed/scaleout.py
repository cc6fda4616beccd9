"""The scale-out section of benchmarks/perf.py: one heatmap sweep in-process and on Ray actors.

The sweep is patching_heatmaps.py's ``keyword-encoder`` sweep on word-swap pairs (every encoder
block output x 40 ms windows around the word, exact patching; one *unit* = one pair), run twice
on the same pairs:

* ``local``: in this process with ``threads`` torch threads (the default executor);
* ``ray``: on a Ray started on this machine with ``actors`` actors of one torch thread each.

Both runs time the sweep alone: the model is loaded, and the actors are started and hold it,
before the clock starts (their start-up is reported apart). Figures: the ratio of the wall
times (``> 1``: Ray is faster), each unit's compute time where it ran, and Ray's overhead per
unit: the time actors were not computing, ``(actors x wall - sum of unit compute) / units``
(scheduling, moving the arguments and maps, the driver's bookkeeping, and the last units'
uneven end), as a share of the mean unit compute; plus a bare round trip to an actor
(``echo``). The two runs' maps must be identical (max abs difference 0).
"""

from __future__ import annotations

import logging
import statistics
import time

import numpy as np
import torch

__all__ = ["SCALEOUT_TEXT", "measure_scaleout", "scaleout_rows", "scaleout_text", "SCALEOUT_COLUMNS"]

logger = logging.getLogger("perf")

SCALEOUT_COLUMNS = ["executor", "wall s", "ratio vs local", "units", "mean unit compute s", "overhead per unit s",
                    "overhead % of unit", "max abs diff vs local"]  # fmt: skip
SCALEOUT_TEXT = ("The same heatmap sweep (patching_heatmaps.py keyword-encoder: encoder block outputs x 40 ms "
                 "windows, exact patching, word-swap pairs) in this process and on Ray actors.")  # fmt: skip


def _heatmap_job(model_name: str, n_pairs: int, out, window_ms: float = 40.0):
    """The keyword-encoder job of patching_heatmaps.py for ``n_pairs`` word-swap pairs."""
    from benchmarks.heatmaps.work import plan_jobs
    from benchmarks.patching_heatmaps import PatchingHeatmapsSettings, build_pairs

    settings = PatchingHeatmapsSettings(models=(model_name,), sweeps=("keyword-encoder",),
                                        corruptions=({"kind": "word_swap"},), pairs=n_pairs, audio_examples=0,
                                        window_ms=window_ms)  # fmt: skip
    plan = build_pairs(settings, out)
    return settings, plan_jobs(model_name, settings, plan)[0]


def _sweep(model, task, job, settings, executor) -> tuple[list, float]:
    """(outcomes, wall seconds) of the job's pairs on ``executor`` (no store: everything computed).

    ``job`` is a heatmap job, or ``(pairs, window_ms)`` for ``--data`` pairs (whole-clip windows).
    """
    import intervene
    from benchmarks.heatmaps.work import _patch_options

    if isinstance(job, tuple):
        pairs, sites, options = job[0], "encoder.block_output", {"window_ms": job[1], "span": "clip", "unit": "frame"}
    else:
        pairs, sites, options = job.pairs, job.spec.sites, _patch_options(job, settings, model)
    t0 = time.perf_counter()
    outcomes = list(intervene.sweep_pairs(model, task, pairs, sites, min_gap=settings.min_gap,
                                          executor=executor, **options))  # fmt: skip
    return outcomes, time.perf_counter() - t0


def _max_abs_diff(a: list, b: list) -> float:
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        if (x.map is None) != (y.map is None):
            return float("inf")
        if x.map is not None:
            worst = max(worst, float(np.nanmax(np.abs(x.map.values - y.map.values))))
    return worst


def measure_scaleout(model, n_pairs: int, out, *, window_ms: float = 40.0, threads: int = 2, actors: int | None = None,
                     device=None, pairs: list | None = None, ray_options=None) -> dict:  # fmt: skip
    """Time the heatmap sweep of ``n_pairs`` pairs locally (``threads`` torch threads) and on
    ``actors`` single-threaded Ray actors; see the module docstring for each figure.

    Parameters
    ----------
    model : SpeechModel
        The model, loaded (the local run uses it; the actors load ``model.name``).
    n_pairs : int
    window_ms : float
        The sweep's time windows (patching_heatmaps.py: 40 ms, 200 ms with ``--quick``).
    out : Path
        A scratch folder (the pairs' audio examples are not saved).
    pairs : list of (task, MinimalPair), optional
        ``--data`` pairs (:func:`benchmarks.speed.data.data_pairs`) instead of synthesized word
        swaps: the first task's pairs, every encoder block output x ``window_ms`` over the whole clip.
    ray_options : benchmarks.common.ExecutorOptions, optional
        The Ray side (``--ray-address``, ``--actors``, ``--threads-per-actor``,
        ``--gpus-per-actor``); default: a Ray started here with 2 single-threaded actors.

    Raises
    ------
    CapabilityError
        Ray is not installed (``pip install "speechlens[ray]"``).
    """
    import tasks
    from intervene.executors import LocalExecutor, RayExecutor

    settings, job = _heatmap_job(model.name, n_pairs if pairs is None else 1, out, window_ms)
    task = tasks.KeywordTask(settings.words)
    if pairs is not None:
        task = pairs[0][0]
        job = ([p for t, p in pairs if type(t) is type(task)][:n_pairs], window_ms)
    given = {} if ray_options is None else {k: getattr(ray_options, k) for k in ("ray_address", "actors",
                                                                                   "threads_per_actor", "gpus_per_actor")}
    actors = actors or given.get("actors") or 2
    per_actor = given.get("threads_per_actor") or 1
    address = given.get("ray_address")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        local, local_s = _sweep(model, task, job, settings, LocalExecutor())
    finally:
        torch.set_num_threads(before)
    t0 = time.perf_counter()
    with RayExecutor(address, actors=actors, threads_per_actor=per_actor, gpus_per_actor=given.get("gpus_per_actor"),
                     num_cpus=None if address else max(actors * per_actor, 1), device=device,
                     **({"wait_timeout_s": wait} if (wait := getattr(ray_options, "wait_timeout_s", None)) else {})) as ex:  # fmt: skip
        pool = ex.pool(model.name)
        start_s = time.perf_counter() - t0
        echo = []
        for _ in range(20):  # a bare round trip: Ray's own cost of one call
            t1 = time.perf_counter()
            ex.ray.get(pool[0].echo.remote(None))
            echo.append(time.perf_counter() - t1)
        remote, ray_s = _sweep(model.name, task, job, settings, ex)
        workers = ex.describe()["workers"]
    rows = {}
    for name, outcomes, wall, slots in (("local", local, local_s, 1), ("ray", remote, ray_s, actors)):
        computed = [o.seconds for o in outcomes if o.status == "used"]
        total = sum(o.seconds for o in outcomes)
        units = len(outcomes)
        overhead = max(0.0, slots * wall - total) / units
        mean = total / units
        rows[name] = {"wall_s": wall, "units": units, "used": len(computed), "unit_compute_mean_s": mean,
                      "unit_compute_median_s": statistics.median(o.seconds for o in outcomes),
                      "overhead_per_unit_s": overhead, "overhead_pct_of_unit": 100.0 * overhead / mean,
                      "cells_per_unit": int(np.mean([o.map.values.size for o in outcomes if o.map is not None]))}  # fmt: skip
    return {
        "model": model.name, "pairs": len(local), "window_ms": window_ms, "threads_local": threads, "actors": actors,
        "threads_per_actor": per_actor, "ray_address": address, "data": pairs is not None,
        "local": rows["local"], "ray": rows["ray"], "ratio": local_s / ray_s,
        "ray_start_s": start_s, "ray_actor_load_s": [w.get("load_s") for w in workers],
        "echo_roundtrip_ms": 1000.0 * statistics.median(echo),
        "max_abs_diff": _max_abs_diff(local, remote),
        "skipped": sum(o.status != "used" for o in local),
    }  # fmt: skip


def scaleout_rows(res: dict) -> list:
    rows = []
    for name, label in (("local", f"in-process, {res['threads_local']} torch threads"),
                        ("ray", f"Ray, {res['actors']} actors x {res['threads_per_actor']} thread")):  # fmt: skip
        r = res[name]
        rows.append([label, r["wall_s"], res["ratio"] if name == "ray" else 1.0, r["units"], r["unit_compute_mean_s"],
                     r["overhead_per_unit_s"], r["overhead_pct_of_unit"], res["max_abs_diff"] if name == "ray" else 0.0])
    return rows


def scaleout_text(res: dict) -> str:
    r = res["ray"]
    return (f"{res['model']}, {res['pairs']} word-swap pairs ({res['local']['cells_per_unit']} cells each: "
            f"{res['window_ms']:g} ms windows{' over --data pairs' if res.get('data') else ''}; "
            f"{res['skipped']} skipped by min_gap). Ray / in-process throughput ratio {res['ratio']:.2f}; Ray overhead "
            f"{r['overhead_per_unit_s']:.3f} s per unit = {r['overhead_pct_of_unit']:.1f}% of a unit's compute "
            f"({r['unit_compute_mean_s']:.2f} s on one thread); a bare round trip to an actor "
            f"{res['echo_roundtrip_ms']:.1f} ms. Ray start and model load (not timed above): {res['ray_start_s']:.1f} s. "
            f"Maps identical: max abs diff {res['max_abs_diff']:.1e}.")  # fmt: skip
