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

``--data SPEC [SPEC ...]`` compares the designs on recordings instead of synthesis (``--max-clips``
per spec, default 12; ``--clips`` is then unused): a Speech Commands clip of a core word is read
with KeywordTask over the core words (a word swap splices the same speaker's recording of the
partner word); a sentence clip (LibriSpeech, a manifest, a folder with transcripts, ...) is
corrupted on one aligned content word (its longest, confidently aligned; the spans come from
the dataset, else from the model's alignment), which :class:`tasks.TranscriptTask` reads
(log-probability of the word; logit difference for a word swap, whose partner is the same
speaker's target word of another clip). Whole-clip kinds (pitch, filters, reverb) act on that
word only inside a sentence (``on_word``). "Flipped" on a sentence means the corrupt half no
longer predicts the word's first token where it begins (teacher-forced). Held out by speaker:
every second speaker (in order of appearance) gives the clean reference, the others the compared
clips; with a single (or no) speaker label the synthetic reference is used, and the report says so.
``results.json["data"]`` records the specs, clips and speakers.

``--executor ray`` runs the (design, clip) units on Ray actors that each load the model by name
(``pip install "speechlens[ray]"``; ``--ray-address``, ``--actors``, ``--threads-per-actor``,
``--gpus-per-actor``); the pairs are built, and the maps, pairs and work store written, by this
process only, and the numbers are those of a local run. The clean reference needs every
reference clip at once, so it is fitted in this process (the first run loads the model here too).

Examples (from the repository root)::

    python benchmarks/corruption_ablation.py                       # 12 designs x 6 clips
    python benchmarks/corruption_ablation.py --quick --out /tmp/ca  # 2 designs x 1 clip, under a minute
    python benchmarks/corruption_ablation.py --designs word-swap gap-silence --window-ms 100
    python benchmarks/corruption_ablation.py --data speech_commands:~/speech_commands_v0.02 --max-clips 40
    python benchmarks/corruption_ablation.py --data librispeech:~/LibriSpeech/dev-clean --executor ray
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
from benchmarks.ablation.subjects import Subjects, data_subjects, synthetic_subjects
from benchmarks.ablation.summary import (
    advice,
    agreement,
    rank_designs,
    summarize_design,
)
from benchmarks.ablation.work import (
    PAIR_ERRORS,
    REFERENCE_KEY,
    Clip,
    ablation_unit,
    finish_record,
    fit_references,
    make_pair,
    reference_from_arrays,
    reference_to_arrays,
    slug,
)
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
    run_cli,
    run_folder,
    setup_logging,
    whole,
    write_report,
)
from benchmarks.common.data import (
    add_data_arguments,
    check_data,
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
    data: tuple = ()
    max_clips: int | None = 12

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
        put("data", check_data("data", self.data))
        if self.max_clips is not None:
            put("max_clips", whole("max_clips", self.max_clips, 1))

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
    add_data_arguments(g, what="the clean clips (Speech Commands words, or one aligned content word of each "
                       "sentence, read with the transcript task; every second speaker is the clean reference)",
                       max_clips_default=12)  # fmt: skip


@dataclass
class Outcome:
    """What :func:`main` did: the results, how many units were computed or reused, the folder."""

    results: dict
    computed: int
    reused: int
    out: Path


def work_settings(s: CorruptionAblationSettings) -> dict:
    """The settings that change a unit's result (designs and clips only select units)."""
    out = {"format": WORK_FORMAT, "model": s.model, "window_ms": s.window_ms, "direction": s.direction,
           "seed": s.seed, "duration_s": s.duration_s, "onset_s": s.onset_s,
           "reference_voices": list(s.reference_voices), "reference_words": list(s.reference_words),
           "reference_onsets": list(s.reference_onsets)}  # fmt: skip
    if s.data:  # the data (and how much of it) picks the held-out reference speakers
        out |= {"data": list(s.data), "max_clips": s.max_clips}
    return out


def unit_key(design: dict, clip) -> str:
    """The work key of a (design, clip): the label, a digest of the corruption config, the clip."""
    digest = hashlib.sha1(json.dumps(design, sort_keys=True).encode()).hexdigest()[:8]
    return make_key("units", design["label"], digest, clip.id)


def _load_reference(model, subjects: Subjects, store: WorkStore, show_progress: bool) -> list:
    """The clean reference from the store, else fitted here (with ``model``) and kept there."""
    record = store.get(REFERENCE_KEY)
    arrays = store.load_arrays(record)
    if arrays is not None:
        refs = reference_from_arrays(arrays, len(model.sites("encoder", "block_output")) if model is not None
                                     else sum(k.startswith("mean_") for k in arrays))  # fmt: skip
        if refs is not None:
            logger.info("clean reference: read from the work store (%d clips)", len(record["info"]["clips"]))
            return refs
    refs, info = fit_references(model, subjects.reference(), show_progress)
    store.put_arrays(REFERENCE_KEY, reference_to_arrays(refs), {"info": info | {"source": subjects.reference_source}})
    return refs


def run_units(settings, run, designs: list, subjects: Subjects, store: WorkStore, executor=None) -> tuple:
    """Every unit's record (computing the missing ones where ``executor`` says) and the reference's description.

    Pairs are built and saved here; the units run on ``executor`` (default: in this process).
    The model is loaded here only when the reference must be fitted or units run locally; the
    reference is fitted only when the store does not hold it.
    """
    from intervene.executors import WorkUnit, make_executor
    from intervene.executors import run_units as execute

    clips = subjects.clips
    units = [(d, c, unit_key(d, c)) for d in designs for c in clips]
    todo = [u for u in units if u[2] not in store]
    have_reference = store.load_arrays(store.get(REFERENCE_KEY)) is not None
    logger.info("%d units, %d to compute, %d already in %s", len(units), len(todo), len(units) - len(todo), store.root)
    computed = 0
    if todo or not have_reference:
        import intervene  # here, not at the top: a resumed run or --help need not import the engine

        executor = executor or make_executor("local", device=run.device)[0]
        remote = executor.name != "local"
        local = intervene.load_model(settings.model, device=run.device) if not remote or not have_reference else None
        refs = _load_reference(local, subjects, store, run.progress)
        shared = {"references": refs, "window_ms": settings.window_ms, "direction": settings.direction}

        def work():
            index = 0
            for design, clip, key in todo:
                try:
                    pair, word_span, task = make_pair(design, clip, settings)
                except PAIR_ERRORS as exc:  # kept, so a rerun does not try again
                    logger.info("%s / %s: no pair (%s)", design["label"], clip.id, exc)
                    store.put(key, {"design": design["label"], "clip": clip.id, "no_pair": str(exc)})
                    continue
                pair.save(run.out / "pairs" / slug(design["label"]) / slug(clip.id))
                subject = {"clip": clip.id, "word": clip.word, "voice": clip.voice}
                yield WorkUnit(key, index, (design["label"], subject, pair, word_span, task))
                index += 1

        def record(unit, value, seconds):
            nonlocal computed
            computed += 1
            label, subject = unit.args[0], unit.args[1]
            return store.put(unit.key, finish_record(value, run.out, label, subject["clip"]))

        model = settings.model if remote else local
        for _ in execute(executor, model, ablation_unit, work(), shared=shared, record=record, progress=run.progress,
                         total=len(todo), desc="designs x clips", unit_name="unit"):  # fmt: skip
            pass
    reference = store.get(REFERENCE_KEY)
    records, no_pair = {}, {}
    for design in designs:
        stored = [store.get(k) for dd, _, k in units if dd is design]
        records[design["label"]] = [r for r in stored if "no_pair" not in r]
        missing = {r["clip"]: r["no_pair"] for r in stored if "no_pair" in r}
        if missing:
            no_pair[design["label"]] = missing
    return records, reference["info"], {"computed": computed, "reused": len(units) - len(todo)}, no_pair


def summarize(settings, records: dict, reference: dict, command: str, subjects: Subjects | None = None,
              no_pair: dict | None = None, executor: dict | None = None) -> dict:  # fmt: skip
    """Every number of the run (per design, ranking, agreement, advice and every unit)."""
    subjects = subjects or synthetic_subjects(settings)
    summaries = {d: summarize_design(d, recs) for d, recs in records.items()}
    agree = agreement(records)
    for d, s in summaries.items():
        s["agreement_mean"] = agree["mean_with_others"][d]
        s["no_pair"] = len((no_pair or {}).get(d, {}))
    first = next((r for recs in records.values() for r in recs), None)
    layers = list(range(len(first["offdist"]["ledoit_wolf"]["ratio"]))) if first else []
    out = {
        "benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(), "command": command,
        "model": settings.model, "data": subjects.data,
        "clips": [c.id for c in subjects.clips], "layers": layers, "reference": reference,
        "designs": summaries, "ranking": rank_designs(summaries), "agreement": agree,
        "advice": advice(summaries, agree), "units": records,
    }  # fmt: skip
    if no_pair:
        out["no_pair"] = no_pair
    if executor is not None:
        out["executor"] = executor
    return out


def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the ablation (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    started = time.perf_counter()
    run, settings = parse_settings(argv, CorruptionAblationSettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    with run_folder(run, settings, work=work_settings(settings)) as store, run.scaleout.open(run.device) as executor:
        designs = settings.selected()
        subjects = data_subjects(settings, run.device) if settings.data else synthetic_subjects(settings)
        records, reference, counts, no_pair = run_units(settings, run, designs, subjects, store, executor)
        command = command_line(SCRIPT, argv)
        results = summarize(settings, records, reference, command, subjects, no_pair)
        sections = build_sections(run.out, results, records, command)
        write_report(run.out, "Corruption designs compared", sections, results)
    echo(ranking_table(results["ranking"], results["designs"]).to_text())
    echo()
    echo(design_table(results["ranking"], results["designs"]).to_text())
    echo("\n" + "\n".join(f"- {line}" for line in results["advice"]))
    units = len(designs) * len(subjects.clips)
    echo(f"\n{units} units ({counts['computed']} computed, {counts['reused']} reused) in "
         f"{time.perf_counter() - started:.0f} s; report: {run.out / 'index.html'}")  # fmt: skip
    return Outcome(results=results, computed=counts["computed"], reused=counts["reused"], out=run.out)


if __name__ == "__main__":
    run_cli(main, SCRIPT)
