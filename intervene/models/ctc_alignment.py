"""Word timings from a CTC model (Wav2Vec2, HuBERT ``*ForCTC``): forced alignment.

The transcript is spelled in the model's vocabulary (letters, with the word delimiter ``|``
between words, as the model was trained), and :func:`torchaudio.functional.forced_align`
finds the most likely CTC path through the model's frame log-probabilities that emits exactly
those tokens. :func:`torchaudio.functional.merge_tokens` turns the path into one span per
token; a word runs from its first letter's first frame to its last letter's last frame. Its
confidence is the mean probability of its letters along the path.

Characters the vocabulary lacks (punctuation, digits in a letters-only vocabulary) are left
out; a word with none of its characters in the vocabulary gets an empty span at the next
word's onset with confidence 0 (flagged, not dropped).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from tasks.aligned_words import AlignedWord
from tasks.errors import AudioError, CapabilityError, ConfigError
from tasks.transcript_text import split_words

__all__ = ["align_ctc", "ctc_targets"]

logger = logging.getLogger(__name__)


def _spelling(vocab: dict, word: str) -> list[int]:
    letters = [k for k in vocab if len(k) == 1 and k.isalpha()]
    upper = sum(k.isupper() for k in letters) > sum(k.islower() for k in letters)
    text = word.upper() if upper else word.lower()
    return [vocab[ch] for ch in text if ch in vocab]


def ctc_targets(tokenizer, transcript: str) -> tuple[list[str], list[int], list[int]]:
    """The target token ids of ``transcript`` and the word each belongs to (-1: delimiter).

    Returns
    -------
    labels : list of str
        The transcript's words.
    targets : list of int
    owners : list of int
        For each target, the index of its word, or -1 for a word delimiter.
    """
    vocab = tokenizer.get_vocab()
    delimiter = getattr(tokenizer, "word_delimiter_token", None)
    words = split_words(" ".join(str(transcript).split()))
    if not words:
        raise ConfigError(f"transcript ({transcript!r}) has no words; give the words said in the audio")
    targets, owners = [], []
    for i, w in enumerate(words):
        ids = _spelling(vocab, w.label)
        if not ids:
            logger.warning("word %r has no character in the model's vocabulary; it gets an empty span", w.label)
            continue
        if targets and delimiter in vocab:
            targets.append(vocab[delimiter])
            owners.append(-1)
        targets += ids
        owners += [i] * len(ids)
    if not targets:
        raise ConfigError(f"no character of transcript {transcript!r} is in the model's vocabulary")
    return [w.label for w in words], targets, owners


def align_ctc(model, audio: np.ndarray, transcript: str) -> list[AlignedWord]:
    """Word spans of ``transcript`` in ``audio`` by CTC forced alignment.

    Parameters
    ----------
    model : Wav2Vec2SpeechModel
        A ``*ForCTC`` checkpoint with its tokenizer (vocab.json).
    audio : np.ndarray, float32 (samples,) at 16 kHz (already checked)
    transcript : str

    Returns
    -------
    list of AlignedWord

    Raises
    ------
    CapabilityError
        The model is not a CTC model with a tokenizer.
    AudioError
        The audio is too short for the transcript (fewer frames than CTC needs).
    """
    from torchaudio.functional import forced_align, merge_tokens

    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or getattr(model, "labels", None):
        raise CapabilityError(
            f"model {model.name!r} is not a CTC model with a tokenizer (vocab.json), so it cannot align words; "
            "use a *ForCTC checkpoint or Whisper, or read word spans from a TextGrid (tasks.read_textgrid)"
        )
    labels, targets, owners = ctc_targets(tokenizer, transcript)
    with torch.no_grad():
        logits = model.logits(model.inputs(audio, model.sample_rate, checked=True))
    log_probs = torch.log_softmax(logits.float(), dim=-1).cpu()
    n_frames = log_probs.shape[1]
    repeats = sum(a == b for a, b in zip(targets, targets[1:]))
    if len(targets) + repeats > n_frames:
        raise AudioError(
            f"the audio ({audio.shape[0] / model.sample_rate:.2f} s, {n_frames} frames) is too short for a transcript "
            f"of {len(targets)} characters; check that the transcript belongs to this clip"
        )
    blank = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    path, scores = forced_align(log_probs, torch.tensor([targets], dtype=torch.int32), blank=blank)
    spans = merge_tokens(path[0], scores[0].exp(), blank=blank)
    frame_s = model.frame_s
    found: dict = {}
    for span, owner in zip(spans, owners):
        if owner >= 0:
            found.setdefault(owner, []).append(span)
    out: list = []
    for i, label in enumerate(labels):
        parts = found.get(i)
        if parts:
            out.append(AlignedWord(label, parts[0].start * frame_s, parts[-1].end * frame_s,
                                   float(np.mean([p.score for p in parts]))))  # fmt: skip
        else:
            out.append(None)
    for i in range(len(out) - 1, -1, -1):  # words without characters: empty span at the next onset
        if out[i] is None:
            at = out[i + 1].start_s if i + 1 < len(out) and out[i + 1] is not None else n_frames * frame_s
            out[i] = AlignedWord(labels[i], at, at, 0.0)
    return out
