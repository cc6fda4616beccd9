"""Readouts: how a task reads word scores and its metric off a model's output logits.

A :class:`Readout` is built once per (model, task, answers) and then applied to many logits
(every cell of a sweep), so all tokenisation happens up front. It is differentiable, so the
same readout serves exact patching and attribution patching.

Decoders such as Whisper's (teacher forcing)
    A word's score is the log-probability of its tokens after the decoder prefix, summed over
    the word's tokens and log-sum-exp'ed over its spelling variants (" yes", " Yes", "yes",
    "Yes", ...). Row 0 of ``decoder_input_ids`` is the prefix; each multi-token variant adds a
    row (prefix + the variant's tokens but the last), right-padded, so every token's
    probability is read at its own position.
Classifiers (Wav2Vec2/HuBERT ``*ForSequenceClassification``)
    A word's score is the log-softmax of its class logit.

Metrics
    ``logit_diff``: score(clean answer) - score(corrupt answer), when the answers differ.
    ``logodds``: score(answer) - logsumexp(scores of the other candidates), when they are the
    same word (noise, gap, pitch corruptions), so the metric still moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tasks.errors import ConfigError, UnknownNameError, close_names

__all__ = ["Readout", "word_variants", "decoder_readout", "classifier_readout"]


def word_variants(word: str) -> list[str]:
    """Spellings of ``word`` a transcriber may produce first: with/without a leading space,
    lower case and capitalised."""
    forms = []
    for w in (word.lower(), word.capitalize()):
        for v in (" " + w, w):
            if v not in forms:
                forms.append(v)
    return forms


@dataclass
class Readout:
    """Word scores and a metric from logits.

    Attributes
    ----------
    words : list of str
        The candidate words, in score order.
    decoder_input_ids : torch.LongTensor (rows, tokens) or None
        What the decoder is fed (Whisper); None for classifiers.
    clean_answer, corrupt_answer : str
    metric_name : str
        "logit_diff" or "logodds".
    prefix_length : int
        Decoder tokens before the answer (the positions a decoder-token map can patch).
    """

    words: list
    decoder_input_ids: torch.Tensor | None
    clean_answer: str
    corrupt_answer: str
    metric_name: str
    prefix_length: int = 0
    # Whisper: for each (word, variant, token) the row, position and token id to read.
    _rows: torch.Tensor | None = None
    _pos: torch.Tensor | None = None
    _tok: torch.Tensor | None = None
    _variant: torch.Tensor | None = None  # flat variant index of each token
    _variant_word: torch.Tensor | None = None  # word index of each variant
    _label_index: torch.Tensor | None = None  # classifiers: class index of each word

    def to(self, device) -> "Readout":
        for name in ("decoder_input_ids", "_rows", "_pos", "_tok", "_variant", "_variant_word", "_label_index"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        return self

    def word_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-probability of each candidate word: ``(..., words)``.

        ``logits``: Whisper ``(..., rows, tokens, vocab)``; classifiers ``(..., classes)``.
        """
        if self._label_index is not None:
            return torch.log_softmax(logits.float(), dim=-1)[..., self._label_index]
        picked = logits[..., self._rows, self._pos, :].float()  # (..., n_tokens, vocab)
        logp = torch.log_softmax(picked, dim=-1)
        tok_logp = torch.gather(logp, -1, self._tok.expand(*logp.shape[:-1])[..., None])[..., 0]
        n_var = int(self._variant_word.shape[0])
        var_logp = torch.zeros(*tok_logp.shape[:-1], n_var, dtype=tok_logp.dtype, device=tok_logp.device)
        var_logp = var_logp.index_add(-1, self._variant, tok_logp)
        scores = torch.full((*tok_logp.shape[:-1], len(self.words)), -torch.inf, dtype=tok_logp.dtype, device=tok_logp.device)
        for w in range(len(self.words)):  # few words: a loop keeps the log-sum-exp exact
            scores[..., w] = torch.logsumexp(var_logp[..., self._variant_word == w], dim=-1)
        return scores

    def metric(self, logits: torch.Tensor) -> torch.Tensor:
        """The task metric for each leading index of ``logits`` (a scalar for one run)."""
        return self.metric_from_scores(self.word_scores(logits))

    def metric_from_scores(self, scores: torch.Tensor) -> torch.Tensor:
        ci = self.words.index(self.clean_answer)
        if self.metric_name == "logit_diff":
            return scores[..., ci] - scores[..., self.words.index(self.corrupt_answer)]
        others = [i for i in range(len(self.words)) if i != ci]
        return scores[..., ci] - torch.logsumexp(scores[..., others], dim=-1)


