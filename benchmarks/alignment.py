"""Word timings from the model: onset and offset error of ``intervene.align`` against known spans.

Synthesised sentences (espeak-ng, whose word spans SpeechLens knows to 5 ms) are aligned with
their transcripts, and each word's aligned onset and offset is compared with the
synthesiser's span: median and 90th percentile of the absolute error, and the median signed
error (bias), for SpeechLens's timings (the model's calibrated lag subtracted, spans trimmed
to the audible frames) and for openai-whisper's DTW timings as they are. Default: 8 voices x
2 rates x 2 sentences (32 clips, about 280 words) on whisper-tiny.en.

``--calibrate`` measures the lag to subtract instead, on sentences, voices and a rate the
evaluation never uses (``CALIBRATED_LAG_S`` in ``intervene/models/whisper/alignment.py``).
``--data SPEC ...`` also aligns dataset clips (``librispeech:PATH``, ``manifest:PATH``,
``hf:NAME_OR_PATH``, ``speech_commands:PATH``, ``folder:PATH``); clips with word spans of
their own (a manifest's words, MFA TextGrids) are scored against them, per spec (the summary
table is the synthetic set's). ``--executor ray`` aligns the clips on Ray actors (the same
numbers; the lag an actor reads is kept in the run folder's store).

Writes ``<out>/results.json`` (every word's errors, summaries per model, voice and rate),
``<out>/index.html`` (tables, error histograms); each clip's result is kept in
``<out>/work/`` so a rerun resumes.

Examples (from the repository root)::

    python -m benchmarks.alignment                        # tiny.en, 32 clips
    python -m benchmarks.alignment --quick --out /tmp/al  # 3 voices x 1 rate x 1 sentence
    python -m benchmarks.alignment --calibrate --models whisper-tiny.en whisper-base
    python -m benchmarks.alignment --data manifest:~/my_clips/manifest.csv
    python -m benchmarks.alignment --data librispeech:~/LibriSpeech/dev-clean --executor ray --ray-address auto
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import tasks
from benchmarks.common import (
    BenchmarkSettings,
    WorkStore,
    command_line,
    echo,
    make_key,
    names,
    number,
    parse_settings,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    whole_numbers,
    write_report,
)
from benchmarks.common.data import check_data
from benchmarks.common.units import run_stored
from benchmarks.wordtiming.data import (
    CALIBRATION_SENTENCES,
    EVAL_SENTENCES,
    dataset_clips,
    synthetic_clips,
)
from benchmarks.wordtiming.measure import (
    lag_estimate,
    match_words,
    summarize,
    word_errors,
)
from benchmarks.wordtiming.report import build_sections, summary_table
from tasks.errors import ConfigError
from tasks.tts import canonical_voice

__all__ = ["AlignmentSettings", "QUICK_PRESET", "main"]

logger = logging.getLogger("alignment")

SCRIPT = "alignment"
WORK_FORMAT = "alignment/1"
QUICK_PRESET = {"voices": ("en-us", "en-gb-x-rp", "en-us+f3"), "rates": (170,), "per_combo": 1}
"""What ``--quick`` sets: 3 voices x 1 rate x 1 sentence (about 30 words)."""
CALIBRATION_RATE = 170


@dataclass(frozen=True)
class AlignmentSettings(BenchmarkSettings):
    """What to align. ``voices=None``: the first 8 of :func:`tasks.voices` (``--calibrate``: the others)."""

    kind: ClassVar[str] = SCRIPT
    models: tuple = ("whisper-tiny.en",)
    voices: tuple | None = None
    rates: tuple = (140, 200)
    per_combo: int = 2
    lead_s: float = 0.3
    data: tuple = ()
    max_clips: int = 50
    calibrate: bool = False

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("models", names("models", self.models))
        if self.voices is not None:
            put("voices", tuple(canonical_voice(v) for v in names("voices", self.voices)))
        put("rates", whole_numbers("rates", self.rates, 80, 450))
        put("per_combo", whole("per_combo", self.per_combo, 1))
        put("lead_s", number("lead_s", self.lead_s, 0.0, 5.0))
        put("data", check_data("data", names("data", self.data)) if self.data else ())
        put("max_clips", whole("max_clips", self.max_clips, 1))
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"calibrate ({self.calibrate!r}) must be true or false")

    def chosen_voices(self) -> tuple:
        if self.voices is not None:
            return self.voices
        every = tasks.voices()
        return tuple(every[8:]) if self.calibrate else tuple(every[:8])


def add_arguments(parser) -> None:
    g = parser.add_argument_group("alignment")
    g.add_argument("--models", nargs="+", metavar="NAME", help="models to align with (default: whisper-tiny.en)")
    g.add_argument("--voices", nargs="+", metavar="VOICE", help="espeak-ng voices (default: the first 8)")
    g.add_argument("--rates", nargs="+", type=int, metavar="WPM", help="speaking rates (default: 140 200)")
    g.add_argument("--per-combo", dest="per_combo", type=int, metavar="N", help="sentences per voice x rate (2)")
    g.add_argument("--lead-s", dest="lead_s", type=float, metavar="S", help="silence around each sentence (0.3 s)")
    g.add_argument("--data", nargs="+", metavar="SPEC", help="dataset specs to align too (kind:PATH)")
    g.add_argument("--max-clips", dest="max_clips", type=int, metavar="N", help="clips per --data spec (50)")
    g.add_argument("--calibrate", action="store_true", help="measure each model's lag on the calibration set")


def _align_clip(model, clip) -> dict:
    """Both timings of one clip, with their errors against its reference spans."""
    import intervene

    result = {"key": clip.key, "group": clip.group, "text": clip.text}
    default = intervene.align(model, clip.audio, clip.text)
    raw = model.align_words(clip.audio, clip.text, lag_s=0.0) if hasattr(model, "align_words") else default
    result["confidence"] = default.confidence
    result["low_confidence"] = sum(w.low_confidence for w in default)
    result["aligned_words"] = len(default)
    for name, spans in (("speechlens", default), ("raw", raw)):
        pairs, skipped = match_words(clip.text, spans, clip.reference) if clip.reference else ([], len(spans))
        result[name] = word_errors(pairs)
        result["skipped"] = skipped
        result[f"{name}_spans"] = [list(w) for w in spans]
    return result


def _align_unit(model, shared, clip) -> dict:
    """One unit of work (where the executor runs it): align one clip."""
    return _align_clip(model, clip)


def _lag_unit(model, shared) -> float:
    """The model's calibrated lag, read where the model is (a Ray actor)."""
    return model.alignment_lag_s()


