"""Whisper word timings: DTW over the alignment heads (intervene/models/whisper/alignment.py, sizes.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import intervene
from intervene.models.whisper import alignment as A
from intervene.models.whisper.sizes import SIZES, alignment_heads, size_named, size_of


def _dtw_reference(x):
    """Textbook DTW with openai-whisper's tie-breaking, one cell at a time."""
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0
    trace = np.zeros((n + 1, m + 1), int)
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            t = 0 if (c0 < c1 and c0 < c2) else 1 if (c1 < c0 and c1 < c2) else 2
            cost[i, j] = x[i - 1, j - 1] + (c0, c1, c2)[t]
            trace[i, j] = t
    trace[0, :], trace[:, 0] = 2, 1
    i, j, path = n, m, []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        i, j = (i - 1, j - 1) if trace[i, j] == 0 else (i - 1, j) if trace[i, j] == 1 else (i, j - 1)
    return np.array(path[::-1]).T


def test_dtw_matches_the_cell_by_cell_recursion(rng):
    for n, m in ((1, 1), (3, 9), (7, 5), (12, 40)):
        x = rng.normal(size=(n, m))
        rows, cols = A.dtw_path(x)
        ref = _dtw_reference(x)
        assert np.array_equal(rows, ref[0]) and np.array_equal(cols, ref[1])
        assert rows[0] == cols[0] == 0 and rows[-1] == n - 1 and cols[-1] == m - 1
        assert np.all(np.diff(rows) >= 0) and np.all(np.diff(cols) >= 0)


def test_dtw_follows_a_cheap_staircase():
    x = np.ones((3, 12))
    x[0, :4] = x[1, 4:9] = x[2, 9:] = 0.0
    rows, cols = A.dtw_path(x)
    first = [int(cols[np.argmax(rows == r)]) for r in range(3)]
    assert first == [0, 4, 9]


def test_median_filter_matches_scipy(rng):
    from scipy.ndimage import median_filter

    x = torch.tensor(rng.normal(size=(2, 3, 40)), dtype=torch.float64)
    ours = A.median_filter(x, 7).numpy()
    ref = median_filter(x.numpy(), size=(1, 1, 7), mode="mirror")
    assert np.allclose(ours, ref)


def test_scores_are_the_model_s_own_cross_attention(tiny_whisper):
    """softmax(q k^T / sqrt(d)) from the q/k projections equals transformers' eager attention weights."""
    model = tiny_whisper
    heads = [(0, 1), (1, 0)]
    ids = torch.tensor([model.prompt_ids + [1000, 2000]])
    inputs = model.inputs(np.random.default_rng(0).normal(size=8000).astype(np.float32) * 0.1, 16000, ids)
    scores, _ = A.cross_attention_scores(model, inputs, heads)
    saved = model.model.config._attn_implementation
    model.model.config._attn_implementation = "eager"
    try:
        with torch.no_grad():
            out = model.model(**inputs, output_attentions=True, use_cache=False)
    finally:
        model.model.config._attn_implementation = saved
    for k, (layer, head) in enumerate(heads):
        assert torch.allclose(scores[k].softmax(-1), out.cross_attentions[layer][0, head], atol=1e-5)


def test_published_heads_fit_every_size_and_carry_over_from_openai_whisper():
    assert SIZES["tiny.en"].alignment_heads == ((1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4))
    assert SIZES["base"].alignment_heads == ((3, 1), (4, 2), (4, 3), (4, 7), (5, 1), (5, 2), (5, 4), (5, 6))
    for size in SIZES.values():
        assert all(0 <= a < size.decoder_layers and 0 <= b < size.heads for a, b in size.alignment_heads), size.name
    assert size_named("openai/whisper-small.en").name == "small.en"
    assert size_named("whisper-large").name == "large-v3" and size_named("distil-large-v3") is None


def test_heads_come_from_the_checkpoint_then_the_table_then_a_default(tiny_en, tiny_whisper):
    assert alignment_heads(tiny_en) == (list(SIZES["tiny.en"].alignment_heads), "table:tiny.en")
    assert size_of(tiny_en.config, "some-other-name").name == "tiny.en"  # by shape
    heads, origin = alignment_heads(tiny_whisper)
    assert origin == "default" and heads == [(1, 0), (1, 1)]
    tiny_whisper.model.generation_config.alignment_heads = [[0, 1]]
    try:
        assert alignment_heads(tiny_whisper) == ([(0, 1)], "checkpoint")
    finally:
        tiny_whisper.model.generation_config.alignment_heads = None


@pytest.fixture(scope="module")
def sentence():
    import tasks

    utt = tasks.speak("the quick brown fox jumps over the lazy dog", voice="en-gb-x-rp", rate=160)
    return utt.padded(utt.duration_s + 0.6, onset_s=0.3)


def test_tiny_en_finds_the_words_of_a_sentence(tiny_en, sentence):
    words = intervene.align(tiny_en, sentence.audio, sentence.text)
    assert [w.word for w in words] == sentence.text.split()
    starts = np.array([w.start_s for w in words])
    ends = np.array([w.end_s for w in words])
    assert np.all(np.diff(starts) > 0) and np.all(ends >= starts) and np.all(ends[:-1] <= starts[1:] + 1e-9)
    ref = [w for w in sentence.words]
    assert len(ref) == len(words)
    onset_ms = 1000 * np.abs(starts - np.array([w.start_s for w in ref]))
    offset_ms = 1000 * np.abs(ends - np.array([w.end_s for w in ref]))
    assert np.median(onset_ms) <= 60 and np.median(offset_ms) <= 60, (onset_ms, offset_ms)
    assert not words.low_confidence and words.confidence > 0.3
    raw = tiny_en.align_words(sentence.audio, sentence.text, lag_s=0.0)
    lag = A.lag_of(tiny_en)
    assert lag == A.CALIBRATED_LAG_S["tiny.en"] > 0
    shifted = tiny_en.align_words(sentence.audio, sentence.text)
    assert np.allclose([s.start_s for s in shifted], [min(max(r.start_s - lag, 0.0), sentence.duration_s) for r in raw])


def test_a_transcript_that_does_not_match_is_flagged(tiny_en, sentence):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        words = intervene.align(tiny_en, sentence.audio, "seven purple elephants sang loudly at midnight")
    assert words.low_confidence and words.confidence < 0.05
    assert len(words) == 7 and all(w.low_confidence for w in words)  # flagged, not dropped
    assert any("may not match the audio" in str(w.message) for w in caught)
