"""Pictures and report sections of ``method_ladder.py``.

The ladder figure of a model has two panels over its encoder layers: *decodable* (probe accuracy
with its 95% interval, the control task's accuracy, selectivity, chance, and the probe after
LEACE erased the keyword) and *used* (the exact patching effect of the word's frames, mean with
its 95% interval across pairs, DAS IIA per subspace size with 95% intervals, and the keyword
accuracy with the keyword or the voice's gender erased, as a fraction of the plain accuracy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Section, Table, new_figure, save_figure
from benchmarks.ladder.summary import ladder_table

__all__ = ["ladder_figure", "model_section", "planted_figure", "planted_section", "summary_text"]


def _err(values, lo, hi):
    v, lo, hi = (np.asarray(x, dtype=float) for x in (values, lo, hi))
    return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])


def ladder_figure(name: str, rows: list[dict], dims, path: Path) -> Path:
    """The two-panel ladder figure of one model (see the module notes), saved at ``path``."""
    layers = [r["layer"] for r in rows]
    fig = new_figure(11.0, 4.2)
    left, right = fig.subplots(1, 2, sharex=True)
    acc = [r["probe"]["accuracy"] for r in rows]
    ci = np.array([r["probe"]["accuracy_ci"] for r in rows], dtype=float)
    left.errorbar(layers, acc, yerr=_err(acc, ci[:, 0], ci[:, 1]), marker="o", capsize=3, label="probe accuracy")
    left.plot(layers, [r["probe"]["control_accuracy"] for r in rows], "s--", label="control task accuracy")
    left.plot(layers, [r["probe"]["selectivity"] for r in rows], "^-", label="selectivity")
    left.plot(layers, [r["leace"]["keyword"]["probe_after"] for r in rows], "x:", label="probe after LEACE (keyword)")
    left.plot(layers, [r["probe"]["chance"] for r in rows], color="grey", lw=1, label="chance")
    left.set_title(f"{name}: decodable (keyword probe, held-out voices)", fontsize=10)
    eff = [r["patch"]["mean"] for r in rows]
    pci = np.array([r["patch"]["ci"] for r in rows], dtype=float)
    right.errorbar(layers, eff, yerr=_err(eff, np.nan_to_num(pci[:, 0], nan=np.nan), pci[:, 1]), marker="o", lw=2,
                   capsize=3, color="black", label="patching the word's frames")  # fmt: skip
    for k, d in enumerate(dims):
        iia = [r["das"][str(d)]["iia"] for r in rows]
        ici = np.array([r["das"][str(d)]["iia_ci"] for r in rows], dtype=float)
        shift = (k - (len(dims) - 1) / 2) * 0.06
        right.errorbar(np.array(layers) + shift, iia, yerr=_err(iia, ici[:, 0], ici[:, 1]), marker="D", capsize=2,
                       ls="--", label=f"DAS IIA, dim {d}")  # fmt: skip
    for label, style in (("keyword", "v:"), ("gender", "P:")):
        rel = [r["leace"][label]["keyword_accuracy_after"] / max(r["leace"][label]["keyword_accuracy_before"], 1e-9)
               for r in rows]  # fmt: skip
        right.plot(layers, rel, style, label=f"keyword accuracy, {label} erased (/ plain)")
    right.set_title(f"{name}: used (held-out voices)", fontsize=10)
    for ax in (left, right):
        ax.set_xticks(layers)
        ax.set_xlabel("encoder layer (block output)")
        ax.set_ylim(-0.1, 1.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    return save_figure(fig, path)


def planted_figure(planted: dict, path: Path) -> Path:
    """The planted model's frame map (mean effect per layer x frame) and its ladder per layer."""
    units = planted["units"]
    fmap = np.asarray(units["used-patch"]["frame_effect"], dtype=float)
    fig = new_figure(11.0, 3.6)
    a, b = fig.subplots(1, 2)
    top = max(float(np.abs(fmap).max()), 1e-6)
    im = a.imshow(fmap, aspect="auto", cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
    for f, style in ((planted["source_frames"], ":"), (planted["destination_frames"], "--")):
        for x in f:
            a.axvline(x - 0.5, color="k", ls=style, lw=1)
    a.set_xlabel("encoder frame (20 ms); dotted: source frames, dashed: destination frames")
    a.set_ylabel("encoder layer")
    a.set_yticks(range(fmap.shape[0]))
    a.set_title("planted (used): exact patching per frame", fontsize=10)
    fig.colorbar(im, ax=a, shrink=0.8, label="effect")
    layers = list(range(fmap.shape[0]))
    b.plot(layers, units["used-patch"]["destination_effect"], "o-", color="black", label="patching destination frames")
    b.plot(layers, units["used-probe"]["accuracy"], "s--", label="probe accuracy (used)")
    das = units["used-das"]["layers"]  # searched up to the first layer that carries the answer
    b.plot([d["layer"] for d in das], [d["iia"] for d in das], "D--", label="DAS IIA, dim 1")
    b.plot([d["layer"] for d in das], [d["cosine_u"] for d in das], "^:", label="|cos(DAS, u)|")
    b.plot(layers, [d["task_accuracy_after"] for d in units["used-leace"]["layers"]], "v:",
           label="task accuracy, keyword erased")  # fmt: skip
    b.plot(layers, units["unused-probe"]["accuracy"], "x-", label="probe accuracy (unused model)")
    b.plot(layers, [d["max_abs_change"] for d in units["unused-patch"]["layers"]], "+-",
           label="|metric change| patching (unused)")  # fmt: skip
    b.axvline(planted["planted_layer"], color="grey", lw=6, alpha=0.25)
    b.set_xticks(layers)
    b.set_xlabel("encoder layer (grey: planted)")
    b.set_ylim(-0.1, 1.15)
    b.grid(alpha=0.3)
    b.legend(fontsize=7, loc="center right")
    b.set_title("planted: every method per layer", fontsize=10)
    return save_figure(fig, path)


def summary_text(name: str, named: dict, example: dict) -> str:
    """A sentence per finding of a model."""
    def layers(key):
        return ", ".join(map(str, named[key])) or "none"

    return (f"{name}: decodable but not used: {layers('decodable_not_used')}; used but hard to decode: "
            f"{layers('used_not_decodable')}; decodable and used: {layers('decodable_and_used')}. "
            f"LEACE at layer {example['layer']} (where DAS dim {example['das_dim']} reaches IIA "
            f"{example['das_iia']:.2f}): keyword accuracy {example['keyword_accuracy']:.2f}, "
            + (f"{example['after_erasing_gender']:.2f} with the voice's gender erased, "
               if np.isfinite(example["after_erasing_gender"]) else "gender erasure not available for this data, ")
            + f"{example['after_erasing_keyword']:.2f} with keyword identity erased (chance "
            f"{example['chance_keyword']:.2f}; {example['n_clips']} held-out clips)." + _expectations(example))  # fmt: skip


def _expectations(example: dict) -> str:
    """The issue's expectations of the LEACE example and whether this run agrees, in words."""
    e = example.get("expected")
    if not e:
        return ""
    out = []
    if e["gender_leaves_keyword"] is not None:
        out.append("Expected: erasing gender leaves keyword accuracy unchanged; "
                   + ("agrees." if e["gender_leaves_keyword"] else "disagrees (a finding)."))
    out.append(f"Expected: erasing keyword identity collapses keyword accuracy (to {e['collapse_threshold']:.2f} or "
               "below); " + ("agrees." if e["keyword_collapses"] else
                             "disagrees (a finding): linear erasure at one layer over the word's frames leaves "
                             "information the later layers still read."))
    return " " + " ".join(out)


def model_section(name: str, entry: dict, settings) -> Section:
    rules = (f"Decodable: held-out keyword probe accuracy >= {settings.decodable_accuracy}. Used: patching the "
             f"word's frames at the layer restores on average >= {settings.used_effect} of the clean-minus-corrupt "
             "logit difference. Every figure is on the report voices, held out from every fit.")  # fmt: skip
    text = summary_text(name, entry["named"], entry["leace_example"]) + "\n\n" + rules
    patch = entry["patch_pairs"]
    pairs = Table(["pair", "voice", "answers", "gap", "status"],
                  [[p["pair"], p["voice"], "->".join(p["answers"]), p.get("gap"), p.get("reason", p["status"])]
                   for p in patch])  # fmt: skip
    return Section(f"{name}: the ladder", text, tables=[ladder_table(entry["layers"], settings.dims), pairs],
                   images=[(entry["files"]["figure"], f"{name}: decodable (left) vs used (right) per encoder layer")])


def planted_section(planted: dict) -> Section:
    r, c = planted["recovered"], planted["checks"]
    text = (f"Planted layer {planted['planted_layer']}, source frames {planted['source_frames']}, destination frames "
            f"{planted['destination_frames']}; held-out synthetic voices {', '.join(planted['report_voices'])}. "
            f"All checks pass: {planted['all_pass']}.")  # fmt: skip
    rows = [[k, "yes" if v else "NO"] for k, v in c.items()]
    found = [[k, v if not isinstance(v, float) else round(v, 4)] for k, v in r.items()]
    return Section("Planted structure: does each method find what was put there?", text,
                   tables=[Table(["check", "passes"], rows), Table(["recovered", "value"], found)],
                   images=[(planted["files"]["figure"], "planted models: frame map and every method per layer")])
