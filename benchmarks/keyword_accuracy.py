"""Baseline: zero-shot forced-choice accuracy of Whisper on the ten Speech Commands core words.

Each clip is scored by :class:`tasks.KeywordTask` (teacher-forced log-probability of each label
word after the decoder prompt); the prediction is the best-scoring word. By default the clips
are a synthetic Speech Commands set (every :func:`tasks.voices` voice x rates 150, 190 x
pitches 40, 60, one clip per word); ``--data`` evaluates recordings instead: a Speech Commands
folder (``speech_commands:PATH``, or the bare folder path), or any other dataset spec
(``librispeech:``, ``manifest:``, ``hf:``, ``folder:``) whose one-word clips say a label word
(other clips are skipped and counted). ``--executor ray`` scores the clips on Ray actors (the
numbers are the same; see ``--help``).

Writes ``<out>/results.json`` (per model: accuracy and its 95% Wilson interval, per-word,
per-voice, per-rate and per-pitch accuracy, confusion, every clip's scores), ``<out>/index.html``
with confusion heatmaps, and prints a summary and each confusion matrix. Each (model, clip) is
kept in ``<out>/work/`` as it finishes: run the same command again to resume.

Examples (from the repository root)::

    python benchmarks/keyword_accuracy.py                          # both models, 560 clips
    python benchmarks/keyword_accuracy.py --quick --out /tmp/ka    # tiny.en, 10 clips
    python benchmarks/keyword_accuracy.py --data speech_commands:~/speech_commands_v0.02 --split testing
    python benchmarks/keyword_accuracy.py --data folder:~/my_recordings --executor ray
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import tasks
from benchmarks.accuracy.data import evaluate_model, load_examples
from benchmarks.accuracy.report import build_sections, confusion_table, summary_table
from benchmarks.accuracy.summary import summarize
from benchmarks.common import (
    BenchmarkSettings,
    choice,
    command_line,
    echo,
    names,
    parse_settings,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    whole_numbers,
    write_report,
)
from benchmarks.common.data import check_data
from tasks.errors import ConfigError
from tasks.tts import canonical_voice

__all__ = ["KeywordAccuracySettings", "Outcome", "QUICK_PRESET", "main"]

logger = logging.getLogger("keyword_accuracy")

SCRIPT = "keyword_accuracy"
SPLITS = ("all", "train", "validation", "testing")
QUICK_PRESET = {
    "models": ("whisper-tiny.en",),
    "voices": ("en-us",),
    "rates": (150,),
    "pitches": (40,),
    "max_per_word": 2,
}
"""What ``--quick`` sets: tiny.en on 1 voice x 1 rate x 1 pitch x 10 words = 10 clips (at most 2 a word
from a ``--data`` folder)."""
WORK_FORMAT = "keyword_accuracy/1"


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

        put("models", names("models", self.models))
        put("words", tasks.KeywordTask(names("words", self.words)).words)
        voices = tasks.voices() if self.voices is None else names("voices", self.voices)
        put("voices", tuple(canonical_voice(v) for v in voices))
        put("rates", whole_numbers("rates", self.rates, 1))
        put("pitches", whole_numbers("pitches", self.pitches, 0, 99))
        put("seed", whole("seed", self.seed, 0))
        if self.data is not None:
            data = self.data[0] if isinstance(self.data, (list, tuple)) and len(self.data) == 1 else self.data
            if not isinstance(data, str):
                raise ConfigError(f"data ({self.data!r}) must be one dataset spec, e.g. speech_commands:PATH")
            put("data", check_data("data", data if ":" in data else f"speech_commands:{data}")[0])
        commands = self.data is not None and self.data.startswith("speech_commands:")
        split = self.split if self.split is not None else ("testing" if commands else "all")
        put("split", choice("split", split, SPLITS))
        if not commands and split != "all":
            raise ConfigError(f"split ({split!r}) applies to speech_commands --data folders; this data is "
                              "evaluated whole")  # fmt: skip
        if self.max_per_word is not None:
            put("max_per_word", whole("max_per_word", self.max_per_word, 1))
        put("audio_examples", whole("audio_examples", self.audio_examples, 0))


def add_arguments(parser) -> None:
    g = parser.add_argument_group("keyword accuracy")
    g.add_argument("--models", nargs="+", metavar="NAME", help="bundled model names or local folders")
    g.add_argument("--words", nargs="+", metavar="WORD", help="label words (default: the 10 core words)")
    g.add_argument("--voices", nargs="+", metavar="VOICE", help="espeak-ng voices (default: all tasks.voices())")
    g.add_argument("--rates", nargs="+", type=int, metavar="WPM", help="speaking rates (default: 150 190)")
    g.add_argument("--pitches", nargs="+", type=int, metavar="P", help="pitches 0-99 (default: 40 60)")
    g.add_argument("--seed", type=int, help="seed of the synthetic set's onsets (default: 0)")
    g.add_argument("--data", metavar="SPEC", help="recordings instead of synthetic speech: speech_commands:PATH (or "
                   "the folder path), or librispeech:PATH, manifest:PATH, hf:NAME_OR_PATH, folder:PATH (one-word clips)")
    g.add_argument("--split", choices=SPLITS, help="split of a speech_commands --data to evaluate (default: testing)")
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
    elif settings.data.startswith("speech_commands:"):  # as before specs, so older run folders resume
        data = {"kind": "folder", "root": settings.data.partition(":")[2]}
    else:
        data = {"kind": "spec", "spec": settings.data}
    return {"format": WORK_FORMAT, "words": list(settings.words), "data": data}


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> Outcome:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    setup_logging()
    run, settings = parse_settings(argv, KeywordAccuracySettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    with run_folder(run, settings, work=work_settings(settings)) as store, run.scaleout.open(run.device) as executor:
        examples, data = load_examples(settings, run.out)
        task = tasks.KeywordTask(settings.words)
        per_model, computed, reused = {}, {}, {}
        for name in settings.models:
            records, computed[name] = evaluate_model(name, task, examples, store, run, executor)
            reused[name] = len(records) - computed[name]
            per_model[name] = summarize(list(settings.words), examples, records, settings.voices)
        command = command_line(SCRIPT, argv)
        results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(),
                   "data": data, "command": command, "models": per_model, "executor": executor.describe()}  # fmt: skip
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
