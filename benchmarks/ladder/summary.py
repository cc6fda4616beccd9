"""The ladder of one model: per encoder layer, what each method says, and the layers it names.

A layer is *decodable* when the keyword probe's held-out accuracy reaches ``decodable_accuracy``
and *used* when patching the word's frames at that layer restores on average at least
``used_effect`` of the clean-minus-corrupt metric. The ladder names the layers that are
decodable but not used, and used but hard to decode (probe accuracy below the bar). DAS and
LEACE are reported next to them: DAS says how few dimensions carry what patching moves, LEACE
what removing the linearly decodable part does to the task.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.common import Table

__all__ = ["NOT_AVAILABLE", "ladder_rows", "ladder_table", "leace_example", "name_layers"]

_NAN = float("nan")
NOT_AVAILABLE = {"available": False, "reason": "not available for this data (recordings carry no voice gender)",
                 "probe_before": _NAN, "probe_after": _NAN, "frame_probe_before": _NAN, "frame_probe_after": _NAN,
                 "probe_chance": _NAN, "keyword_accuracy_before": _NAN, "keyword_accuracy_after": _NAN,
                 "keyword_ci_after": [_NAN, _NAN], "rank": None, "n_clips": 0}  # fmt: skip
"""A LEACE row of a label the data lacks (gender of recorded speakers)."""


def _patch_stats(records: list, layer_index: int) -> dict:
    used = [r for r in records if r["status"] == "used"]
    values = np.array([r["effect"][layer_index] for r in used], dtype=float)
    if not len(values):
        return {"mean": float("nan"), "std": float("nan"), "ci": [float("nan")] * 2, "n": 0}
    mean, std = float(values.mean()), float(values.std())
    half = 1.96 * std / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": mean, "std": std, "ci": [mean - half, mean + half], "n": len(values)}


def ladder_rows(records: dict, settings) -> list[dict]:
    """One row per layer from a model's unit records (:meth:`benchmarks.ladder.work.ModelWork.run_units`)."""
    rows = []
    for k, layer in enumerate(records["layers"]):
        p = records["probe"][layer]
        row = {"layer": layer,
               "probe": {key: p[key] for key in ("accuracy", "accuracy_ci", "control_accuracy", "selectivity",
                                                 "chance", "n_test")},
               "patch": _patch_stats(records["patch"], k), "das": {}, "leace": {}}  # fmt: skip
        for dim in settings.dims:
            d = records["das"][layer, dim]
            row["das"][str(dim)] = {"iia": d["iia"], "iia_ci": d["iia_ci"], "iia_validation": d["iia_validation"],
                                    "n_test": d["n_test"], "learned_dim": d["learned_dim"],
                                    "best_epoch": d["record"]["best_epoch"],
                                    "epochs_run": d["record"]["epochs_run"]}  # fmt: skip
        for label in ("keyword", "gender"):
            e = records["leace"].get((layer, label))
            if e is None:  # recordings carry no voice gender: not available, never guessed
                row["leace"][label] = dict(NOT_AVAILABLE)
                continue
            row["leace"][label] = {"probe_before": e["pooled_probe_before"]["accuracy"],
                                   "probe_after": e["pooled_probe_after"]["accuracy"],
                                   "frame_probe_before": e["probe_before"]["accuracy"],
                                   "frame_probe_after": e["probe_after"]["accuracy"],
                                   "probe_chance": e["pooled_probe_after"]["chance"],
                                   "keyword_accuracy_before": e["keyword_accuracy_before"],
                                   "keyword_accuracy_after": e["keyword_accuracy_after"],
                                   "keyword_ci_after": e["keyword_ci_after"], "rank": e["rank"],
                                   "n_clips": e["n_clips"]}  # fmt: skip
        decodable = bool(p["accuracy"] >= settings.decodable_accuracy)
        effect = row["patch"]["mean"]
        used = bool(np.isfinite(effect) and effect >= settings.used_effect)
        row["decodable"], row["used"] = decodable, used
        row["verdict"] = {(True, True): "decodable and used", (True, False): "decodable but not used",
                          (False, True): "used but hard to decode", (False, False): "neither"}[decodable, used]
        rows.append(row)
    return rows


