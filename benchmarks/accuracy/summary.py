"""The numbers of ``keyword_accuracy.py``: accuracy with its interval, confusion, per-group accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import tasks
from benchmarks.common import wilson_interval

__all__ = ["summarize"]


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
