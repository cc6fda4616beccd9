"""The encoder lens and the logit lens: read a layer the way the model reads its last one.

:func:`encoder_lens` (DecoderLens, Langedijk et al. 2024): the decoder cross-attends to an
intermediate encoder layer (through the encoder's final layer norm) instead of the last; per
layer, the greedy transcript it writes (with its WER) and the next-token tables of one
teacher-forced sequence. :func:`logit_lens` (nostalgebraist 2020): each decoder layer's
residual stream through the final layer norm and the unembedding; per layer, the next-token
tables. Both return a :class:`~intervene.lenses.table.LensTable`.

The teacher-forced sequence is the model's prompt followed by ``prefix`` (when given) or the
model's own greedy transcript; each column is scored on the token after it, and the answer is
the token after the prefix (``answer``, or the model's own top token there) or, without a
prefix, the transcript's first token. What is read inside the model comes from its adapter
(:meth:`SpeechModel.lens <intervene.models.SpeechModel.lens>`); models without a decoder raise
:class:`~tasks.errors.CapabilityError`.
"""

from __future__ import annotations

import numpy as np
import torch

from intervene.anatomy.base import as_clip
from intervene.lenses.table import LensTable
from tasks.errors import ConfigError

__all__ = ["encoder_lens", "logit_lens"]


def _check_top_k(top_k) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= 100:
        raise ConfigError(f"top_k ({top_k!r}) must be an integer between 1 and 100")
    return int(top_k)


def _check_prefix(lens, prefix):
    if prefix is not None and not isinstance(prefix, str):
        raise ConfigError(f"prefix ({prefix!r}) must be text (the transcript before the answer) or None")
    if prefix is not None and not prefix.strip():
        raise ConfigError(f"prefix ({prefix!r}) is empty; give the text before the answer, or None (the model's own "
                          "transcript is read and the answer is its first token, or `answer` there)")
    if prefix is not None:
        room = lens.max_positions - len(lens.prompt_ids)
        n = len(lens.text_tokens(prefix.strip()))
        if n > room:
            raise ConfigError(f"prefix is {n} tokens; the decoder takes at most {room} after its prompt")
    return prefix


