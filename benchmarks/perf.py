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

Guards are off while timing, except in the exact row, whose map's own timings (``meta.timings``)
split them off: ``guards_s`` is what the guards of one map cost. Prints and writes to
``--out``/perf.json: plain_s, exact_s, attribution_s, exact_speedup, attribution_speedup,
exact_max_abs_diff, attribution_spearman, exact_gflops, matmul_gflops, device, model, cells, and
more (peak memory, truncated-context fidelity, per-pair and per-layer figures); every map goes to
``--out``/maps.npz (``exact_0``, ``attribution_0``, ``attribution_atp_0``, ... per pair).

    python benchmarks/perf.py                 # 3 pairs, ~10 min on a 2-core CPU
    python benchmarks/perf.py --quick         # correctness only: small maps, seconds
    python benchmarks/perf.py --scaleout      # also: the 8-pair heatmap sweep in-process vs on Ray
    python benchmarks/perf.py --scaleout-only --quick   # only that, on 2 pairs
    python benchmarks/perf.py --no-features   # without the activation-store row

The activation-store section (issue 16, on by default; ``--no-features`` leaves it out) is
:mod:`benchmarks.speed.features`: frames per second of ``intervene.features.extract`` over
``features_clips`` synthesized clips, of full forwards with a capture, and of a truncated
encoder (not exact: its activations differ, so the store does not use it).

The scale-out section (``--scaleout``, opt-in: it needs Ray, ``pip install "speechlens[ray]"``,
and a few minutes) is :mod:`benchmarks.speed.scaleout`: the same heatmap sweep in this process
with 2 torch threads and on 2 single-threaded Ray actors; the throughput ratio, each unit's
compute, Ray's overhead per unit (% of the unit's compute) and the maps' max abs difference.

``--executor`` and the Ray flags: perf's timing sections measure in this process by definition
(a time per map is only comparable on one machine); ``--executor ray`` adds the scale-out section
(as ``--scaleout``) and, with ``--ray-address``, ``--actors``, ``--threads-per-actor`` and
``--gpus-per-actor``, says where its Ray side runs (default: a Ray started here, 2 actors x 1 thread).

``--data SPEC [SPEC ...]`` times pairs from a dataset instead of synthesized word swaps
(:mod:`benchmarks.speed.data`; as many pairs as ``pairs`` lists, or ``--max-clips``):
``speech_commands:PATH`` gives speaker-matched pairs (KeywordTask); a sentence dataset gives noise
on one aligned content word per clip (TranscriptTask). The scale-out section sweeps the same data
pairs (whole-clip windows). ``perf.json["data"]`` records the specs and the pairs timed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Integral
from typing import ClassVar

import numpy as np
import torch

from benchmarks.common import (
    FRAME_MS,
    BenchmarkSettings,
    Section,
    Table,
    command_line,
    echo,
    names,
    number,
    parse_settings,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    write_report,
)
from benchmarks.common.data import add_data_arguments, check_data, data_record
from benchmarks.speed.anatomy import (
    ANATOMY_TEXT,
    QUICK_ANATOMY,
    anatomy_rows,
    measure_anatomy,
)
from benchmarks.speed.features import STORE_COLUMNS, store_row, store_rows
from benchmarks.speed.measure import matmul_gflops
from benchmarks.speed.rows import estimate_summary, estimators, measure_pair
from benchmarks.speed.scaleout import (
    SCALEOUT_COLUMNS,
    SCALEOUT_TEXT,
    measure_scaleout,
    scaleout_rows,
    scaleout_text,
)
from tasks.atomic import atomic_path, write_json
from tasks.errors import ConfigError

__all__ = ["PerfSettings", "main"]

logger = logging.getLogger("perf")
SCRIPT = "perf"
QUICK_PRESET = {"pairs": (("yes", "en-us"),), "window_ms": 340.0, "layers": (0, 3), "context_frames": 100,
                "ig_steps": 1, "matmul_repeats": 2, "scaleout_pairs": 2, "scaleout_window_ms": 200.0,
                "features_clips": 2}
