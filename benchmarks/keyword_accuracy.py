"""Baseline: zero-shot forced-choice accuracy of Whisper on the ten Speech Commands core words.

Each clip is scored by :class:`tasks.KeywordTask` (teacher-forced log-probability of each label
word after the decoder prompt); the prediction is the best-scoring word. By default the clips
are a synthetic Speech Commands set (every :func:`tasks.voices` voice x rates 150, 190 x
pitches 40, 60, one clip per word); ``--data`` evaluates a recorded Speech Commands folder.

Writes ``<out>/results.json`` (per model: accuracy and its 95% Wilson interval, per-word,
per-voice, per-rate and per-pitch accuracy, confusion, every clip's scores), ``<out>/index.html``
with confusion heatmaps, and prints a summary and each confusion matrix. Each (model, clip) is
kept in ``<out>/work/`` as it finishes: run the same command again to resume.

Examples (from the repository root)::

    python benchmarks/keyword_accuracy.py                          # both models, 560 clips
    python benchmarks/keyword_accuracy.py --quick --out /tmp/ka    # tiny.en, 30 clips
    python benchmarks/keyword_accuracy.py --data ~/speech_commands_v0.02 --split testing
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tasks  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BenchmarkSettings,
    Section,
    Table,
    WorkStore,
    command_line,
    echo,
    heatmap,
    make_key,
    new_figure,
    parse_settings,
    progress,
    run_cli,
    save_figure,
    setup_logging,
    wilson_interval,
    write_report,
)
from tasks.atomic import write_bytes  # noqa: E402
from tasks.errors import ConfigError  # noqa: E402
from tasks.tts import canonical_voice  # noqa: E402

__all__ = ["KeywordAccuracySettings", "Outcome", "QUICK_PRESET", "main"]

logger = logging.getLogger("keyword_accuracy")

SCRIPT = "keyword_accuracy"
SPLITS = ("all", "train", "validation", "testing")
QUICK_PRESET = {
    "models": ("whisper-tiny.en",),
    "voices": ("en-us", "en-gb-x-rp", "en-us+f3"),
    "rates": (150,),
    "pitches": (40,),
    "max_per_word": 3,
}
"""What ``--quick`` sets: tiny.en on 3 voices x 1 rate x 1 pitch x 10 words = 30 clips."""
WORK_FORMAT = "keyword_accuracy/1"


def _names(name: str, values) -> tuple:
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values:
        raise ConfigError(f"{name} is empty; give at least one value")
    if any(not isinstance(v, str) or not v.strip() for v in values):
        raise ConfigError(f"{name} ({list(values)!r}) must be non-empty strings")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} ({list(values)!r}) lists a value twice; give each once")
    return values


def _ints(name: str, values, low: int | None = None) -> tuple:
    values = (values,) if isinstance(values, (int, str)) else tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise ConfigError(f"{name} ({values!r}) must be one or more whole numbers")
    if low is not None and any(v < low for v in values):
        raise ConfigError(f"{name} ({values!r}) must be at least {low}")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} ({list(values)!r}) lists a value twice; give each once")
    return values


@dataclass(frozen=True)
class KeywordAccuracySettings(BenchmarkSettings):
    """What to evaluate. ``voices=None`` means every :func:`tasks.voices` voice; ``split=None``
    means 'testing' for a ``data`` folder and 'all' for the synthetic set."""

    kind: ClassVar[str] = SCRIPT
    models: tuple = ("whisper-tiny.en", "whisper-base")
    words: tuple = tasks.SPEECH_COMMANDS_CORE
    voices: tuple | None = None
    rates: tuple = (150, 190)
    pitches: tuple = (40, 60)
    seed: int = 0
    data: str | None = None
    split: str | None = None
    max_per_word: int | None = None
    audio_examples: int = 4

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("models", _names("models", self.models))
        put("words", tasks.KeywordTask(_names("words", self.words)).words)
        voices = tasks.voices() if self.voices is None else _names("voices", self.voices)
        put("voices", tuple(canonical_voice(v) for v in voices))
        put("rates", _ints("rates", self.rates))
        put("pitches", _ints("pitches", self.pitches))
        put("seed", _ints("seed", self.seed, low=0)[0])
        if self.data is not None:
            put("data", str(self.data))
        split = self.split if self.split is not None else ("testing" if self.data else "all")
        if split not in SPLITS:
            raise ConfigError(f"split ({split!r}) must be one of {', '.join(SPLITS)}")
        if self.data is None and split != "all":
            raise ConfigError(f"split ({split!r}) applies to --data folders; the synthetic set is evaluated whole")
        put("split", split)
        if self.max_per_word is not None:
            put("max_per_word", _ints("max_per_word", self.max_per_word, low=1)[0])
        put("audio_examples", _ints("audio_examples", self.audio_examples, low=0)[0])


def add_arguments(parser) -> None:
    g = parser.add_argument_group("keyword accuracy")
    g.add_argument("--models", nargs="+", metavar="NAME", help="bundled model names or local folders")
    g.add_argument("--words", nargs="+", metavar="WORD", help="label words (default: the 10 core words)")
    g.add_argument("--voices", nargs="+", metavar="VOICE", help="espeak-ng voices (default: all tasks.voices())")
    g.add_argument("--rates", nargs="+", type=int, metavar="WPM", help="speaking rates (default: 150 190)")
    g.add_argument("--pitches", nargs="+", type=int, metavar="P", help="pitches 0-99 (default: 40 60)")
    g.add_argument("--seed", type=int, help="seed of the synthetic set's onsets (default: 0)")
    g.add_argument("--data", metavar="DIR", help="a recorded Speech Commands folder instead of synthetic speech")
    g.add_argument("--split", choices=SPLITS, help="split of --data to evaluate (default: testing)")
    g.add_argument("--max-per-word", dest="max_per_word", type=int, metavar="N",
                   help="at most N clips per word (the first by file name)")  # fmt: skip
    g.add_argument("--audio-examples", dest="audio_examples", type=int, metavar="N",
                   help="misclassified clips to embed in the report per model (default: 4)")  # fmt: skip


@dataclass
class Outcome:
    """What :func:`main` did: the results, and per model how many clips were computed or reused."""

    results: dict
    computed: dict
    reused: dict
    out: Path


# --------------------------------------------------------------------------- data
def work_settings(settings: KeywordAccuracySettings) -> dict:
    """The settings that change a clip's result (the models, voices and split only select clips)."""
    if settings.data is None:
        data = {"kind": "synthetic", "seed": settings.seed, "duration_s": 1.0}
    else:
        data = {"kind": "folder", "root": str(Path(settings.data).expanduser().resolve())}
    return {"format": WORK_FORMAT, "words": list(settings.words), "data": data}


