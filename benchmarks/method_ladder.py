"""Decodable vs used, side by side: probes, exact patching, DAS and LEACE per encoder layer.

For the keyword task (the ten Speech Commands core words, synthesized by espeak-ng voices in
1 s clips) and each model, per encoder layer (block output):

- **probe**: a logistic-regression probe of the keyword on the mean of the word's frames
  (:func:`intervene.probe`), its Hewitt & Liang control task (labels redrawn per utterance
  type: word, rate and pitch) and the selectivity = accuracy - control accuracy;
- **patching**: the exact patching effect of the word's frames (:func:`intervene.patch`,
  clean word into the word-swapped run, normalised: 1 = the clean answer restored);
- **DAS**: interchange intervention accuracy of a learned subspace of sizes ``dims`` over the
  word's frames (:func:`intervene.das`, pyvene's rotated-space intervention), with 95% intervals;
- **LEACE**: the keyword accuracy with keyword identity, or the voice's gender, erased over the
  word's frames (:func:`intervene.erase`), and the probe accuracy after erasure.

**Design vs report split**: the voices are split in two. Probes, erasers and DAS are fitted
(and DAS early-stopped) on the *design voices* only; every number in the report is measured on
the *report voices*, which no method saw. The report names the layers where the keyword is
decodable but not used, and used but hard to decode. The ``--planted`` section (on by default;
``--no-planted`` skips it) runs the same methods on the hand-set planted models of
:mod:`intervene.learned.planted` and checks that each recovers the planted layer, frames and
direction (results.json: ``"planted"``).

``--data speech_commands:PATH`` (``--max-clips N``, default 200): the clips and pairs are the
dataset's recordings instead of synthesis: each chosen speaker's first recording of each word
(probes, LEACE) and speaker-matched pairs (a speaker's recording of one word with the word
replaced by the same speaker's recording of another, ``recording_swap``; patching, DAS).
Speakers who said two of ``--words`` are drawn in a seeded order until their clips reach
``--max-clips``; the last 30% are the held-out *report speakers*, the rest the *design speakers*
(``--design-voices`` / ``--report-voices`` are then unused). Recordings carry no voice gender,
so the gender eraser says "not available for this data". The word's frames are the dataset's
word span when it has one, else the whole 1 s clip. Other dataset kinds are refused (the keyword
task needs one word per clip). The planted section is synthetic in every case.

``--executor ray`` runs the probe, patching and eraser units on Ray actors (each loads the model
and collects the clips' activations once); DAS trains in this process (it needs every pair,
checkpoints each epoch and saves its intervention into the report folder). The numbers are those
of a local run, and either executor resumes the other's folder.

Writes ``<out>/index.html``, ``<out>/results.json`` (last), the ladder figures, and each DAS
intervention (``<out>/das/<model>/layer<L>-dim<d>``, loadable with ``intervene.DASResult.load``).
Each (model, method, layer) unit is kept in ``<out>/work`` as it finishes: run the same
command again to resume.

Examples (from the repository root)::

    python benchmarks/method_ladder.py                               # tiny.en, every layer, dims 1 4 16
    python benchmarks/method_ladder.py --quick --out /tmp/ladder      # 2 words, 5 voices, 2 layers, dim 1
    python benchmarks/method_ladder.py --models whisper-tiny.en whisper-base
    python benchmarks/method_ladder.py --quick --data speech_commands:/data/speech_commands_v0.02 --max-clips 40
    python benchmarks/method_ladder.py --quick --executor ray --actors 2
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import tasks
from benchmarks.common import (
    BenchmarkSettings,
    choice,
    command_line,
    echo,
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
from benchmarks.common.data import add_data_arguments, check_data, data_record
from benchmarks.ladder import data as D
from benchmarks.ladder.planted import run_planted
from benchmarks.ladder.report import (
    ladder_figure,
    model_section,
    planted_figure,
    planted_section,
    summary_text,
)
from benchmarks.ladder.summary import ladder_rows, leace_example, name_layers
from benchmarks.ladder.work import ModelWork, group_of
from tasks.tts import canonical_voice

__all__ = ["QUICK_PRESET", "MethodLadderSettings", "Outcome", "main"]

logger = logging.getLogger("method_ladder")

SCRIPT = "method_ladder"
WORK_FORMAT = "method_ladder/1"
DESIGN_VOICES = ("en-us", "en", "en-029", "en-gb-scotland", "en-us+m3", "en+f2", "en+m7", "en-gb-x-rp+f1",
                 "en-029+f5", "en-gb-x-gbclan+m5")  # fmt: skip
REPORT_VOICES = ("en-gb-x-rp", "en-us+f3", "en-gb-scotland+f4", "en-us-nyc+m1")
QUICK_PRESET = {
    "models": ("whisper-tiny.en",),
    "words": ("yes", "no"),
    "design_voices": ("en-us", "en+f2", "en"),
    "report_voices": ("en-us+f3", "en-gb-x-rp"),
    "rates": (175,),
    "layers": (1, 3),
    "dims": (1,),
    "das_epochs": 2,
    "planted_pairs": 10,
    "planted_das_epochs": 15,
}
"""What ``--quick`` sets: tiny.en, yes/no by 3 design and 2 report voices at one rate (10 clips, 5 pairs),
layers 1 and 3, DAS dim 1 for 2 epochs, and the planted section."""


@dataclass(frozen=True)
class MethodLadderSettings(BenchmarkSettings):
    """What the ladder measures. ``layers=None``: every encoder layer of each model."""

    kind: ClassVar[str] = SCRIPT
    models: tuple = ("whisper-tiny.en",)
    words: tuple = tasks.SPEECH_COMMANDS_CORE
    design_voices: tuple = DESIGN_VOICES
    report_voices: tuple = REPORT_VOICES
    rates: tuple = (150, 200)
    pitch: int = 50
    onset_s: float = 0.3
    layers: tuple | None = None
    dims: tuple = (1, 4, 16)
    das_kind: str = "rotated"
    das_epochs: int = 8
    das_patience: int = 2
    das_batch_size: int = 4  # with lr 0.01: trains on tiny.en (lr 0.05, batch 8 did not; benchmarks/ladder_das_check.py)
    das_lr: float = 0.01
    das_validation: float = 0.2
    train_context_frames: int = 100
    control_by: str = "utterance"
    min_gap: float = 1.0
    decodable_accuracy: float = 0.7
    used_effect: float = 0.5
    planted: bool = True
    planted_pairs: int = 12
    planted_das_epochs: int = 20
    seed: int = 0
    data: tuple = ()
    max_clips: int | None = 200

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("models", names("models", self.models))
        put("words", tasks.KeywordTask(names("words", self.words)).words)
        put("design_voices", tuple(canonical_voice(v) for v in names("design_voices", self.design_voices)))
        put("report_voices", tuple(canonical_voice(v) for v in names("report_voices", self.report_voices)))
        D.check_split(self.words, self.design_voices, self.report_voices)
        put("rates", whole_numbers("rates", self.rates, 80, 450))
        put("pitch", whole("pitch", self.pitch, 0, 99))
        put("onset_s", number("onset_s", self.onset_s, 0.0, 0.6, unit="s"))
        if self.layers is not None:
            put("layers", whole_numbers("layers", self.layers, 0, 63))
        put("dims", whole_numbers("dims", self.dims, 1, 4096))
        put("das_kind", choice("das_kind", self.das_kind, ("rotated", "low_rank", "boundless")))
        put("das_epochs", whole("das_epochs", self.das_epochs, 1, 1000))
        put("das_patience", whole("das_patience", self.das_patience, 1, 1000))
        put("das_batch_size", whole("das_batch_size", self.das_batch_size, 1, 4096))
        put("das_lr", number("das_lr", self.das_lr, 0.0, 10.0, low_open=True))
        put("das_validation", number("das_validation", self.das_validation, 0.0, 1.0, low_open=True, high_open=True))
        put("train_context_frames", whole("train_context_frames", self.train_context_frames, 60, 1500))
        put("control_by", choice("control_by", self.control_by, ("utterance", "word")))
        put("min_gap", number("min_gap", self.min_gap, 0.0))
        put("decodable_accuracy", number("decodable_accuracy", self.decodable_accuracy, 0.0, 1.0))
        put("used_effect", number("used_effect", self.used_effect, 0.0, 1.0))
        if not isinstance(self.planted, bool):
            from tasks.errors import ConfigError

            raise ConfigError(f"planted ({self.planted!r}) must be true or false")
        put("planted_pairs", whole("planted_pairs", self.planted_pairs, 6, 100))
        put("planted_das_epochs", whole("planted_das_epochs", self.planted_das_epochs, 1, 1000))
        put("seed", whole("seed", self.seed, 0, 2**31))
        put("data", check_data("data", self.data))
        D.check_data_kind(self.data)
        if self.max_clips is not None:
            put("max_clips", whole("max_clips", self.max_clips, 6, 100_000))

    @property
    def planted_report_voices(self) -> int:
        """Synthetic voices held out in the planted section (30%, at least 2)."""
        return max(2, round(0.3 * self.planted_pairs))


def add_arguments(parser) -> None:
    import argparse

    g = parser.add_argument_group("method ladder")
    g.add_argument("--models", nargs="+", metavar="NAME", help="models (default: whisper-tiny.en)")
    g.add_argument("--words", nargs="+", metavar="WORD", help="words (default: the 10 core words)")
    g.add_argument("--design-voices", dest="design_voices", nargs="+", metavar="VOICE",
                   help="voices the methods are fitted on")  # fmt: skip
    g.add_argument("--report-voices", dest="report_voices", nargs="+", metavar="VOICE",
                   help="held-out voices every figure is measured on")  # fmt: skip
    g.add_argument("--rates", nargs="+", type=int, metavar="WPM", help="speaking rates of the clips (150 200)")
    g.add_argument("--layers", nargs="+", type=int, metavar="L", help="encoder layers (default: all)")
    g.add_argument("--dims", nargs="+", type=int, metavar="D", help="DAS subspace sizes (default: 1 4 16)")
    g.add_argument("--das-kind", dest="das_kind", choices=("rotated", "low_rank", "boundless"), help="DAS kind")
    g.add_argument("--das-epochs", dest="das_epochs", type=int, metavar="N", help="DAS epochs at most (8)")
    g.add_argument("--seed", type=int, help="seed of every split and training run (0)")
    g.add_argument("--planted", action=argparse.BooleanOptionalAction,
                   help="the planted-structure section (default: on)")  # fmt: skip
    add_data_arguments(g, what="the clips and speaker-matched pairs (speech_commands:PATH only; design / report "
                               "split by speaker)", max_clips_default=200)  # fmt: skip


@dataclass
class Outcome:
    """What :func:`main` did: the results, and per model (and "planted") the units computed or reused."""

    results: dict
    computed: dict
    reused: dict
    out: Path


def work_settings(settings: MethodLadderSettings) -> dict:
    """The settings that change a unit's result (models and layers only select units)."""
    skip = ("models", "layers", "planted", "decodable_accuracy", "used_effect")
    return {"format": WORK_FORMAT, **{k: v for k, v in settings.to_dict().items() if k not in skip}}