def _answers(words: list, clean: str, corrupt: str | None) -> tuple[str, str, str, list]:
    words = list(words)
    corrupt = clean if corrupt is None else corrupt
    for label, w in (("clean answer", clean), ("corrupt answer", corrupt)):
        if not isinstance(w, str) or not w.strip():
            raise ConfigError(f"{label} ({w!r}) is empty; give the word the clip says (pair.clean_answer / corrupt_answer)")
    clean, corrupt = clean.strip(), corrupt.strip()
    for label, w in (("clean answer", clean), ("corrupt answer", corrupt)):
        if w not in words:
            words.append(w)  # an answer outside the label set still gets scored
    if clean == corrupt and len(words) < 2:
        raise ConfigError(
            f"answers are both {clean!r} and the task has no other candidate words; "
            "a log-odds metric needs at least one other word"
        )
    return clean, corrupt, "logit_diff" if clean != corrupt else "logodds", words


def decoder_readout(tokenizer, prefix_ids, words, clean_answer, corrupt_answer=None, eot_id=0) -> Readout:
    """A teacher-forced readout for Whisper: ``prefix_ids`` then each word's variants.

    Raises
    ------
    ConfigError
        A word the tokenizer cannot encode (it gives no tokens).
    """
    clean, corrupt, metric_name, words = _answers(words, clean_answer, corrupt_answer)
    prefix = list(prefix_ids)
    rows = [prefix]
    tok_rows, tok_pos, tok_ids, tok_var, var_word = [], [], [], [], []
    for wi, word in enumerate(words):
        seen = set()
        for variant in word_variants(word):
            ids = tuple(tokenizer.encode(variant, add_special_tokens=False))
            if not ids or tokenizer.decode(list(ids)) != variant:
                raise ConfigError(
                    f"the tokenizer cannot encode answer word {word!r} (variant {variant!r} -> tokens {list(ids)}); "
                    "use words written in the tokenizer's alphabet"
                )
            if ids in seen:
                continue
            seen.add(ids)
            vi = len(var_word)
            var_word.append(wi)
            if len(ids) == 1:
                row = 0
            else:
                rows.append(prefix + list(ids[:-1]))
                row = len(rows) - 1
            for j, t in enumerate(ids):
                tok_rows.append(row)
                tok_pos.append(len(prefix) - 1 + j)
                tok_ids.append(t)
                tok_var.append(vi)
    width = max(len(r) for r in rows)
    padded = [r + [eot_id] * (width - len(r)) for r in rows]
    return Readout(
        words=words,
        decoder_input_ids=torch.tensor(padded, dtype=torch.long),
        clean_answer=clean,
        corrupt_answer=corrupt,
        metric_name=metric_name,
        prefix_length=len(prefix),
        _rows=torch.tensor(tok_rows),
        _pos=torch.tensor(tok_pos),
        _tok=torch.tensor(tok_ids),
        _variant=torch.tensor(tok_var),
        _variant_word=torch.tensor(var_word),
    )


def classifier_readout(labels, words, clean_answer, corrupt_answer=None) -> Readout:
    """A readout over a sequence classifier's labels (case-insensitive match of words to labels)."""
    clean, corrupt, metric_name, words = _answers(words, clean_answer, corrupt_answer)
    lower = [str(label).lower() for label in labels]
    index = []
    for w in words:
        if w.lower() not in lower:
            raise UnknownNameError(
                f"word {w!r} is not a label of the classifier{close_names(w.lower(), lower)} Labels: {', '.join(map(str, labels))}"
            )
        index.append(lower.index(w.lower()))
    return Readout(
        words=words,
        decoder_input_ids=None,
        clean_answer=clean,
        corrupt_answer=corrupt,
        metric_name=metric_name,
        _label_index=torch.tensor(index),
    )
