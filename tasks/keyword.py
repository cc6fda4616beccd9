"""Keyword tasks: the model chooses among label words.

:class:`KeywordTask` scores each label word on a clip (teacher-forced log-probability after the
decoder prompt for Whisper; class log-softmax for Wav2Vec2/HuBERT classifiers), predicts the
best one, measures accuracy and a confusion matrix over a dataset, and supplies the metric a
causal-effect map measures for a minimal pair: log-prob(clean answer) - log-prob(corrupt
answer), or the log-odds of the answer when both halves share it.

Models are duck-typed (``tasks`` never imports the engine): a model has
``inputs(audio, sample_rate, decoder_input_ids)``, ``logits(inputs)`` and either a decoder
(``has_decoder`` true, with ``tokenizer``, ``prompt_ids``, ``eot_id``: teacher forcing) or
classifier ``labels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tasks.errors import ConfigError
from tasks.readout import Readout, classifier_readout, decoder_readout

__all__ = ["KeywordTask", "Evaluation", "SPEECH_COMMANDS_CORE", "check_words"]

SPEECH_COMMANDS_CORE = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The ten core command words of Speech Commands."""


def check_words(words, name: str = "words") -> tuple:
    """``words`` as a tuple of stripped lower-case strings; typed errors for a lone string or non-strings."""
    if isinstance(words, (str, bytes)):
        raise ConfigError(f"{name} ({words!r}) must be a list of words such as ['yes', 'no'], not a single string")
    if isinstance(words, dict) or not hasattr(words, "__iter__"):
        raise ConfigError(f"{name} ({words!r}) must be a list of words such as ['yes', 'no']")
    words = list(words)
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise ConfigError(f"{name}[{i}] ({w!r}) must be a string; {name} is {words!r}")
    return tuple(w.strip().lower() for w in words)


def _answer(value, label: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"pair.{label} ({value!r}) must be the word the clip says; this pair does not name one "
                          "(build it from a clip whose words are known, e.g. tasks.speak('yes'))")
    return value.strip().lower()


@dataclass
class Evaluation:
    """Accuracy and confusion of a task over labelled examples."""

    words: list
    confusion: np.ndarray  # (true word, predicted word) counts
    n: int

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    def per_word_accuracy(self) -> dict:
        totals = self.confusion.sum(axis=1)
        return {w: float(self.confusion[i, i] / totals[i]) if totals[i] else float("nan") for i, w in enumerate(self.words)}

    def to_dict(self) -> dict:
        return {"words": self.words, "accuracy": self.accuracy, "n": self.n,
                "confusion": self.confusion.tolist(), "per_word_accuracy": self.per_word_accuracy()}


@dataclass
class KeywordTask:
    """Forced choice among ``words``.

    Parameters
    ----------
    words : sequence of str
        The label words (default: the ten Speech Commands core words): a list or tuple of at
        least two distinct non-empty strings, compared lower-case. A single string is refused
        (``KeywordTask("yes")`` would otherwise be the letters 'y', 'e', 's'), and so is any
        item that is not a string (``None`` would otherwise become the word 'none').

    Raises
    ------
    ConfigError
        ``words`` is a string or not a sequence, holds a non-string, an empty word or a
        duplicate, or fewer than two words.

    Examples
    --------
    >>> task = KeywordTask(["yes", "no"])
    >>> task.predict(model, tasks.speak("yes").audio)  # doctest: +SKIP
    'yes'
    """

    words: tuple = SPEECH_COMMANDS_CORE
    name: str = field(default="keyword", init=False)

    def __post_init__(self):
        words = check_words(self.words)
        if len(words) < 2:
            raise ConfigError(f"words ({list(self.words)!r}) must hold at least two label words")
        if any(not w for w in words) or len(set(words)) != len(words):
            raise ConfigError(f"words ({list(self.words)!r}) must be distinct and non-empty")
        self.words = words

    def to_dict(self) -> dict:
        return {"kind": self.name, "words": list(self.words)}

    # ------------------------------------------------------------- readout
    def prefix_ids(self, model) -> list:
        """Decoder tokens before the answer (Whisper): the prompt."""
        return list(model.prompt_ids)

    def readout(self, model, clean_answer: str, corrupt_answer: str | None = None) -> Readout:
        """The readout for a pair whose answers are ``clean_answer`` / ``corrupt_answer``."""
        clean_answer = _answer(clean_answer, "clean_answer")
        corrupt_answer = None if corrupt_answer is None else _answer(corrupt_answer, "corrupt_answer")
        if getattr(model, "has_decoder", False):
            r = decoder_readout(model.tokenizer, self.prefix_ids(model), self.words, clean_answer, corrupt_answer,
                                eot_id=model.eot_id)
        elif getattr(model, "labels", None):
            r = classifier_readout(model.labels, self.words, clean_answer, corrupt_answer)
        else:
            raise ConfigError(
                f"model {getattr(model, 'name', model)!r} has neither a Whisper decoder nor classifier labels; "
                "KeywordTask needs one of them"
            )
        return r.to(getattr(model, "device", "cpu"))

    # --------------------------------------------------------- evaluation
    @torch.no_grad()
    def scores(self, model, audio, sample_rate: int = 16000) -> dict:
        """Log-probability of each label word on ``audio``."""
        r = self.readout(model, self.words[0], self.words[1])
        s = r.word_scores(model.logits(model.inputs(audio, sample_rate, r.decoder_input_ids)))
        return {w: float(s[i]) for i, w in enumerate(r.words)}

    def predict(self, model, audio, sample_rate: int = 16000) -> str:
        """The label word with the highest score."""
        scores = self.scores(model, audio, sample_rate)
        return max(scores, key=scores.get)

    def metric(self, model, audio, sample_rate: int, clean_answer: str, corrupt_answer: str | None = None) -> float:
        """The pair metric evaluated on one clip."""
        r = self.readout(model, clean_answer, corrupt_answer)
        with torch.no_grad():
            return float(r.metric(model.logits(model.inputs(audio, sample_rate, r.decoder_input_ids))))

    def evaluate(self, model, examples, progress: bool = False) -> Evaluation:
        """Accuracy and confusion matrix over examples with ``.audio``, ``.sample_rate`` and ``.word``."""
        index = {w: i for i, w in enumerate(self.words)}
        confusion = np.zeros((len(self.words), len(self.words)), dtype=np.int64)
        items = examples
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(examples, desc=f"evaluating {getattr(model, 'name', 'model')}", unit="clip")
        n = 0
        for ex in items:
            word = str(ex.word).lower()
            if word not in index:
                raise ConfigError(f"example word {word!r} is not one of the task's words {list(self.words)}")
            confusion[index[word], index[self.predict(model, ex.audio, ex.sample_rate)]] += 1
            n += 1
        return Evaluation(list(self.words), confusion, n)

    # ------------------------------------------------------------- pairs
    def answers(self, pair) -> tuple[str, str]:
        """The (clean, corrupt) answers of a minimal pair."""
        clean = _answer(getattr(pair, "clean_answer", None), "clean_answer")
        corrupt = getattr(pair, "corrupt_answer", None)
        return clean, clean if corrupt is None else _answer(corrupt, "corrupt_answer")
