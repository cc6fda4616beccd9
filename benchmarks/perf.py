"""Performance: exact sweeps, attribution patching and a truncated encoder, side by side with
the plain pyvene loop, in one process on the same pairs.

For each word-swap pair (a synthesized keyword in a 1 s clip and the same voice saying its
partner word) the same map, every encoder layer x every 20 ms frame of the clip, is computed by

* ``plain``: the plain pyvene loop, a source and a base forward per cell (``method="pyvene"``);
* ``exact``: cached activations, re-running only the blocks after the patched layer and the
  decoder (``method="exact"``, the default);
* ``attribution``: one backward pass, with the default lookahead estimator (exact up to the
  next attention layer, gradient x difference after it); also plain gradient x difference
  (``estimator="atp"``) and ``ig_steps`` integrated-gradient steps;
* ``truncated``: exact mode on ``context_frames`` encoder positions instead of 1500.

Guards are off while timing (they run, and are timed, separately). Prints and writes to
``--out``/perf.json: plain_s, exact_s, attribution_s, exact_speedup, attribution_speedup,
exact_max_abs_diff, attribution_spearman, exact_gflops, matmul_gflops, device, model, cells, and
more (peak memory, truncated-context fidelity, per-pair and per-layer figures); every map goes to
``--out``/maps.npz (``exact_0``, ``attribution_0``, ``attribution_atp_0``, ... per pair).

    python benchmarks/perf.py                 # 3 pairs, ~10 min on a 2-core CPU
    python benchmarks/perf.py --quick         # correctness only: small maps, seconds
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import (  # noqa: E402
    BenchmarkSettings,
    Section,
    Table,
    command_line,
    echo,
    parse_settings,
    run_cli,
    setup_logging,
    write_report,
)
from benchmarks._perf_measure import PeakMemory, exact_map_flops, matmul_gflops  # noqa: E402
from tasks.atomic import atomic_path, write_json  # noqa: E402
from tasks.errors import ConfigError  # noqa: E402

__all__ = ["PerfSettings", "main"]

logger = logging.getLogger("perf")
SCRIPT = "perf"
QUICK_PRESET = {"pairs": (("yes", "en-us"),), "window_ms": 100.0, "layers": (0, 3), "context_frames": 100,
                "ig_steps": 1}


@dataclass(frozen=True)
class PerfSettings(BenchmarkSettings):
    """What perf.py measures; ``pairs`` are (word, voice), swapped with their core-word partner."""

    kind: ClassVar[str] = "perf"
    model: str = "whisper-tiny.en"
    pairs: tuple = (("yes", "en-us"), ("left", "en-gb-x-rp"), ("stop", "en-us+f3"))
    window_ms: float = 20.0
    layers: tuple = (0, 1, 2, 3)
    duration_s: float = 1.0
    onset_s: float = 0.3
    context_frames: int = 150
    ig_steps: int = 2
    batch_size: int = 0  # 0: the engine's default (16 on CUDA, 1 on the CPU)

    def __post_init__(self):
        pairs = tuple(tuple(p) for p in self.pairs)
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ConfigError(f"pairs ({self.pairs!r}) must be a list of [word, voice]")
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        if self.ig_steps < 1:
            raise ConfigError(f"ig_steps ({self.ig_steps}) must be >= 1 (the plain attribution row always runs)")


def add_arguments(p) -> None:
    p.add_argument("--model", help="model name or folder (default whisper-tiny.en)")
    p.add_argument("--window-ms", dest="window_ms", type=float, help="frame window (default 20 ms)")
    p.add_argument("--context-frames", dest="context_frames", type=int, help="truncated encoder positions")
    p.add_argument("--ig-steps", dest="ig_steps", type=int, help="integrated-gradient steps for the extra row")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="exact mode cells per batch (GPU)")


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


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
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


def _guard_seconds(model, task, pair, sites) -> float:
    """Time of the guards a sweep over ``sites`` runs (the map's own timings record it)."""
    import intervene

    return intervene.patch(model, task, pair, sites, unit="all", span="clip").meta.timings["guards_s"]


def _estimators(s: PerfSettings) -> dict:
    """The attribution rows: the default (lookahead) estimator, plain AtP and integrated gradients."""
    return {"attribution": {}, "attribution_atp": {"estimator": "atp"}, "attribution_ig": {"ig_steps": s.ig_steps}}


def _estimate_summary(records: list, name: str, plain_s: float) -> dict:
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
        f"{name}_spearman_mean_map": _spearman(estimate, exact),
        f"{name}_max_abs_error": max(r[f"{name}_max_abs_error"] for r in records),
    }