def load_examples(settings: KeywordAccuracySettings, out: Path) -> tuple[list, dict]:
    """The clips to evaluate and a description of where they come from."""
    if settings.data is None:
        spec = {k: list(getattr(settings, k)) for k in ("words", "voices", "rates", "pitches")}
        spec["seed"] = settings.seed
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
        root = out / "data" / f"synthetic-{digest}"
        dataset = tasks.synthesize_speech_commands(
            root, words=settings.words, voices=settings.voices, rates=settings.rates, pitches=settings.pitches,
            seed=settings.seed, validation_fraction=0.0, testing_fraction=0.0,
        )  # fmt: skip
        info = {"kind": "synthetic", "root": str(root), **spec}
    else:
        split = None if settings.split == "all" else settings.split
        dataset = tasks.SpeechCommands(Path(settings.data).expanduser(), words=list(settings.words), split=split)
        info = {"kind": "folder", "root": str(dataset.root), "split": settings.split}
    examples, per_word = [], {}
    for example in dataset:
        per_word[example.word] = per_word.get(example.word, 0) + 1
        if settings.max_per_word is None or per_word[example.word] <= settings.max_per_word:
            examples.append(example)
    if not examples:
        raise ConfigError(f"no clips of the words {list(settings.words)} in {info['root']} (split {settings.split!r})")
    info["n_clips"] = len(examples)
    return examples, info


# --------------------------------------------------------------------------- evaluation
def score_clip(task: tasks.KeywordTask, model, example) -> dict:
    """One unit of work: every label word's log-probability on the clip, and the best word."""
    scores = task.scores(model, example.audio, example.sample_rate)
    return {"word": example.word, "predicted": max(scores, key=scores.get), "scores": scores}


def evaluate_model(name: str, task, examples: list, store: WorkStore, run) -> tuple[list, int]:
    """Every clip's record for model ``name``, computing only the unfinished ones.

    Returns (records in the order of ``examples``, number computed now). The model is loaded
    only if some clip is unfinished.
    """
    keys = [make_key(name, ex.word, ex.path.stem) for ex in examples]
    records = [store.get(k) for k in keys]
    todo = [i for i, r in enumerate(records) if r is None]
    logger.info("%s: %d clips, %d to compute, %d already in %s", name, len(keys), len(todo),
                len(keys) - len(todo), store.root)  # fmt: skip
    if todo:
        import intervene  # here, not at the top: a resumed run or --help need not import the engine

        model = intervene.load_model(name, device=run.device)
        for i in progress(todo, enabled=run.progress, desc=name, unit="clip"):
            records[i] = store.put(keys[i], score_clip(task, model, examples[i]))
    return records, len(todo)


