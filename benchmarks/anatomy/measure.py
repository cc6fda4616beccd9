"""The model work of the anatomy benchmark, one resumable unit at a time.

Every function here computes one unit (a transcript under an intervention, a lens table, one
clip's cross-attention timings, a steering direction) and returns plain JSON values, which
``whisper_anatomy.py`` keeps in its :class:`~intervene.workstore.WorkStore`.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "alignment_unit",
    "encoder_lens_unit",
    "head_window",
    "logit_lens_unit",
    "splice_targets",
    "splice_unit",
    "steered",
    "steering_direction",
    "transcript_unit",
    "window",
]  # fmt: skip


def transcript_unit(model, audio, interventions=(), reference=None) -> dict:
    """``intervene.transcribe`` as JSON: text, WER and each reference word's status (no insertions)."""
    import intervene

    t = intervene.transcribe(model, audio, interventions=interventions, reference=reference)
    words = [{"word": w.word, "start_s": w.start_s, "status": w.status} for w in t.words if w.status != "inserted"]
    return {"text": t.text, "wer": t.wer, "words": words, "inserted": t.count("inserted") if reference else 0}


def window(model, k):
    """The attention window for ``k`` frames; ``"all"`` is a window as wide as the encoder (restricts nothing)."""
    import intervene

    return intervene.AttentionWindow(model.n_positions if k == "all" else int(k))


def head_window(k: int, layer: int, head: int):
    import intervene

    return intervene.AttentionWindow(int(k), layers=[layer], heads=[head])


# ------------------------------------------------------------------ silence splice
def splice_targets(utterance, n: int) -> list[int]:
    """Indices into ``utterance.words`` of ``n`` target words spread over the clip: single words
    of 4+ letters, not the first or the last word."""
    from intervene.readouts.transcript import normalize_words

    ok = [i for i, w in enumerate(utterance.words)
          if 0 < i < len(utterance.words) - 1 and len(normalize_words(w.word)) == 1 and len(normalize_words(w.word)[0]) >= 4]  # fmt: skip
    if not ok:
        return []
    picks = np.linspace(0, len(ok) - 1, num=min(n, len(ok)) + 2)[1:-1] if len(ok) > n else np.arange(len(ok))
    return sorted({ok[round(float(p))] for p in picks})


def splice_unit(model, clip, word_index: int, layer: int) -> dict:
    """The transcript with encoder layer ``layer``'s block output over one word's span replaced
    by a silent input's (Reid 2023's splice), and the target word's status."""
    import intervene

    span = clip.utterance.words[word_index]
    iv = intervene.Ablation(f"encoder.{layer}.block_output", kind="silence", times_s=(span.start_s, span.end_s))
    result = transcript_unit(model, clip.utterance, [iv], reference=clip.utterance)
    result["target"] = {"index": word_index, "word": span.word, "start_s": span.start_s, "end_s": span.end_s,
                        "status": status_at(result["words"], span.start_s)}  # fmt: skip
    return result


def status_at(words: list, start_s: float) -> str | None:
    """The status of the reference word whose span starts at ``start_s`` (None: not matched)."""
    for w in words:
        if w["start_s"] is not None and abs(w["start_s"] - start_s) < 1e-6:
            return w["status"]
    return None


# ------------------------------------------------------------------ lenses
def encoder_lens_unit(model, clip) -> dict:
    """WER per encoder layer read by the decoder (the transcript's own length bounds each decode)."""
    import intervene

    n_tokens = len(model.tokenizer(" " + clip.text, add_special_tokens=False)["input_ids"])
    table = intervene.encoder_lens(model, clip.utterance, reference=clip.text, top_k=3,
                                   max_new_tokens=min(440, int(1.5 * n_tokens) + 10))  # fmt: skip
    return {"layers": list(table.layers), "wer": [float(w) for w in table.wer], "transcripts": list(table.transcripts)}