def measure_pair(model, task, pair, s: PerfSettings, device) -> dict:
    import intervene

    sites = [f"encoder.{layer}.block_output" for layer in s.layers]
    kw = dict(window_ms=s.window_ms, span="clip", guards=False)
    bs = s.batch_size or None
    rec = {}
    plain, rec["plain_s"], rec["plain_mb"] = _timed(lambda: intervene.patch(model, task, pair, sites, method="pyvene", **kw), device)
    exact, rec["exact_s"], rec["exact_mb"] = _timed(lambda: intervene.patch(model, task, pair, sites, batch_size=bs, **kw), device)
    maps = {}
    for name, options in _estimators(s).items():
        maps[name], rec[f"{name}_s"], rec[f"{name}_mb"] = _timed(
            lambda o=options: intervene.patch(model, task, pair, sites, method="attribution", **o, **kw), device)
    trunc, rec["truncated_s"], rec["truncated_mb"] = _timed(
        lambda: intervene.patch(model, task, pair, sites, context_frames=s.context_frames, batch_size=bs, **kw), device)
    rec["guards_s"] = _guard_seconds(model, task, pair, sites)
    rec["cells"] = int(exact.values.size)
    rec["exact_max_abs_diff"] = float(np.nanmax(np.abs(exact.patched - plain.patched)))
    for name, m in maps.items():
        rec[f"{name}_spearman"] = _spearman(m.values, exact.values)
        rec[f"{name}_spearman_per_layer"] = [_spearman(a, e) for a, e in zip(m.values, exact.values)]
        rec[f"{name}_max_abs_error"] = float(np.nanmax(np.abs(m.values - exact.values)))
    rec["truncated_spearman"] = _spearman(trunc.values, exact.values)
    rec["truncated_max_abs_diff"] = float(np.nanmax(np.abs(trunc.values - exact.values)))
    rec["truncated"] = _fidelity(model, task, pair, s.context_frames)
    ids = task.readout(model, pair.clean_answer, pair.corrupt_answer).decoder_input_ids
    cells_per_layer = {layer: exact.values.shape[-1] for layer in s.layers}
    rec["exact_flops"] = exact_map_flops(model, cells_per_layer, model.n_positions, ids.shape[1], ids.shape[0])
    rec["maps"] = {"exact": exact.values.tolist()} | {name: m.values.tolist() for name, m in maps.items()}
    return rec


def summarize(records: list, s: PerfSettings, model, device, mm: dict) -> dict:
    tot = {k: float(sum(r[k] for r in records)) for k in ("plain_s", "exact_s", "truncated_s", "guards_s", "exact_flops")}
    exact_gflops = tot["exact_flops"] / tot["exact_s"] / 1e9
    estimates: dict = {}
    for name in _estimators(s):
        estimates |= _estimate_summary(records, name, tot["plain_s"])
    return {
        "model": model.name,
        "device": str(device),
        "cells": int(sum(r["cells"] for r in records)),
        "pairs": len(records),
        "plain_s": tot["plain_s"],
        "exact_s": tot["exact_s"],
        "exact_speedup": tot["plain_s"] / tot["exact_s"],
        "exact_max_abs_diff": max(r["exact_max_abs_diff"] for r in records),
        **estimates,
        "attribution_estimator": "lookahead",
        "attribution_ig_steps": s.ig_steps,
        "truncated_context_frames": s.context_frames,
        "truncated_s": tot["truncated_s"],
        "truncated_speedup": tot["plain_s"] / tot["truncated_s"],
        "truncated_spearman": float(np.mean([r["truncated_spearman"] for r in records])),
        "truncated_max_abs_diff": max(r["truncated_max_abs_diff"] for r in records),
        "truncated_kl_clean": max(r["truncated"]["kl_clean"] for r in records),
        "truncated_metric_change": max(r["truncated"]["metric_change"] for r in records),
        "guards_s": tot["guards_s"],
        "exact_gflops": exact_gflops,
        "matmul_gflops": mm["best"],
        "matmul_gflops_by_shape": {k: v for k, v in mm.items() if k != "best"},
        "exact_fraction_of_matmul": exact_gflops / mm["best"],
        "peak_mb": {m: max(r[f"{m}_mb"] for r in records) for m in ("plain", "exact", *_estimators(s), "truncated")},
        "threads": torch.get_num_threads(),
        "per_pair": [{k: v for k, v in r.items() if k != "maps"} for r in records],
    }


