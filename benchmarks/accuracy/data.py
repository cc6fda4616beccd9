"""The clips of ``keyword_accuracy.py`` and the model work on them (one unit per model and clip)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import tasks
from benchmarks.common import WorkStore, make_key, progress
from tasks.errors import ConfigError

__all__ = ["load_examples", "score_clip", "evaluate_model"]

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