def run_model(name: str, clips: list, store: WorkStore, run, executor=None) -> dict:
    """Every clip's alignment with model ``name`` (units on ``executor``, default: here).

    A clip's key holds the lag subtracted, so a new calibration recomputes. In this process the
    lag is the loaded model's; on Ray it is read once by an actor and kept in the store.
    """
    import intervene
    from intervene.executors import LocalExecutor

    executor = executor or LocalExecutor(device=run.device)
    lag_key = make_key(name, "alignment-lag")
    if executor.name == "local":
        model = intervene.load_model(name, device=run.device)
        lag = store.put(lag_key, model.alignment_lag_s())
    else:
        model = name  # the actors load it
        lag = next(run_stored(executor, name, _lag_unit, [(lag_key, ())], store))
    items = [(make_key(name, f"lag{1000 * lag:+.0f}ms", clip.key), (clip,)) for clip in clips]
    records = list(run_stored(executor, model, _align_unit, items, store, progress=run.progress,
                              desc=f"aligning with {name}", unit_name="clip"))  # fmt: skip
    summary = {}
    synthetic = [r for r in records if r["group"]["source"] == "synthetic"]
    for variant in ("speechlens", "raw"):
        on = [v for r in synthetic for v in r[variant]["onset_ms"]]
        off = [v for r in synthetic for v in r[variant]["offset_ms"]]
        summary[variant] = summarize(on, off)
        if variant == "raw":
            summary["raw"]["lag_estimate_s"] = lag_estimate(on, off)
    return {"records": records, "summary": summary, "lag_s": lag, "skipped": sum(r["skipped"] for r in records),
            "aligned_words": sum(r["aligned_words"] for r in records),
            "low_confidence_words": sum(r["low_confidence"] for r in records)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    run, settings = parse_settings(argv, AlignmentSettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    with run_folder(run, settings), run.scaleout.open(run.device) as executor:
        sentences = CALIBRATION_SENTENCES if settings.calibrate else EVAL_SENTENCES
        rates = (CALIBRATION_RATE,) if settings.calibrate else settings.rates
        clips = synthetic_clips(sentences, settings.chosen_voices(), rates, settings.per_combo, settings.lead_s)
        data_info = {}
        for spec in settings.data:
            found = dataset_clips(spec, settings.max_clips)
            data_info[spec] = {"clips": len(found), "with_reference": sum(bool(c.reference) for c in found)}
            clips += found
        store = WorkStore(run.out / "work", {"format": WORK_FORMAT, "calibrate": settings.calibrate,
                                             "lead_s": settings.lead_s})  # fmt: skip
        per_model = {name: run_model(name, clips, store, run, executor) for name in settings.models}
        for spec, info in data_info.items():
            recs = [r for m in per_model.values() for r in m["records"] if r["group"]["source"] == spec]
            scores = [r["confidence"] for r in recs if r["confidence"] is not None and math.isfinite(r["confidence"])]
            info["mean_confidence"] = sum(scores) / len(scores) if scores else None
            info["speechlens"] = summarize([v for r in recs for v in r["speechlens"]["onset_ms"]],
                                           [v for r in recs for v in r["speechlens"]["offset_ms"]])  # fmt: skip
        command = command_line(SCRIPT, argv)
        results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "command": command,
                   "calibration": settings.calibrate, "data": data_info, "executor": executor.describe(),
                   "models": {n: {k: v for k, v in m.items()} for n, m in per_model.items()}}  # fmt: skip
        sections = build_sections(run.out, per_model, settings, command, data_info)
        write_report(run.out, "Word timings from the model" + (" (calibration)" if settings.calibrate else ""),
                     sections, results)  # fmt: skip
    echo(summary_table(per_model).to_text())
    for name, result in per_model.items():
        if settings.calibrate:
            echo(f"{name}: lag estimate {1000 * result['summary']['raw']['lag_estimate_s']:.0f} ms "
                 f"(now subtracted: {1000 * result['lag_s']:.0f} ms)")  # fmt: skip
    echo(f"\nreport: {Path(run.out) / 'index.html'}")
    return results


if __name__ == "__main__":
    run_cli(main, SCRIPT)
