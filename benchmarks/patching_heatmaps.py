"""The headline pictures: where Whisper's layers, positions and heads carry the word.

For each model, sweep and corruption it builds ``pairs`` minimal pairs across voices (the ten
Speech Commands words in turn), patches every pair with exact activation patching
(:func:`intervene.patch`, denoising by default) and averages the maps:

- ``keyword-encoder`` / ``carrier-encoder``: encoder block outputs, layer x time windows of
  ``window_ms`` from ``before_ms`` before to ``after_ms`` after the word's onset; columns are
  aligned to the onset so pairs average column by column;
- ``carrier-decoder`` (and ``keyword-decoder``): decoder block outputs, layer x token;
- ``keyword-heads`` / ``carrier-heads``: each decoder cross-attention head at every position.

Keyword pairs are single synthesized words in 1 s clips (onset at 0.3 s); carrier pairs say
"please say the word X now". A pair whose clean-minus-corrupt metric gap is below ``min_gap``
(or that :func:`intervene.patch` refuses) is skipped and counted. Every pair's map is kept as
it finishes (``<out>/maps/.../pairs``, recorded in ``<out>/work``): run the same command
again to resume. Writes ``<out>/index.html``, ``<out>/results.json`` (last), the maps
(``.npz`` + ``.json``) and PNGs, and prints a summary.

Examples (from the repository root)::

    python benchmarks/patching_heatmaps.py                              # tiny.en, 8 pairs
    python benchmarks/patching_heatmaps.py --quick --out /tmp/ph        # 2 pairs, 1 sweep, under a minute
    python benchmarks/patching_heatmaps.py --models whisper-tiny.en whisper-base
    python benchmarks/patching_heatmaps.py --corruptions word_swap '{"kind": "gap", "fill": "silence"}'
    python benchmarks/patching_heatmaps.py --executor ray --ray-address 10.0.0.5:6379 --threads-per-actor 4
    python benchmarks/patching_heatmaps.py --data speech_commands:~/speech_commands_v0.02 --sweeps keyword-encoder
    python benchmarks/patching_heatmaps.py --data librispeech:~/LibriSpeech/dev-clean --sweeps carrier-encoder \
        --corruptions '{"kind": "noise", "snr_db": -5, "span": "word"}'

``--data SPEC [SPEC ...]`` makes the pairs from recordings (``--max-clips`` sentence clips per spec,
default 40): ``speech_commands:PATH`` gives the keyword sweeps natural speaker-matched pairs (the
same speaker saying two words; ``word_swap`` is then the recording swap, other corruptions act on
the first recording's word); a sentence dataset (``librispeech:``, ``manifest:``, ``hf:``,
``folder:``) gives the carrier sweeps a word inside each sentence (one aligned content word,
corrupted there, read by ``tasks.TranscriptTask``; a word swap there needs ``word=``), the time
axis aligned to that word's onset as for synthesis (pairs are padded with silence where the word
sits too close to an edge). Sweeps the data cannot feed are skipped (logged, and said in the
report and ``results.json["skipped_sweeps"]``); nothing left to run is a ConfigError.
``results.json["data"]`` records the specs, clips and speakers.

``--executor ray`` patches the pairs on Ray actors (``pip install "speechlens[ray]"``; without
``--ray-address`` a Ray is started on this machine); the maps are identical, the work store and
the report are written by this process only, and a run may resume with either executor.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import tasks
from benchmarks.common import (
    FRAME_MS,
    BenchmarkSettings,
    Section,
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
    write_report,
)
from benchmarks.common.data import add_data_arguments, check_data, data_record
from benchmarks.heatmaps import data as hd
from benchmarks.heatmaps import sweeps as sw
from benchmarks.heatmaps.results import build_sections, summarize_sweep, summary_table
from benchmarks.heatmaps.work import run_model
from tasks.errors import ConfigError
from tasks.tts import canonical_voice

__all__ = ["PatchingHeatmapsSettings", "Outcome", "QUICK_PRESET", "main"]

logger = logging.getLogger("patching_heatmaps")

SCRIPT = "patching_heatmaps"
WORK_FORMAT = "patching_heatmaps/2"
DIRECTIONS = ("denoise", "noise")
DEFAULT_SWEEPS = ("keyword-encoder", "keyword-heads", "carrier-encoder", "carrier-decoder", "carrier-heads")
DEFAULT_CORRUPTIONS = ({"kind": "word_swap"}, {"kind": "noise", "snr_db": -5.0, "span": "word"})
QUICK_PRESET = {
    "models": ("whisper-tiny.en",),
    "sweeps": ("keyword-encoder",),
    "corruptions": ({"kind": "word_swap"},),
    "pairs": 2,
    "window_ms": 200.0,
    "audio_examples": 1,
}
"""What ``--quick`` sets: tiny.en, word swaps, 2 keyword pairs, the encoder sweep in 200 ms windows (16 cells
a pair): the whole path in well under a minute on a 2-core CPU."""


@dataclass(frozen=True)
class PatchingHeatmapsSettings(BenchmarkSettings):
    """What to sweep. ``voices=None`` means every :func:`tasks.voices` voice; ``corruptions``
    are kind names or dicts such as ``{"kind": "gap", "fill": "silence"}``."""

    kind: ClassVar[str] = SCRIPT
    models: tuple = ("whisper-tiny.en",)
    sweeps: tuple = DEFAULT_SWEEPS
    corruptions: tuple = DEFAULT_CORRUPTIONS
    pairs: int = 8
    words: tuple = tasks.SPEECH_COMMANDS_CORE
    voices: tuple | None = None
    window_ms: float = 40.0
    before_ms: float = 200.0
    after_ms: float = 600.0
    direction: str = "denoise"
    min_gap: float = 1.0
    seed: int = 0
    keyword_onset_s: float = 0.3
    carrier_template: str = "please say the word {word} now"
    audio_examples: int = 2
    data: tuple = ()
    max_clips: int | None = 40

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("models", names("models", self.models))
        put("sweeps", sw.check_sweeps(self.sweeps))
        items = (self.corruptions,) if isinstance(self.corruptions, (str, dict)) else tuple(self.corruptions)
        if not items:
            raise ConfigError("corruptions is empty; give at least one, e.g. word_swap")
        put("corruptions", tuple(sw.canonical_corruption(c) for c in items))
        labels = [sw.corruption_label(c) for c in self.corruptions]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"corruptions ({labels}) lists a corruption twice; give each once")
        put("pairs", whole("pairs", self.pairs, 1, 1000))
        put("words", tasks.KeywordTask(names("words", self.words)).words)
        voices = tasks.voices() if self.voices is None else names("voices", self.voices)
        put("voices", tuple(canonical_voice(v) for v in voices))
        put("window_ms", number("window_ms", self.window_ms, FRAME_MS, 1000.0, unit="ms", multiple_of=FRAME_MS))
        put("keyword_onset_s", number("keyword_onset_s", self.keyword_onset_s, 0.0, 0.9, unit="s"))
        put("before_ms", number("before_ms", self.before_ms, 0.0, self.keyword_onset_s * 1000.0, unit="ms"))
        put("after_ms", number("after_ms", self.after_ms, self.window_ms, (1.0 - self.keyword_onset_s) * 1000.0,
                               unit="ms"))  # fmt: skip
        put("direction", choice("direction", self.direction, DIRECTIONS))
        put("min_gap", number("min_gap", self.min_gap, 0.05))
        put("seed", whole("seed", self.seed, 0, 2**31))
        put("audio_examples", whole("audio_examples", self.audio_examples, 0, 100))
        tasks.CarrierTask(self.words, template=self.carrier_template)  # checks the template
        put("data", check_data("data", self.data))
        if self.max_clips is not None:
            put("max_clips", whole("max_clips", self.max_clips, 1))
        hd.sweeps_for_data(self.sweeps, self.data, log=False)  # data that feeds no sweep: refused before any model loads


def _corruption_arg(text: str):
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--corruptions item {text!r} is not valid JSON: {exc}") from exc
    return text


def add_arguments(parser) -> None:
    g = parser.add_argument_group("patching heatmaps")
    g.add_argument("--models", nargs="+", metavar="NAME", help="models (default: whisper-tiny.en)")
    g.add_argument("--sweeps", nargs="+", metavar="NAME", help=f"sweeps (default: {' '.join(DEFAULT_SWEEPS)}; "
                   f"known: {', '.join(sw.SWEEPS)})")  # fmt: skip
    g.add_argument("--corruptions", nargs="+", type=_corruption_arg, metavar="KIND|JSON",
                   help="corruption kinds or JSON dicts (default: word_swap and noise at -5 dB SNR on the word)")
    g.add_argument("--pairs", type=int, metavar="N", help="minimal pairs per sweep (default: 8)")
    g.add_argument("--words", nargs="+", metavar="WORD", help="words (default: the 10 core words)")
    g.add_argument("--voices", nargs="+", metavar="VOICE", help="espeak-ng voices (default: all tasks.voices())")
    g.add_argument("--window-ms", dest="window_ms", type=float, metavar="MS", help="time window (default: 40)")
    g.add_argument("--before-ms", dest="before_ms", type=float, metavar="MS", help="time before the onset (200)")
    g.add_argument("--after-ms", dest="after_ms", type=float, metavar="MS", help="time after the onset (600)")
    g.add_argument("--direction", choices=("denoise", "noise"), help="patch clean into corrupt (default) or back")
    g.add_argument("--min-gap", dest="min_gap", type=float, metavar="NATS",
                   help="skip pairs whose clean-minus-corrupt metric is below this (default: 1.0)")  # fmt: skip
    g.add_argument("--seed", type=int, help="seed of the first pair's corruption (default: 0)")
    g.add_argument("--audio-examples", dest="audio_examples", type=int, metavar="N",
                   help="pairs per task and corruption with audio players in the report (default: 2)")  # fmt: skip
    add_data_arguments(g, what="the pairs (speech_commands: speaker-matched keyword pairs; sentence datasets: a word "
                       "inside each sentence for the carrier sweeps)", max_clips_default=40)  # fmt: skip


@dataclass
class Outcome:
    """What :func:`main` did: the results, and per model how many units were computed or reused."""

    results: dict
    computed: dict
    reused: dict
    out: Path


def work_settings(settings: PatchingHeatmapsSettings) -> dict:
    """The settings that change a unit's result (models, sweeps, corruptions, pairs and voices
    only select units: each is part of a unit's key)."""
    keep = ("words", "window_ms", "before_ms", "after_ms", "direction", "keyword_onset_s", "carrier_template")
    out = {"format": WORK_FORMAT, **{k: getattr(settings, k) for k in keep}}
    if settings.data:  # the data picks the pairs (a pair's digest is in its key too)
        out |= {"data": list(settings.data), "max_clips": settings.max_clips}
    return out


