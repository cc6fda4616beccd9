"""Benchmark scripts on Ray (``--executor ray``): the numbers of a local run, and resume across executors.

One local Ray for the module (``ray.init(num_cpus=2)``); the scripts join it (a Ray already
initialised in this process is used as it is) with one single-threaded actor.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import keyword_accuracy as ka

ray = pytest.importorskip("ray")

RAY = ["--executor", "ray", "--actors", "1", "--threads-per-actor", "1"]


def _clips(out):
    results = json.loads((out / "results.json").read_text())
    return {c["key"]: c for c in results["models"]["whisper-tiny.en"]["clips"]}, results


@pytest.mark.slow  # ~35 s idle (a Ray, an actor loading tiny.en, four runs); the sweep-level checks run by default
def test_keyword_accuracy_on_ray_gives_the_local_numbers_and_resumes_locally(ray_session, tmp_path):
    args = ["--quick", "--no-progress", "--device", "cpu", "--words", "yes", "no", "up", "--audio-examples", "0"]
    ka.main(args + ["--out", str(tmp_path / "local")])
    remote = ka.main(args + ["--out", str(tmp_path / "ray"), *RAY])
    assert remote.computed == {"whisper-tiny.en": 3}
    local_clips, _ = _clips(tmp_path / "local")
    ray_clips, results = _clips(tmp_path / "ray")
    assert results["executor"]["executor"] == "ray" and results["executor"]["started"] is True
    assert ray_clips.keys() == local_clips.keys() and len(ray_clips) == 3
    for key, clip in ray_clips.items():
        assert clip["scores"] == pytest.approx(local_clips[key]["scores"], abs=1e-4)  # 1 thread there, more here
        assert clip["predicted"] == local_clips[key]["predicted"]
    again = ka.main(args + ["--out", str(tmp_path / "ray")])  # local resume of the Ray run: nothing to compute
    assert again.computed == {"whisper-tiny.en": 0} and again.reused == {"whisper-tiny.en": 3}
    ray_again = ka.main(args + ["--out", str(tmp_path / "ray"), *RAY])  # nor on Ray, which is never started
    assert ray_again.results["executor"]["started"] is False


@pytest.mark.slow
def test_alignment_on_ray_gives_the_local_numbers(ray_session, tmp_path):
    from benchmarks import alignment

    args = ["--voices", "en-us", "--rates", "170", "--per-combo", "1", "--no-progress", "--device", "cpu"]
    local = alignment.main(args + ["--out", str(tmp_path / "local")])
    remote = alignment.main(args + ["--out", str(tmp_path / "ray"), *RAY])
    assert remote["executor"]["started"] is True
    a, b = (r["models"]["whisper-tiny.en"] for r in (local, remote))
    assert a["lag_s"] == b["lag_s"] and len(a["records"]) == len(b["records"]) == 1
    for x, y in zip(a["records"], b["records"]):
        assert x["text"] == y["text"]
        for left, right in zip(x["speechlens_spans"], y["speechlens_spans"]):
            assert left[0] == right[0] and left[1:] == pytest.approx(right[1:], abs=0.021)  # one 20 ms frame
