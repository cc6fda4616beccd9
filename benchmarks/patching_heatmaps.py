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
    python benchmarks/patching_heatmaps.py --quick --out /tmp/ph        # 2 pairs, ~1 min
    python benchmarks/patching_heatmaps.py --models whisper-tiny.en whisper-base
    python benchmarks/patching_heatmaps.py --corruptions word_swap '{"kind": "gap", "fill": "silence"}'
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tasks  # noqa: E402
from benchmarks import _patching_sweeps as sw  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BenchmarkSettings,
    WorkStore,
    command_line,
    echo,
    make_key,
    parse_settings,
    progress,
    run_cli,
    setup_logging,
    write_report,
)
from benchmarks._patching_results import build_sections, summarize_sweep, summary_table  # noqa: E402
from tasks.errors import ConfigError  # noqa: E402
from tasks.tts import canonical_voice  # noqa: E402

__all__ = ["PatchingHeatmapsSettings", "Outcome", "QUICK_PRESET", "main"]

logger = logging.getLogger("patching_heatmaps")

SCRIPT = "patching_heatmaps"
WORK_FORMAT = "patching_heatmaps/1"
DEFAULT_SWEEPS = ("keyword-encoder", "keyword-heads", "carrier-encoder", "carrier-decoder", "carrier-heads")
DEFAULT_CORRUPTIONS = ({"kind": "word_swap"}, {"kind": "noise", "snr_db": -5.0, "span": "word"})
QUICK_PRESET = {
    "models": ("whisper-tiny.en",),
    "sweeps": ("keyword-encoder", "carrier-decoder", "carrier-heads"),
    "corruptions": ({"kind": "word_swap"},),
    "pairs": 2,
    "window_ms": 100.0,
}
"""What ``--quick`` sets: tiny.en, word swaps, 2 pairs, one sweep of each kind, 100 ms windows."""


def _names(name: str, values) -> tuple:
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values or any(not isinstance(v, str) or not v.strip() for v in values):
        raise ConfigError(f"{name} ({list(values)!r}) must be one or more non-empty strings")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} ({list(values)!r}) lists a value twice; give each once")
    return values


def _number(name: str, value, low: float, high: float = float("inf"), whole: bool = False):
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        what = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} ({value!r}) must be {what} from {low:g} to {high:g}")
    return value if whole else float(value)


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

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("models", _names("models", self.models))
        put("sweeps", sw.check_sweeps(self.sweeps))
        items = (self.corruptions,) if isinstance(self.corruptions, (str, dict)) else tuple(self.corruptions)
        if not items:
            raise ConfigError("corruptions is empty; give at least one, e.g. word_swap")
        put("corruptions", tuple(sw.canonical_corruption(c) for c in items))
        labels = [sw.corruption_label(c) for c in self.corruptions]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"corruptions ({labels}) lists a corruption twice; give each once")
        put("pairs", _number("pairs", self.pairs, 1, 1000, whole=True))
        put("words", tasks.KeywordTask(_names("words", self.words)).words)
        voices = tasks.voices() if self.voices is None else _names("voices", self.voices)
        put("voices", tuple(canonical_voice(v) for v in voices))
        put("window_ms", _number("window_ms", self.window_ms, 20.0, 1000.0))
        if abs(self.window_ms / 20.0 - round(self.window_ms / 20.0)) > 1e-9:
            raise ConfigError(f"window_ms ({self.window_ms:g}) must be a multiple of Whisper's 20 ms frame")
        put("keyword_onset_s", _number("keyword_onset_s", self.keyword_onset_s, 0.0, 0.9))
        put("before_ms", _number("before_ms", self.before_ms, 0.0, self.keyword_onset_s * 1000.0))
        put("after_ms", _number("after_ms", self.after_ms, self.window_ms, (1.0 - self.keyword_onset_s) * 1000.0))
        if self.direction not in ("denoise", "noise"):
            raise ConfigError(f"direction ({self.direction!r}) must be 'denoise' or 'noise'")
        put("min_gap", _number("min_gap", self.min_gap, 0.05))
        put("seed", _number("seed", self.seed, 0, 2**31, whole=True))
        put("audio_examples", _number("audio_examples", self.audio_examples, 0, 100, whole=True))
        tasks.CarrierTask(self.words, template=self.carrier_template)  # checks the template


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
    return {"format": WORK_FORMAT, **{k: getattr(settings, k) for k in keep}}


# --------------------------------------------------------------------------- pairs and units
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