def _answer_id(lens, answer) -> int | None:
    """The answer's token: an id, or the first token of a word as the decoder writes it."""
    if answer is None:
        return None
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        vocab = lens.vocab_size
        if not 0 <= answer < vocab:
            raise ConfigError(f"answer ({answer!r}) must be a token id 0..{vocab - 1}")
        return int(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise ConfigError(f"answer ({answer!r}) must be a word (or a token id); it is the token after the prefix")
    return lens.text_tokens(answer.strip())[0]


def _sequence(lens, prefix, answer_id, own_tokens: list) -> tuple[list, list, int]:
    """``(decoder input ids, targets of the columns, answer column)``; the columns start at the
    prompt's last position. A target of None is filled in with the model's own top token."""
    prompt = lens.prompt_ids
    if prefix is None and answer_id is None:
        toks = list(own_tokens)
        ids, targets, answer_position = prompt + toks, toks + [lens.eot_id], 0
    else:
        toks = lens.text_tokens(prefix.strip()) if prefix is not None else []
        ids, targets, answer_position = prompt + toks, toks + [answer_id], len(toks)
    if len(ids) > lens.max_positions:
        raise ConfigError(f"the prefix is {len(ids) - len(prompt)} tokens; the decoder takes at most "
                          f"{lens.max_positions - len(prompt)} after its prompt")
    return ids, targets, answer_position


@torch.no_grad()
def _tables(logits: torch.Tensor, targets: list, top_k: int) -> dict:
    """Top tokens and the targets' probabilities and ranks from ``(layers, tokens, vocab)`` logits."""
    logits = logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    top = logp.topk(top_k, dim=-1)
    t = torch.as_tensor(targets, dtype=torch.long, device=logits.device)
    index = t[None, :, None].expand(logits.shape[0], -1, 1)
    target_logit = logits.gather(-1, index)
    return {
        "top_ids": top.indices.cpu().numpy().astype(np.int64),
        "top_probs": top.values.exp().cpu().numpy().astype(np.float32),
        "target_probs": logp.gather(-1, index)[..., 0].exp().cpu().numpy().astype(np.float32),
        "target_ranks": (logits > target_logit).sum(-1).cpu().numpy().astype(np.int64),
    }


def _build(lens, kind, layers, logits, ids, targets, answer_position, top_k, **fields) -> LensTable:
    """A LensTable from the per-layer logits over the whole decoder input ``(layers, len(ids), vocab)``."""
    first = len(lens.prompt_ids) - 1
    logits = logits[:, first:]
    if targets[answer_position] is None:  # the answer: the model's own top token (the last row)
        targets = list(targets)
        targets[answer_position] = int(logits[-1, answer_position].argmax())
    tables = _tables(logits, targets, top_k)
    token_ids = ids[first:]
    used = set(token_ids) | set(targets) | {int(i) for i in np.unique(tables["top_ids"])}
    return LensTable(
        kind=kind, layers=tuple(layers), tokens=tuple(lens.token_text(i) for i in token_ids),
        token_ids=np.asarray(token_ids), targets=np.asarray(targets), vocab={i: lens.token_text(i) for i in used},
        answer_position=answer_position, **tables, **fields,
    )  # fmt: skip


def _reference(reference, audio) -> tuple[str | None, str | None]:
    if reference is None:
        text = getattr(audio, "text", None)
        return (text, "utterance") if isinstance(text, str) and text.strip() else (None, None)
    text = reference.text if hasattr(reference, "text") else reference
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"reference ({text!r}) is an empty transcript; give the words the audio says")
    return text, "given"


def encoder_lens(model, audio, *, sample_rate: int = 16000, reference=None, prefix: str | None = None, answer=None,
                 top_k: int = 5, max_new_tokens: int = 120) -> LensTable:  # fmt: skip
    """The decoder reading each encoder layer (through the encoder's final layer norm).

    Parameters
    ----------
    model : SpeechModel
        A model with a decoder (Whisper).
    audio : np.ndarray (samples,) or Utterance
    sample_rate : int
        Rate of an array ``audio``.
    reference : str or Utterance, optional
        What the audio says, for each layer's WER (default: an Utterance's own text, else the
        model's own transcript, so the last layer's WER is 0).
    prefix : str, optional
        Teacher-force this text after the prompt; the answer is the token after it. Default:
        the model's own transcript is teacher-forced and the answer is its first token.
    answer : str or int, optional
        The answer's word, written as the decoder would write it ("Yes" at the start of a
        Whisper transcript; its first token with a leading space is used), or a token id
        (default: the model's own top token after the prefix).
    top_k : int
        Top tokens kept per layer and column.
    max_new_tokens : int
        Greedy decoding length per layer (a layer the decoder cannot read may repeat itself).

    Returns
    -------
    LensTable
        Layers ``-1`` (the conv stem + positions) to the last encoder layer (the model's own
        reading), with ``transcripts`` and ``wer`` per layer.

    Raises
    ------
    CapabilityError
        A model without a decoder.
    ConfigError
        Bad audio, an empty reference, a prefix that is not text or is empty, a bad answer or top_k.

    Examples
    --------
    >>> table = intervene.encoder_lens(model, tasks.speak("turn the lights off"))  # doctest: +SKIP
    >>> list(zip(table.layers, table.wer))  # doctest: +SKIP
    [(-1, 1.0), (0, 1.0), (1, 1.0), (2, 0.75), (3, 0.0)]
    """
    from intervene.readouts.transcript import align_words

    lens = model.lens()
    top_k, prefix = _check_top_k(top_k), _check_prefix(lens, prefix)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 440:
        raise ConfigError(f"max_new_tokens ({max_new_tokens!r}) must be an integer between 1 and 440")
    answer_id = _answer_id(lens, answer)
    ref_text, ref_source = _reference(reference, audio)
    clip = as_clip(audio, "audio", sample_rate)
    checked = model.prepare(clip.audio, clip.sample_rate, name="audio")
    readouts = lens.encoder_readouts(checked)
    greedy = [lens.greedy(enc, max_new_tokens) for enc in readouts]
    transcripts = [lens.decode_text(t) for t in greedy]
    own = transcripts[-1]
    if ref_text is None:
        ref_text, ref_source = own, "model"
    wer = [align_words(ref_text, t)[0] if ref_text.strip() else float(bool(t.strip())) for t in transcripts]
    ids, targets, position = _sequence(lens, prefix, answer_id, greedy[-1])
    row = torch.tensor([ids], dtype=torch.long, device=model.device)
    logits = torch.stack([lens.logits(enc, row) for enc in readouts])
    return _build(lens, "encoder", range(-1, len(readouts) - 1), logits, ids, targets, position, top_k,
                  text=own, model=model.name, prefix=prefix, reference=ref_text, reference_source=ref_source,
                  transcripts=tuple(transcripts), wer=np.asarray(wer), duration_s=checked.shape[0] / model.sample_rate,
                  meta={"top_k": top_k, "max_new_tokens": max_new_tokens,
                        "reads": "decoder cross-attending to encoder.layer_norm(residual after each encoder layer)"})