# --------------------------------------------------------------------------- pairs
def build_pairs(settings: PatchingHeatmapsSettings, out: Path) -> dict:
    """``{(task, corruption label): [(PairSpec, pair or None, reason or None), ...]}``; saves
    the first ``audio_examples`` pairs of each into ``out/pairs`` for the report's players."""
    import corruptions

    specs = sw.pair_specs(settings.pairs, settings.words, settings.voices, settings.seed)
    after_s = (settings.after_ms + settings.window_ms) / 1000.0
    plan = {}
    for task_name in dict.fromkeys(sw.SWEEPS[s].task for s in settings.sweeps):
        task = sw.make_task(task_name, settings.words, settings.carrier_template)
        for config in settings.corruptions:
            label, corruption = sw.corruption_label(config), corruptions.from_dict(dict(config))
            onset_s = settings.keyword_onset_s
            built = [(spec, *sw.build_pair(task, spec, corruption, onset_s, after_s)) for spec in specs]
            for spec, pair, _ in [b for b in built if b[1] is not None][: settings.audio_examples]:
                folder = out / "pairs" / task_name / label / spec.id
                if not (folder / "pair.json").is_file():
                    pair.save(folder)
            plan[task_name, label] = built
    return plan


def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    t_start = time.perf_counter()
    run, settings = parse_settings(argv, PatchingHeatmapsSettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    active, skipped = hd.sweeps_for_data(settings.sweeps, settings.data)
    planned = replace(settings, sweeps=active) if skipped else settings  # what runs; results keep the settings given
    with run_folder(run, settings, work=work_settings(settings)) as store, run.scaleout.open(run.device) as executor:
        if settings.data:
            plan = hd.data_plan(planned, active, run.out, run.device)
            task_objects = hd.data_tasks(settings.words)
        else:
            plan, task_objects = build_pairs(settings, run.out), None
        per_model, computed, reused, maps = {}, {}, {}, {}
        for name in settings.models:
            outcomes, computed[name], reused[name], load = run_model(name, planned, plan, store, run, executor,
                                                                     task_objects)  # fmt: skip
            sweeps = []
            for sweep in planned.sweeps:
                for config in settings.corruptions:
                    label = sw.corruption_label(config)
                    entry, cmap = summarize_sweep(name, sweep, config, settings, plan, outcomes[sweep, label], run.out)
                    maps[name, sweep, label] = cmap
                    sweeps.append(entry)
            per_model[name] = {"model_load_s": load["seconds"] if load else None, "sweeps": sweeps}
        command = command_line(SCRIPT, argv)
        compute_s = sum(s["compute_s"] for m in per_model.values() for s in m["sweeps"])
        results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(),
                   "command": command, "models": per_model, "executor": executor.describe(),
                   "timings": {"compute_s": round(compute_s, 3),
                               "model_load_s": {n: m["model_load_s"] for n, m in per_model.items()}}}  # fmt: skip
        results["data"] = _data_record(settings, plan)
        if skipped:
            results["skipped_sweeps"] = skipped
        sections = build_sections(run.out, results, planned, plan, maps)
        if settings.data:
            sections.insert(1, Section("Data", _data_text(results)))
        write_report(run.out, "Patching heatmaps: where Whisper carries the word", sections, results)
    echo(summary_table(per_model).to_text())
    for sweep, reason in skipped.items():
        echo(f"sweep {sweep} skipped: {reason}")
    echo(f"\n{sum(computed.values())} units computed, {sum(reused.values())} reused; "
         f"{time.perf_counter() - t_start:.0f} s; report: {run.out / 'index.html'}")  # fmt: skip
    return Outcome(results=results, computed=computed, reused=reused, out=run.out)