def _valid(record, digest: str, out: Path) -> bool:
    if not isinstance(record, dict) or record.get("pair") != digest:
        return False
    return record.get("status") != "ok" or sw.load_unit_map(out / record["map"]) is not None


def evaluate_model(name: str, settings, plan: dict, store: WorkStore, run) -> tuple[dict, int, int]:
    """Every unit's record for model ``name``, computing only the unfinished ones.

    Returns ``(records, computed, reused)``; ``records[key]`` for metrics and map units. The
    model is loaded only if some unit is unfinished.
    """
    units = []  # a pair's metrics first, then its maps
    for (task_name, label), built in plan.items():
        for spec, pair, _ in built:
            if pair is not None:
                units.append(sw.Unit(name, task_name, label, spec, pair))
                units += [sw.Unit(name, task_name, label, spec, pair, sweep)
                          for sweep in settings.sweeps if sw.SWEEPS[sweep].task == task_name]  # fmt: skip
    records = {u.key: store.get(u.key) for u in units}
    done = 0

    def finished(unit: sw.Unit) -> bool:
        digest = sw.pair_digest(unit.pair)
        if unit.sweep is not None:
            metrics = records[unit.metrics_key]
            if _valid(metrics, digest, run.out) and metrics["gap"] < settings.min_gap:
                return True  # a pair below min_gap is never patched
        return _valid(records[unit.key], digest, run.out)

    todo = [u for u in units if not finished(u)]
    logger.info("%s: %d units, %d to compute, %d already in %s", name, len(units), len(todo),
                len(units) - len(todo), store.root)  # fmt: skip
    if todo:
        import intervene  # here, not at the top: a resumed run or --help need not import the engine

        t0 = time.perf_counter()
        model = intervene.load_model(name, device=run.device)
        store.get_or_compute(make_key(name, "model-load"), lambda: {"seconds": round(time.perf_counter() - t0, 3)})
        task_objects = {t: sw.make_task(t, settings.words, settings.carrier_template) for t in ("keyword", "carrier")}
        todo.sort(key=lambda u: u.sweep is not None)  # gaps first: a map is made only for a pair worth it
        for unit in progress(todo, enabled=run.progress, desc=name, unit="unit"):
            task = task_objects[unit.task]
            if unit.sweep is None:
                record = sw.measure_metrics(model, task, unit.pair)
            elif records[unit.metrics_key]["gap"] < settings.min_gap:
                continue  # reported as skipped; min_gap only selects pairs
            else:
                rel = unit.map_path()
                record = sw.patch_unit(model, sw.SWEEPS[unit.sweep], task, unit.pair, unit.spec.word, settings,
                                       run.out / rel)  # fmt: skip
                record["map"] = rel.as_posix()
            records[unit.key] = store.put(unit.key, {"pair": sw.pair_digest(unit.pair), **record})
            done += 1
    records["model-load"] = store.get(make_key(name, "model-load"))
    return records, done, len(units) - len(todo)


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    t_start = time.perf_counter()
    run, settings = parse_settings(argv, PatchingHeatmapsSettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET)  # fmt: skip
    store = WorkStore(run.out / "work", work_settings(settings))
    plan = build_pairs(settings, run.out)
    per_model, computed, reused, maps = {}, {}, {}, {}
    for name in settings.models:
        records, computed[name], reused[name] = evaluate_model(name, settings, plan, store, run)
        sweeps = []
        for sweep in settings.sweeps:
            for config in settings.corruptions:
                entry, cmap = summarize_sweep(name, sweep, config, settings, plan, records, run.out)
                maps[name, sweep, sw.corruption_label(config)] = cmap
                sweeps.append(entry)
        load = records["model-load"]
        per_model[name] = {"model_load_s": load["seconds"] if load else None, "sweeps": sweeps}
    command = command_line(SCRIPT, argv)
    compute_s = sum(s["compute_s"] for m in per_model.values() for s in m["sweeps"])
    results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "command": command, "models": per_model,
               "timings": {"compute_s": round(compute_s, 3),
                           "model_load_s": {n: m["model_load_s"] for n, m in per_model.items()}}}  # fmt: skip
    sections = build_sections(run.out, results, settings, plan, maps)
    write_report(run.out, "Patching heatmaps: where Whisper carries the word", sections, results)
    echo(summary_table(per_model).to_text())
    echo(f"\n{sum(computed.values())} units computed, {sum(reused.values())} reused; "
          f"{time.perf_counter() - t_start:.0f} s; report: {run.out / 'index.html'}")  # fmt: skip
    return Outcome(results=results, computed=computed, reused=reused, out=run.out)


if __name__ == "__main__":
    run_cli(main, SCRIPT)
