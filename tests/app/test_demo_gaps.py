"""The demo flags or skips pairs whose corruption does not lower the metric clearly (issue 12: a
pitch shift raised it, corrupt 8.01 > clean 7.62, and its map was shown without a word)."""

from __future__ import annotations

import json
import re

import pytest

import intervene
from intervene.app.demo import DemoSettings, gap_verdict, run_demo


@pytest.mark.parametrize("clean,corrupt,status", [
    (7.62, 8.01, "skipped"),   # the corruption raised the metric
    (7.62, 7.62, "skipped"),   # left it unchanged
    (7.0, 6.5, "weak"),        # lowered it by less than min_gap
    (8.1, -7.3, "ok"),
    (float("nan"), 1.0, "skipped"),
])  # fmt: skip
def test_gap_verdict(clean, corrupt, status):
    got, reason = gap_verdict(clean, corrupt, min_gap=1.0)
    assert got == status
    assert (reason == "") == (status == "ok")
    if status != "ok":
        assert f"clean {clean:.2f}" in reason and f"corrupt {corrupt:.2f}" in reason


def test_wrong_signed_pair_is_skipped_and_said(tmp_path, tiny_en, monkeypatch):
    monkeypatch.setattr(intervene, "load_model", lambda *args, **kwargs: tiny_en)
    settings = DemoSettings(words=("yes",), corruptions=(("pitch_shift", {"semitones": 5.0}),), window_ms=100.0)
    lines = []
    index = run_demo(tmp_path, settings, progress=False, log=lines.append)
    summary = json.loads((tmp_path / "summary.json").read_text())
    (entry,) = summary["maps"]
    assert entry["clean_metric"] < entry["corrupt_metric"], "the pitch shift no longer raises the metric here"
    assert entry["status"] == "skipped" and "did not lower the metric" in entry["reason"]
    assert not (tmp_path / "maps" / "yes-pitch_shift.npz").exists()  # no map for a meaningless pair
    log = "\n".join(lines)
    assert "yes-pitch_shift" in log and "SKIPPED" in log and "did not lower the metric" in log
    page = index.read_text()
    assert "Skipped: the corruption did not lower the metric" in page
    assert "Pairs to read with care: yes-pitch_shift (skipped)" in page
    assert re.search(r"<td>skipped</td>", page)
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', page):
        assert (tmp_path / ref).is_file(), ref


def test_cards_say_what_the_corruption_did():
    from types import SimpleNamespace

    from intervene.app.demo import _design

    swap = SimpleNamespace(clean_answer="yes", corrupt_answer="no")
    assert _design("word_swap", {}, swap) == "word swap: 'yes' -> 'no'"
    same = SimpleNamespace(clean_answer="yes", corrupt_answer="yes")
    assert _design("noise", {"snr_db": -5.0, "span": "word"}, same) == "noise (snr_db=-5.0, span=word) on 'yes'"