def name_layers(rows: list[dict]) -> dict:
    """The layers in each verdict."""
    out = {"decodable_not_used": [], "used_not_decodable": [], "decodable_and_used": [], "neither": []}
    for r in rows:
        key = {"decodable but not used": "decodable_not_used", "used but hard to decode": "used_not_decodable",
               "decodable and used": "decodable_and_used", "neither": "neither"}[r["verdict"]]  # fmt: skip
        out[key].append(r["layer"])
    return out


def leace_example(rows: list[dict], dims) -> dict:
    """The report's LEACE example at the layer where DAS finds the keyword best (highest held-out IIA at
    the largest dim; the earliest such layer): keyword accuracy before / after erasing the voice's
    gender, and before / after erasing keyword identity."""
    top = str(max(dims))
    best = max(rows, key=lambda r: (r["das"][top]["iia"], -r["layer"]))
    k, g = best["leace"]["keyword"], best["leace"]["gender"]
    return {"layer": best["layer"], "das_dim": int(top), "das_iia": best["das"][top]["iia"],
            "keyword_accuracy": k["keyword_accuracy_before"],
            "after_erasing_gender": g["keyword_accuracy_after"],
            "after_erasing_keyword": k["keyword_accuracy_after"],
            "gender_probe": [g["probe_before"], g["probe_after"]], "keyword_probe": [k["probe_before"], k["probe_after"]],
            "chance_keyword": best["probe"]["chance"], "n_clips": k["n_clips"],
            "expected": leace_expectations(k, g, best["probe"]["chance"])}  # fmt: skip


def leace_expectations(keyword: dict, gender: dict, chance: float) -> dict:
    """The issue's two expectations of the LEACE example, judged on the numbers.

    ``gender_leaves_keyword``: erasing the voice's gender leaves keyword accuracy inside the 95%
    interval of the erased run (None where the data has no gender); ``keyword_collapses``: erasing
    keyword identity takes keyword accuracy at least three quarters of the way from its plain value
    to chance.
    """
    before = keyword["keyword_accuracy_before"]
    g_after = gender["keyword_accuracy_after"]
    lo, hi = gender.get("keyword_ci_after", (np.nan, np.nan))
    gender_ok = None if g_after is None or not np.isfinite(g_after) else bool(lo <= before <= hi)
    collapse_at = chance + 0.25 * (before - chance)
    return {"gender_leaves_keyword": gender_ok,
            "keyword_collapses": bool(keyword["keyword_accuracy_after"] <= collapse_at),
            "collapse_threshold": float(collapse_at)}


def _f(x, digits: int = 2) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def ladder_table(rows: list[dict], dims) -> Table:
    """The ladder as an HTML table, one row per layer."""
    head = ["layer", "probe acc [95% CI]", "control", "selectivity", "patch effect (mean ± sd, n)"]
    head += [f"DAS IIA d={d} [95% CI]" for d in dims]
    head += ["kw acc: plain / -keyword / -gender", "verdict"]
    body = []
    for r in rows:
        p, pa = r["probe"], r["patch"]
        line = [r["layer"], f"{_f(p['accuracy'])} [{_f(p['accuracy_ci'][0])}, {_f(p['accuracy_ci'][1])}]",
                _f(p["control_accuracy"]), _f(p["selectivity"]), f"{_f(pa['mean'])} ± {_f(pa['std'])}, {pa['n']}"]
        for d in dims:
            x = r["das"][str(d)]
            line.append(f"{_f(x['iia'])} [{_f(x['iia_ci'][0])}, {_f(x['iia_ci'][1])}] (n={x['n_test']})")
        kw, ge = r["leace"]["keyword"], r["leace"]["gender"]
        line.append(f"{_f(kw['keyword_accuracy_before'])} / {_f(kw['keyword_accuracy_after'])} / "
                    f"{_f(ge['keyword_accuracy_after'])}")  # fmt: skip
        line.append(r["verdict"])
        body.append(line)
    return Table(head, body)