def _data_record(settings, plan: dict) -> dict:
    """``results["data"]``: the specs, and per (task, corruption) the pairs built and why others were not."""
    if not settings.data:
        return data_record(())
    built = {f"{task}/{label}": {"pairs": sum(p is not None for _, p, _ in rows),
                                 "speakers": sorted({s.voice for s, p, _ in rows if p is not None}),
                                 "not_built": [r for _, p, r in rows if p is None]}
             for (task, label), rows in plan.items()}  # fmt: skip
    return data_record(settings.data, (), pairs=built)


def _data_text(results: dict) -> str:
    data = results["data"]
    lines = [(f"Pairs from {', '.join(data['specs'])} (keyword sweeps: speaker-matched Speech Commands pairs; "
              "carrier sweeps: one aligned content word inside each sentence, read by TranscriptTask).")]  # fmt: skip
    for key, entry in data["pairs"].items():
        missing = f", {len(entry['not_built'])} not built (e.g. {entry['not_built'][0]})" if entry["not_built"] else ""
        lines.append(f"{key}: {entry['pairs']} pairs from {len(entry['speakers'])} speakers{missing}")
    for sweep, reason in results.get("skipped_sweeps", {}).items():
        lines.append(f"Sweep {sweep} not run: {reason}.")
    return "\n\n".join(lines)


if __name__ == "__main__":
    run_cli(main, SCRIPT)
