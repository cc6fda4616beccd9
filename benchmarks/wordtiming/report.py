"""Tables, figures and sections of the alignment benchmark's report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Section, Table, new_figure, save_figure
from benchmarks.wordtiming.measure import summarize

__all__ = ["summary_table", "breakdown_table", "error_figure", "build_sections"]

VARIANTS = {"speechlens": "SpeechLens (lag-corrected, trimmed to speech)", "raw": "openai-whisper DTW as is"}


def summary_table(per_model: dict) -> Table:
    rows = []
    for model, result in per_model.items():
        for variant, label in VARIANTS.items():
            s = result["summary"].get(variant)
            if not s:
                continue
            rows.append([model, label, s["words"], s["onset_median_ms"], s["onset_p90_ms"], s["onset_bias_ms"],
                         s["offset_median_ms"], s["offset_p90_ms"], s["offset_bias_ms"]])  # fmt: skip
    return Table(["model", "timings", "words", "onset median |err| ms", "onset p90 ms", "onset bias ms",
                  "offset median |err| ms", "offset p90 ms", "offset bias ms"], rows,
                 title="Word boundary error against the reference spans", digits=0)  # fmt: skip


def breakdown_table(model: str, records: list, key: str) -> Table:
    groups: dict = {}
    for r in records:
        g = groups.setdefault(str(r["group"][key]), {"on": [], "off": []})
        g["on"] += r["speechlens"]["onset_ms"]
        g["off"] += r["speechlens"]["offset_ms"]
    rows = []
    for name, g in sorted(groups.items()):
        s = summarize(g["on"], g["off"])
        rows.append([name, s["words"], s["onset_median_ms"], s["onset_p90_ms"], s["offset_median_ms"], s["offset_p90_ms"]])
    return Table([key, "words", "onset median ms", "onset p90 ms", "offset median ms", "offset p90 ms"], rows,
                 title=f"{model}: by {key} (SpeechLens timings)", digits=0)  # fmt: skip


def error_figure(out: Path, model: str, records: list) -> Path:
    fig = new_figure(9.0, 3.2)
    bins = np.arange(-300, 310, 20)
    for i, edge in enumerate(("onset_ms", "offset_ms")):
        ax = fig.add_subplot(1, 2, i + 1)
        for variant, colour in (("raw", "0.6"), ("speechlens", "C0")):
            values = np.clip([v for r in records for v in r[variant][edge]], -300, 300)
            ax.hist(values, bins=bins, alpha=0.7, color=colour, label=VARIANTS[variant])
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(f"{edge[:-3]} error (ms, aligned - reference)")
        ax.set_ylabel("words")
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(model)
    return save_figure(fig, out / f"errors_{model.replace('/', '_')}.png")


def build_sections(out: Path, per_model: dict, settings, command: str, data_info: dict) -> list:
    text = (
        "Each clip is aligned with intervene.align (its reference transcript given), and every word's aligned "
        "onset and offset is compared with the reference span: for synthesised speech the synthesiser's own "
        "word spans (audible part of each word's stretch, 5 ms accuracy). 'openai-whisper DTW as is' is the "
        "method of openai-whisper's word timestamps with no correction; 'SpeechLens' subtracts the model's "
        "calibrated lag (measured by --calibrate on other sentences, voices and a third rate) and trims each "
        "span to the audible frames. Words the synthesiser merged ('in the') are left out. The summary is the "
        "synthetic set's; --data clips are scored per spec below.\n\n"
        f"Command: {command}"
    )
    sections = [Section("Summary", text, tables=[summary_table(per_model)])]
    for model, result in per_model.items():
        recs = result["records"]
        tables = [breakdown_table(model, recs, "voice"), breakdown_table(model, recs, "rate")]
        info = (f"lag subtracted: {1000 * result['lag_s']:.0f} ms; words left out (merged by the synthesiser): "
                f"{result['skipped']}; low-confidence words: {result['low_confidence_words']} of "
                f"{result['aligned_words']}")  # fmt: skip
        sections.append(Section(model, info, tables=tables, images=[error_figure(out, model, recs)]))
    if data_info:
        rows = [[spec, d["clips"], d["with_reference"], d["mean_confidence"], d["speechlens"]["words"],
                 d["speechlens"]["onset_median_ms"], d["speechlens"]["offset_median_ms"]] for spec, d in data_info.items()]
        sections.append(Section("Datasets (--data)", "Clips of each dataset spec (all models pooled); those with word "
                                "spans of their own (a manifest's words, TextGrids) are scored against them.",
                                tables=[Table(["spec", "clips", "with reference spans", "mean confidence", "words scored",
                                               "onset median ms", "offset median ms"], rows, digits=2)]))
    return sections
