"""Word timings from Whisper: dynamic time warping over the alignment heads' cross-attention.

The method of openai-whisper's word timestamps (``whisper/timing.py`` ``find_alignment``,
MIT), on a transformers Whisper:

1. Teacher-force the transcript: prompt (ending in ``<|notimestamps|>``), its tokens, end.
2. Read the cross-attention scores ``q k^T / sqrt(head_dim)`` of the alignment heads
   (:func:`~intervene.models.whisper.sizes.alignment_heads`) from the ``q_proj`` and
   ``k_proj`` outputs of the decoder's cross-attention (hooks from :mod:`intervene.hooks`),
   keep the encoder frames covering the audio, softmax over them.
3. Standardise each head over the tokens, median-filter over time (width 7), average the
   heads, and run DTW on the negated matrix (rows: the prompt's last position and each
   transcript token; columns: 20 ms frames).
4. A word starts where the path enters the row of its first token and ends where it enters
   the row after its last token. Its confidence is the mean probability the model gave its
   tokens (openai-whisper's word ``probability``).

Punctuation tokens take part in the DTW but belong to no word (as openai-whisper's
``merge_punctuations``, a word keeps its own end).

The boundaries this gives are shifted by a constant per model: whisper-tiny.en's heads put
every boundary about 70 ms late, whisper-base's about 80 ms early (median signed errors on
espeak-ng speech). :data:`CALIBRATED_LAG_S` holds the shift measured per model by
``python -m benchmarks.alignment --calibrate`` (sentences, voices and a rate disjoint from the
benchmark's evaluation set); :func:`align_whisper` subtracts it unless ``lag_s`` is given
(``lag_s=0``: openai-whisper's timings as they are).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from intervene.hooks import record
from intervene.models.whisper.sizes import alignment_heads, size_of
from tasks.aligned_words import AlignedWord
from tasks.errors import ConfigError
from tasks.transcript_text import whisper_casing, word_tokens

__all__ = ["align_whisper", "dtw_path", "median_filter", "alignment_matrix", "cross_attention_scores",
           "CALIBRATED_LAG_S", "lag_of"]

logger = logging.getLogger(__name__)

MEDFILT_WIDTH = 7
SAMPLES_PER_FRAME = 320  # 20 ms encoder frames at 16 kHz
CALIBRATED_LAG_S = {"tiny.en": 0.07, "base": -0.08}
"""How late DTW boundaries come out, per published size, in seconds: the median signed error of
onsets and offsets pooled, rounded to 10 ms, on the calibration set of benchmarks/alignment.py
(4 sentences x 7 voices x 170 wpm, 117 words; 2026-11-30). Sizes not listed are not corrected."""


def lag_of(model) -> float:
    """The calibrated lag of ``model`` in seconds (0 for sizes never calibrated)."""
    size = size_of(model.config, model.name)
    return float(CALIBRATED_LAG_S.get(size.name, 0.0)) if size is not None else 0.0


def median_filter(x: torch.Tensor, width: int = MEDFILT_WIDTH) -> torch.Tensor:
    """Median over a sliding window of odd ``width`` along the last axis (reflect padding)."""
    if width < 1 or width % 2 == 0:
        raise ConfigError(f"median filter width ({width!r}) must be an odd positive integer")
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    lead = x.shape[:-1]
    flat = x.reshape(1, -1, x.shape[-1])
    padded = torch.nn.functional.pad(flat, (pad, pad), mode="reflect")
    out = padded.unfold(-1, width, 1).sort(dim=-1).values[..., pad]
    return out.reshape(*lead, x.shape[-1])


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost monotonic path through ``cost`` (rows, columns) from (0, 0) to the last cell.

    Steps are diagonal, down (next row, same column) or right (same row, next column), with
    openai-whisper's tie-breaking. Computed one anti-diagonal at a time.

    Returns
    -------
    (row_indices, column_indices) : int arrays of the path, in order
    """
    x = np.asarray(cost, dtype=np.float64)
    n, m = x.shape
    acc = np.full((n + 1, m + 1), np.inf)
    trace = -np.ones((n + 1, m + 1), dtype=np.int8)
    acc[0, 0] = 0.0
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        c0, c1, c2 = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        t = np.where((c0 < c1) & (c0 < c2), 0, np.where((c1 < c0) & (c1 < c2), 1, 2))
        acc[i, j] = x[i - 1, j - 1] + np.choose(t, (c0, c1, c2))
        trace[i, j] = t
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = n, m
    rows, cols = [], []
    while i > 0 or j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    return np.asarray(rows[::-1]), np.asarray(cols[::-1])