def logit_lens(model, audio, prefix: str | None = None, *, sample_rate: int = 16000, answer=None,
               top_k: int = 5) -> LensTable:  # fmt: skip
    """Each decoder layer's residual stream through the final norm and the unembedding.

    Parameters
    ----------
    model : SpeechModel
        A model with a decoder (Whisper).
    audio : np.ndarray (samples,) or Utterance
    prefix : str, optional
        Teacher-force this (non-empty) text after the prompt; the answer is the token after
        it. Default: the model's own transcript is teacher-forced and the answer is its first
        token; with ``answer`` and no prefix, the table has one column, the first position,
        scored on ``answer``.
    sample_rate : int
        Rate of an array ``audio``.
    answer : str or int, optional
        The answer's word or token id (default: the model's own top token after the prefix).
    top_k : int

    Returns
    -------
    LensTable
        Layers ``-1`` (token + position embeddings) to the last decoder layer (whose row is
        the model's own output distribution).

    Raises
    ------
    CapabilityError
        A model without a decoder.
    ConfigError
        Bad audio, a prefix that is not text or is empty, a bad answer or top_k.

    Examples
    --------
    >>> table = intervene.logit_lens(model, tasks.speak("yes"), answer="Yes")  # doctest: +SKIP
    >>> table.answer, table.first_top_layer  # doctest: +SKIP
    (' Yes', 2)
    """
    lens = model.lens()
    top_k, prefix = _check_top_k(top_k), _check_prefix(lens, prefix)
    answer_id = _answer_id(lens, answer)
    clip = as_clip(audio, "audio", sample_rate)
    checked = model.prepare(clip.audio, clip.sample_rate, name="audio")
    encoded = lens.encoder_output(checked)
    own_tokens = lens.greedy(encoded, 120)
    ids, targets, position = _sequence(lens, prefix, answer_id, own_tokens)
    row = torch.tensor([ids], dtype=torch.long, device=model.device)
    logits = lens.decoder_layer_logits(encoded, row)
    return _build(lens, "logit", range(-1, logits.shape[0] - 1), logits, ids, targets, position, top_k,
                  text=lens.decode_text(own_tokens), model=model.name, prefix=prefix,
                  duration_s=checked.shape[0] / model.sample_rate,
                  meta={"top_k": top_k, "reads": "decoder.layer_norm(residual after each decoder layer) @ unembedding"})