def logit_lens_unit(model, word: str, voice: str, carrier: bool) -> dict:
    """The keyword's rank and probability at each decoder layer (logit lens), teacher-forced after
    the prompt (alone: the answer is the first word, capitalised as Whisper writes it) or after
    "Please say the word" (carrier)."""
    import intervene
    from benchmarks.anatomy.data import keyword_clip

    utt = keyword_clip(word, voice, carrier)
    prefix, answer = ("Please say the word", word.lower()) if carrier else (None, word.capitalize())
    table = intervene.logit_lens(model, utt, prefix=prefix, answer=answer, top_k=3)
    return {"word": word, "voice": voice, "carrier": carrier, "answer": table.answer, "text": table.text,
            "layers": list(table.layers), "ranks": [int(r) for r in table.answer_ranks],
            "probs": [float(p) for p in table.answer_probs], "first_top_layer": table.first_top_layer,
            "top_at_last": table.top_tokens(table.layers[-1])[0][0]}  # fmt: skip


# ------------------------------------------------------------------ alignment heads
def alignment_unit(model, clip) -> dict:
    """Word boundaries from each cross-attention head alone, and from the published heads
    together (openai-whisper's DTW, no lag correction), against the synthesizer's spans.

    Returns per head (``"layer.head"``) and for ``"published"`` the signed onset and offset
    errors in ms of the words that could be matched.
    """
    from benchmarks.wordtiming.measure import match_words, word_errors
    from intervene.models.whisper.alignment import (
        SAMPLES_PER_FRAME,
        cross_attention_scores,
        dtw_path,
        median_filter,
    )
    from intervene.models.whisper.sizes import alignment_heads
    from tasks.transcript_text import whisper_casing, word_tokens

    audio = model.prepare(clip.utterance.audio, clip.utterance.sample_rate)
    ids, _, groups = word_tokens(model.tokenizer, whisper_casing(clip.text))
    prompt = list(model.prompt_ids)
    tokens = prompt + list(ids) + [model.eot_id]
    n_layers, n_heads = model.num_layers("decoder"), int(model.config.decoder_attention_heads)
    heads = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    inputs = model.inputs(audio, model.sample_rate, torch.tensor([tokens]), checked=True)
    scores, _ = cross_attention_scores(model, inputs, heads)
    n_frames = int(min(max(audio.shape[0] // SAMPLES_PER_FRAME, 1), model.n_positions))
    w = scores[..., :n_frames].softmax(dim=-1)
    std, mean = torch.std_mean(w, dim=-2, keepdim=True, unbiased=False)
    w = median_filter((w - mean) / std.clamp_min(1e-12))[:, len(prompt) - 1 : -1]  # (heads, tokens + 1, frames)
    frame_s = SAMPLES_PER_FRAME / model.sample_rate

    def errors(matrix) -> dict:
        rows, cols = dtw_path(-matrix.double().cpu().numpy())
        jump_s = cols[np.diff(rows, prepend=-1).astype(bool)] * frame_s
        spans = [(clip.text, float(jump_s[g[0]]), float(jump_s[g[-1] + 1])) for g in groups]
        pairs, skipped = match_words(clip.text, spans, clip.utterance.words)
        return word_errors(pairs) | {"skipped": skipped}

    published, origin = alignment_heads(model)
    index = {h: i for i, h in enumerate(heads)}
    out = {f"{layer}.{head}": errors(w[index[layer, head]]) for layer, head in heads}
    out["published"] = errors(w[[index[tuple(h)] for h in published]].mean(0))
    out["all_heads"] = errors(w.mean(0))
    return {"heads": out, "published_heads": [list(h) for h in published], "origin": origin}


# ------------------------------------------------------------------ steering
def steering_direction(model, site: str, nonspeech: dict) -> list:
    """Speech minus non-speech at ``site`` (mean over the clips' frames), as a list of floats."""
    import intervene
    from benchmarks.anatomy.data import direction_clips

    vector = intervene.direction(model, site, direction_clips(), list(nonspeech.values()))
    return [float(v) for v in vector]


def steered(site: str, vector, alpha: float) -> list:
    """The interventions of one steering strength (none for alpha 0: the plain run)."""
    import intervene

    if alpha == 0:
        return []
    return [intervene.Steering(site, np.asarray(vector, dtype=np.float32), float(alpha))]
