"""Which corruption to trust for which question: one set of clean clips, many corruption designs.

The same clean clips (core words across voices, 1 s, word onset at 0.3 s) are corrupted by
each design (noise of several SNRs and colours over the word, gaps filled with silence,
noise or cut out, pitch shifts, word swaps, low-pass, band-stop, reverb) and compared on:

- effect size: the task metric's clean-minus-corrupt gap, the clean word's log-odds drop (one
  scale for all designs) and how often the corrupt half is heard as another word;
- off-distribution-ness: per encoder layer, the Ledoit-Wolf Mahalanobis distance of the
  corrupted run's frames inside the changed span from a clean reference, relative to the
  clean run's frames at the same positions (also with a diagonal covariance);
- localisation: the share of an exact patching map's |effect| (encoder layer x time window
  over the whole clip) inside the changed span and inside the word, each +- one window;
- agreement: Spearman correlation between the maps two designs give for the same clip.

The report ranks the designs and says, by rules computed from these numbers, which design to
use for which question. A pair whose metric barely moves (PairError from ``intervene.patch``)
counts as "no effect" for its design.

Writes ``<out>/index.html``, ``<out>/results.json`` (every number), ``<out>/maps/<design>/<clip>``
(CausalMap files), ``<out>/pairs/<design>/<clip>`` (the minimal pairs) and figures. Each (design,
clip) is kept in ``<out>/work/`` as it finishes: run the same command again to resume. The
design list is the ``designs`` key of a ``--config`` file: a list of corruption dicts, each
with a ``label`` (``{"label": "noise-0dB", "kind": "noise", "snr_db": 0, "span": "word"}``).

Examples (from the repository root)::

    python benchmarks/corruption_ablation.py                       # 12 designs x 6 clips
    python benchmarks/corruption_ablation.py --quick --out /tmp/ca  # 2 designs x 1 clip, under a minute
    python benchmarks/corruption_ablation.py --designs word-swap gap-silence --window-ms 100
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import corruptions
import tasks
from benchmarks.ablation.report import build_sections, design_table, ranking_table
from benchmarks.ablation.summary import (
    advice,
    agreement,
    rank_designs,
    summarize_design,
)
from benchmarks.ablation.work import REFERENCE_KEY, Clip, UnitContext, compute_unit
from benchmarks.common import (
    FRAME_MS,
    BenchmarkSettings,
    WorkStore,
    choice,
    command_line,
    echo,
    make_key,
    names,
    number,
    parse_settings,
    progress,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    write_report,
)
from tasks.errors import ConfigError, close_names
from tasks.tts import canonical_voice

__all__ = ["CorruptionAblationSettings", "Outcome", "DEFAULT_DESIGNS", "DEFAULT_CLIPS", "QUICK_PRESET", "main"]

logger = logging.getLogger("corruption_ablation")

SCRIPT = "corruption_ablation"
WORK_FORMAT = "corruption_ablation/1"
DIRECTIONS = ("denoise", "noise")

DEFAULT_DESIGNS = (
    {"label": "noise-white-0dB", "kind": "noise", "snr_db": 0.0, "color": "white", "span": "word"},
    {"label": "noise-white-10dB", "kind": "noise", "snr_db": 10.0, "color": "white", "span": "word"},
    {"label": "noise-pink-0dB", "kind": "noise", "snr_db": 0.0, "color": "pink", "span": "word"},
    {"label": "gap-silence", "kind": "gap", "fill": "silence"},
    {"label": "gap-noise", "kind": "gap", "fill": "noise"},
    {"label": "gap-cut", "kind": "gap", "fill": "cut"},
    {"label": "pitch+4", "kind": "pitch_shift", "semitones": 4.0},
    {"label": "pitch-4", "kind": "pitch_shift", "semitones": -4.0},
    {"label": "word-swap", "kind": "word_swap"},
    {"label": "lowpass-1kHz", "kind": "lowpass", "cutoff_hz": 1000.0},
    {"label": "bandstop-1kHz", "kind": "bandstop", "center_hz": 1000.0},
    {"label": "reverb-0.5s", "kind": "reverb", "rt60_s": 0.5},
)
"""The designs compared by default (``label`` plus a corruption dict)."""
DEFAULT_CLIPS = ("yes:en-us", "no:en-gb-x-rp", "up:en-us+f3", "left:en-029", "right:en+m7", "stop:en-gb-scotland")
"""The clean clips, ``word:voice``: six core words that tiny.en hears correctly, six voices."""
DEFAULT_REFERENCE_VOICES = tuple(v for v in tasks.voices() if v not in {c.split(":")[1] for c in DEFAULT_CLIPS})
"""The clean reference's voices: every :func:`tasks.voices` voice not among the default clips'."""
QUICK_LABELS = ("noise-white-0dB", "word-swap")
QUICK_PRESET = {
    "clips": ("yes:en-us",),
    "designs": tuple(d for d in DEFAULT_DESIGNS if d["label"] in QUICK_LABELS),
    "window_ms": 100.0,
    "duration_s": 0.8,
    "reference_voices": DEFAULT_REFERENCE_VOICES[:1],
    "reference_words": tasks.SPEECH_COMMANDS_CORE[:5],
    "reference_onsets": (0.3,),
}
"""What ``--quick`` sets (it replaces the design list): 2 designs x 1 clip of 0.8 s, 100 ms windows, a
5-clip clean reference: the whole path in well under a minute on a 2-core CPU."""


def _clip(text: str) -> str:
    word, sep, voice = text.partition(":")
    word = word.strip().lower()
    if not sep or not voice.strip():
        raise ConfigError(f"clip ({text!r}) must be 'word:voice', e.g. 'yes:en-us'")
    if word not in tasks.SPEECH_COMMANDS_CORE:
        raise ConfigError(f"clip word ({word!r}) must be a core word{close_names(word, tasks.SPEECH_COMMANDS_CORE)} "
                          f"({', '.join(tasks.SPEECH_COMMANDS_CORE)}): word swaps need a core partner")  # fmt: skip
    return f"{word}:{canonical_voice(voice.strip())}"


def _design(item) -> dict:
    if not isinstance(item, dict) or not isinstance(item.get("label"), str) or not item["label"].strip():
        raise ConfigError(f"design ({item!r}) must be a mapping with a non-empty 'label' and a corruption 'kind'")
    config = {k: v for k, v in item.items() if k != "label"}
    try:
        corruption = corruptions.from_dict(config)
    except ConfigError as exc:
        raise ConfigError(f"design {item['label']!r}: {exc}") from exc
    return {"label": item["label"].strip(), **json.loads(json.dumps(corruption.to_dict()))}


@dataclass(frozen=True)
class CorruptionAblationSettings(BenchmarkSettings):
    """What to compare. ``only`` picks designs of ``designs`` by label (None: all of them)."""

    kind: ClassVar[str] = SCRIPT
    model: str = "whisper-tiny.en"
    clips: tuple = DEFAULT_CLIPS
    designs: tuple = DEFAULT_DESIGNS
    only: tuple | None = None
    reference_voices: tuple = DEFAULT_REFERENCE_VOICES
    reference_words: tuple = tasks.SPEECH_COMMANDS_CORE
    reference_onsets: tuple = (0.1, 0.3, 0.5)
    window_ms: float = 40.0
    direction: str = "denoise"
    seed: int = 0
    duration_s: float = 1.0
    onset_s: float = 0.3

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"model ({self.model!r}) must be a bundled model name or a folder")
        put("clips", names("clips", tuple(_clip(c) for c in names("clips", self.clips))))
        designs = self.designs if isinstance(self.designs, (list, tuple)) else (self.designs,)
        put("designs", tuple(_design(d) for d in designs))
        labels = [d["label"] for d in self.designs]
        if not labels or len(set(labels)) != len(labels):
            raise ConfigError(f"designs (labels {labels}) must be at least one design, each label once")
        if self.only is not None:
            put("only", names("only", self.only))
            for label in self.only:
                if label not in labels:
                    raise ConfigError(f"design {label!r} is not in the design list{close_names(label, labels)} "
                                      f"Designs: {', '.join(labels)}")  # fmt: skip
        put("reference_voices", tuple(canonical_voice(v) for v in names("reference_voices", self.reference_voices)))
        put("reference_words", tasks.KeywordTask(names("reference_words", self.reference_words)).words)
        put("window_ms", number("window_ms", self.window_ms, 0.0, low_open=True, unit="ms", multiple_of=FRAME_MS))
        put("direction", choice("direction", self.direction, DIRECTIONS))
        put("seed", whole("seed", self.seed, 0))
        put("duration_s", number("duration_s", self.duration_s, 0.0, 30.0, low_open=True, unit="s"))
        put("onset_s", number("onset_s", self.onset_s, 0.0, self.duration_s, unit="s"))
        if self.onset_s >= self.duration_s:
            raise ConfigError(f"onset_s ({self.onset_s:g}) must be less than duration_s ({self.duration_s:g}) seconds")
        onsets = (self.reference_onsets,) if isinstance(self.reference_onsets, (int, float)) else self.reference_onsets
        if not isinstance(onsets, (list, tuple)) or not onsets:
            raise ConfigError(f"reference_onsets ({onsets!r}) must be one or more times in [0, {self.duration_s:g}) s")
        onsets = tuple(number(f"reference_onsets[{i}]", o, 0.0, self.duration_s, unit="s") for i, o in enumerate(onsets))
        if any(o >= self.duration_s for o in onsets):
            raise ConfigError(f"reference_onsets ({onsets!r}) must be times in [0, {self.duration_s:g}) s")
        put("reference_onsets", onsets)

    def selected(self) -> list[dict]:
        """The designs to run, in list order."""
        return [d for d in self.designs if self.only is None or d["label"] in self.only]

    def clip_list(self) -> list[Clip]:
        return [Clip(*c.split(":", 1)) for c in self.clips]


def add_arguments(parser) -> None:
    g = parser.add_argument_group("corruption ablation")
    g.add_argument("--model", help="bundled model name or folder (default: whisper-tiny.en)")
    g.add_argument("--clips", nargs="+", metavar="WORD:VOICE", help="clean clips, e.g. yes:en-us no:en-gb-x-rp")
    g.add_argument("--designs", dest="only", nargs="+", metavar="LABEL", help="run only these designs of the list")
    g.add_argument("--reference-voices", dest="reference_voices", nargs="+", metavar="VOICE",
                   help="voices of the clean reference set (x the 10 core words)")  # fmt: skip
    g.add_argument("--window-ms", dest="window_ms", type=float, metavar="MS", help="map time window (default: 40)")
    g.add_argument("--direction", choices=DIRECTIONS, help="patching direction (default: denoise)")
    g.add_argument("--seed", type=int, help="seed of the corruptions' random draws (default: 0)")


@dataclass
class Outcome:
    """What :func:`main` did: the results, how many units were computed or reused, the folder."""

    results: dict
    computed: int
    reused: int
    out: Path


def work_settings(s: CorruptionAblationSettings) -> dict:
    """The settings that change a unit's result (designs and clips only select units)."""
    return {"format": WORK_FORMAT, "model": s.model, "window_ms": s.window_ms, "direction": s.direction,
            "seed": s.seed, "duration_s": s.duration_s, "onset_s": s.onset_s,
            "reference_voices": list(s.reference_voices), "reference_words": list(s.reference_words),
            "reference_onsets": list(s.reference_onsets)}  # fmt: skip