def _group_accuracy(examples: list, records: list, attribute: str, order: Sequence = ()) -> dict:
    """``{group: {"accuracy", "n"}}`` by an example attribute; groups in ``order`` first, then sorted."""
    groups: dict = {}
    for example, record in zip(examples, records):
        value = getattr(example, attribute)
        if value is not None:
            groups.setdefault(value, []).append(record["predicted"] == record["word"])
    rank = {v: i for i, v in enumerate(order)}
    keys = sorted(groups, key=lambda v: (rank.get(v, len(rank)), v))
    return {str(g): {"accuracy": float(np.mean(groups[g])), "n": len(groups[g])} for g in keys}


def summarize(words: Sequence[str], examples: list, records: list, voices: Sequence[str] = ()) -> dict:
    """Accuracy, its 95% interval, confusion, per-word/voice/rate/pitch accuracy and every clip."""
    index = {w: i for i, w in enumerate(words)}
    confusion = np.zeros((len(words), len(words)), dtype=np.int64)
    for record in records:
        confusion[index[record["word"]], index[record["predicted"]]] += 1
    evaluation = tasks.Evaluation(list(words), confusion, len(records))
    summary = evaluation.to_dict()
    correct = int(np.trace(confusion))
    summary["correct"] = correct
    summary["accuracy_ci95"] = list(wilson_interval(correct, evaluation.n))
    per_word = summary["per_word_accuracy"]
    # Up to three words below 100%, lowest first; a word without clips is not 'worst'.
    rankable = [w for w in words if not np.isnan(per_word[w]) and per_word[w] < 1.0]
    summary["worst_words"] = sorted(rankable, key=lambda w: (per_word[w], words.index(w)))[:3]
    off = [(int(confusion[i, j]), words[i], words[j]) for i in range(len(words)) for j in range(len(words))
           if i != j and confusion[i, j]]  # fmt: skip
    summary["top_confusions"] = [{"true": t, "predicted": p, "count": c}
                                 for c, t, p in sorted(off, key=lambda x: (-x[0], x[1], x[2]))[:5]]  # fmt: skip
    for attribute in ("voice", "rate", "pitch", "speaker"):
        order = voices if attribute == "voice" else ()
        summary[f"per_{attribute}_accuracy"] = _group_accuracy(examples, records, attribute, order)
    summary["clips"] = [
        {"key": f"{ex.word}/{ex.path.stem}", "speaker": ex.speaker, "voice": ex.voice, "rate": ex.rate,
         "pitch": ex.pitch, **record}
        for ex, record in zip(examples, records)
    ]  # fmt: skip
    return summary


# --------------------------------------------------------------------------- report
def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in Path(name).name) or "model"


def confusion_table(name: str, summary: dict) -> Table:
    words = summary["words"]
    rows = [[w, *summary["confusion"][i]] for i, w in enumerate(words)]
    return Table(["true \\ predicted", *words], rows, title=f"{name}: confusion (clip counts)", shade=True)


def summary_table(per_model: dict) -> Table:
    rows = []
    for name, s in per_model.items():
        low, high = s["accuracy_ci95"]
        worst = ", ".join(f"{w} {s['per_word_accuracy'][w]:.2f}" for w in s["worst_words"]) or "none"
        rows.append([name, s["n"], s["accuracy"], f"{low:.3f}-{high:.3f}", worst])
    return Table(["model", "clips", "accuracy", "95% CI", "worst words"], rows, title="Zero-shot keyword accuracy")


def group_table(per_model: dict, attribute: str) -> Table | None:
    groups = list(dict.fromkeys(g for s in per_model.values() for g in s[f"per_{attribute}_accuracy"]))
    if not groups:
        return None
    rows = [[g, *(s[f"per_{attribute}_accuracy"].get(g, {}).get("accuracy") for s in per_model.values())]
            for g in groups]  # fmt: skip
    return Table([attribute, *per_model], rows, title=f"Accuracy per {attribute}")


