"""The published claims the anatomy benchmark reproduces, and this run's figures and verdicts.

Each ``*_section`` function turns the units of one section (plain JSON from
:mod:`benchmarks.anatomy.measure`) into a dict with the ``claim``, its ``source``, this run's
``figure`` (one sentence with the numbers), ``agrees`` (True, False, or None where nothing
comparable was run) and the numbers behind them. No model work happens here.
"""

from __future__ import annotations

import re

import numpy as np

from benchmarks.common import spearman

__all__ = [
    "alignment_section",
    "encoder_lens_section",
    "is_empty",
    "logit_lens_section",
    "repeats",
    "splice_section",
    "steering_section",
    "window_section",
]  # fmt: skip

REID = "Reid 2023, 'Whisper interpretability' (whisper-tiny; LessWrong post and github.com/er537/whisper_interpretability)"


def is_empty(text: str) -> bool:
    """No letter or digit (what :func:`intervene.readouts.nonspeech.is_empty_transcript` counts as empty)."""
    return not re.search(r"\w", text or "")


def repeats(text: str) -> int:
    """How often a run of 1-3 words repeats the run just before it (a decoder loop: "sun, sun, sun"
    gives 2), for the run length that repeats most."""
    words = re.findall(r"\w+", (text or "").lower())
    best = 0
    for n in (1, 2, 3):
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        best = max(best, sum(grams[i] == grams[i - n] for i in range(n, len(grams))))
    return best


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _fmt(x, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


# ------------------------------------------------------------------ 1. attention window
def window_section(windows: dict, heads: dict, base: dict, head_k: int, harm_wer: float, n_heads: int) -> dict:
    """``windows[k][clip]`` and ``heads["layer.head"][clip]`` are transcript units; ``base[clip]`` the plain ones."""
    per_k = {}
    for k, by_clip in windows.items():
        texts = [u["text"] for u in by_clip.values()]
        per_k[str(k)] = {"wer": _mean(u["wer"] for u in by_clip.values()),
                         "empty": sum(is_empty(t) for t in texts), "clips": len(texts),
                         "repeats": _mean(repeats(t) for t in texts), "texts": texts}  # fmt: skip
    parts = {}

    def wer(k):
        return per_k[str(k)]["wer"] if str(k) in per_k else None

    base_wer = wer("all")
    if base_wer is not None:
        for k in (100, 75):
            if wer(k) is not None:
                parts[f"+-{k} keeps a reasonable transcript (WER <= all + 0.15)"] = wer(k) <= base_wer + 0.15
    if wer(50) is not None and wer(75) is not None:
        parts["+-50 degrades (WER above +-75's, or repeated phrases)"] = (
            wer(50) > wer(75) or per_k["50"]["repeats"] > per_k["75"]["repeats"])  # fmt: skip
    if wer(20) is not None:
        parts["+-20 leaves a fragment (WER >= 0.5)"] = wer(20) >= 0.5
    if wer(10) is not None:
        parts["+-10 gives an empty transcript (every clip)"] = per_k["10"]["empty"] == per_k["10"]["clips"]
    head_rows = {}
    for name, by_clip in heads.items():
        layer, head = (int(v) for v in name.split("."))
        delta = _mean(u["wer"] - base[c]["wer"] for c, u in by_clip.items())
        head_rows[name] = {"layer": layer, "head": head, "wer_increase": delta, "harmless": delta <= harm_wer}
    per_layer = {}
    for row in head_rows.values():
        per_layer.setdefault(row["layer"], []).append(row)
    local = {str(layer): sum(r["harmless"] for r in rows) for layer, rows in sorted(per_layer.items())}
    full_layers = [layer for layer, rows in per_layer.items() if len(rows) == n_heads]
    if full_layers:
        mean_local = float(np.mean([local[str(layer)] for layer in full_layers]))
        parts[f"about 4 of 6 heads per layer can be held to +-{head_k} without harm (here: within 1 of "
              f"{4 * n_heads / 6:.1f} of {n_heads})"] = abs(mean_local - 4 * n_heads / 6) <= 1.0
    figure = "WER " + ", ".join(f"k={k}: {_fmt(v['wer'])}" for k, v in per_k.items())
    if 10 in windows or "10" in per_k:
        figure += f"; +-10 empty in {per_k['10']['empty']} of {per_k['10']['clips']} clips"
    if local:
        figure += (f"; heads harmless at +-{head_k} (WER increase <= {harm_wer}) per layer: "
                   + ", ".join(f"layer {layer}: {n}/{len(per_layer[int(layer)])}" for layer, n in local.items()))
    return {"claim": "Restricting every encoder self-attention query to keys within +-k frames: +-100 and +-75 keep a "
                     "reasonable transcript, +-50 degrades with repeated phrases, +-20 leaves a fragment, +-10 gives "
                     "an empty transcript; per head, about 4 of 6 heads per layer can be held to +-10 without harm "
                     "(the others are non-local).",
            "source": REID, "figure": figure, "parts": parts, "agrees": all(parts.values()) if parts else None,
            "per_k": per_k, "heads": head_rows, "harmless_per_layer": local,
            "non_local_heads": sorted(n for n, r in head_rows.items() if not r["harmless"])}  # fmt: skip


# ------------------------------------------------------------------ 2. silence splice
def splice_section(splices: dict, base: dict, layer: int) -> dict:
    """``splices[clip][word index]``: splice units; ``base[clip]``: the plain transcript units."""
    targets, deleted, not_kept, others, others_kept, rows = 0, 0, 0, 0, 0, []
    for clip, by_word in splices.items():
        base_kept = {w["start_s"] for w in base[clip]["words"] if w["status"] == "kept" and w["start_s"] is not None}
        for unit in by_word.values():
            t = unit["target"]
            targets += 1
            deleted += t["status"] == "deleted"
            not_kept += t["status"] != "kept"
            statuses = {w["start_s"]: w["status"] for w in unit["words"] if w["start_s"] is not None}
            kept_before = [s for s in base_kept if abs(s - t["start_s"]) > 1e-6]
            others += len(kept_before)
            others_kept += sum(statuses.get(s) == "kept" for s in kept_before)
            rows.append({"clip": clip, "word": t["word"], "status": t["status"], "text": unit["text"],
                         "wer": unit["wer"]})  # fmt: skip
    deleted_share = deleted / targets if targets else None
    kept_share = others_kept / others if others else None
    agrees = None if not targets else bool(deleted_share >= 0.5 and kept_share >= 0.8)
    return {"claim": "Replacing the last encoder layer's frames of a word's span with the frames of a silent input "
                     "deletes that word from the transcript and keeps the others.",
            "source": REID,
            "figure": f"encoder layer {layer}: {deleted} of {targets} targeted words deleted "
                      f"({_fmt(deleted_share)}; not kept: {not_kept}), {others_kept} of {others} other words kept "
                      f"({_fmt(kept_share)}) (agreement: deleted share >= 0.5 and other words kept >= 0.8)",
            "agrees": agrees, "layer": layer, "targets": targets, "deleted": deleted, "not_kept": not_kept,
            "deleted_share": deleted_share, "others_kept_share": kept_share, "rows": rows}  # fmt: skip


# ------------------------------------------------------------------ 3. encoder lens
def encoder_lens_section(lenses: dict) -> dict:
    """``lenses[clip]``: encoder lens units (WER per layer label)."""
    if not lenses:
        return {"claim": "", "source": "", "figure": "not run", "agrees": None}
    layers = next(iter(lenses.values()))["layers"]
    wer = np.asarray([u["wer"] for u in lenses.values()], dtype=float)
    mean = wer.mean(0)
    rho = spearman(np.arange(len(layers)), -mean) if len(layers) >= 3 else float("nan")
    best_last = bool(mean[-1] <= mean.min() + 1e-9)
    agrees = bool(best_last and np.isfinite(rho) and rho > 0.5)
    return {"claim": "The decoder reading an intermediate encoder layer (DecoderLens) writes better transcripts the "
                     "deeper the layer: lower layers give repetitive or unrelated text, the last layer the model's "
                     "own transcript.",
            "source": "Langedijk et al. 2024, 'DecoderLens: Layerwise Interpretation of Encoder-Decoder "
                      "Transformers' (Findings of NAACL 2024), Whisper experiments (qualitative)",
            "figure": "mean WER per layer read: " + ", ".join(f"{'stem' if l == -1 else l}: {w:.2f}"
                                                           for l, w in zip(layers, mean))
                      + f" (Spearman of depth vs -WER {rho:.2f}; agreement: last layer best and Spearman > 0.5)",
            "agrees": agrees, "layers": layers, "mean_wer": mean.tolist(),
            "per_clip": {c: u for c, u in lenses.items()}}  # fmt: skip


# ------------------------------------------------------------------ 4. alignment heads
def _score(errors: dict) -> float | None:
    """Median |onset error| and median |offset error|, averaged (ms)."""
    on, off = np.abs(errors["onset_ms"]), np.abs(errors["offset_ms"])
    return float((np.median(on) + np.median(off)) / 2) if len(on) else None


def alignment_section(units: dict, n_layers: int, n_heads: int) -> dict:
    """``units[clip]``: alignment units; scores pool every clip's words per head."""
    pooled: dict = {}
    published = None
    for unit in units.values():
        published = unit["published_heads"]
        for name, e in unit["heads"].items():
            p = pooled.setdefault(name, {"onset_ms": [], "offset_ms": [], "skipped": 0})
            p["onset_ms"] += e["onset_ms"]
            p["offset_ms"] += e["offset_ms"]
            p["skipped"] += e["skipped"]
    if not pooled:
        return {"claim": "", "source": "", "figure": "not run", "agrees": None}
    scores = {name: _score(p) for name, p in pooled.items()}
    grid = np.full((n_layers, n_heads), np.nan)
    for layer in range(n_layers):
        for head in range(n_heads):
            s = scores.get(f"{layer}.{head}")
            grid[layer, head] = np.nan if s is None else s
    single = sorted((s, n) for n, s in scores.items() if s is not None and n.count(".") == 1 and n[0].isdigit())
    want = {f"{a}.{b}" for a, b in published}
    top = [n for _, n in single[: len(want)]]
    overlap = sorted(want & set(top))
    agrees = len(overlap) >= len(want) / 2
    words = len(pooled["published"]["onset_ms"])
    return {"claim": "OpenAI publishes, per model, the cross-attention heads whose attention tracks word timing "
                     "(used for word timestamps by DTW).",
            "source": "openai-whisper 20250625, whisper/__init__.py _ALIGNMENT_HEADS (MIT); decoded in "
                      "intervene/models/whisper/sizes.py",
            "figure": f"the {len(want)} heads with the smallest boundary error on {words} words: "
                      f"{', '.join(top)}; published: {', '.join(sorted(want))}; overlap {len(overlap)} of "
                      f"{len(want)} (agreement: at least half). DTW over the published heads together: "
                      f"{_fmt(scores['published'], 0)} ms; best single head: {_fmt(single[0][0], 0)} ms; "
                      f"all heads averaged: {_fmt(scores['all_heads'], 0)} ms",
            "agrees": bool(agrees), "published": sorted(want), "top": top, "overlap": overlap,
            "scores_ms": scores, "grid_ms": grid.tolist(), "words": words}  # fmt: skip


# ------------------------------------------------------------------ 5. logit lens
def logit_lens_section(units: list, n_layers: int) -> dict:
    """``units``: logit lens units (one per keyword, voice and context)."""
    if not units:
        return {"claim": "", "source": "", "figure": "not run", "agrees": None}
    heard = [u for u in units if u["ranks"][-1] == 0]
    firsts = [u["first_top_layer"] for u in heard]
    by_context = {}
    for context in ("alone", "carrier"):
        got = [u["first_top_layer"] for u in heard if u["carrier"] == (context == "carrier")]
        if got:
            by_context[context] = {"median_first_top_layer": float(np.median(got)),
                                   "counts": {str(l): got.count(l) for l in sorted(set(got))}}  # fmt: skip
    median = float(np.median(firsts)) if firsts else None
    agrees = None if median is None else bool(median >= (n_layers - 1) / 2)
    return {"claim": "No figure is published for Whisper. In text transformers read with the logit lens, the "
                     "answer becomes the top token only in the later layers (the prediction is built up "
                     "gradually); agreement here: the median layer where the keyword becomes top (and stays) is in "
                     "the later half of the decoder.",
            "source": "nostalgebraist 2020, 'interpreting GPT: the logit lens' (GPT-2); Belrose et al. 2023, "
                      "'Eliciting Latent Predictions from Transformers with the Tuned Lens'",
            "figure": f"{len(heard)} of {len(units)} keyword readings top at the last layer; median layer where the "
                      f"keyword becomes top: {_fmt(median, 1)} (decoder layers 0-{n_layers - 1}; -1 = embeddings); "
                      + "; ".join(f"{c}: {v['counts']}" for c, v in by_context.items()),
            "agrees": agrees, "median_first_top_layer": median, "by_context": by_context, "units": units}  # fmt: skip


# ------------------------------------------------------------------ 6. steering
def steering_section(rates: dict, speech: dict, base: dict, site: str, max_wer_cost: float = 0.1) -> dict:
    """``rates[alpha][clip name]``: non-speech transcripts; ``speech[alpha][clip]``: speech transcript units."""
    rows = []
    for alpha in sorted(rates, key=float, reverse=True):
        texts = rates[alpha]
        rate = sum(not is_empty(t) for t in texts.values()) / len(texts)
        wer = _mean(u["wer"] for u in speech[alpha].values())
        base_wer = _mean(base[c]["wer"] for c in speech[alpha])
        rows.append({"alpha": float(alpha), "nonspeech_rate": rate, "speech_wer": wer,
                     "wer_cost": None if wer is None else wer - base_wer, "nonspeech": texts})  # fmt: skip
    plain = next((r for r in rows if r["alpha"] == 0.0), None)
    fits = [r for r in rows if r["alpha"] != 0.0 and r["wer_cost"] is not None and r["wer_cost"] <= max_wer_cost]
    best = min(fits, key=lambda r: r["nonspeech_rate"]) if fits else None
    agrees = None
    if plain is not None and best is not None:
        agrees = bool(plain["nonspeech_rate"] > 0 and best["nonspeech_rate"] <= plain["nonspeech_rate"] / 2)
    elif plain is not None and len(rows) > 1:
        agrees = False
    figure = "; ".join(f"alpha {r['alpha']:g}: non-speech transcribed {r['nonspeech_rate']:.2f}, speech WER "
                       f"{_fmt(r['speech_wer'])}" for r in rows)
    best_text = "none" if best is None else f"alpha {best['alpha']:g} (rate {best['nonspeech_rate']:.2f})"
    figure += (f" (agreement: some alpha at most halves the rate with a WER cost <= {max_wer_cost}; lowest rate "
               f"within that WER cost: {best_text})")
    return {"claim": "Steering along a speech vs non-speech direction cuts Whisper's hallucinations on non-speech "
                     "audio by a large factor at a small WER cost on speech (reported for whisper-small and "
                     "large-v3).",
            "source": "AudioSAE follow-up, arXiv 2606.07473",
            "figure": figure, "agrees": agrees, "site": site, "rows": rows,
            "best_alpha": None if best is None else best["alpha"]}  # fmt: skip
