"""From unit records to per-design numbers, the ranking and the rule-based advice of the ablation.

Every sentence of the advice is computed from the numbers here (thresholds are the module
constants below), so a run on other clips, designs or models gets its own conclusions.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.stats import rankdata

from benchmarks.ablation.metrics import agreement_matrix

__all__ = [
    "MIN_COVERAGE",
    "FAR_OFF",
    "LOW_AGREEMENT",
    "CRITERIA",
    "summarize_design",
    "agreement",
    "rank_designs",
    "advice",
]

MIN_COVERAGE = 0.5
"""A design needs a map (a metric gap >= 0.05) on at least this share of clips to be ranked normally."""
FAR_OFF = 1.5
"""Off-distribution ratio (corrupt / clean distance, mean over layers) from which a design is flagged."""
LOW_AGREEMENT = 0.3
"""Mean Spearman correlation with the other designs below which a design's maps are flagged."""
CRITERIA = (
    ("logodds_drop", "effect (log-odds drop)", True),
    ("flip_rate", "flip rate", True),
    ("offdist_mean", "in-distribution (low off-dist.)", False),
    ("localisation_word", "localisation (word)", True),
    ("agreement_mean", "agreement", True),
)
"""Ranking criteria: (summary key, name, higher is better)."""


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _layer_means(records: list, kind: str, what: str) -> list:
    rows = [r["offdist"][kind][what] for r in records]
    if not rows:
        return []
    return [_mean(row[i] for row in rows) for i in range(len(rows[0]))]


def summarize_design(label: str, records: list) -> dict:
    """The numbers of one design over its clips' records (see ``benchmarks.ablation.work.ablation_unit``)."""
    mapped = [r for r in records if r["map"] is not None]
    flips = sum(bool(r["flipped"]) for r in records)
    offdist = {kind: {what: _layer_means(records, kind, what) for what in ("clean", "corrupt", "ratio")}
               for kind in ("ledoit_wolf", "diag")}  # fmt: skip
    loc = {k: _mean(r["map"]["localisation"][k] for r in mapped)
           for k in ("changed", "word", "changed_chance", "word_chance")}  # fmt: skip
    heard = Counter(r["corrupt_prediction"] for r in records)
    return {
        "label": label,
        "kind": records[0]["corruption"]["kind"] if records else None,
        "corruption": records[0]["corruption"] if records else None,
        "metrics": sorted({r["metric"] for r in records}),
        "n_clips": len(records),
        "n_maps": len(mapped),
        "no_effect": len(records) - len(mapped),
        "coverage": len(mapped) / len(records) if records else 0.0,
        "gap": _mean(r["gap"] for r in records),
        "gap_abs": _mean(abs(r["gap"]) for r in records),
        "logodds_drop": _mean(r["logodds_drop"] for r in records),
        "flips": flips,
        "flip_rate": flips / len(records) if records else None,
        "heard_as": dict(heard.most_common()),
        "offdist": offdist,
        "offdist_mean": _mean(offdist["ledoit_wolf"]["ratio"]),
        "offdist_diag_mean": _mean(offdist["diag"]["ratio"]),
        "localisation_changed": loc["changed"],
        "localisation_word": loc["word"],
        "chance_changed": loc["changed_chance"],
        "chance_word": loc["word_chance"],
        "seconds": float(sum(r.get("seconds", 0.0) for r in records)),
    }


def agreement(records_by_design: dict) -> dict:
    """The design x design Spearman agreement of the maps, averaged over clips."""
    labels = list(records_by_design)
    maps = {d: {r["clip"]: np.asarray(r["map"]["values"], dtype=float) for r in recs if r["map"] is not None}
            for d, recs in records_by_design.items()}  # fmt: skip
    matrix, counts = agreement_matrix(maps, labels)
    means = {}
    for i, label in enumerate(labels):
        others = [matrix[i, j] for j in range(len(labels)) if j != i and np.isfinite(matrix[i, j])]
        means[label] = float(np.mean(others)) if others else None
    return {"labels": labels, "matrix": matrix, "clips": counts, "mean_with_others": means}


def rank_designs(summaries: dict) -> list[dict]:
    """Designs ordered by their mean rank over :data:`CRITERIA` (rank 1 best in each).

    Designs with a map on fewer than :data:`MIN_COVERAGE` of the clips come last; a missing
    value ranks last in its criterion.
    """
    labels = list(summaries)
    if not labels:
        return []
    ranks = {}
    for key, _, higher in CRITERIA:
        vals = np.array([summaries[d].get(key) if summaries[d].get(key) is not None else np.nan for d in labels],
                        dtype=float)  # fmt: skip
        worst = -np.inf if higher else np.inf
        score = np.where(np.isfinite(vals), vals, worst)
        ranks[key] = rankdata(-score if higher else score, method="average")
    rows = []
    for i, d in enumerate(labels):
        per = {key: float(ranks[key][i]) for key, _, _ in CRITERIA}
        rows.append({"label": d, "mean_rank": float(np.mean(list(per.values()))), "ranks": per,
                     "usable": summaries[d]["coverage"] >= MIN_COVERAGE})  # fmt: skip
    rows.sort(key=lambda r: (not r["usable"], r["mean_rank"], labels.index(r["label"])))
    for place, row in enumerate(rows, 1):
        row["place"] = place
    return rows


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _best(summaries: dict, labels: list, key: str, higher: bool = True) -> str | None:
    vals = [(summaries[d][key], d) for d in labels if summaries[d].get(key) is not None]
    if not vals:
        return None
    return (max if higher else min)(vals, key=lambda v: v[0])[1]