def cross_attention_scores(model, inputs: dict, heads) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-softmax cross-attention scores ``q k^T / sqrt(head_dim)`` of ``heads``, and the logits.

    Read from the ``q_proj`` / ``k_proj`` outputs of the decoder layers' cross-attention during
    one forward of ``inputs`` (one clip, one decoder row).

    Returns
    -------
    scores : torch.Tensor (len(heads), tokens, encoder positions)
    logits : torch.Tensor (tokens, vocab)
    """
    layers = sorted({layer for layer, _ in heads})
    decoder_layers = model.core.decoder.layers
    modules = []
    for layer in layers:
        attn = decoder_layers[layer].encoder_attn
        modules += [(f"q{layer}", attn.q_proj, "out"), (f"k{layer}", attn.k_proj, "out")]
    with torch.no_grad(), record(modules) as store:
        logits = model.logits(inputs)[0].float()
    n_heads = int(model.config.decoder_attention_heads)
    head_dim = int(model.config.d_model) // n_heads
    scores = []
    for layer, head in heads:
        q = store[f"q{layer}"][0].float().view(logits.shape[0], n_heads, head_dim)[:, head]
        k = store[f"k{layer}"][0].float().view(-1, n_heads, head_dim)[:, head]
        scores.append((q @ k.T) * head_dim**-0.5)
    return torch.stack(scores), logits


def alignment_matrix(model, audio: np.ndarray, token_ids: list) -> tuple[torch.Tensor, np.ndarray, list]:
    """The averaged, filtered attention of the alignment heads, and each token's probability.

    Parameters
    ----------
    model : WhisperSpeechModel
    audio : np.ndarray, float32 (samples,) at 16 kHz (already checked)
    token_ids : list of int
        The transcript's tokens (no special tokens).

    Returns
    -------
    matrix : torch.Tensor (len(token_ids) + 1, frames)
        Rows: the prompt's last position, then each token's position; columns: encoder
        frames covering the audio.
    token_probs : np.ndarray (len(token_ids),)
        Probability of each transcript token under teacher forcing (over text tokens).
    heads : list of (layer, head)
    """
    prompt = list(model.prompt_ids)
    tokens = prompt + list(token_ids) + [model.eot_id]
    limit = int(getattr(model.config, "max_target_positions", 448))
    if len(tokens) > limit:
        raise ConfigError(
            f"the transcript is {len(token_ids)} tokens; Whisper's decoder takes at most {limit - len(prompt) - 1} "
            "after its prompt. Cut the clip and its transcript into shorter pieces"
        )
    heads, origin = alignment_heads(model)
    logger.debug("aligning with %d heads (%s)", len(heads), origin)
    inputs = model.inputs(audio, model.sample_rate, torch.tensor([tokens]), checked=True)
    scores, logits = cross_attention_scores(model, inputs, heads)
    first = len(prompt) - 1
    text_logits = logits[first : first + len(token_ids), : model.eot_id]
    probs = text_logits.softmax(dim=-1)[torch.arange(len(token_ids)), torch.tensor(token_ids)]
    n_frames = int(min(max(audio.shape[0] // SAMPLES_PER_FRAME, 1), model.n_positions))
    w = scores[..., :n_frames].softmax(dim=-1)  # (heads, tokens, frames)
    std, mean = torch.std_mean(w, dim=-2, keepdim=True, unbiased=False)
    w = median_filter((w - mean) / std.clamp_min(1e-12))
    matrix = w.mean(dim=0)[first:-1]
    return matrix, probs.cpu().numpy(), heads


def align_whisper(model, audio: np.ndarray, transcript: str, lag_s: float | None = None) -> list[AlignedWord]:
    """Word spans of ``transcript`` in ``audio`` by DTW over the alignment heads.

    Parameters
    ----------
    model : WhisperSpeechModel
    audio : np.ndarray, float32 (samples,) at 16 kHz (already checked)
    transcript : str
        What is said; an all-capitals transcript is re-cased as Whisper writes.
    lag_s : float, optional
        Seconds subtracted from every boundary (default: :func:`lag_of` the model).

    Returns
    -------
    list of AlignedWord
        One per transcript word (labels as written in ``transcript``), in order, times in
        seconds on the 20 ms frame grid, with the mean token probability as confidence.
    """
    text = whisper_casing(transcript)
    ids, words, groups = word_tokens(model.tokenizer, text)
    labels = [w.label for w in _original_words(transcript, len(words))] or [w.label for w in words]
    matrix, probs, _ = alignment_matrix(model, audio, ids)
    rows, cols = dtw_path(-matrix.double().cpu().numpy())
    jumps = np.diff(rows, prepend=-1).astype(bool)
    lag_s = lag_of(model) if lag_s is None else float(lag_s)
    duration_s = audio.shape[0] / model.sample_rate
    jump_s = np.clip(cols[jumps] * (SAMPLES_PER_FRAME / model.sample_rate) - lag_s, 0.0, duration_s)
    out = []
    for label, group in zip(labels, groups):
        start_s, end_s = float(jump_s[group[0]]), float(jump_s[group[-1] + 1])
        out.append(AlignedWord(label, start_s, max(end_s, start_s), float(np.mean(probs[group]))))
    return out


def _original_words(transcript: str, n: int) -> list:
    """The transcript's own words (before re-casing), when they line up with the cased ones."""
    from tasks.transcript_text import split_words

    words = split_words(" ".join(str(transcript).split()))
    return words if len(words) == n else []