def per_voice_figure(per_model: dict):
    voices = list(dict.fromkeys(v for s in per_model.values() for v in s["per_voice_accuracy"]))
    fig = new_figure(max(6.0, 0.6 * len(voices) * max(1, len(per_model)) ** 0.5), 4.0)
    ax = fig.add_subplot()
    width = 0.8 / len(per_model)
    for k, (name, s) in enumerate(per_model.items()):
        values = [s["per_voice_accuracy"].get(v, {}).get("accuracy", np.nan) for v in voices]
        ax.bar(np.arange(len(voices)) + (k - (len(per_model) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(range(len(voices)), voices, rotation=45, ha="right")
    ax.set(ylim=(0, 1.15), yticks=np.linspace(0, 1, 6), ylabel="accuracy", title="Accuracy per voice")
    ax.legend(loc="upper left", ncols=len(per_model), fontsize=8)
    return fig


def error_audio(out: Path, name: str, examples: list, summary: dict, limit: int) -> list:
    """Copy up to ``limit`` misclassified clips (one per true word first) into ``out/audio``."""
    errors = [(ex, c) for ex, c in zip(examples, summary["clips"]) if c["predicted"] != c["word"]]
    first_of_word: dict = {}
    for i, (_, clip) in enumerate(errors):
        first_of_word.setdefault(clip["word"], i)
    firsts = sorted(first_of_word.values())
    rest = [i for i in range(len(errors)) if i not in firsts]
    chosen = [errors[i] for i in (firsts + rest)[:limit]]
    items = []
    for ex, clip in chosen:
        path = out / "audio" / f"{_slug(name)}-{ex.word}-{ex.path.stem}.wav"
        if not path.is_file():
            write_bytes(path, ex.path.read_bytes())
        items.append((path, f"'{clip['word']}' heard as '{clip['predicted']}' ({ex.speaker})"))
    return items


def build_sections(out: Path, per_model: dict, examples: list, data: dict, settings, command: str) -> list:
    """Write the figures and return the report's sections."""
    source = (f"synthetic Speech Commands set: {len(data['voices'])} voices x rates {data['rates']} x pitches "
              f"{data['pitches']} x {len(data['words'])} words" if data["kind"] == "synthetic"
              else f"Speech Commands folder {data['root']}, split {data['split']}")  # fmt: skip
    text = (f"{data['n_clips']} clips from a {source}. Forced choice among {', '.join(settings.words)}: the "
            f"prediction is the word with the highest teacher-forced log-probability after the decoder "
            f"prompt.\n\nCommand: {command}")  # fmt: skip
    sections = [Section("Summary", text, tables=[summary_table(per_model)])]
    if any(s["per_voice_accuracy"] for s in per_model.values()):
        save_figure(per_voice_figure(per_model), out / "per-voice.png")
        tables = [t for t in (group_table(per_model, a) for a in ("voice", "rate", "pitch")) if t is not None]
        sections.append(Section("Per voice, rate and pitch", tables=tables, images=["per-voice.png"]))
    for name, s in per_model.items():
        words, confusion = s["words"], np.asarray(s["confusion"], dtype=float)
        fraction = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
        fig = heatmap(fraction, words, words, title=f"{name}: accuracy {s['accuracy']:.3f} (n={s['n']})",
                      xlabel="predicted", ylabel="true word", annotations=np.asarray(s["confusion"]),
                      colorbar_label="fraction of the true word's clips", vmin=0.0, vmax=1.0)  # fmt: skip
        png = f"confusion-{_slug(name)}.png"
        save_figure(fig, out / png)
        confusions = Table(["true", "predicted", "clips"],
                           [[c["true"], c["predicted"], c["count"]] for c in s["top_confusions"]],
                           title="Most frequent confusions")  # fmt: skip
        per_word = Table(["word", "accuracy"], list(s["per_word_accuracy"].items()), title="Accuracy per word")
        audio = error_audio(out, name, examples, s, settings.audio_examples)
        sections.append(Section(name, tables=[confusion_table(name, s), per_word, confusions], images=[png],
                                audio=audio))  # fmt: skip
    return sections


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    run, settings = parse_settings(argv, KeywordAccuracySettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET)  # fmt: skip
    store = WorkStore(run.out / "work", work_settings(settings))
    examples, data = load_examples(settings, run.out)
    task = tasks.KeywordTask(settings.words)
    per_model, computed, reused = {}, {}, {}
    for name in settings.models:
        records, computed[name] = evaluate_model(name, task, examples, store, run)
        reused[name] = len(records) - computed[name]
        per_model[name] = summarize(list(settings.words), examples, records, settings.voices)
    command = command_line(SCRIPT, argv)
    results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "data": data, "command": command,
               "models": per_model}  # fmt: skip
    sections = build_sections(run.out, per_model, examples, data, settings, command)
    write_report(run.out, "Zero-shot keyword accuracy", sections, results)
    echo(summary_table(per_model).to_text())
    for name, summary in per_model.items():
        echo()
        echo(confusion_table(name, summary).to_text())
    echo(f"\nreport: {run.out / 'index.html'}")
    return Outcome(results=results, computed=computed, reused=reused, out=run.out)


if __name__ == "__main__":
    run_cli(main, SCRIPT)
