"""``speechlens demo``: the built-in default job, end to end.

On whisper-tiny.en and synthesized keywords it builds minimal pairs with several corruption
designs (word swap, noise, gap, pitch shift), sweeps every encoder layer x time window with
exact activation patching, and writes an HTML page with the heatmaps, both spectrograms and
an audio player for both halves of every pair, plus every map (.npz + .json) and a summary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.atomic import write_json
from tasks.errors import PairError

__all__ = ["DemoSettings", "run_demo", "DEMO_CORRUPTIONS"]

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
    model: str = "whisper-tiny.en"
    words: tuple = ("yes", "stop")
    voice: str = "en-us"
    window_ms: float = 40.0
    duration_s: float = 1.0
    onset_s: float = 0.3
    seed: int = 0
    corruptions: tuple = DEMO_CORRUPTIONS

    @classmethod
    def quick(cls, model: str = "whisper-tiny.en") -> "DemoSettings":
        return cls(model=model, words=("yes",), window_ms=100.0, corruptions=DEMO_CORRUPTIONS[:2])


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


def run_demo(out, settings: DemoSettings | None = None, device=None, progress: bool = True, log=print) -> Path:
    """Run the demo into folder ``out``; return the path of its index.html."""
    import corruptions
    import intervene
    import tasks
    from intervene.app.report import Report, format_table

    settings = settings or DemoSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model = intervene.load_model(settings.model, device=device)
    task = tasks.KeywordTask()
    log(f"loaded {model.name} on {model.device} in {time.time() - t0:.1f} s; "
        f"{len(settings.words)} words x {len(settings.corruptions)} corruptions")
    report = Report(f"SpeechLens demo: where {model.name} hears the word")
    report.text(
        "Each pair below is a synthesized keyword (clean) and a corrupted copy. Every cell of a heatmap patches "
        f"the clean run's residual stream at one encoder layer over one {settings.window_ms:g} ms window into the "
        "corrupt run (denoising) and shows how much of the clean-vs-corrupt metric gap that restores "
        "(1 = all of it, 0 = none). Word swaps use the logit difference between the two words; the other "
        "corruptions keep the word, so they use the log-odds of the word among the ten Speech Commands words."
    )
    rows, summaries = [], []
    cards = []
    for word in settings.words:
        utt = tasks.speak(word, voice=settings.voice).padded(settings.duration_s, settings.onset_s)
        for kind, params in settings.corruptions:
            name = f"{word}-{kind}"
            pair = corruptions.get(kind, **params).pair(utt, seed=settings.seed, target=word)
            pair.save(out / "pairs" / name)
            t = time.time()
            try:
                cmap = intervene.patch(model, task, pair, model.sites("encoder", "block_output"),
                                       window_ms=settings.window_ms, progress=progress)
            except PairError as exc:
                log(f"  {name}: skipped ({exc})")
                summaries.append({"pair": name, "skipped": str(exc)})
                continue
            cmap.save(out / "maps" / f"{name}.npz")
            cmap.plot(out / "maps" / f"{name}.png")
            _spectrogram_figure(model, pair, out / "maps" / f"{name}-spectrograms.png")
            where = cmap.summary().get("argmax", {})
            row = [name, f"{pair.clean_answer}->{pair.corrupt_answer}", cmap.meta["metric"], cmap.clean_metric,
                   cmap.corrupt_metric, float(np.nanmax(cmap.values)), where.get("layer"),
                   round(float(cmap.times_s[list(cmap.coords["frame"]).index(where["frame"])]), 3) if where else None,
                   round(time.time() - t, 1)]
            rows.append(row)
            summaries.append({"pair": name, "seconds": row[-1], **cmap.summary()})
            log(f"  {name}: clean {cmap.clean_metric:.2f}, corrupt {cmap.corrupt_metric:.2f}, "
                f"max effect {row[5]:.2f} ({row[-1]:.1f} s)")
            cards.append((name, pair, kind, params))
    headers = ["pair", "answers", "metric", "clean", "corrupt", "max effect", "layer", "at (s)", "seconds"]
    report.heading("Summary")
    report.table(headers, rows)
    report.heading("Pairs and maps")
    for name, pair, kind, params in cards:
        def build(r, name=name, pair=pair, kind=kind, params=params):
            r.heading(f"{name}: {kind} {params or ''}", level=3)
            r.audio([("clean", f"pairs/{name}/clean.wav"), ("corrupt", f"pairs/{name}/corrupt.wav")])
            r.image(f"maps/{name}-spectrograms.png", f"{name} spectrograms")
            r.image(f"maps/{name}.png", f"{name} causal-effect map")
            r.text(f"map data: maps/{name}.npz + maps/{name}.json; pair: pairs/{name}/pair.json", note=True)
        report.card(build)
    report.text(f"Made by `speechlens demo` in {time.time() - t0:.0f} s.", note=True)
    write_json(out / "summary.json", {"settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
                                      "model": model.name, "device": str(model.device), "maps": summaries})
    index = report.write(out)
    log("\n" + format_table(headers, rows))
    log(f"\nwrote {index} ({time.time() - t0:.0f} s)")
    return index