def unit_key(design: dict, clip: Clip) -> str:
    """The work key of a (design, clip): the label, a digest of the corruption config, the clip."""
    digest = hashlib.sha1(json.dumps(design, sort_keys=True).encode()).hexdigest()[:8]
    return make_key("units", design["label"], digest, clip.id)


def run_units(settings, run, designs: list, clips: list, store: WorkStore) -> tuple[dict, dict, int]:
    """Every unit's record (computing the missing ones) and the reference's description.

    The model is loaded only when a unit or the reference is missing; the reference is fitted
    only when the store does not hold it (:class:`~benchmarks.ablation.work.UnitContext`).
    """
    task = tasks.KeywordTask()
    units = [(d, c, unit_key(d, c)) for d in designs for c in clips]
    todo = [u for u in units if u[2] not in store]
    reference = store.get(REFERENCE_KEY)
    have_reference = store.load_arrays(reference) is not None
    logger.info("%d units, %d to compute, %d already in %s", len(units), len(todo), len(units) - len(todo), store.root)
    if todo or not have_reference:
        import intervene  # here, not at the top: a resumed run or --help need not import the engine

        model = intervene.load_model(settings.model, device=run.device)
        ref_clips = [(Clip(w, v), onset) for v in settings.reference_voices for w in settings.reference_words
                     for onset in settings.reference_onsets]  # fmt: skip
        ctx = UnitContext(model, task, settings, run.out, ref_clips, store=store, show_progress=run.progress)
        ctx.describe_reference()  # read from the store, or fitted and kept there
        for design, clip, key in progress(todo, enabled=run.progress, desc="designs x clips", unit="unit"):
            store.put(key, compute_unit(ctx, design, clip))
        reference = store.get(REFERENCE_KEY)
    records = {d["label"]: [store.get(k) for dd, _, k in units if dd is d] for d in designs}
    return records, reference["info"], len(todo)


