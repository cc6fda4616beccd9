"""The model work of ``patching_heatmaps.py``: every sweep through :func:`intervene.sweep_pairs`.

One *job* is a (model, sweep, corruption): its pairs go to :func:`intervene.sweep_pairs` with
one span per pair (onset-aligned windows for time maps), the run's ``min_gap``, the run's
:class:`~intervene.workstore.WorkStore`, a key per pair (:func:`~benchmarks.heatmaps.sweeps.unit_key`)
and a map path per pair inside the report folder. Finished pairs are loaded from the store, so
a killed run restarts where it stopped; the model is loaded only when some pair is unfinished.
Pairs run where ``run.scaleout`` says (``--executor local|ray``): with Ray the actors load the
model by name and this process only reads and writes the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from benchmarks.common import FRAME_MS, WorkStore, make_key, progress
from benchmarks.heatmaps import sweeps as sw
from intervene.sweeping import stored_outcome

__all__ = ["SweepJob", "plan_jobs", "run_model"]

logger = logging.getLogger("patching_heatmaps")


@dataclass
class SweepJob:
    """The pairs of one (model, sweep, corruption), with their work keys and map paths."""

    model: str
    sweep: str
    label: str
    specs: list = field(default_factory=list)  # PairSpec of each pair that could be built
    pairs: list = field(default_factory=list)  # MinimalPair
    keys: list = field(default_factory=list)
    map_paths: list = field(default_factory=list)  # relative to the report folder

    @property
    def spec(self) -> sw.SweepSpec:
        return sw.SWEEPS[self.sweep]


def plan_jobs(name: str, settings, plan: dict) -> list[SweepJob]:
    """One job per (sweep, corruption) of model ``name``, in report order."""
    jobs = []
    for sweep in settings.sweeps:
        for config in settings.corruptions:
            label = sw.corruption_label(config)
            job = SweepJob(name, sweep, label)
            for spec, pair, _ in plan[sw.SWEEPS[sweep].task, label]:
                if pair is not None:
                    job.specs.append(spec)
                    job.pairs.append(pair)
                    job.keys.append(sw.unit_key(name, sweep, label, spec, pair))
                    job.map_paths.append(sw.map_path(name, label, sweep, spec))
            jobs.append(job)
    return jobs


def _patch_options(job: SweepJob, settings, model) -> dict:
    """What :func:`intervene.sweep_pairs` passes on to :func:`intervene.patch` for this job."""
    spec = job.spec
    options = {"unit": spec.unit, "direction": settings.direction}
    if spec.unit == "frame":
        # no model here (every pair is stored, or Ray actors hold it): Whisper's 20 ms frames
        frame_s = getattr(model, "frame_s", None) or FRAME_MS / 1000.0
        options["window_ms"] = settings.window_ms
        options["span"] = lambda pair, i: sw.onset_span(pair, job.specs[i].word, frame_s, settings.window_ms,
                                                        settings.before_ms, settings.after_ms)  # fmt: skip
    return options


def run_model(name: str, settings, plan: dict, store: WorkStore, run, executor=None,
              tasks_by_name: dict | None = None) -> tuple[dict, int, int, dict | None]:  # fmt: skip
    """Every job's outcomes for model ``name``, computing only the unfinished pairs.

    ``executor`` (an :class:`intervene.executors.Executor`, default: in this process) runs the
    pairs; a Ray executor's actors load the model themselves (its load time is theirs).
    ``tasks_by_name`` (``{"keyword": task, "carrier": task}``) replaces the synthetic tasks
    (``--data``: :func:`benchmarks.heatmaps.data.data_tasks`).

    Returns
    -------
    (dict, int, int, dict or None)
        ``{(sweep, label): [PairOutcome, ...]}`` in the order of the job's pairs, the number of
        pairs computed now and reused, and the model-load record (``{"seconds"}``).
    """
    import intervene  # here, not at the top: a resumed run or --help need not import the engine

    jobs = plan_jobs(name, settings, plan)
    todo = sum(stored_outcome(store, key, min_gap=settings.min_gap) is None for job in jobs for key in job.keys)
    total = sum(len(job.keys) for job in jobs)
    logger.info("%s: %d units, %d to compute, %d already in %s", name, total, todo, total - todo, store.root)
    model = None
    load_key = make_key(name, "model-load")
    remote = executor is not None and executor.name != "local"
    if todo and not remote:
        t0 = time.perf_counter()
        model = intervene.load_model(name, device=run.device)
        store.get_or_compute(load_key, lambda: {"seconds": round(time.perf_counter() - t0, 3)})
    elif todo:
        model = name  # the actors load it by name
    if tasks_by_name is None:
        tasks_by_name = {t: sw.make_task(t, settings.words, settings.carrier_template) for t in ("keyword", "carrier")}
    outcomes, computed, reused = {}, 0, 0
    for job in jobs:
        found = intervene.sweep_pairs(
            model, tasks_by_name[job.spec.task], job.pairs, job.spec.sites, min_gap=settings.min_gap, store=store,
            keys=job.keys, map_paths=[run.out / p for p in job.map_paths], executor=executor or "local",
            **_patch_options(job, settings, model),
        )  # fmt: skip
        done = list(progress(found, enabled=run.progress, total=len(job.pairs), unit="pair",
                             desc=f"{name} {job.sweep} {job.label}"))  # fmt: skip
        computed += sum(not o.reused for o in done)
        reused += sum(o.reused for o in done)
        outcomes[job.sweep, job.label] = done
    if remote and computed:
        loads = [w.get("load_s") for w in executor.describe().get("workers", []) if w.get("source") == name]
        if loads:  # the slowest actor's load of this model
            store.get_or_compute(load_key, lambda: {"seconds": max(loads), "actors": len(loads)})
    return outcomes, computed, reused, store.get(load_key)