def _model_entry(name: str, records: dict, settings, out: Path) -> dict:
    rows = ladder_rows(records, settings)
    entry = {"layers": rows, "named": name_layers(rows), "leace_example": leace_example(rows, settings.dims),
             "patch_pairs": records["patch"],
             "probe_records": {str(k): v for k, v in records["probe"].items()},
             "das_records": {f"layer{k[0]}-dim{k[1]}": v for k, v in records["das"].items()},
             "leace_records": {f"layer{k[0]}-{k[1]}": v for k, v in records["leace"].items()}}  # fmt: skip
    figure = ladder_figure(name, rows, settings.dims, out / "figures" / f"ladder-{name}.png")
    entry["files"] = {"figure": figure.relative_to(out).as_posix()}
    return entry


DATA_NOTES = {
    False: {"pairs": "word swaps (espeak-ng, one voice per pair)", "gender": "espeak-ng voice variants"},
    True: {"pairs": "speaker-matched recordings (recording_swap)", "gender": "not available for this data"},
}
"""What results.json says of the clips' source, by whether ``--data`` was given."""


def _two(x) -> str:
    """``x`` to two decimals, or "n/a" (a figure the data cannot give)."""
    return "n/a" if x is None or math.isnan(x) else f"{x:.2f}"


def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    t_start = time.perf_counter()
    run, settings = parse_settings(argv, MethodLadderSettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    with run_folder(run, settings, work=work_settings(settings)) as store, run.scaleout.open(run.device) as executor:
        if settings.data:
            found = D.data_split(settings.data[0], settings.words, settings.max_clips, settings.seed)
            clips, pairs, skipped, recordings = found["clips"], found["pairs"], [], found["recordings"]
            design, report, group, labels = found["design"], found["report"], "speaker", ("keyword",)
        else:
            voices = settings.design_voices + settings.report_voices
            clips = D.make_clips(settings.words, voices, settings.rates, settings.pitch, settings.onset_s)
            pairs, skipped = D.make_pairs(settings.words, voices, settings.rates[0], settings.pitch, settings.onset_s,
                                          settings.seed)  # fmt: skip
            design, report, group, labels = settings.design_voices, settings.report_voices, "voice", None
            recordings = []
        models, computed, reused, seconds, load_s = {}, {}, {}, {}, {}
        for name in settings.models:
            work = ModelWork(name, settings, clips, pairs, store, run, executor, report=report, split=group,
                             **({"labels": labels} if labels else {}))  # fmt: skip
            t0 = time.perf_counter()
            records = work.run_units()
            computed[name], reused[name] = work.computed, work.reused
            models[name] = _model_entry(name, records, settings, run.out)
            seconds[name], load_s[name] = round(time.perf_counter() - t0, 3), work.load_s
        n_report = sum(group_of(p) in set(report) for p in pairs)
        results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(),
                   "command": command_line(SCRIPT, argv),
                   "split": {"by": group, f"design_{group}s": list(design), f"report_{group}s": list(report),
                             "rule": f"probes, erasers and DAS are fitted on the design {group}s; every figure is "
                                     f"measured on the report {group}s"},
                   "data": {"n_clips": len(clips), "n_pairs": len(pairs), "pairs_not_built": skipped,
                            "n_report_pairs": n_report,
                            **data_record(settings.data, recordings, **DATA_NOTES[bool(settings.data)])},
                   "executor": executor.describe(),
                   "models": models}  # fmt: skip
        sections = []
        if settings.planted:
            planted, computed["planted"], reused["planted"] = run_planted(settings, store, run)
            figure = planted_figure(planted, run.out / "figures" / "planted.png")
            planted["files"] = {"figure": figure.relative_to(run.out).as_posix()}
            results["planted"] = planted
        split_text = (f"Design {group}s (methods fitted on them): {', '.join(design)}. Report {group}s "
                      f"(every figure measured on them, held out from every fit): {', '.join(report)}. "
                      f"{len(clips)} clips, {len(pairs)} word-swap pairs "
                      f"({results['data']['n_report_pairs']} of report {group}s)"
                      + (f"; recordings of {settings.data[0]}; gender erasure: not available for this data."
                         if settings.data else "."))  # fmt: skip
        from benchmarks.common import Section

        sections.append(Section("Design vs report split", split_text))
        sections += [model_section(name, entry, settings) for name, entry in models.items()]
        if settings.planted:
            sections.append(planted_section(results["planted"]))
        results["timings"] = {"total_s": round(time.perf_counter() - t_start, 3), "per_model_s": seconds,
                              "model_load_s": load_s}  # fmt: skip
        write_report(run.out, "Method ladder: decodable vs used, per encoder layer", sections, results)
    for name, entry in models.items():
        echo(summary_text(name, entry["named"], entry["leace_example"]))
        for row in entry["layers"]:
            das = ", ".join(f"d{d} {row['das'][str(d)]['iia']:.2f}" for d in settings.dims)
            echo(f"  layer {row['layer']}: probe {row['probe']['accuracy']:.2f} (control "
                 f"{row['probe']['control_accuracy']:.2f}, selectivity {row['probe']['selectivity']:.2f}), patch "
                 f"{row['patch']['mean']:.2f} (n={row['patch']['n']}), DAS IIA {das}, kw acc -keyword "
                 f"{row['leace']['keyword']['keyword_accuracy_after']:.2f} -gender "
                 f"{_two(row['leace']['gender']['keyword_accuracy_after'])} (plain "
                 f"{row['leace']['keyword']['keyword_accuracy_before']:.2f}): {row['verdict']}")  # fmt: skip
    if settings.planted:
        echo(f"planted: all checks pass: {results['planted']['all_pass']} {results['planted']['checks']}")
    echo(f"\n{sum(computed.values())} units computed, {sum(reused.values())} reused; "
         f"{time.perf_counter() - t_start:.0f} s; report: {run.out / 'index.html'}")  # fmt: skip
    return Outcome(results=results, computed=computed, reused=reused, out=run.out)


if __name__ == "__main__":
    run_cli(main, SCRIPT)
