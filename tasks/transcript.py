"""The transcript task: teacher-forced log-probability of a reference transcript, word by word.

Whisper's decoder is fed the prompt and the reference transcript's tokens (as Whisper would
write them: an all-capitals transcript is re-cased); each word's score is the summed
log-probability of its tokens in that context (punctuation tokens belong to no word). So a
map can be made for one word inside a sentence:

``logit_diff`` (the pair swaps the word: ``pair.corrupt_answer`` differs)
    score(clean word) - score(corrupt word), both read after the clean transcript's words
    before it.
``logprob`` (same word in both halves: noise, gap, pitch on the word)
    score(target word).
``transcript_logprob`` (no target word)
    the sum of every word's score.

Works with :func:`intervene.patch` like the keyword tasks: :meth:`TranscriptTask.answers`
reads the transcript and the target off the pair, :meth:`TranscriptTask.readout` builds a
:class:`TranscriptReadout` (a :class:`~tasks.readout.Readout`) once per pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from tasks.errors import ConfigError, UnknownNameError
from tasks.readout import Readout
from tasks.transcript_text import split_words, whisper_casing, word_tokens

__all__ = ["TranscriptTask", "TranscriptAnswer", "TranscriptReadout", "METRICS"]

logger = logging.getLogger(__name__)

METRICS = ("logit_diff", "logprob", "transcript_logprob")
CASINGS = ("whisper", "as_is")


@dataclass(frozen=True)
class TranscriptAnswer:
    """What one half of a pair says: the transcript and the word the metric reads.

    ``index`` is the target's position among the transcript's words (None: the whole
    transcript); ``word`` replaces that word (the corrupt half of a word swap), else None.
    """

    text: str
    index: int | None = None
    word: str | None = None

    def __str__(self) -> str:
        labels = [w.label for w in split_words(self.text)]
        if self.index is None:
            return self.text
        return self.word if self.word is not None else labels[self.index]


@dataclass
class TranscriptReadout(Readout):
    """A :class:`Readout` over a transcript's words.

    ``words`` are the transcript's words in order (a word swap's corrupt word is appended);
    :meth:`word_scores` gives each one's log-probability; ``target_index`` and
    ``corrupt_index`` say which of them the metric reads.
    """

    target_index: int | None = None
    corrupt_index: int | None = None

    def metric_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        if self.metric_name == "transcript_logprob":
            n = len(self.words) - (1 if self.corrupt_index is not None else 0)
            return scores[..., :n].sum(dim=-1)
        target = scores[..., self.target_index]
        if self.metric_name == "logit_diff":
            return target - scores[..., self.corrupt_index]
        return target


def _occurrence(labels: list, target: str, pair) -> int:
    hits = [i for i, w in enumerate(labels) if w.lower() == target.lower()]
    if not hits:
        raise UnknownNameError(
            f"the pair's word {target!r} is not in the transcript {' '.join(labels)!r}; give TranscriptTask(text=...) "
            "the transcript that contains it, or word= one of its words"
        )
    if len(hits) == 1:
        return hits[0]
    spans = list(getattr(pair, "words", None) or [])
    start_s = (getattr(pair, "params", None) or {}).get("start_s")
    if len(spans) == len(labels) and start_s is not None:
        return min(hits, key=lambda i: abs(float(spans[i][1]) - float(start_s)))
    logger.warning("%r occurs %d times in the transcript; the metric reads the first", target, len(hits))
    return hits[0]


@dataclass
class TranscriptTask:
    """Teacher-forced log-probability of a reference transcript, with per-word scores.

    Parameters
    ----------
    text : str, optional
        The reference transcript. Default: the pair's own (``pair.metadata["text"]``, else its
        words joined).
    word : str or int, optional
        The word the metric reads (a word of the transcript, or its position). Default: the
        pair's target (``pair.clean_answer``); None there too -> the whole transcript.
    casing : {"whisper", "as_is"}
        "whisper": an all-capitals transcript is written as Whisper writes text.

    Examples
    --------
    >>> task = TranscriptTask(text="turn the lights off", word="lights")
    >>> pair = corruptions.get("word_swap", word="chairs").pair(utt, target="lights")  # doctest: +SKIP
    >>> cmap = intervene.patch(model, task, pair, model.sites("encoder", "block_output"))  # doctest: +SKIP
    """

    text: str | None = None
    word: str | int | None = None
    casing: str = "whisper"
    name: str = field(default="transcript", init=False)

    def __post_init__(self):
        if self.text is not None and (not isinstance(self.text, str) or not split_words(self.text)):
            raise ConfigError(f"text ({self.text!r}) must be a transcript with at least one word")
        if self.word is not None and not isinstance(self.word, (str, int)) or isinstance(self.word, bool):
            raise ConfigError(f"word ({self.word!r}) must be a word of the transcript, its position, or None")
        if self.casing not in CASINGS:
            raise ConfigError(f"casing ({self.casing!r}) must be one of {CASINGS}")

    def to_dict(self) -> dict:
        return {"kind": self.name, "text": self.text, "word": self.word, "casing": self.casing}

    def _cased(self, text: str) -> str:
        return whisper_casing(text) if self.casing == "whisper" else " ".join(text.split())

    # ------------------------------------------------------------- pairs
    def answers(self, pair) -> tuple[TranscriptAnswer, TranscriptAnswer]:
        """The (clean, corrupt) answers of a pair: its transcript and target word.

        Raises
        ------
        ConfigError
            No transcript (neither ``text`` nor the pair's), or ``word`` out of range.
        UnknownNameError
            The target word is not in the transcript.
        """
        meta = getattr(pair, "metadata", None) or {}
        text = self.text or meta.get("text") or " ".join(str(w[0]) for w in (getattr(pair, "words", None) or ()))
        if not text or not split_words(text):
            raise ConfigError(
                "the pair has no transcript (pair.metadata['text'] or pair.words); give TranscriptTask(text=...)"
            )
        labels = [w.label for w in split_words(text)]
        if isinstance(self.word, int):
            if not 0 <= self.word < len(labels):
                raise ConfigError(f"word ({self.word}) must be a position 0..{len(labels) - 1} of {labels}")
            index = self.word
        else:
            target = self.word or getattr(pair, "clean_answer", None)
            index = None if target is None else _occurrence(labels, str(target), pair)
        clean = TranscriptAnswer(text, index)
        if index is None:
            return clean, clean
        target, swapped = getattr(pair, "clean_answer", None), getattr(pair, "corrupt_answer", None)
        swaps_here = (target is not None and swapped is not None and str(target).lower() == labels[index].lower()
                      and str(swapped).lower() != str(target).lower())  # fmt: skip
        return clean, (TranscriptAnswer(text, index, str(swapped)) if swaps_here else clean)

    # ------------------------------------------------------------- readout
    def readout(self, model, clean_answer, corrupt_answer=None) -> TranscriptReadout:
        """The readout for a pair (answers from :meth:`answers`; a plain string is a transcript).

        Raises
        ------
        ConfigError
            The model has no decoder (the transcript task reads Whisper's decoder), or the
            transcript is longer than the decoder takes.
        """
        if not getattr(model, "has_decoder", False):
            raise ConfigError(
                f"model {getattr(model, 'name', model)!r} has no decoder; TranscriptTask scores Whisper's "
                "teacher-forced transcript (use KeywordTask with a classifier)"
            )
        clean = clean_answer if isinstance(clean_answer, TranscriptAnswer) else TranscriptAnswer(str(clean_answer))
        corrupt = corrupt_answer if isinstance(corrupt_answer, TranscriptAnswer) else clean
        text = self._cased(clean.text)
        ids, words, groups = word_tokens(model.tokenizer, text)
        labels = [w.label for w in split_words(clean.text)]
        if len(labels) != len(words):
            labels = [w.label for w in words]
        prompt = list(model.prompt_ids)
        limit = int(getattr(model.config, "max_target_positions", 448))
        if len(prompt) + len(ids) + 1 > limit:
            raise ConfigError(f"the transcript is {len(ids)} tokens; Whisper's decoder takes at most "
                              f"{limit - len(prompt) - 1}. Cut the clip and its transcript")  # fmt: skip
        rows = [prompt + ids]
        tok_rows, tok_pos, tok_ids, tok_var = [], [], [], []
        for wi, group in enumerate(groups):
            for t in group:
                tok_rows.append(0)
                tok_pos.append(len(prompt) - 1 + t)
                tok_ids.append(ids[t])
                tok_var.append(wi)
        out_words = list(labels)
        index, corrupt_index = clean.index, None
        if index is not None and corrupt.word is not None:
            first = groups[index][0]
            new_ids = self._swapped_tokens(model, clean.text, index, corrupt.word)
            rows.append(prompt + ids[:first] + new_ids[:-1])
            corrupt_index = len(out_words)
            out_words.append(corrupt.word)
            for j, t in enumerate(new_ids):
                tok_rows.append(1)
                tok_pos.append(len(prompt) - 1 + first + j)
                tok_ids.append(t)
                tok_var.append(corrupt_index)
        width = max(len(r) for r in rows)
        padded = [r + [model.eot_id] * (width - len(r)) for r in rows]
        if index is None:
            metric, prefix, clean_word, corrupt_word = "transcript_logprob", len(prompt), clean.text, clean.text
        else:
            metric = "logit_diff" if corrupt_index is not None else "logprob"
            prefix = len(prompt) + groups[index][0]
            clean_word = labels[index]
            corrupt_word = corrupt.word if corrupt_index is not None else clean_word
        readout = TranscriptReadout(
            words=out_words, decoder_input_ids=torch.tensor(padded, dtype=torch.long), clean_answer=clean_word,
            corrupt_answer=corrupt_word, metric_name=metric, prefix_length=prefix,
            _rows=torch.tensor(tok_rows), _pos=torch.tensor(tok_pos), _tok=torch.tensor(tok_ids),
            _variant=torch.tensor(tok_var), _variant_word=torch.arange(len(out_words)),
            target_index=index, corrupt_index=corrupt_index,
        )  # fmt: skip
        return readout.to(getattr(model, "device", "cpu"))

    def _swapped_tokens(self, model, text: str, index: int, word: str) -> list:
        """The tokens of ``word`` in place of word ``index`` of ``text``, as the transcript would be written."""
        spans = split_words(text)
        old = spans[index]
        if old.label.isupper() and len(old.label) > 1:
            word = word.upper()
        swapped = text[: old.start] + word + text[old.end :]
        ids, words, groups = word_tokens(model.tokenizer, self._cased(swapped))
        if len(groups) != len(spans):
            raise ConfigError(f"the corrupt word {word!r} changes how the transcript splits into words")
        return [ids[t] for t in groups[index]]

    # ------------------------------------------------------------- scoring
    @torch.no_grad()
    def word_scores(self, model, audio, sample_rate: int = 16000, text: str | None = None) -> list[tuple[str, float]]:
        """Each word of the transcript and its log-probability on ``audio``, in order.

        Examples
        --------
        >>> TranscriptTask().word_scores(model, utt.audio, text="turn the lights off")  # doctest: +SKIP
        [('turn', -0.61), ('the', -0.08), ('lights', -0.04), ('off', -0.05)]
        """
        text = text or self.text
        if not text:
            raise ConfigError("word_scores needs the transcript: text=... (or TranscriptTask(text=...))")
        r = self.readout(model, TranscriptAnswer(text))
        scores = r.word_scores(model.logits(model.inputs(audio, sample_rate, r.decoder_input_ids)))
        return [(w, float(scores.reshape(-1, len(r.words))[0, i])) for i, w in enumerate(r.words)]
