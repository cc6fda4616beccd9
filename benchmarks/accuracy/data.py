"""The clips of ``keyword_accuracy.py`` and the model work on them (one unit per model and clip).

Clips come from a synthetic Speech Commands set, a Speech Commands folder (``--data
speech_commands:PATH``, or a bare folder path as before), or any other dataset spec, whose clips
count when their transcript is one of the label words (the others are skipped and counted).
Units run where ``--executor`` says (:func:`benchmarks.common.units.run_stored`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tasks
from benchmarks.common import WorkStore, make_key
from benchmarks.common.units import run_stored
from tasks.errors import ConfigError

__all__ = ["load_examples", "score_clip", "evaluate_model", "DataExample"]


@dataclass(frozen=True)
class DataExample:
    """A one-word clip of a non-Speech-Commands dataset, with the fields the summary reads."""

    word: str
    speaker: str | None
    clip: object  # tasks.datasets.Clip
    stem: str
    voice: None = None
    rate: None = None
    pitch: None = None

    @property
    def audio(self) -> np.ndarray:
        return self.clip.audio

    @property
    def sample_rate(self) -> int:
        return 16000

    @property
    def path(self):
        return self.clip.path

    @property
    def key(self) -> str:
        return f"{self.word}/{self.stem}"


def _one_word(text: str | None, words) -> str | None:
    found = re.findall(r"[a-z']+", (text or "").lower())
    return found[0] if len(found) == 1 and found[0] in words else None


def _example_key(ex) -> str:
    return getattr(ex, "key", None) or f"{ex.word}/{ex.path.stem}"

logger = logging.getLogger("keyword_accuracy")


def load_examples(settings, out: Path) -> tuple[list, dict]:
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
    elif settings.data.startswith("speech_commands:"):
        split = None if settings.split == "all" else settings.split
        root = Path(settings.data.partition(":")[2]).expanduser()
        dataset = tasks.SpeechCommands(root, words=list(settings.words), split=split)
        info = {"kind": "folder", "root": str(dataset.root), "split": settings.split, "spec": settings.data}
    else:
        data = tasks.open_dataset(settings.data)
        dataset, skipped = [], 0
        for clip in data:
            word = _one_word(clip.text, settings.words)
            if word is None:
                skipped += 1
                continue
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", clip.id)
            dataset.append(DataExample(word, clip.speaker, clip, stem))
        info = {"kind": "dataset", "reader": data.kind, "root": settings.data.partition(":")[2], "spec": settings.data,
                "skipped_not_a_label_word": skipped}  # fmt: skip
    examples, per_word = [], {}
    for example in dataset:
        per_word[example.word] = per_word.get(example.word, 0) + 1
        if settings.max_per_word is None or per_word[example.word] <= settings.max_per_word:
            examples.append(example)
    if not examples:
        raise ConfigError(f"no clips of the words {list(settings.words)} in {info['root']} (split {settings.split!r})")
    info["n_clips"] = len(examples)
    return examples, info


def score_clip(task: tasks.KeywordTask, model, example) -> dict:
    """Every label word's log-probability on the clip, and the best word."""
    return _score(model, task, example.audio, example.word)


def _score(model, task, audio, word) -> dict:
    """One unit of work (where the executor runs it): score one clip."""
    scores = task.scores(model, audio, 16000)
    return {"word": word, "predicted": max(scores, key=scores.get), "scores": scores}


def evaluate_model(name: str, task, examples: list, store: WorkStore, run, executor=None) -> tuple[list, int]:
    """Every clip's record for model ``name``, computing only the unfinished ones.

    Returns (records in the order of ``examples``, number computed now). The model is loaded
    (here, or by the Ray actors of ``executor``) only if some clip is unfinished.
    """
    from intervene.executors import LocalExecutor

    executor = executor or LocalExecutor(device=run.device)
    keys = [make_key(name, *_example_key(ex).split("/", 1)) for ex in examples]
    todo = sum(store.get(k) is None for k in keys)
    logger.info("%s: %d clips, %d to compute, %d already in %s", name, len(keys), todo, len(keys) - todo,
                store.root)  # fmt: skip
    model = name
    if todo and executor.name == "local":
        import intervene  # here, not at the top: a resumed run or --help need not import the engine

        model = intervene.load_model(name, device=run.device)
    items = ((k, (ex.audio, ex.word)) for k, ex in zip(keys, examples))
    records = list(run_stored(executor, model, _score, items, store, shared=task, progress=run.progress and todo > 0,
                              desc=name, unit_name="clip", total=len(keys)))  # fmt: skip
    return records, todo