"""What ``--quick`` sets: one pair, layers 0 and 3 x three 340 ms windows (6 cells): correctness, not speed."""


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
    matmul_repeats: int = 10  # timings of each matmul shape; the best counts
    scaleout: bool = False  # the scale-out section (benchmarks/speed/scaleout.py; needs Ray)
    scaleout_only: bool = False  # only that section
    scaleout_pairs: int = 8
    scaleout_window_ms: float = 40.0  # patching_heatmaps.py's windows (its --quick: 200)
    features: bool = True  # the activation-store extraction row (benchmarks/speed/features.py)
    features_clips: int = 8
    data: tuple = ()
    max_clips: int | None = None  # --data: pairs timed (default: as many as ``pairs`` lists)

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("model", names("model", self.model)[0])
        pairs = self.pairs if isinstance(self.pairs, (list, tuple)) else ()
        if not pairs or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in pairs):
            raise ConfigError(f"pairs ({self.pairs!r}) must be a list of [word, voice]")
        put("pairs", tuple(names("pairs", p) for p in pairs))
        layers = (self.layers,) if isinstance(self.layers, int) else self.layers
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ConfigError(f"layers ({self.layers!r}) must be one or more encoder layer numbers")
        put("layers", tuple(whole(f"layers[{i}]", v, 0) for i, v in enumerate(layers)))
        put("window_ms", number("window_ms", self.window_ms, 0.0, low_open=True, unit="ms", multiple_of=FRAME_MS))
        put("duration_s", number("duration_s", self.duration_s, 0.0, 30.0, low_open=True, unit="s"))
        put("onset_s", number("onset_s", self.onset_s, 0.0, self.duration_s, high_open=True, unit="s"))
        put("context_frames", whole("context_frames", self.context_frames, 1))
        if isinstance(self.ig_steps, Integral) and not isinstance(self.ig_steps, bool) and self.ig_steps < 1:
            raise ConfigError(f"ig_steps ({self.ig_steps}) must be >= 1 (the plain attribution row always runs)")
        put("ig_steps", whole("ig_steps", self.ig_steps, 1))
        put("batch_size", whole("batch_size", self.batch_size, 0))
        put("matmul_repeats", whole("matmul_repeats", self.matmul_repeats, 1))
        for flag in ("scaleout", "scaleout_only", "features"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} ({getattr(self, flag)!r}) must be true or false")
        put("scaleout", self.scaleout or self.scaleout_only)
        put("scaleout_pairs", whole("scaleout_pairs", self.scaleout_pairs, 1, 1000))
        put("features_clips", whole("features_clips", self.features_clips, 1, 1000))
        put("scaleout_window_ms", number("scaleout_window_ms", self.scaleout_window_ms, FRAME_MS, 1000.0, unit="ms",
                                         multiple_of=FRAME_MS))  # fmt: skip
        put("data", check_data("data", self.data))
        if self.max_clips is not None:
            put("max_clips", whole("max_clips", self.max_clips, 1, 1000))


def add_arguments(p) -> None:
    p.add_argument("--model", help="model name or folder (default whisper-tiny.en)")
    p.add_argument("--window-ms", dest="window_ms", type=float, help="frame window (default 20 ms)")
    p.add_argument("--context-frames", dest="context_frames", type=int, help="truncated encoder positions")
    p.add_argument("--ig-steps", dest="ig_steps", type=int, help="integrated-gradient steps for the extra row")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="exact mode cells per batch (GPU)")
    p.add_argument("--scaleout", action="store_true",
                   help='add the scale-out section: the heatmap sweep in-process vs on Ray (pip install "speechlens[ray]")')
    p.add_argument("--scaleout-only", dest="scaleout_only", action="store_true", help="only the scale-out section")
    p.add_argument("--no-features", dest="features", action="store_const", const=False,
                   help="leave out the activation-store extraction row (issue 16)")
    p.add_argument("--features-clips", dest="features_clips", type=int, metavar="N",
                   help="clips of the activation-store row (default 8; --quick: 2)")
    p.add_argument("--scaleout-pairs", dest="scaleout_pairs", type=int, metavar="N",
                   help="pairs of the scale-out sweep (default 8; --quick: 2)")
    p.add_argument("--scaleout-window-ms", dest="scaleout_window_ms", type=float, metavar="MS",
                   help="time windows of the scale-out sweep (default 40 ms, as patching_heatmaps.py; --quick: 200)")
    add_data_arguments(p, what="the timed pairs (speech_commands: speaker-matched pairs; sentences: noise on a word)")


def summarize(records: list, s: PerfSettings, model, device, mm: dict) -> dict:
    tot = {k: float(sum(r[k] for r in records)) for k in ("plain_s", "exact_s", "truncated_s", "guards_s", "exact_flops")}
    exact_gflops = tot["exact_flops"] / tot["exact_s"] / 1e9
    estimates: dict = {}
    for name in estimators(s):
        estimates |= estimate_summary(records, name, tot["plain_s"])
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
        "peak_mb": {m: max(r[f"{m}_mb"] for r in records) for m in ("plain", "exact", *estimators(s), "truncated")},
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


RESULT_FILES = ("results.json", "perf.json", "maps.npz", "index.html")
"""perf.py's result files, the one written last first."""
COLUMNS = ["method", "seconds (all pairs)", "speed-up vs plain", "max abs diff vs exact", "Spearman vs exact", "peak MB"]


def report_table(res: dict, s: PerfSettings) -> tuple[Table, str]:
    """The report's table and its text."""
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
    return table, text


