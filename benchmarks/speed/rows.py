"""The rows of ``benchmarks/perf.py`` for one pair, measured through the public API only.

Each row is one :func:`intervene.patch` call (``method="pyvene"``, the default exact method,
``method="attribution"`` with each estimator, and exact mode with ``context_frames``), timed
around the call and read back through the map's own instrumentation (``meta.timings``); the
truncated context's fidelity uses ``model.runner(...)``.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.speed.measure import PeakMemory, exact_map_flops

__all__ = ["measure_pair", "estimators", "estimate_summary", "spearman"]


def _timed(fn, device):
    mem = PeakMemory(device)
    with mem.measure():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
    return out, seconds, mem.peak_mb


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(np.ravel(a), np.ravel(b))[0])


def _fidelity(model, task, pair, context_frames: int) -> dict:
    """KL(full || truncated) of the clean next-token distribution at the answer, and metric changes."""
    readout = task.readout(model, *task.answers(pair))
    ids = readout.decoder_input_ids
    pos = readout.prefix_length - 1
    out = {}
    with torch.no_grad():
        full, trunc = model.runner(), model.runner(context_frames)
        for name, audio in (("clean", pair.clean), ("corrupt", pair.corrupt)):
            feats = model.inputs(audio, pair.sample_rate, ids)["input_features"]
            lf = full.logits(feats, ids)
            lt = trunc.logits(feats, ids)
            if name == "clean":
                p = torch.log_softmax(lf[0, 0, pos].double(), -1)
                q = torch.log_softmax(lt[0, 0, pos].double(), -1)
                out["kl_clean"] = float((p.exp() * (p - q)).sum())
            out[f"{name}_metric_full"] = float(readout.metric(lf)[0])
            out[f"{name}_metric_truncated"] = float(readout.metric(lt)[0])
    out["metric_change"] = max(abs(out["clean_metric_full"] - out["clean_metric_truncated"]),
                               abs(out["corrupt_metric_full"] - out["corrupt_metric_truncated"]))
    return out


def estimators(s) -> dict:
    """The attribution rows: the default (lookahead) estimator, plain AtP and integrated gradients."""
    return {"attribution": {}, "attribution_atp": {"estimator": "atp"}, "attribution_ig": {"ig_steps": s.ig_steps}}


def estimate_summary(records: list, name: str, plain_s: float) -> dict:
    """Time, speed-up and agreement with exact mode of one attribution row over all pairs."""
    seconds = float(sum(r[f"{name}_s"] for r in records))
    exact = np.mean([np.asarray(r["maps"]["exact"]) for r in records], 0)
    estimate = np.mean([np.asarray(r["maps"][name]) for r in records], 0)
    return {
        f"{name}_s": seconds,
        f"{name}_speedup": plain_s / seconds,
        f"{name}_spearman": float(np.mean([r[f"{name}_spearman"] for r in records])),
        f"{name}_spearman_per_pair": [r[f"{name}_spearman"] for r in records],
        f"{name}_spearman_per_layer": np.mean([r[f"{name}_spearman_per_layer"] for r in records], 0).tolist(),
        f"{name}_spearman_mean_map": spearman(estimate, exact),
        f"{name}_max_abs_error": max(r[f"{name}_max_abs_error"] for r in records),
    }


def measure_pair(model, task, pair, s, device) -> dict:
    """Every row's map of one pair, timed, and how each compares with exact mode.

    The maps come from :func:`intervene.patch` with guards off, except the exact row's: its
    guards run inside the call, and the map's own instrumentation (``meta.timings``:
    ``prepare_s``, ``guards_s``, ``cells_s``) splits them off, so ``exact_s`` is the map
    without its guards and ``guards_s`` what the guards of one map cost. Every row keeps its
    timings.
    """
    import intervene

    sites = [f"encoder.{layer}.block_output" for layer in s.layers]
    kw = dict(window_ms=s.window_ms, span="clip", guards=False)
    bs = s.batch_size or None
    rec = {}
    plain, rec["plain_s"], rec["plain_mb"] = _timed(lambda: intervene.patch(model, task, pair, sites, method="pyvene", **kw), device)
    exact, seconds, rec["exact_mb"] = _timed(
        lambda: intervene.patch(model, task, pair, sites, batch_size=bs, **(kw | {"guards": True})), device)
    rec["guards_s"] = float(exact.meta.timings["guards_s"])
    rec["exact_s"] = seconds - rec["guards_s"]
    maps = {}
    for name, options in estimators(s).items():
        maps[name], rec[f"{name}_s"], rec[f"{name}_mb"] = _timed(
            lambda o=options: intervene.patch(model, task, pair, sites, method="attribution", **o, **kw), device)
    trunc, rec["truncated_s"], rec["truncated_mb"] = _timed(
        lambda: intervene.patch(model, task, pair, sites, context_frames=s.context_frames, batch_size=bs, **kw), device)
    rec["cells"] = int(exact.values.size)
    rec["exact_max_abs_diff"] = float(np.nanmax(np.abs(exact.patched - plain.patched)))
    for name, m in maps.items():
        rec[f"{name}_spearman"] = spearman(m.values, exact.values)
        rec[f"{name}_spearman_per_layer"] = [spearman(a, e) for a, e in zip(m.values, exact.values)]
        rec[f"{name}_max_abs_error"] = float(np.nanmax(np.abs(m.values - exact.values)))
    rec["truncated_spearman"] = spearman(trunc.values, exact.values)
    rec["truncated_max_abs_diff"] = float(np.nanmax(np.abs(trunc.values - exact.values)))
    rec["truncated"] = _fidelity(model, task, pair, s.context_frames)
    ids = task.readout(model, *task.answers(pair)).decoder_input_ids
    cells_per_layer = {layer: exact.values.shape[-1] for layer in s.layers}
    for name, m in (("plain", plain), ("exact", exact), *maps.items(), ("truncated", trunc)):
        rec[f"{name}_timings"] = dict(m.meta.timings or {})
    rec["exact_flops"] = exact_map_flops(model, cells_per_layer, model.n_positions, ids.shape[1], ids.shape[0])
    rec["maps"] = {"exact": exact.values.tolist()} | {name: m.values.tolist() for name, m in maps.items()}
    return rec
