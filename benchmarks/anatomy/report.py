"""Tables, figures and sections of the anatomy benchmark's report (one section per finding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Section, Table, heatmap, new_figure, save_figure

__all__ = ["SECTIONS", "build_sections", "summary_table"]

SECTIONS = {
    "window": "1. Attention window",
    "splice": "2. Silence splice",
    "encoder_lens": "3. Encoder lens",
    "alignment": "4. Alignment heads",
    "logit_lens": "5. Logit lens",
    "steering": "6. Non-speech steering",
}


def _verdict(agrees) -> str:
    return {True: "agrees", False: "DISAGREES (a finding)", None: "not comparable"}[agrees]


def summary_table(results: dict) -> Table:
    rows = [[model, SECTIONS[key], _verdict(s["agrees"]), s["figure"]]
            for model, m in results["models"].items() for key, s in m["sections"].items()]  # fmt: skip
    return Table(["model", "section", "verdict", "this run"], rows, title="Published findings, reproduced")


def _safe(model: str) -> str:
    return model.replace("/", "_")


def _window_figure(out: Path, model: str, s: dict) -> list:
    files = []
    ks = list(s["per_k"])
    fig = new_figure(5.5, 3.5)
    ax = fig.add_subplot()
    ax.plot(range(len(ks)), [s["per_k"][k]["wer"] for k in ks], "o-")
    ax.set_xticks(range(len(ks)), [f"+-{k}" if k != "all" else "all" for k in ks])
    ax.set(xlabel="encoder self-attention window (frames of 20 ms)", ylabel="WER (mean over clips)", title=model)
    files.append((save_figure(fig, out / f"window_{_safe(model)}.png"), "WER against the window half-width k"))
    if s["heads"]:
        layers = sorted({r["layer"] for r in s["heads"].values()})
        n_heads = max(r["head"] for r in s["heads"].values()) + 1
        grid = np.full((len(layers), n_heads), np.nan)
        for r in s["heads"].values():
            grid[layers.index(r["layer"]), r["head"]] = r["wer_increase"]
        notes = np.where(np.isnan(grid), "", np.vectorize(lambda v: f"{v:+.2f}")(np.nan_to_num(grid)))
        fig = heatmap(grid, layers, list(range(n_heads)), title=f"{model}: WER increase, one head held to +-k",
                      xlabel="head", ylabel="encoder layer", annotations=notes, colorbar_label="WER increase",
                      cmap="magma")  # fmt: skip
        files.append((save_figure(fig, out / f"window_heads_{_safe(model)}.png"), "per head WER increase"))
    return files


def _lens_figure(out: Path, model: str, s: dict) -> list:
    if not s.get("layers"):
        return []
    fig = new_figure(5.5, 3.5)
    ax = fig.add_subplot()
    x = range(len(s["layers"]))
    for clip, u in s["per_clip"].items():
        ax.plot(x, u["wer"], "-", alpha=0.4, label=clip)
    ax.plot(x, s["mean_wer"], "ko-", label="mean")
    ax.set_xticks(list(x), ["stem" if layer == -1 else str(layer) for layer in s["layers"]])
    ax.set(xlabel="encoder layer read by the decoder", ylabel="WER", title=model)
    ax.set_ylim(0, min(3.0, max(1.05, max(s["mean_wer"]) * 1.05)))
    ax.legend(fontsize=6)
    return [(save_figure(fig, out / f"encoder_lens_{_safe(model)}.png"), "encoder lens: WER per layer")]


def _alignment_figure(out: Path, model: str, s: dict) -> list:
    if "grid_ms" not in s:
        return []
    grid = np.asarray(s["grid_ms"], dtype=float)
    pub = set(s["published"])
    notes = np.empty(grid.shape, dtype=object)
    for (i, j), v in np.ndenumerate(grid):
        notes[i, j] = ("-" if np.isnan(v) else f"{v:.0f}") + ("*" if f"{i}.{j}" in pub else "")
    fig = heatmap(grid, list(range(grid.shape[0])), list(range(grid.shape[1])), annotations=notes,
                  title=f"{model}: boundary error per cross-attention head (ms; * published)", xlabel="head",
                  ylabel="decoder layer", colorbar_label="median |error| (ms)", cmap="viridis_r")  # fmt: skip
    return [(save_figure(fig, out / f"alignment_heads_{_safe(model)}.png"), "DTW boundary error per head")]


def _logit_figure(out: Path, model: str, s: dict) -> list:
    units = s.get("units") or []
    if not units:
        return []
    fig = new_figure(5.5, 3.5)
    ax = fig.add_subplot()
    layers = units[0]["layers"]
    for context, style in (("alone", "o-"), ("carrier", "s--")):
        got = [u["probs"] for u in units if u["carrier"] == (context == "carrier")]
        if got:
            ax.plot(range(len(layers)), np.mean(got, axis=0), style, label=f"{context} ({len(got)})")
    ax.set_xticks(range(len(layers)), ["embed" if layer == -1 else str(layer) for layer in layers])
    ax.set(xlabel="decoder layer (logit lens)", ylabel="P(keyword), mean", title=model)
    ax.legend(fontsize=7)
    return [(save_figure(fig, out / f"logit_lens_{_safe(model)}.png"), "logit lens: keyword probability per layer")]


def _steering_figure(out: Path, model: str, s: dict) -> list:
    rows = s.get("rows") or []
    if not rows:
        return []
    fig = new_figure(5.5, 3.5)
    ax = fig.add_subplot()
    alphas = [r["alpha"] for r in rows]
    ax.plot(alphas, [r["nonspeech_rate"] for r in rows], "o-", label="non-speech transcribed (rate)")
    ax.plot(alphas, [r["speech_wer"] for r in rows], "s--", label="speech WER")
    ax.set(xlabel="alpha (steering along speech minus non-speech)", title=f"{model}: {s['site']}")
    ax.legend(fontsize=7)
    return [(save_figure(fig, out / f"steering_{_safe(model)}.png"), "hallucination rate and WER against alpha")]


def _tables(key: str, s: dict) -> list:
    if key == "window":
        rows = [[k, v["wer"], v["empty"], v["repeats"], v["texts"][0][:120]] for k, v in s["per_k"].items()]
        tables = [Table(["k", "WER", "empty transcripts", "repeated bigrams", "first clip's transcript"], rows)]
        tables.append(Table(["part of the claim", "agrees"], [[p, "yes" if a else "NO"] for p, a in s["parts"].items()]))
        return tables
    if key == "splice":
        return [Table(["clip", "target word", "status", "WER", "transcript"],
                      [[r["clip"], r["word"], r["status"], r["wer"], r["text"][:120]] for r in s["rows"]])]
    if key == "encoder_lens" and s.get("per_clip"):
        first = next(iter(s["per_clip"].values()))
        return [Table(["layer", "mean WER", "first clip's transcript"],
                      [["stem" if layer == -1 else layer, w, t[:120]]
                       for layer, w, t in zip(s["layers"], s["mean_wer"], first["transcripts"])])]  # fmt: skip
    if key == "logit_lens" and s.get("units"):
        return [Table(["keyword", "voice", "context", "answer", "rank per layer", "first top layer", "transcript"],
                      [[u["word"], u["voice"], "carrier" if u["carrier"] else "alone", u["answer"],
                        " ".join(str(r) for r in u["ranks"]), u["first_top_layer"], u["text"]] for u in s["units"]])]
    if key == "steering" and s.get("rows"):
        return [Table(["alpha", "non-speech rate", "speech WER", "WER cost", "non-speech transcripts"],
                      [[r["alpha"], r["nonspeech_rate"], r["speech_wer"], r["wer_cost"],
                        "; ".join(f"{n}: {t!r}" for n, t in r["nonspeech"].items())[:160]] for r in s["rows"]])]
    return []


def build_sections(out: Path, results: dict) -> list:
    """The report: a summary, then per model one section per finding."""
    clips = results["clips"]
    text = ("Each section states a published claim, this run's figure and whether they agree; a disagreement "
            "is a finding about this model and this speech, reported with its numbers. Speech: "
            + "; ".join(f"{c['voice']} ({c['duration_s']:.1f} s, {c['words']} words)" for c in clips)
            + f".\n\nCommand: {results['command']}")  # fmt: skip
    sections = [Section("Summary", text, tables=[summary_table(results)])]
    figures = {"window": _window_figure, "encoder_lens": _lens_figure, "alignment": _alignment_figure,
               "logit_lens": _logit_figure, "steering": _steering_figure}  # fmt: skip
    for model, m in results["models"].items():
        for key, s in m["sections"].items():
            body = (f"Claim: {s.get('claim', '')}\n\nSource: {s.get('source', '')}\n\nThis run: {s['figure']}\n\n"
                    f"Verdict: {_verdict(s['agrees'])}")  # fmt: skip
            images = figures[key](out, model, s) if key in figures else []
            sections.append(Section(f"{model}: {SECTIONS[key]}", body, tables=_tables(key, s), images=images))
    return sections
