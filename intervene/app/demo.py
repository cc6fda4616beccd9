"""``speechlens demo``: the built-in default job, end to end.

On whisper-tiny.en and synthesized keywords it builds minimal pairs with several corruption
designs (word swap, noise, gap, pitch shift), sweeps every encoder layer x time window with
exact activation patching, and writes an HTML page with the heatmaps (one colour scale for
all of them), both spectrograms and an audio player for both halves of every pair, links to
every map's data (.npz + .json), and a summary.

A map is only meaningful when the corruption lowers the metric clearly: each pair's gap
(clean minus corrupt metric) is measured first. A pair whose corruption raised the metric is
skipped; one whose gap is below ``DemoSettings.min_gap`` is mapped but flagged. Both are
said in the log, the summary table and the pair's card.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tasks.atomic import write_json
from tasks.errors import PairError

__all__ = ["DemoSettings", "run_demo", "DEMO_CORRUPTIONS", "gap_verdict"]

logger = logging.getLogger(__name__)

DEMO_CORRUPTIONS = (
    ("word_swap", {}),
    ("noise", {"snr_db": -5.0, "color": "white", "span": "word"}),
    ("gap", {"fill": "silence", "span": "word"}),
    ("pitch_shift", {"semitones": 5.0}),
)
"""The corruption designs the demo compares (registry name, parameters)."""


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs; ``min_gap`` (nats): smaller clean-minus-corrupt gaps are flagged."""

    model: str = "whisper-tiny.en"
    words: tuple = ("yes", "stop")
    voice: str = "en-us"
    window_ms: float = 40.0
    duration_s: float = 1.0
    onset_s: float = 0.3
    seed: int = 0
    corruptions: tuple = DEMO_CORRUPTIONS
    min_gap: float = 1.0

    @classmethod
    def quick(cls, model: str = "whisper-tiny.en") -> "DemoSettings":
        return cls(model=model, words=("yes",), window_ms=100.0, corruptions=DEMO_CORRUPTIONS[:2])


def gap_verdict(clean_metric: float, corrupt_metric: float, min_gap: float) -> tuple[str, str]:
    """``(status, reason)`` of a pair from its unpatched metrics.

    ``"ok"``: the corruption lowers the metric by at least ``min_gap``; ``"weak"``: by less
    (the map's ratios are noisy); ``"skipped"``: it raised the metric or left it unchanged (a
    map would measure the opposite of what its colours say).

    Examples
    --------
    >>> gap_verdict(7.62, 8.01, 1.0)[0]
    'skipped'
    >>> gap_verdict(7.0, 6.5, 1.0)[0], gap_verdict(7.0, -3.0, 1.0)[0]
    ('weak', 'ok')
    """
    gap = clean_metric - corrupt_metric
    if not np.isfinite(gap) or gap <= 0:
        return "skipped", (f"the corruption did not lower the metric (clean {clean_metric:.2f}, corrupt "
                           f"{corrupt_metric:.2f}): a map would be meaningless")  # fmt: skip
    if gap < min_gap:
        return "weak", (f"the corruption lowers the metric by only {gap:.2f} nats (clean {clean_metric:.2f}, "
                        f"corrupt {corrupt_metric:.2f}; < {min_gap:g}): the map's ratios are noisy")  # fmt: skip
    return "ok", ""


def _spectrogram_figure(model, pair, path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from tasks.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(9, 2.4), sharey=True)
    for ax, audio, label in ((axes[0], pair.clean, "clean"), (axes[1], pair.corrupt, "corrupt")):
        spec = model.log_mel(audio, pair.sample_rate)
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, spec.shape[1] * 0.01, 0, spec.shape[0]))
        ax.set_title(f"{label}: {pair.clean_answer if label == 'clean' else pair.corrupt_answer}", fontsize=9)
        ax.set_xlabel("time (s)")
        for s, e in pair.changed_spans:
            ax.axvspan(s, e, color="c", alpha=0.15, lw=0)
    axes[0].set_ylabel("mel band")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _design(kind: str, params: dict, pair) -> str:
    """What the corruption did, in words: ``word swap 'yes' -> 'no'``, ``noise (snr_db=-5, ...) on 'yes'``."""
    if pair.clean_answer != pair.corrupt_answer:
        return f"{kind.replace('_', ' ')}: '{pair.clean_answer}' -> '{pair.corrupt_answer}'"
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{kind.replace('_', ' ')}{f' ({args})' if args else ''} on '{pair.clean_answer}'"


@dataclass
class _Entry:
    name: str
    kind: str
    params: dict
    pair: object
    status: str = "ok"
    reason: str = ""
    clean: float = float("nan")
    corrupt: float = float("nan")
    cmap: object = None
    seconds: float = 0.0
    row: list = field(default_factory=list)


def _card(report, e: _Entry) -> None:
    def build(r):
        r.heading(f"{e.name}: {_design(e.kind, e.params, e.pair)}", level=3)
        if e.status != "ok":
            r.text(("Skipped: " if e.status == "skipped" else "Warning: ") + e.reason + ".")
        r.audio([(f"clean: '{e.pair.clean_answer}'", f"pairs/{e.name}/clean.wav"),
                 (f"corrupt: '{e.pair.corrupt_answer}'", f"pairs/{e.name}/corrupt.wav")])  # fmt: skip
        r.image(f"maps/{e.name}-spectrograms.png", f"{e.name} spectrograms")
        if e.cmap is not None:
            r.image(f"maps/{e.name}.png", f"{e.name} causal-effect map")
            r.links([("map data", f"maps/{e.name}.npz"), ("map metadata", f"maps/{e.name}.json"),
                     ("picture", f"maps/{e.name}.png"), ("pair", f"pairs/{e.name}/pair.json")])  # fmt: skip
        else:
            r.links([("pair", f"pairs/{e.name}/pair.json")])

    report.card(build)