def summarize(settings, records: dict, reference: dict, command: str) -> dict:
    """Every number of the run (per design, ranking, agreement, advice and every unit)."""
    summaries = {d: summarize_design(d, recs) for d, recs in records.items()}
    agree = agreement(records)
    for d, s in summaries.items():
        s["agreement_mean"] = agree["mean_with_others"][d]
    first = next((r for recs in records.values() for r in recs), None)
    layers = list(range(len(first["offdist"]["ledoit_wolf"]["ratio"]))) if first else []
    return {
        "benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(), "command": command,
        "model": settings.model,
        "clips": [c.id for c in settings.clip_list()], "layers": layers, "reference": reference,
        "designs": summaries, "ranking": rank_designs(summaries), "agreement": agree,
        "advice": advice(summaries, agree), "units": records,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the ablation (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    started = time.perf_counter()
    run, settings = parse_settings(argv, CorruptionAblationSettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET)  # fmt: skip
    with run_folder(run, settings, work=work_settings(settings)) as store:
        designs, clips = settings.selected(), settings.clip_list()
        records, reference, computed = run_units(settings, run, designs, clips, store)
        command = command_line(SCRIPT, argv)
        results = summarize(settings, records, reference, command)
        sections = build_sections(run.out, results, records, command)
        write_report(run.out, "Corruption designs compared", sections, results)
    echo(ranking_table(results["ranking"], results["designs"]).to_text())
    echo()
    echo(design_table(results["ranking"], results["designs"]).to_text())
    echo("\n" + "\n".join(f"- {line}" for line in results["advice"]))
    units = len(designs) * len(clips)
    echo(f"\n{units} units ({computed} computed, {units - computed} reused) in {time.perf_counter() - started:.0f} s; "
         f"report: {run.out / 'index.html'}")  # fmt: skip
    return Outcome(results=results, computed=computed, reused=units - computed, out=run.out)


if __name__ == "__main__":
    run_cli(main, SCRIPT)
