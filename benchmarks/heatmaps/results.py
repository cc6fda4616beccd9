"""Results of ``patching_heatmaps.py``: per-sweep summaries, the report's sections, the summary table.

:func:`summarize_sweep` turns the outcomes of one (model, sweep, corruption) into the mean
map with its spread (:func:`intervene.combine_maps`, onset-aligned for time maps), saves it
with its pictures, and returns every number for ``results.json``. It needs no model: a
resumed run rebuilds the report from the stored outcomes alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Section, Table, save_figure
from benchmarks.heatmaps import figures as figs
from benchmarks.heatmaps import sweeps as sw

__all__ = ["summarize_sweep", "peak_of", "build_sections", "summary_table"]


def _word_span(pair, word: str) -> tuple[float, float]:
    """(onset, end) of ``word`` in the clean clip, in seconds."""
    span = next(w for w in pair.words if w[0].lower() == word.lower())
    return float(span[1]), float(span[2])


def peak_of(cmap, window_ms: float | None, onset_frame: int = 0) -> dict:
    """The largest effect of a map and where it is: ``{"effect", "where": {...}, "text"}``, plus
    ``"std"`` (its spread across pairs) for a map with ``per_pair``.

    Time columns are described by their window relative to the word onset ("+0 to +40 ms");
    give ``onset_frame`` for a single pair's map, whose frame labels count from the clip start.
    """
    values = np.asarray(cmap.values, dtype=float)
    if not np.isfinite(values).any():
        return {"effect": None, "where": {}, "text": "-"}
    index = np.unravel_index(int(np.nanargmax(values)), values.shape)
    where, words = {}, []
    for dim, i in zip(cmap.dims, index):
        label = cmap.coords[dim][i]
        if dim == "frame":
            start = (float(label) - onset_frame) * float(cmap.meta.frame_s) * 1000.0
            where["time_ms"] = [round(start, 1), round(start + window_ms, 1)]
            words.append(f"{start:+.0f} to {start + window_ms:+.0f} ms")
        else:
            where[dim] = label
            words.append(f"{dim} {figs.token_label(str(label)) if dim == 'token' else label}")
    out = {"effect": float(values[index]), "where": where, "text": ", ".join(words)}
    if cmap.per_pair is not None:
        out["std"] = float(np.nanstd(np.asarray(cmap.per_pair)[(slice(None), *index)]))
    return out


def summarize_sweep(model: str, sweep: str, config: dict, settings, plan: dict, outcomes: list,
                    out: Path) -> tuple[dict, object]:  # fmt: skip
    """Every number of one (model, sweep, corruption), with its map files and pictures written.

    ``outcomes`` are :func:`intervene.sweep_pairs`'s, one per pair of ``plan`` that could be built.

    Returns
    -------
    (dict, CausalMap or None)
        The entry for ``results.json`` and the combined map (None when no pair was used).
    """
    from intervene import combine_maps

    spec, label = sw.SWEEPS[sweep], sw.corruption_label(config)
    found = iter(outcomes)
    rows, maps, ends = [], [], []
    compute_s = 0.0
    for pspec, pair, reason in plan[spec.task, label]:
        row = {"id": pspec.id, "word": pspec.word, "voice": pspec.voice, "seed": pspec.seed, "status": "skipped"}
        if pair is None:
            rows.append({**row, "reason": reason})
            continue
        outcome = next(found)
        row["answers"] = [pair.clean_answer, pair.corrupt_answer]
        row.update(clean_metric=outcome.clean_metric, corrupt_metric=outcome.corrupt_metric, gap=outcome.gap)
        compute_s += outcome.seconds
        if outcome.status != "used":
            row["reason"] = outcome.reason
        else:
            cmap = outcome.map
            onset_s, end_s = _word_span(pair, pspec.word)
            # the onset frame as intervene.combine_maps counts it, so per-pair and mean times agree
            frame_s = float(cmap.meta.frame_s)
            onset_frame = int(np.floor(onset_s / frame_s + 1e-9))
            peak = peak_of(cmap, settings.window_ms, onset_frame if spec.aligned else 0)
            row.update(status="used", map=sw.map_path(model, label, sweep, pspec).as_posix(), seconds=outcome.seconds,
                       peak_effect=peak["effect"], peak_at=peak["text"], word_onset_s=round(onset_s, 4),
                       word_end_ms=round((end_s - onset_frame * frame_s) * 1000.0, 1))  # fmt: skip
            maps.append(cmap)
            ends.append(row["word_end_ms"])
        rows.append(row)
    entry = {"model": model, "sweep": sweep, "task": spec.task, "sites": spec.sites, "unit": spec.unit,
             "title": spec.title, "corruption": config, "corruption_label": label, "direction": settings.direction,
             "n_pairs": len(rows), "pairs_used": len(maps), "pairs_skipped": len(rows) - len(maps),
             "compute_s": round(compute_s, 3), "pairs": rows}  # fmt: skip
    if not maps:
        return entry, None
    cmap = combine_maps(maps, "onset" if spec.aligned else "start")
    base = Path("maps") / sw.slug(Path(model).name) / label / sweep
    entry.update(
        metric=cmap.meta.metric, align="onset" if spec.aligned else None, dims=list(cmap.dims),
        coords=cmap.coords, mean=cmap.values, std=cmap.std, per_pair=cmap.per_pair,
        clean_metric_mean=cmap.clean_metric, corrupt_metric_mean=cmap.corrupt_metric,
        peak=peak_of(cmap, settings.window_ms), word_end_ms_mean=float(np.mean(ends)),
    )  # fmt: skip
    if spec.aligned:
        frame_ms = float(cmap.meta.frame_s) * 1000.0
        entry.update(window_ms=settings.window_ms, time_ms=[round(c * frame_ms, 1) for c in cmap.coords["frame"]])
    cmap.save(out / base.with_suffix(".npz"))
    title = (f"{model} | {spec.task} | {label}: {spec.title}\nmean of {len(maps)} pairs "
             f"({len(rows) - len(maps)} skipped), {settings.direction}, metric {entry['metric']}: "
             f"clean {cmap.clean_metric:.2f}, corrupt {cmap.corrupt_metric:.2f}")  # fmt: skip
    end = entry["word_end_ms_mean"] if spec.aligned else None
    save_figure(figs.mean_figure(cmap, title, end), out / base.with_suffix(".png"))
    labels = [f"{r['answers'][0]}->{r['answers'][1]}, {r['voice']}" for r in rows if r["status"] == "used"]
    pairs_title = f"{model} | {spec.task} | {label}: {spec.title}, every pair (shared colour scale)"
    save_figure(figs.pairs_figure(cmap, labels, pairs_title, ends if spec.aligned else None),
                out / base.parent / f"{sweep}-pairs.png")  # fmt: skip
    entry["files"] = {"map": base.with_suffix(".npz").as_posix(), "figure": base.with_suffix(".png").as_posix(),
                      "pairs_figure": (base.parent / f"{sweep}-pairs.png").as_posix()}  # fmt: skip
    return entry, cmap


def summary_table(per_model: dict) -> Table:
    """One row per (model, sweep, corruption): pairs used, metrics, the peak mean effect and where."""
    rows = []
    for model, m in per_model.items():
        for s in m["sweeps"]:
            peak = s.get("peak") or {}
            rows.append([model, s["sweep"], s["corruption_label"], f"{s['pairs_used']}/{s['n_pairs']}",
                         s.get("clean_metric_mean"), s.get("corrupt_metric_mean"), peak.get("effect"),
                         peak.get("std"), peak.get("text", "-")])  # fmt: skip
    columns = ["model", "sweep", "corruption", "pairs used", "clean", "corrupt", "peak mean effect", "std", "where"]
    return Table(columns, rows, title="Patching heatmaps (mean over pairs; effect 1 = clean behaviour restored)")


def _pair_table(entry: dict) -> Table:
    rows = [[r["id"], "->".join(r.get("answers") or ["-"]), r.get("clean_metric"), r.get("corrupt_metric"),
             r.get("gap"), r.get("peak_effect"), r.get("peak_at", "-"), r.get("seconds"),
             r["status"] if r["status"] == "used" else f"skipped: {r.get('reason', '')[:90]}"]
            for r in entry["pairs"]]  # fmt: skip
    return Table(["pair", "answers", "clean", "corrupt", "gap", "peak effect", "at", "seconds", "status"], rows,
                 title=f"Per pair ({entry['metric'] if 'metric' in entry else 'metric'})")  # fmt: skip


def build_sections(out: Path, results: dict, settings, plan: dict, maps: dict) -> list[Section]:
    """Write the overview figures and return the report's sections.

    ``maps[(model, sweep, corruption label)]`` is each combined map (for the overview figure).
    """
    per_model = results["models"]
    loads = ", ".join(f"{m} {t:.1f} s" if t is not None else f"{m} -"
                      for m, t in results["timings"]["model_load_s"].items())  # fmt: skip
    intro = (
        "Each cell patches the clean run's activation at one site (and time window, token or head) into the "
        f"corrupt run ({settings.direction}) and shows the normalised effect (m(patched) - m(corrupt)) / "
        "(m(clean) - m(corrupt)): 1 = the clean behaviour is restored, 0 = nothing changes. The metric is the "
        "logit difference between the two words for word swaps, and the log-odds of the word among the "
        f"{len(settings.words)} words when the corruption keeps the word. Time axes run from the word's onset "
        "(solid line; the dotted line is the mean end of the word); columns of every pair are aligned to its "
        f"onset before averaging. Pairs whose clean-minus-corrupt metric is below {settings.min_gap:g} are "
        "skipped and counted. 'std' is the spread across pairs of the peak cell. In decoder layer x token maps "
        "the last layer at the answer position is the whole computation, so it restores everything (1) by "
        "construction; the informative cells are the earlier layers.\n\n"
        f"Command: {results['command']}\nCompute: {results['timings']['compute_s']:.0f} s of metrics and patching; "
        f"model load: {loads}."
    )  # fmt: skip
    overview = []
    for model, m in per_model.items():
        panels = [(maps[model, s["sweep"], s["corruption_label"]],
                   f"{s['sweep']} | {s['corruption_label']} ({s['pairs_used']} pairs)",
                   s.get("word_end_ms_mean") if s["unit"] == "frame" else None)
                  for s in m["sweeps"] if maps.get((model, s["sweep"], s["corruption_label"])) is not None]  # fmt: skip
        if panels:
            path = out / "maps" / sw.slug(Path(model).name) / "overview.png"
            title = f"{model}: mean normalised effect per sweep and corruption (each panel on its own symmetric scale)"
            save_figure(figs.overview_figure(panels, title, len(settings.corruptions)), path)
            overview.append((path, f"{model}: every mean map"))
    sections = [Section("Summary", intro, tables=[summary_table(per_model)], images=overview)]
    audio, pair_rows = [], []
    for (task_name, label), built in plan.items():
        for spec, pair, reason in built:
            folder = out / "pairs" / task_name / label / spec.id
            if pair is not None and (folder / "pair.json").is_file():
                name = f"{task_name} {label} {spec.id} ({pair.clean_answer}->{pair.corrupt_answer})"
                audio += [(folder / "clean.wav", f"{name}: clean"), (folder / "corrupt.wav", f"{name}: corrupt")]
            pair_rows.append([task_name, label, spec.id, spec.seed, "ok" if pair is not None else reason])
    sections.append(Section("Minimal pairs", "Listen to a few pairs (clean, then corrupt).",
                            tables=[Table(["task", "corruption", "pair", "seed", "built"], pair_rows)],
                            audio=audio))  # fmt: skip
    for m in per_model.values():
        for s in m["sweeps"]:
            text = (f"{s['title']} on the {s['task']} task, corruption {s['corruption_label']}: "
                    f"{s['pairs_used']} of {s['n_pairs']} pairs used.")  # fmt: skip
            images = [] if "files" not in s else [(s["files"]["figure"], "mean and spread across pairs"),
                                                  (s["files"]["pairs_figure"], "every pair")]  # fmt: skip
            sections.append(Section(f"{s['model']} | {s['sweep']} | {s['corruption_label']}", text,
                                    tables=[_pair_table(s)], images=images))  # fmt: skip
    return sections
