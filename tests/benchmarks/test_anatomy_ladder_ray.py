"""whisper_anatomy.py and method_ladder.py on Ray (``--executor ray``): a local run's numbers, and
a local run resumes the Ray run's folder computing nothing.

One local Ray for the module (``ray.init(num_cpus=2)``, unless one is already up); the scripts
join it with one single-threaded actor. Both tests are slow (a Ray, an actor loading tiny.en, a
dataset clip through every anatomy section; the ladder's units on a recorded Speech Commands set).
"""

from __future__ import annotations

import json
import math
import shutil

import pytest

import intervene
from benchmarks import method_ladder as ml
from benchmarks import whisper_anatomy as wa

ray = pytest.importorskip("ray")

RAY = ["--executor", "ray", "--actors", "1", "--threads-per-actor", "1"]
NAME = "whisper-tiny.en"
ANATOMY_TINY = ["--quick", "--no-progress", "--device", "cpu", "--ks", "50", "--head-clips", "0", "--splice-words",
                "1", "--keywords", "yes", "--alphas", "0", "-1", "--nonspeech", "silence", "--max-clips", "1"]  # fmt: skip


def _no_model(*args, **kwargs):
    raise AssertionError("a resumed run must not load a model")


def same(a, b, path="", abs_tol=1e-4) -> list[str]:
    """Where two JSON values differ (floats within ``abs_tol``: one torch thread there, more here);
    timings (``seconds``, ``timings``) are left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a if k not in ("seconds", "timings") for d in same(a[k], b[k], f"{path}.{k}", abs_tol)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same(x, y, f"{path}[{i}]", abs_tol)]
    numbers = isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool)
    if numbers and ((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=abs_tol)):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.slow
def test_anatomy_on_ray_gives_the_local_numbers_and_resumes_locally(ray_session, sentence_manifest, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    args = ANATOMY_TINY + ["--data", f"manifest:{sentence_manifest}"]
    local = wa.main(args + ["--out", str(tmp_path / "local")])
    remote = wa.main(args + ["--out", str(tmp_path / "ray"), *RAY])
    assert remote["executor"]["executor"] == "ray" and remote["executor"]["started"] is True
    a, b = local["models"][NAME], remote["models"][NAME]
    assert b["units_computed"] == a["units_computed"] == 12
    assert not same(a["sections"], b["sections"]) and not same(a["base"], b["base"])
    monkeypatch.setattr(intervene, "load_model", _no_model)
    again = wa.main(args + ["--out", str(tmp_path / "ray")])  # local resume of the Ray run
    assert again["models"][NAME]["units_computed"] == 0 and again["models"][NAME]["sections"] == b["sections"]


@pytest.mark.slow
def test_ladder_units_on_ray_give_the_local_numbers_and_resume_locally(ray_session, sc4, tmp_path, monkeypatch):
    args = ["--quick", "--no-progress", "--device", "cpu", "--no-planted", "--layers", "3",
            "--data", f"speech_commands:{sc4}"]  # fmt: skip
    local = ml.main(args + ["--out", str(tmp_path / "local")])
    # the Ray run starts from the local folder less its probe, patch and eraser units: DAS (driver-side
    # in both) is reused, every executor unit is computed on the actor
    shutil.copytree(tmp_path / "local", tmp_path / "ray")
    work = tmp_path / "ray" / "work" / NAME
    removed = [p for kind in ("probe", "patch", "leace") for p in (work / kind).rglob("*.json")]
    assert len(removed) == 3
    for p in removed:
        p.unlink()
    (tmp_path / "ray" / "results.json").unlink()
    remote = ml.main(args + ["--out", str(tmp_path / "ray"), *RAY])
    assert remote.computed == {NAME: 3} and remote.reused == {NAME: 1}
    assert remote.results["executor"]["started"] is True
    a, b = local.results["models"][NAME], remote.results["models"][NAME]
    for key in ("probe_records", "patch_pairs", "leace_records", "das_records", "layers"):
        assert not same(a[key], b[key]), (key, same(a[key], b[key]))
    monkeypatch.setattr(intervene, "load_model", _no_model)
    again = ml.main(args + ["--out", str(tmp_path / "ray")])
    assert again.computed == {NAME: 0} and again.reused == {NAME: 4}
    assert not same(again.results["models"][NAME]["layers"], b["layers"])
    on_disk = json.loads((tmp_path / "ray" / "results.json").read_text())["models"][NAME]["layers"]
    assert on_disk[0]["leace"]["gender"]["available"] is False and on_disk[0]["leace"]["gender"]["probe_after"] is None