def main(argv: Sequence[str] | None = None) -> dict:
    import corruptions
    import intervene
    import tasks

    setup_logging()
    run, s = parse_settings(argv, PerfSettings, script=SCRIPT, description=__doc__, add_arguments=add_arguments,
                            quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    if run.scaleout.executor == "ray" and not s.scaleout:  # --executor ray: the scale-out section, on that Ray
        s = replace(s, scaleout=True)
    with run_folder(run, s, results=RESULT_FILES):
        model = intervene.load_model(s.model, device=run.device)
        if not (model.capabilities.fast_exact and model.capabilities.lookahead and model.capabilities.truncated_context):
            raise ConfigError(f"perf.py compares the fast paths (exact runner, lookahead, truncated context); {s.model!r} "
                              f"({model.architecture}) offers {model.capabilities}")
        device = model.device
        timed = None
        if s.data:
            from benchmarks.speed.data import data_pairs

            timed = data_pairs(s.data, s.max_clips or len(s.pairs), s.model, run.device)
        if s.scaleout_only:
            return _scaleout_only(run, s, model, argv, timed)
        if timed is None:
            timed = [(tasks.KeywordTask(), corruptions.get("word_swap").pair(
                tasks.speak(w, voice=v).padded(s.duration_s, s.onset_s), seed=0, target=w)) for w, v in s.pairs]
        mm = matmul_gflops(device, repeats=s.matmul_repeats)
        records = []
        for task, pair in timed:
            logger.info("pair %s -> %s", pair.clean_answer, pair.corrupt_answer)
            records.append(measure_pair(model, task, pair, s, device))
        res = summarize(records, s, model, device, mm)
        res["anatomy"] = measure_anatomy(model, task, pair, **(QUICK_ANATOMY if run.quick else {}))
        if s.features:
            res["features"] = store_row(model, n_clips=s.features_clips)
        if s.scaleout:
            res["scaleout"] = measure_scaleout(model, s.scaleout_pairs, run.out, window_ms=s.scaleout_window_ms,
                                               device=run.device, pairs=timed if s.data else None,
                                               ray_options=run.scaleout)  # fmt: skip
        res["data"] = _data(s, timed)
        res["command"] = command_line(SCRIPT, argv)
        res["settings"] = s.to_dict()
        res["settings_digest"] = s.digest()
        with atomic_path(run.out / "maps.npz") as tmp:  # every map, for a closer look at where estimates miss
            np.savez(tmp, **{f"{name}_{i}": np.asarray(m) for i, r in enumerate(records) for name, m in r["maps"].items()})
        write_json(run.out / "perf.json", res)
        table, text = report_table(res, s)
        anatomy = Section("Head-mask and window sweeps (issue 13)", ANATOMY_TEXT,
                          tables=[Table(COLUMNS, anatomy_rows(res["anatomy"]), digits=3)])
        sections = [Section("Time per map", text, tables=[table]), anatomy]
        if s.features:
            sections.append(_features_section(res["features"]))
        if s.scaleout:
            sections.append(_scaleout_section(res["scaleout"]))
        write_report(run.out, "SpeechLens performance", sections, res)
    echo(table.to_text())
    echo(text)
    if s.scaleout:
        _echo_scaleout(res["scaleout"])
    echo(f"\nwrote {run.out / 'perf.json'}")
    return res


def _features_section(row: dict) -> Section:
    text = (f"Frames per second of {row['site']} over {row['clips']} synthesized clips ({row['frames']} audio frames). "
            "The store runs the full 1500-position encoder and stops at the site: a truncated encoder is faster "
            "but changes the activations (Whisper attends over the padding too), so it is not used.")
    return Section("Activation-store extraction (issue 16)", text, tables=[Table(STORE_COLUMNS, store_rows(row), digits=3)])


def _scaleout_section(sc: dict) -> Section:
    return Section("Scale-out on Ray (issue 17)", f"{SCALEOUT_TEXT} {scaleout_text(sc)}",
                   tables=[Table(SCALEOUT_COLUMNS, scaleout_rows(sc), digits=3)])


def _echo_scaleout(sc: dict) -> None:
    echo(Table(SCALEOUT_COLUMNS, scaleout_rows(sc), digits=3).to_text())
    echo(scaleout_text(sc))


def _data(s: PerfSettings, timed) -> dict:
    """``perf.json["data"]``: synthetic, or the specs and each timed pair's words and speaker."""
    if not s.data:
        return data_record(())
    return data_record(s.data, (), pairs=[{"answers": [p.clean_answer, p.corrupt_answer], "task": t.name,
                                            "speaker": p.metadata.get("speaker"), "corruption": p.corruption.get("kind")}
                                           for t, p in timed])  # fmt: skip


def _scaleout_only(run, s: PerfSettings, model, argv, timed=None) -> dict:
    """``--scaleout-only``: the scale-out section alone (inside main's run folder)."""
    res = {"model": model.name, "device": str(model.device), "scaleout": measure_scaleout(model, s.scaleout_pairs,
           run.out, window_ms=s.scaleout_window_ms, device=run.device, pairs=timed, ray_options=run.scaleout),
           "data": _data(s, timed), "command": command_line(SCRIPT, argv), "settings": s.to_dict(),
           "settings_digest": s.digest()}  # fmt: skip
    write_json(run.out / "perf.json", res)
    write_report(run.out, "SpeechLens performance: scale-out", [_scaleout_section(res["scaleout"])], res)
    _echo_scaleout(res["scaleout"])
    echo(f"\nwrote {run.out / 'perf.json'}")
    return res


if __name__ == "__main__":
    run_cli(main, SCRIPT)
