"""Tables, figures and report sections of the corruption ablation (the CLI layer's output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.ablation.summary import CRITERIA, FAR_OFF
from benchmarks.common import Section, Table, new_figure, save_figure

__all__ = [
    "ranking_table", "design_table", "offdist_table", "agreement_table", "clip_table",
    "agreement_figure", "offdist_figure", "example_maps_figure", "overview_figure", "method_text", "build_sections",
]  # fmt: skip


def _r(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


def ranking_table(ranking: list, summaries: dict) -> Table:
    cols = ["place", "design", "mean rank"] + [name for _, name, _ in CRITERIA] + ["usable"]
    rows = []
    for row in ranking:
        s = summaries[row["label"]]
        rows.append([row["place"], row["label"], row["mean_rank"], *[s.get(key) for key, _, _ in CRITERIA],
                     "yes" if row["usable"] else "no (few maps)"])  # fmt: skip
    return Table(cols, rows, title="Ranking (mean rank over the five criteria; values shown, not ranks)", digits=2)


def design_table(ranking: list, summaries: dict) -> Table:
    cols = ["design", "maps", "metric", "gap", "log-odds drop", "flip rate", "heard as", "off-dist (LW)",
            "off-dist (diag)", "loc. changed", "loc. word", "chance word", "agreement", "seconds"]  # fmt: skip
    rows = []
    for row in ranking:
        s = summaries[row["label"]]
        heard = ", ".join(f"{w} {n}" for w, n in list(s["heard_as"].items())[:2])
        rows.append([s["label"], f"{s['n_maps']}/{s['n_clips']}", "/".join(s["metrics"]), s["gap"], s["logodds_drop"],
                     s["flip_rate"], heard, s["offdist_mean"], s["offdist_diag_mean"], s["localisation_changed"],
                     s["localisation_word"], s["chance_word"], s["agreement_mean"], round(s["seconds"])])  # fmt: skip
    return Table(cols, rows, title="Designs: every metric (means over clips)", digits=2)


def offdist_table(summaries: dict, layers: list) -> Table:
    rows = [[d, *s["offdist"]["ledoit_wolf"]["ratio"], *s["offdist"]["diag"]["ratio"]] for d, s in summaries.items()]
    cols = ["design"] + [f"LW L{i}" for i in layers] + [f"diag L{i}" for i in layers]
    return Table(cols, rows, title="Off-distribution ratio per encoder layer (corrupt / clean distance, changed span)",
                 digits=2)  # fmt: skip


def agreement_table(agree: dict) -> Table:
    labels = agree["labels"]
    rows = [[d, *[_r(v, 2) for v in agree["matrix"][i]]] for i, d in enumerate(labels)]
    return Table(["design", *labels], rows, title="Agreement: Spearman rho of the maps, mean over clips", digits=2,
                 shade=True)  # fmt: skip


def clip_table(records_by_design: dict, clips: list, key: str, title: str) -> Table:
    rows = []
    for d, recs in records_by_design.items():
        by = {r["clip"]: r for r in recs}
        rows.append([d, *[by[c][key] if c in by else None for c in clips]])
    return Table(["design", *clips], rows, title=title, digits=2)


# --------------------------------------------------------------------------- figures
def agreement_figure(agree: dict):
    m = np.asarray(agree["matrix"], dtype=float)
    labels = agree["labels"]
    n = len(labels)
    fig = new_figure(2.8 + 0.6 * n, 1.8 + 0.5 * n)
    ax = fig.add_subplot()
    image = ax.imshow(m, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, "-" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")  # fmt: skip
    ax.set_title("Agreement of the maps\n(Spearman rho, mean over clips)", fontsize=10)
    fig.colorbar(image, ax=ax, label="Spearman rho", shrink=0.8)
    return fig


def offdist_figure(summaries: dict, layers: list):
    from matplotlib import colormaps

    fig = new_figure(8.5, 4.8)
    ax = fig.add_subplot()
    colours = colormaps["tab20"].colors
    styles = {"noise": "-", "gap": "--", "pitch_shift": "-.", "word_swap": "-", "lowpass": ":", "bandstop": ":",
              "reverb": ":"}  # fmt: skip
    for i, (d, s) in enumerate(summaries.items()):
        ratio = [np.nan if v is None else v for v in s["offdist"]["ledoit_wolf"]["ratio"]]
        wide = s["kind"] == "word_swap"
        ax.plot(layers, ratio, styles.get(s["kind"], "-"), marker="o", color=colours[(2 * i) % 20 + (i // 10)],
                linewidth=3.0 if wide else 1.6, label=d)  # fmt: skip
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.axhline(FAR_OFF, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylim(bottom=0.0)
    ax.set_xticks(layers, [str(v) for v in layers])
    ax.set(xlabel="encoder layer (block output)", ylabel="corrupt / clean distance (Ledoit-Wolf Mahalanobis)",
           title="How far the corrupted frames lie from clean activations (1 = like clean speech)")  # fmt: skip
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return fig


def example_maps_figure(records_by_design: dict, clip: str):
    labels = list(records_by_design)
    cols = min(4, len(labels))
    rows = int(np.ceil(len(labels) / cols))
    fig = new_figure(3.3 * cols + 1.0, 2.3 * rows + 0.6)
    recs = {d: next((r for r in records_by_design[d] if r["clip"] == clip), None) for d in labels}
    values = [np.abs(np.asarray(r["map"]["values"], dtype=float)) for r in recs.values() if r and r["map"]]
    vmax = max([float(np.nanmax(v)) for v in values if np.isfinite(v).any()] + [1e-6])
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for ax, d in zip(axes.ravel(), labels):
        r = recs[d]
        if r is None or r["map"] is None:
            ax.text(0.5, 0.5, "no effect\n(metric gap < 0.05)", ha="center", va="center", transform=ax.transAxes)
            ax.set(title=d, xticks=[], yticks=[])
            continue
        m = r["map"]
        starts, ends = np.asarray(m["starts_s"]), np.asarray(m["ends_s"])
        image = ax.imshow(np.asarray(m["values"], dtype=float), aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                          origin="lower", interpolation="nearest",
                          extent=(starts[0], ends[-1], -0.5, len(m["layers"]) - 0.5))  # fmt: skip
        for a, b in r["changed_spans"]:
            ax.axvspan(a, b, ymin=0.97, ymax=1.0, color="black")
        ax.axvline(r["word_span"][0], color="green", linewidth=1)
        ax.axvline(r["word_span"][1], color="green", linewidth=1)
        ax.set_yticks(range(len(m["layers"])), [str(v) for v in m["layers"]])
        ax.set_title(f"{d}\nflip={r['flipped']} gap={r['gap']:.1f}", fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel("layer", fontsize=8)
    for ax in axes.ravel()[len(labels):]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, label="normalised effect", shrink=0.8)
    fig.suptitle(f"One map per design, clip '{clip}' (green: word span; black bar: changed span)")
    return fig


def overview_figure(ranking: list, summaries: dict):
    labels = [r["label"] for r in ranking]
    panels = [("flip_rate", "flip rate", (0, 1)), ("logodds_drop", "log-odds drop (nats)", None),
              ("offdist_mean", "off-distribution (x clean)", None),
              ("localisation_word", "share of |effect| in word", (0, 1)),
              ("agreement_mean", "mean rho with others", (-1, 1))]  # fmt: skip
    fig = new_figure(14.0, 0.35 * len(labels) + 1.6)
    axes = fig.subplots(1, len(panels), sharey=True)
    y = np.arange(len(labels))
    for ax, (key, name, lim) in zip(axes, panels):
        vals = [summaries[d].get(key) for d in labels]
        ax.barh(y, [np.nan if v is None else v for v in vals], color="tab:blue")
        ax.set_title(name, fontsize=9)
        if lim:
            ax.set_xlim(*lim)
        if key == "offdist_mean":
            ax.axvline(1.0, color="grey", linewidth=0.8)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    return fig


# --------------------------------------------------------------------------- sections
def method_text(res: dict, command: str) -> str:
    """How every number of the report is defined (from the run's settings)."""
    s, ref = res["settings"], res["reference"]
    onsets = ", ".join(f"{o:g}" for o in s["reference_onsets"])
    data = res.get("data") or {"kind": "synthetic"}
    if data["kind"] == "synthetic":
        clips = (f"{len(res['clips'])} clean clips ({', '.join(res['clips'])}; {s['duration_s']:g} s, word onset at "
                 f"{s['onset_s']:g} s) corrupted by {len(res['designs'])} designs on {res['model']}, KeywordTask over "
                 "the 10 core words.\n\n")  # fmt: skip
        reference = (f"{len(ref['clips'])} clean clips: {len(s['reference_words'])} words x "
                     f"{len(s['reference_voices'])} voices ({', '.join(s['reference_voices'])}) x onsets {onsets} s, "
                     "none of them an evaluated clip")  # fmt: skip
    else:
        clips = (f"{len(res['clips'])} recordings of {', '.join(data['specs'])} ({', '.join(res['clips'])}) "
                 f"corrupted by {len(res['designs'])} designs on {res['model']}: Speech Commands words read with "
                 "KeywordTask over the 10 core words, sentences on one aligned content word read with TranscriptTask "
                 "(the word's log-probability; a logit difference for word swaps; 'flipped': the corrupt half no "
                 "longer predicts the word's first token, teacher-forced). Tasks here: "
                 f"{', '.join(data.get('tasks', []))}. Clips without a pair for a design: "
                 f"{json.dumps(res.get('no_pair', {}))}.\n\n")  # fmt: skip
        reference = (f"{len(ref['clips'])} clean clips, {ref.get('source', 'held-out speakers')}, none of them an "
                     "evaluated clip")  # fmt: skip
    return (
        clips +
        "Effect size: the task metric's clean-minus-corrupt gap (logit difference of the two words for word "
        "swaps, log-odds of the word among the 10 core words otherwise) and, on one scale for every design, the "
        "drop of the clean word's log-odds. Flip rate: share of clips whose corrupt half KeywordTask predicts as "
        "another word than the clean answer.\n\n"
        f"Off-distribution: per encoder layer (block output), a clean reference of {ref['frames_per_layer']} "
        f"frames ({reference}; every frame of a clip's audio, speech and pauses, not Whisper's padding to 30 s) "
        "gives a mean and a Ledoit-Wolf covariance. The ratio is the mean Mahalanobis distance of the corrupted "
        "run's frames inside the changed span divided by that of the clean run's frames at the same positions "
        "(1: as typical as clean speech); 'diag' uses per-dimension standard deviations instead.\n\n"
        f"Localisation: exact {s['direction']} patching of every encoder layer's block output in "
        f"{s['window_ms']:g} ms windows over the whole clip; the share of the map's |normalised effect| in "
        "windows overlapping the changed span (or the word span), each widened by one window; 'chance' is the "
        "share a uniform map would get. Agreement: Spearman rho between two designs' maps of the same clip, mean "
        "over the clips where both have a map. A pair whose metric gap is below 0.05 gets no map (PairError from "
        f"intervene.patch): 'no effect'.\n\nCommand: {command}"
    )


def build_sections(out: Path, res: dict, records_by_design: dict, command: str) -> list[Section]:
    """Write the figures into ``out`` and return the report's sections."""
    summaries, ranking, agree = res["designs"], res["ranking"], res["agreement"]
    layers, clips, example = res["layers"], res["clips"], res["clips"][0]
    figures = {
        "overview.png": overview_figure(ranking, summaries),
        "agreement.png": agreement_figure(agree),
        "offdist-per-layer.png": offdist_figure(summaries, layers),
        "example-maps.png": example_maps_figure(records_by_design, example),
    }
    for name, fig in figures.items():
        save_figure(fig, out / name)
    per_clip = [clip_table(records_by_design, clips, "logodds_drop", "Log-odds drop per clip (nats)"),
                clip_table(records_by_design, clips, "corrupt_prediction", "Corrupt half heard as")]  # fmt: skip
    return [
        Section("Which design for which question", "\n\n".join(res["advice"]),
                tables=[ranking_table(ranking, summaries)], images=[("overview.png", "key numbers per design")]),
        Section("Method", method_text(res, command)),
        Section("Designs", tables=[design_table(ranking, summaries), offdist_table(summaries, layers), *per_clip]),
        Section("Off-distribution per layer", images=[("offdist-per-layer.png", "corrupt/clean distance per layer")]),
        Section("Agreement between designs", tables=[agreement_table(agree)],
                images=[("agreement.png", "design x design Spearman rho")]),
        Section("Example maps", f"Clip '{example}'; map files: maps/<design>/<clip>.npz (CausalMap.load).",
                images=[("example-maps.png", "one map per design")]),
        Section("Listen", f"Clip '{example}', clean and corrupted by each design.",
                audio=_audio(out, records_by_design, example)),
    ]  # fmt: skip


def _audio(out: Path, records_by_design: dict, clip: str) -> list:
    items = []
    for d, recs in records_by_design.items():
        r = next((r for r in recs if r["clip"] == clip), None)
        if r is None:
            continue
        folder = Path(r["pair_dir"])
        if not items and (out / folder / "clean.wav").is_file():
            items.append((folder / "clean.wav", f"clean: '{r['word']}' ({r['voice']})"))
        if (out / folder / "corrupt.wav").is_file():
            items.append((folder / "corrupt.wav", f"{d}: heard as '{r['corrupt_prediction']}'"))
    return items

