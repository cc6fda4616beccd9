"""LensTable: what a lens read, as layer x token tables (top tokens, the answer's probability and rank).

A lens (:func:`intervene.encoder_lens`, :func:`intervene.logit_lens`) teacher-forces one
decoder sequence and reads, for every layer it looks through, the decoder's next-token
distribution at every position from the last prompt position on. Each column is scored on
its *target*, the token that follows it in the sequence (the model's own next token, or the
answer after a prefix); the *answer* is the target of :attr:`LensTable.answer_position`.

Rows are layers: ``-1`` is the stream entering layer 0, ``i`` the stream leaving layer ``i``;
the last row is what the model itself reads, so it holds the model's own predictions.

Saved as two files (:mod:`intervene.lenses.lensfile`): ``NAME.npz`` (the arrays) and
``NAME.json`` (everything else, sealed with a checksum over both), verified whole on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tasks.errors import ConfigError

__all__ = ["KINDS", "LensTable"]

KINDS = ("encoder", "logit")
"""``encoder``: the decoder reads an encoder layer; ``logit``: a decoder layer is unembedded."""


@dataclass(frozen=True, eq=False)
class LensTable:
    """Layer x token tables of a lens.

    Attributes
    ----------
    kind : {"encoder", "logit"}
    layers : tuple of int
        Row labels (``-1``: entering layer 0; ``i``: leaving layer ``i``), increasing.
    tokens : tuple of str
        The decoder input token of each column (the first is the prompt's last token).
    token_ids, targets : int arrays (tokens,)
        Each column's input token and the token it is scored on (the next one).
    top_ids : int array (layers, tokens, k)
        The ``k`` most probable next tokens per layer and column, most probable first.
    top_probs : float array (layers, tokens, k)
        Their probabilities (softmax over the whole vocabulary).
    target_probs : float array (layers, tokens)
        Probability of each column's target.
    target_ranks : int array (layers, tokens)
        Tokens the layer finds strictly more probable than the target (0: the target is top).
    vocab : dict int -> str
        The text of every token id the arrays hold (so a saved table needs no tokenizer).
    answer_position : int
        The column whose target is *the answer* (the keyword after a prefix; the first word).
    text : str
        The model's own greedy transcript of the clip.
    model, prefix : str
        The model's name; the teacher-forced prefix (None: the model's own transcript).
    reference, reference_source : str or None
        Encoder lens: what the transcripts are scored against, and where it came from
        ("given", "utterance" or "model": the model's own transcript).
    transcripts : tuple of str, optional
        Encoder lens: the greedy transcript the decoder writes reading each layer.
    wer : float array (layers,), optional
        Encoder lens: each transcript's word error rate against ``reference``.
    duration_s : float, optional
    meta : dict
        Anything else worth keeping (top_k, max_new_tokens, ...).
    """

    kind: str
    layers: tuple
    tokens: tuple
    token_ids: np.ndarray
    targets: np.ndarray
    top_ids: np.ndarray
    top_probs: np.ndarray
    target_probs: np.ndarray
    target_ranks: np.ndarray
    vocab: dict
    answer_position: int
    text: str
    model: str = ""
    prefix: str | None = None
    reference: str | None = None
    reference_source: str | None = None
    transcripts: tuple | None = None
    wer: np.ndarray | None = None
    duration_s: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        if self.kind not in KINDS:
            raise ConfigError(f"kind ({self.kind!r}) must be one of {', '.join(KINDS)}")
        put("layers", tuple(int(v) for v in self.layers))
        put("tokens", tuple(str(t) for t in self.tokens))
        n_layers, n_tokens = len(self.layers), len(self.tokens)
        if n_layers < 1 or n_tokens < 1:
            raise ConfigError(f"a lens table needs at least one layer and one token ({n_layers} x {n_tokens})")
        if list(self.layers) != sorted(set(self.layers)) or self.layers[0] < -1:
            raise ConfigError(f"layers {list(self.layers)} must be increasing labels >= -1")
        for name in ("token_ids", "targets"):
            put(name, _array(getattr(self, name), name, (n_tokens,), np.int64))
        put("top_ids", _array(self.top_ids, "top_ids", None, np.int64))
        if self.top_ids.ndim != 3 or self.top_ids.shape[:2] != (n_layers, n_tokens) or self.top_ids.shape[2] < 1:
            raise ConfigError(f"top_ids has shape {self.top_ids.shape}; expected ({n_layers}, {n_tokens}, k >= 1)")
        put("top_probs", _array(self.top_probs, "top_probs", self.top_ids.shape, np.float32))
        put("target_probs", _array(self.target_probs, "target_probs", (n_layers, n_tokens), np.float32))
        put("target_ranks", _array(self.target_ranks, "target_ranks", (n_layers, n_tokens), np.int64))
        put("vocab", {int(k): str(v) for k, v in dict(self.vocab).items()})
        missing = {int(i) for a in (self.token_ids, self.targets, self.top_ids) for i in np.unique(a)} - set(self.vocab)
        if missing:
            raise ConfigError(f"vocab lacks the text of token ids {sorted(missing)[:5]}")
        if not (isinstance(self.answer_position, (int, np.integer)) and 0 <= self.answer_position < n_tokens):
            raise ConfigError(f"answer_position ({self.answer_position!r}) must be a column 0..{n_tokens - 1}")
        put("answer_position", int(self.answer_position))
        if self.transcripts is not None:
            put("transcripts", tuple(str(t) for t in self.transcripts))
            if len(self.transcripts) != n_layers:
                raise ConfigError(f"transcripts has {len(self.transcripts)} entries for {n_layers} layers")
        if self.wer is not None:
            put("wer", _array(self.wer, "wer", (n_layers,), np.float64))
        put("meta", dict(self.meta))

    # ------------------------------------------------------------------ reading
    def row(self, layer: int) -> int:
        """The row index of layer label ``layer`` (``-1`` for the input to layer 0).

        Raises
        ------
        ConfigError
            A label the table does not hold.
        """
        try:
            return self.layers.index(int(layer))
        except (ValueError, TypeError):
            raise ConfigError(f"layer ({layer!r}) is not in this table; its layers are {list(self.layers)}") from None

    def token(self, token_id: int) -> str:
        """The text of a token id the table holds."""
        return self.vocab[int(token_id)]

    @property
    def answer_id(self) -> int:
        return int(self.targets[self.answer_position])

    @property
    def answer(self) -> str:
        """The answer's token text (e.g. ``" Yes"``)."""
        return self.token(self.answer_id)

    @property
    def answer_probs(self) -> np.ndarray:
        """The answer's probability at each layer: ``(layers,)``."""
        return self.target_probs[:, self.answer_position]

    @property
    def answer_ranks(self) -> np.ndarray:
        """The answer's rank at each layer (0: top): ``(layers,)``."""
        return self.target_ranks[:, self.answer_position]

    @property
    def first_top_layer(self) -> int | None:
        """The first layer from which the answer is the top token at every later layer, or None
        (it is not top at the last layer)."""
        top = self.answer_ranks == 0
        if not top[-1]:
            return None
        i = len(top) - 1
        while i > 0 and top[i - 1]:
            i -= 1
        return self.layers[i]

    def top_tokens(self, layer: int, position: int | None = None) -> list[tuple[str, float]]:
        """``[(token text, probability), ...]`` at ``layer`` and column ``position`` (default: the answer's)."""
        r = self.row(layer)
        c = self.answer_position if position is None else int(position)
        if not 0 <= c < len(self.tokens):
            raise ConfigError(f"position ({position!r}) must be a column 0..{len(self.tokens) - 1}")
        return [(self.token(i), float(p)) for i, p in zip(self.top_ids[r, c], self.top_probs[r, c])]

    def top1(self) -> list[list[str]]:
        """The top token's text per layer and column: ``layers x tokens``."""
        return [[self.token(i) for i in row] for row in self.top_ids[..., 0]]

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict:
        """Everything as plain JSON types: the tables as nested lists, the answer's row, transcripts."""
        out = {
            "kind": self.kind, "model": self.model, "layers": list(self.layers), "tokens": list(self.tokens),
            "targets": [self.token(t) for t in self.targets], "prefix": self.prefix, "text": self.text,
            "answer": {"position": self.answer_position, "token": self.answer, "token_id": self.answer_id,
                       "probs": [float(p) for p in self.answer_probs],
                       "ranks": [int(r) for r in self.answer_ranks], "first_top_layer": self.first_top_layer,
                       "top_tokens": {str(layer): self.top_tokens(layer) for layer in self.layers}},
            "top1": self.top1(), "target_probs": self.target_probs.round(6).tolist(),
            "target_ranks": self.target_ranks.tolist(), "duration_s": self.duration_s, "meta": dict(self.meta),
        }  # fmt: skip
        if self.transcripts is not None:
            out.update(transcripts=list(self.transcripts), reference=self.reference,
                       reference_source=self.reference_source,
                       wer=None if self.wer is None else [float(w) for w in self.wer])
        return out

    def save(self, path) -> Path:
        """Write ``NAME.npz`` and ``NAME.json`` (atomically, the JSON last and sealed); returns the npz path."""
        from intervene.lenses.lensfile import save_lens

        return save_lens(self, path)

    @classmethod
    def load(cls, path) -> LensTable:
        """Read a table written by :meth:`save`, verified whole (:func:`intervene.lenses.lensfile.load_lens`)."""
        from intervene.lenses.lensfile import load_lens

        return load_lens(path)

    def plot(self, path=None, max_tokens: int = 40):
        """A picture of the table (see :func:`intervene.app.lensplot.plot_lens`); saved to ``path`` if given."""
        from intervene.app.lensplot import plot_lens

        return plot_lens(self, path, max_tokens=max_tokens)

    def __repr__(self) -> str:
        first = self.first_top_layer
        return (f"LensTable(kind={self.kind!r}, layers={list(self.layers)}, tokens={len(self.tokens)}, "
                f"answer={self.answer!r} at column {self.answer_position}, first top at layer {first})")


def _array(value, name: str, shape, dtype) -> np.ndarray:
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a numeric array") from None
    if a.dtype.kind not in "fiu" or (np.dtype(dtype).kind in "iu" and a.dtype.kind == "f"):
        raise ConfigError(f"{name} must hold {'integers' if np.dtype(dtype).kind in 'iu' else 'numbers'}, "
                          f"not {a.dtype}")
    if shape is not None and a.shape != tuple(shape):
        raise ConfigError(f"{name} has shape {a.shape}; expected {tuple(shape)}")
    return np.ascontiguousarray(a, dtype=dtype)
