"""Transcripts under intervention on the real whisper-tiny.en: WER, word statuses, Reid's silence splice."""

from __future__ import annotations

import numpy as np
import pytest

import intervene
from intervene.readouts import is_empty_transcript, nonspeech_rate, transcript_pair

SENTENCE = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def sentence():
    import tasks

    return tasks.speak(SENTENCE, voice="en-us")


@pytest.fixture(scope="module")
def base(tiny_en, sentence):
    return intervene.transcribe(tiny_en, sentence, reference=sentence)


def test_reference_gives_wer_statuses_and_word_times(base, sentence):
    assert base.reference == SENTENCE and base.wer is not None and base.wer <= 0.34
    ref_words = [w for w in base.words if w.status != "inserted"]
    assert [w.word for w in ref_words] == SENTENCE.split()
    assert base.count("kept") >= 6
    for w, span in zip(ref_words, sentence.words):
        assert (w.start_s, w.end_s) == (span.start_s, span.end_s)
    expected_wer = (base.count("deleted") + base.count("substituted") + base.count("inserted")) / 9
    assert base.wer == pytest.approx(expected_wer)


def test_silence_splice_on_the_last_encoder_layer_deletes_the_word(tiny_en, sentence, base):
    """Reid (2023): the last encoder layer's frames of a word, replaced by a silent input's, delete the word."""
    span = sentence.word_span("jumps")
    splice = intervene.Ablation("encoder.3.block_output", kind="silence", times_s=(span.start_s, span.end_s))
    t = intervene.transcribe(tiny_en, sentence, interventions=splice, reference=sentence)
    statuses = {w.word: w.status for w in t.words if w.status != "inserted"}
    assert statuses["jumps"] == "deleted", t.text
    others = [(a.status, b.status) for a, b in zip(base.words, t.words) if a.word != "jumps"]
    assert sum(x == y for x, y in others) >= 6, (base.text, t.text)
    assert t.count("deleted") > base.count("deleted") and "silence" in t.interventions[0]


def test_windows_all_frames_keep_the_transcript_and_ten_frames_break_it(tiny_en, sentence, base):
    wide = intervene.transcribe(tiny_en, sentence, interventions=intervene.AttentionWindow(1499), reference=sentence)
    assert wide.text == base.text
    narrow = intervene.transcribe(tiny_en, sentence, interventions=intervene.AttentionWindow(10), reference=sentence)
    assert narrow.wer >= 0.5, narrow.text


def test_without_a_reference_there_is_no_wer(tiny_en, sentence, base):
    steer = intervene.Steering("encoder.3.block_output", np.ones(384, np.float32), 0.0)  # alpha 0: unchanged
    t = intervene.transcribe(tiny_en, sentence.audio, 16000, interventions=[steer])
    assert t.wer is None and t.text == base.text
    assert all(w.status is None and w.start_s is None for w in t.words)


def test_nonspeech_rate_counts_non_empty_transcripts(tiny_en):
    from intervene.readouts import nonspeech_clips

    clips = nonspeech_clips(duration_s=1.0)
    chosen = {k: clips[k] for k in ("silence", "tone_1khz")}
    res = nonspeech_rate(tiny_en, chosen)
    assert set(res.transcripts) == set(chosen)
    assert res.rate == sum(not is_empty_transcript(t) for t in res.transcripts.values()) / 2
    assert is_empty_transcript(" ... ") and not is_empty_transcript("you")


def test_transcript_logprob_map_of_cross_attention_heads(tiny_en, sentence):
    from tasks import TranscriptTask

    task = TranscriptTask(SENTENCE)
    pair = transcript_pair(sentence)
    heads = tiny_en.sites("decoder", "cross_attention_head", layers=[3])
    cmap = intervene.patch(tiny_en, task, pair, heads, unit="all", span="all", method="head_mask", direction="noise")
    assert cmap.dims == ("layer", "head") and cmap.values.shape == (1, 6)
    assert cmap.meta.metric == "transcript_logprob" and all(g["ok"] for g in cmap.meta.guards)
    assert cmap.clean_metric > cmap.corrupt_metric + 10  # speech explains its transcript far better than silence
    assert np.isfinite(cmap.values).all()
