"""benchmarks/alignment.py: scoring aligned spans against reference spans, and a --quick run (slow)."""

from __future__ import annotations

import json

import pytest

from benchmarks.wordtiming.measure import lag_estimate, match_words, summarize, word_errors
from tasks.utterance import WordSpan


def test_merged_reference_spans_are_left_out():
    text = "turn it on in the kitchen"
    aligned = [WordSpan(w, i * 0.2, i * 0.2 + 0.15) for i, w in enumerate(text.split())]
    reference = [WordSpan("turn", 0.01, 0.16), WordSpan("it", 0.2, 0.35), WordSpan("on", 0.4, 0.55),
                 WordSpan("in the", 0.6, 0.95), WordSpan("kitchen", 1.02, 1.1)]  # fmt: skip
    pairs, skipped = match_words(text, aligned, reference)
    assert [a.word for a, _ in pairs] == ["turn", "it", "on", "kitchen"] and skipped == 2
    errors = word_errors(pairs)
    assert errors["onset_ms"] == pytest.approx([-10.0, 0.0, 0.0, -20.0])
    assert errors["offset_ms"] == pytest.approx([-10.0, 0.0, 0.0, 50.0])
    s = summarize(errors["onset_ms"], errors["offset_ms"])
    assert s["words"] == 4 and s["onset_median_ms"] == pytest.approx(5.0) and s["offset_p90_ms"] == pytest.approx(38.0)
    assert lag_estimate([80, 90, 60], [70, 75, 100]) == pytest.approx(0.08)
    assert match_words("a b", aligned[:3], reference) == ([], 2)  # alignment of another transcript


@pytest.mark.slow
def test_quick_run_writes_a_report(tmp_path):
    from benchmarks.alignment import main

    results = main(["--quick", "--out", str(tmp_path), "--no-progress"])
    summary = results["models"]["whisper-tiny.en"]["summary"]
    assert summary["speechlens"]["words"] >= 20 and summary["speechlens"]["onset_median_ms"] < 60
    assert json.loads((tmp_path / "results.json").read_text())["benchmark"] == "alignment"
    assert (tmp_path / "index.html").is_file()