def advice(summaries: dict, agree: dict) -> list[str]:
    """Which design to trust for which question, as sentences computed from the numbers."""
    usable = [d for d, s in summaries.items() if s["coverage"] >= MIN_COVERAGE]
    out = []
    if not usable:
        return ["No design gave a usable map (a metric gap of at least 0.05) on half the clips; "
                "none can be recommended from this run."]  # fmt: skip
    best = _best(summaries, usable, "localisation_word")
    if best is not None:
        s = summaries[best]
        close = [d for d in usable if d != best and summaries[d]["localisation_word"] is not None
                 and summaries[d]["localisation_word"] >= s["localisation_word"] - 0.05]  # fmt: skip
        out.append(f"Localising where the word is heard: {best} ({_pct(s['localisation_word'])} of the map's |effect| "
                   f"lies within the word +- one window, where a uniform map would put {_pct(s['chance_word'])})"
                   + (f"; within 5 points: {', '.join(close)}." if close else "."))  # fmt: skip
    flipping = [d for d in usable if (summaries[d]["flip_rate"] or 0) >= 0.5]
    pool = flipping or usable
    best = _best(summaries, pool, "offdist_mean", higher=False)
    if best is not None:
        s = summaries[best]
        lead = ("Measuring in-distribution effects" if flipping else
                "Measuring in-distribution effects (no design flips half the answers; closest to clean)")
        out.append(f"{lead}: {best} (its corrupted frames lie {s['offdist_mean']:.2f}x as far from the clean "
                   f"reference as the clean frames, mean over encoder layers; it flips {_pct(s['flip_rate'])} of "
                   "the answers).")  # fmt: skip
    best = max(usable, key=lambda d: (summaries[d]["flip_rate"] or 0, summaries[d]["logodds_drop"] or -np.inf))
    s = summaries[best]
    out.append(f"Testing whether a region matters at all (largest effect): {best} (flips {_pct(s['flip_rate'])}, "
               f"log-odds drop {s['logodds_drop']:.1f} nats).")  # fmt: skip
    means = agree["mean_with_others"]
    ranked = [d for d in usable if means.get(d) is not None]
    if ranked:
        best = max(ranked, key=lambda d: means[d])
        out.append(f"A map representative of the other designs: {best} (mean Spearman rho {means[best]:.2f} "
                   "with the other designs' maps of the same clips).")  # fmt: skip
    out += _cautions(summaries, means)
    out += _literature_checks(summaries)
    return out


def _cautions(summaries: dict, means: dict) -> list[str]:
    out = []
    weak = [d for d, s in summaries.items() if s["coverage"] < MIN_COVERAGE]
    if weak:
        out.append("Too weak on these clips (metric gap below 0.05, so no map, on most clips): "
                   + ", ".join(f"{d} ({summaries[d]['no_effect']}/{summaries[d]['n_clips']})" for d in weak) + ".")
    far = [d for d, s in summaries.items() if s["offdist_mean"] is not None and s["offdist_mean"] >= FAR_OFF]
    if far:
        out.append(f"Far off-distribution (corrupted frames >= {FAR_OFF}x the clean distance): "
                   + ", ".join(f"{d} ({summaries[d]['offdist_mean']:.2f}x)" for d in far)
                   + "; their effects may measure the model's response to unnatural input.")  # fmt: skip
    whole = [d for d, s in summaries.items() if s["chance_changed"] is not None and s["chance_changed"] >= 0.9]
    if whole:
        out.append("Changes (nearly) the whole clip, so 'inside the changed span' says nothing for: "
                   + ", ".join(whole) + "; judge their localisation by the word span.")
    low = [d for d in summaries if means.get(d) is not None and means[d] < LOW_AGREEMENT]
    if low:
        out.append(f"Maps unlike the other designs' (mean rho < {LOW_AGREEMENT}): "
                   + ", ".join(f"{d} ({means[d]:.2f})" for d in low) + ".")  # fmt: skip
    return out


def _literature_checks(summaries: dict) -> list[str]:
    """Compare with FACTS.md: noise is off-distribution, silence makes Whisper guess, swaps are in-distribution."""
    out = []
    swaps = [d for d, s in summaries.items() if s["kind"] == "word_swap" and s["offdist"]["ledoit_wolf"]["ratio"]]
    noises = [d for d, s in summaries.items() if s["kind"] == "noise" and s["offdist"]["ledoit_wolf"]["ratio"]]
    if swaps and noises:
        swap = summaries[swaps[0]]["offdist"]["ledoit_wolf"]["ratio"][0]
        noise = [summaries[d]["offdist"]["ledoit_wolf"]["ratio"][0] for d in noises]
        if swap is not None and all(v is not None for v in noise):
            above = sum(v > swap for v in noise)
            verdict = "as the literature says" if above == len(noise) else "unlike what the literature says"
            out.append(f"Check: on encoder layer 0, {above} of {len(noise)} noise designs lie further off-distribution "
                       f"than the word swap ({', '.join(f'{v:.2f}x' for v in noise)} vs {swap:.2f}x), {verdict}.")
    for d, s in summaries.items():
        c = s["corruption"] or {}
        if s["kind"] == "gap" and c.get("fill") == "silence" and s["heard_as"]:
            word, n = next(iter(s["heard_as"].items()))
            if (s["flip_rate"] or 0) >= 0.5:
                out.append(f"Check: with the word replaced by silence ({d}), the model still names a word, most often "
                           f"'{word}' ({n}/{s['n_clips']} clips): a guess from its prior, not from the audio "
                           "(as the literature says of silence).")  # fmt: skip
            else:
                out.append(f"Check: with the word replaced by silence ({d}), the model keeps the clean answer on "
                           f"{s['n_clips'] - s['flips']}/{s['n_clips']} clips, unlike what the literature leads one "
                           "to expect.")  # fmt: skip
    return out