def run_demo(out, settings: DemoSettings | None = None, device=None, progress: bool = True, log=logger.info) -> Path:
    """Run the demo into folder ``out``; return the path of its index.html."""
    import corruptions
    import intervene
    import tasks
    from intervene.app.plotting import shared_scale
    from intervene.context import PairContext
    from intervene.patching import patch_context

    settings = settings or DemoSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model = intervene.load_model(settings.model, device=device)
    task = tasks.KeywordTask()
    sites = model.sites("encoder", "block_output")
    log(f"loaded {model.name} on {model.device} in {time.time() - t0:.1f} s; "
        f"{len(settings.words)} words x {len(settings.corruptions)} corruptions")
    entries = []
    for word in settings.words:
        utt = tasks.speak(word, voice=settings.voice).padded(settings.duration_s, settings.onset_s)
        for kind, params in settings.corruptions:
            e = _Entry(f"{word}-{kind}", kind, params, corruptions.get(kind, **params).pair(utt, seed=settings.seed,
                                                                                             target=word))
            e.pair.save(out / "pairs" / e.name)
            _spectrogram_figure(model, e.pair, out / "maps" / f"{e.name}-spectrograms.png")
            t = time.time()
            ctx = PairContext.build(model, task, e.pair)
            e.clean, e.corrupt = ctx.clean_metric, ctx.corrupt_metric
            e.status, e.reason = gap_verdict(e.clean, e.corrupt, settings.min_gap)
            if e.status != "skipped":
                try:
                    e.cmap = patch_context(ctx, sites, window_ms=settings.window_ms, progress=progress)
                    e.cmap.save(out / "maps" / f"{e.name}.npz")
                except PairError as exc:
                    e.status, e.reason = "skipped", str(exc)
            e.seconds = round(time.time() - t, 1)
            line = f"  {e.name}: clean {e.clean:.2f}, corrupt {e.corrupt:.2f}"
            if e.cmap is not None:
                line += f", max effect {float(np.nanmax(e.cmap.values)):.2f}"
            log(line + (f" -- {e.status.upper()}: {e.reason}" if e.status != "ok" else "") + f" ({e.seconds:.1f} s)")
            entries.append(e)
    vmax = shared_scale([e.cmap for e in entries if e.cmap is not None])
    for e in entries:
        if e.cmap is not None:
            e.cmap.plot(out / "maps" / f"{e.name}.png", vmax=vmax)
    return _write_report(out, model, settings, entries, vmax, t0, log)


def _row(e: _Entry) -> list:
    where, at_s, top = None, None, None
    if e.cmap is not None:
        top = float(np.nanmax(e.cmap.values))
        arg = e.cmap.summary().get("argmax") or {}
        where = arg.get("layer")
        if "frame" in arg:
            at_s = round(float(e.cmap.times_s[list(e.cmap.coords["frame"]).index(arg["frame"])]), 3)
    metric = e.cmap.meta["metric"] if e.cmap is not None else ("logit_diff" if e.kind == "word_swap" else "logodds")
    return [e.name, f"{e.pair.clean_answer}->{e.pair.corrupt_answer}", metric, e.clean, e.corrupt,
            e.clean - e.corrupt, e.status, top, where, at_s, e.seconds]  # fmt: skip


def _write_report(out, model, settings, entries, vmax, t0, log) -> Path:
    from intervene.app.report import Report, format_table

    report = Report(f"SpeechLens demo: where {model.name} hears the word")
    report.text(
        "Each pair below is a synthesized keyword (clean) and a corrupted copy. Every cell of a heatmap patches "
        f"the clean run's residual stream at one encoder layer over one {settings.window_ms:g} ms window into the "
        "corrupt run (denoising) and shows how much of the clean-vs-corrupt metric gap that restores "
        "(1 = all of it, 0 = none). Word swaps use the logit difference between the two words; the other "
        "corruptions keep the word, so they use the log-odds of the word among the ten Speech Commands words. "
        f"All maps share one colour scale (-{vmax:.2f} to {vmax:.2f}); hatched cells were not computed."
    )
    flagged = [e for e in entries if e.status != "ok"]
    if flagged:
        report.text("Pairs to read with care: " + "; ".join(f"{e.name} ({e.status}): {e.reason}" for e in flagged)
                    + ". A skipped pair has no map.")  # fmt: skip
    headers = ["pair", "answers", "metric", "clean", "corrupt", "gap", "status", "max effect", "layer", "at (s)",
               "seconds"]  # fmt: skip
    rows = [_row(e) for e in entries]
    report.heading("Summary")
    report.table(headers, rows)
    report.heading("Pairs and maps")
    for e in entries:
        _card(report, e)
    report.text(f"Made by `speechlens demo` in {time.time() - t0:.0f} s.", note=True)
    maps = []
    for e in entries:
        base = {"pair": e.name, "status": e.status, "reason": e.reason or None, "clean_metric": e.clean,
                "corrupt_metric": e.corrupt, "gap": e.clean - e.corrupt, "seconds": e.seconds}  # fmt: skip
        if e.cmap is not None:
            base |= e.cmap.summary() | {"files": [f"maps/{e.name}.npz", f"maps/{e.name}.json", f"maps/{e.name}.png"]}
        if e.status == "skipped":
            base["skipped"] = e.reason
        maps.append(base)
    write_json(out / "summary.json", {"settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
                                      "model": model.name, "device": str(model.device), "color_scale": vmax,
                                      "maps": maps})  # fmt: skip
    index = report.write(out)
    log("\n" + format_table(headers, rows))
    log(f"\nwrote {index} ({time.time() - t0:.0f} s)")
    return index
