"""The method ladder's executor units, as module-level functions (Ray workers import them).

Each takes ``(model, shared, *args)`` and returns the JSON record the driver keeps in the work
store (:func:`benchmarks.common.units.run_stored`):

- :func:`layers_unit`: the encoder layer count (when ``--layers`` is not given);
- :func:`patch_unit`: one pair, exact patching of the word's frames at every layer;
- :func:`probe_unit`, :func:`leace_unit`: one layer's keyword probe / one layer's eraser, fitted
  on the design group's clips and measured on the report group's. Their clips travel once per
  worker in ``shared``; a worker collects every layer's activations of those clips once (one
  forward per clip) and reuses them for the rest of its probe and eraser units.

``shared`` of the probe and eraser units: ``{"clips", "layers", "split", "report", "seed",
"control_by", "words", "acts_key"}`` (``acts_key`` names the clip set and layers, so a worker's
cached activations are never used for another).
"""

from __future__ import annotations

import time

import numpy as np

import tasks
from tasks.errors import GuardError, PairError

__all__ = ["layers_unit", "leace_unit", "patch_unit", "probe_unit", "site"]

_ACTS: dict = {}  # this process's activations: {acts_key: {site: ...}} (one entry at a time)


def site(layer: int) -> str:
    return f"encoder.{layer}.block_output"


def layers_unit(model, shared) -> list[int]:
    return list(range(model.num_layers("encoder")))


def _activations(model, shared) -> dict:
    key = (shared["acts_key"], getattr(model, "name", None))
    if key not in _ACTS:
        from intervene.learned.activations import collect

        _ACTS.clear()
        sites = [model.site(site(layer)) for layer in shared["layers"]]
        _ACTS[key] = collect(model, sites, shared["clips"])
    return _ACTS[key]


def probe_unit(model, shared, layer: int) -> dict:
    """The keyword probe (mean over the word's frames) of one layer, with its control task."""
    import intervene
    from benchmarks.ladder.work import probe_summary

    r = intervene.probe(model, site(layer), shared["clips"], "keyword", times_s=None, control=True, pool="mean",
                        split=shared["split"], test=shared["report"], control_by=shared["control_by"],
                        seed=shared["seed"], activations=_activations(model, shared))  # fmt: skip
    return {"layer": layer, **probe_summary(r)}


def leace_unit(model, shared, layer: int, label: str) -> dict:
    """LEACE of ``label`` over the word's frames of one layer, and the keyword accuracy with it."""
    import intervene
    from benchmarks.ladder.work import erase_summary

    s = model.site(site(layer))
    r = intervene.erase(model, site(layer), shared["clips"], label, times_s=None,
                        task=tasks.KeywordTask(shared["words"]), split=shared["split"], test=shared["report"],
                        seed=shared["seed"], activations={s: _activations(model, shared)[s]})  # fmt: skip
    return {"layer": layer, **erase_summary(r)}


def patch_unit(model, shared, pair, pair_name: str, group: str) -> dict:
    """Exact patching of one pair's changed span (the word) at each layer's block output."""
    import intervene

    base = {"pair": pair_name, "voice": group, "answers": [pair.clean_answer, pair.corrupt_answer]}
    t0 = time.perf_counter()
    layers = shared["layers"]
    try:
        cmap = intervene.patch(model, tasks.KeywordTask(shared["words"]), pair, [site(layer) for layer in layers],
                               unit="all", span="changed", margin_ms=0.0)  # fmt: skip
    except (PairError, GuardError) as exc:
        return {**base, "status": "skipped", "reason": str(exc), "seconds": round(time.perf_counter() - t0, 3)}
    gap = float(cmap.clean_metric - cmap.corrupt_metric)
    record = {**base, "clean_metric": float(cmap.clean_metric), "corrupt_metric": float(cmap.corrupt_metric),
              "gap": gap, "layers": layers, "effect": [float(v) for v in np.asarray(cmap.values).reshape(-1)],
              "span_s": list(cmap.meta.span_s), "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    if gap < shared["min_gap"]:
        return {**record, "status": "skipped", "reason": f"clean-minus-corrupt metric {gap:.2f} < min_gap {shared['min_gap']}"}
    return {**record, "status": "used"}
