"""benchmarks/alignment.py with --data (a manifest with word spans) and resume through the work store."""

from __future__ import annotations

import math

import pytest

from benchmarks import alignment
from tasks.errors import ConfigError


def test_dataset_clips_are_scored_against_their_own_spans_and_resume(sentence_manifest, tmp_path, monkeypatch):
    spec = f"manifest:{sentence_manifest}"
    args = ["--voices", "en-us", "--rates", "170", "--per-combo", "1", "--data", spec, "--max-clips", "2",
            "--no-progress", "--device", "cpu", "--out", str(tmp_path)]  # fmt: skip
    results = alignment.main(args)
    info = results["data"][spec]
    assert info["clips"] == 2 and info["with_reference"] == 2
    assert info["speechlens"]["words"] >= 6 and math.isfinite(info["speechlens"]["onset_median_ms"])
    assert results["executor"]["executor"] == "local"
    records = results["models"]["whisper-tiny.en"]["records"]
    assert [r["group"]["source"] for r in records] == ["synthetic", spec, spec]

    def must_not_run(model, clip):
        raise AssertionError("a stored clip was aligned again")

    monkeypatch.setattr(alignment, "_align_clip", must_not_run)
    again = alignment.main(args)
    assert again["models"]["whisper-tiny.en"]["records"] == records


def test_a_missing_dataset_is_refused_before_any_model_loads(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        alignment.main(["--data", f"folder:{tmp_path / 'none'}", "--out", str(tmp_path / "o")])