def report_rows(res: dict) -> list:
    p = res["plain_s"]
    return [
        ["plain pyvene loop", p, 1.0, 0.0, "-", res["peak_mb"]["plain"]],
        ["exact", res["exact_s"], res["exact_speedup"], res["exact_max_abs_diff"], "1 (same numbers)", res["peak_mb"]["exact"]],
        ["attribution (lookahead, the default)", res["attribution_s"], res["attribution_speedup"], res["attribution_max_abs_error"],
         f"{res['attribution_spearman']:.3f} (mean map {res['attribution_spearman_mean_map']:.3f})", res["peak_mb"]["attribution"]],
        ["attribution, plain AtP", res["attribution_atp_s"], res["attribution_atp_speedup"], res["attribution_atp_max_abs_error"],
         f"{res['attribution_atp_spearman']:.3f} (mean map {res['attribution_atp_spearman_mean_map']:.3f})",
         res["peak_mb"]["attribution_atp"]],
        [f"attribution, {res['attribution_ig_steps']} IG steps", res["attribution_ig_s"], res["attribution_ig_speedup"],
         res["attribution_ig_max_abs_error"],
         f"{res['attribution_ig_spearman']:.3f} (mean map {res['attribution_ig_spearman_mean_map']:.3f})", res["peak_mb"]["attribution_ig"]],
        [f"exact, {res['truncated_context_frames']} encoder positions", res["truncated_s"], res["truncated_speedup"],
         res["truncated_max_abs_diff"], f"{res['truncated_spearman']:.3f}", res["peak_mb"]["truncated"]],
    ]


COLUMNS = ["method", "seconds (all pairs)", "speed-up vs plain", "max abs diff vs exact", "Spearman vs exact", "peak MB"]


def main(argv: Sequence[str] | None = None) -> dict:
    import corruptions
    import intervene
    import tasks

    setup_logging()
    run, s = parse_settings(argv, PerfSettings, script=SCRIPT, description=__doc__, add_arguments=add_arguments,
                            quick_preset=QUICK_PRESET)
    model = intervene.load_model(s.model, device=run.device)
    if not (model.capabilities.fast_exact and model.capabilities.lookahead and model.capabilities.truncated_context):
        raise ConfigError(f"perf.py compares the fast paths (exact runner, lookahead, truncated context); {s.model!r} "
                          f"({model.architecture}) offers {model.capabilities}")
    device = model.device
    task = tasks.KeywordTask()
    mm = matmul_gflops(device)
    records = []
    for word, voice in s.pairs:
        utt = tasks.speak(word, voice=voice).padded(s.duration_s, s.onset_s)
        pair = corruptions.get("word_swap").pair(utt, seed=0, target=word)
        logger.info("pair %s -> %s (%s)", pair.clean_answer, pair.corrupt_answer, voice)
        records.append(measure_pair(model, task, pair, s, device))
    res = summarize(records, s, model, device, mm)
    res["command"] = command_line(SCRIPT, argv)
    res["settings"] = s.to_dict()
    write_json(run.out / "perf.json", res)
    with atomic_path(run.out / "maps.npz") as tmp:  # every map, for a closer look at where estimates miss
        np.savez(tmp, **{f"{name}_{i}": np.asarray(m) for i, r in enumerate(records) for name, m in r["maps"].items()})
    table = Table(COLUMNS, report_rows(res), digits=3)
    text = (
        f"{res['model']} on {res['device']} ({res['threads']} threads), {res['pairs']} word-swap pairs, "
        f"{res['cells']} cells in all (layers {list(s.layers)} x {s.window_ms:g} ms frames of a {s.duration_s:g} s clip). "
        f"Exact mode: {res['exact_gflops']:.0f} GFLOP/s = {100 * res['exact_fraction_of_matmul']:.0f}% of the measured "
        f"matmul throughput ({res['matmul_gflops']:.0f} GFLOP/s). Truncated context ({s.context_frames} positions): "
        f"KL(full || truncated) of the clean answer distribution {res['truncated_kl_clean']:.2e} nats, metric change "
        f"up to {res['truncated_metric_change']:.3f}. Guards for one map row: {res['guards_s']:.1f} s. "
        f"Spearman vs exact per encoder layer: lookahead "
        f"{', '.join(f'{x:.2f}' for x in res['attribution_spearman_per_layer'])}; plain AtP "
        f"{', '.join(f'{x:.2f}' for x in res['attribution_atp_spearman_per_layer'])}."
    )
    write_report(run.out, "SpeechLens performance", [Section("Time per map", text, tables=[table])], res)
    echo(table.to_text())
    echo(text)
    echo(f"\nwrote {run.out / 'perf.json'}")
    return res


if __name__ == "__main__":
    run_cli(main, SCRIPT)
