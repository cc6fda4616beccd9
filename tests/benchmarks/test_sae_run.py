"""benchmarks/sae.py end to end: --data corpora (fast, no model) and whole --quick runs (slow: minutes on 2 cores)."""

from __future__ import annotations

import json

import pytest

from benchmarks.sae import SAESettings
from benchmarks.saebench.corpus import build_corpus, labels, steering_utterance

PER_SAE = ("explained_variance", "mse", "l0", "dead_fraction", "dense_fraction", "downstream", "probe", "stability")


def test_data_corpus_keeps_recordings_and_adds_noise(sc_root, sentence_manifest):
    s = SAESettings(data=(f"speech_commands:{sc_root}", f"manifest:{sentence_manifest}"), n_noise=2, n_silence=1,
                    max_clips=4)  # fmt: skip
    corpus, clips = build_corpus(s)
    assert len(clips) == 8 and len(corpus) == 11  # 4 per spec, then 2 noise and 1 silence
    assert [c.kind for c in corpus[-3:]] == ["noise", "noise", "silence"]
    got = labels(corpus)
    assert got["keyword"][:4] == [c.word for c in clips[:4]] and all(k in ("yes", "no", "up") for k in got["keyword"][:4])
    assert got["voice_gender"] == [None] * 11  # recordings carry no voice gender: that probe is not available
    assert got["speech"] == [True] * 8 + [False] * 3
    utt, index, where = steering_utterance(clips, [0, 5])  # clip 5 is a manifest sentence with word spans
    assert where.startswith("held-out recording") and index == 1 and len(utt.words) >= 2
    _, _, where = steering_utterance(clips, [0])  # a single word: the synthesized sentence instead
    assert where == "synthesized"


def _run(tmp_path, *extra):
    from benchmarks import sae

    res = sae.main(["--quick", "--out", str(tmp_path), "--no-progress", *extra])
    assert json.loads((tmp_path / "results.json").read_text())["settings_digest"]
    return res


@pytest.mark.slow
def test_quick_run_measures_everything_and_resumes(tmp_path):
    res = _run(tmp_path)
    assert sorted(res["saes"]) == sorted(res["saes"])  # names are in results.json
    for name, r in res["saes"].items():
        assert set(PER_SAE) <= set(r), name
        assert 0 <= r["dead_fraction"] <= 1 and r["l0"] > 0 and r["stability"] is not None
        assert set(r["probe"]) == {"keyword", "voice_gender", "speech"}
    m = res["matched_l0"]["w64"]
    assert m["topk_name"].startswith("topk-w64-k8") and m["relu_name"].startswith("relu-w64-l1")
    assert m["calibration"]["tries"] and m["l0_ratio"] == pytest.approx(m["relu"]["l0"] / m["topk"]["l0"])
    assert "TopK vs ReLU at matched L0" in (tmp_path / "index.html").read_text()
    again = _run(tmp_path)  # every unit is in the work store: same numbers
    assert again["saes"] == res["saes"] and again["matched_l0"] == res["matched_l0"]


@pytest.mark.slow
def test_data_run_and_ray_give_the_local_numbers(tmp_path, sc_root, sentence_manifest):
    pytest.importorskip("ray")
    data = ["--data", f"speech_commands:{sc_root}", f"manifest:{sentence_manifest}"]
    local = _run(tmp_path / "local", *data)
    assert local["data"]["kind"] == "data" and local["store"]["clips"] == 12 + 5
    for r in local["saes"].values():
        assert r["probe"]["voice_gender"]["available"] is False
    ray = _run(tmp_path / "ray", *data, "--executor", "ray", "--actors", "2")
    assert ray["executor"]["executor"] == "ray"
    for name, r in local["saes"].items():
        for key in ("explained_variance", "mse", "l0", "dead_fraction", "stability"):
            assert ray["saes"][name][key] == pytest.approx(r[key], rel=1e-5, abs=1e-7), (name, key)
        assert ray["saes"][name]["downstream"] == r["downstream"]
