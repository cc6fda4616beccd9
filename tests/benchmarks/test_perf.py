"""benchmarks/perf.py --quick: correctness of every path it times (no timing asserts)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import perf
from benchmarks.speed.measure import block_flops, check_block_flops
from tasks.errors import ConfigError


@pytest.mark.slow  # a whole --quick run: minutes on 2 cores (python -m pytest -m slow)
def test_perf_quick(tmp_path, capsys):
    res = perf.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    saved = json.loads((tmp_path / "perf.json").read_text())
    for key in ("plain_s", "exact_s", "attribution_s", "exact_speedup", "attribution_speedup", "exact_max_abs_diff",
                "attribution_spearman", "exact_gflops", "matmul_gflops", "device", "model", "cells"):
        assert key in saved, key
    assert saved["cells"] == 6 and saved["model"] == "whisper-tiny.en"  # layers 0 and 3 x three 340 ms windows
    assert res["exact_max_abs_diff"] == 0.0  # exact mode gives the plain loop's numbers, bit for bit
    assert saved["settings_digest"] == perf.PerfSettings.from_dict(saved["settings"]).digest()
    assert json.loads((tmp_path / "results.json").read_text())["settings_digest"] == saved["settings_digest"]
    assert -1 <= res["attribution_spearman"] <= 1 and res["attribution_spearman"] > 0.3
    assert res["attribution_estimator"] == "lookahead" and -1 <= res["attribution_atp_spearman"] <= 1
    assert len(res["attribution_spearman_per_layer"]) == 2  # the quick preset's layers 0 and 3
    assert res["truncated_kl_clean"] >= 0 and math.isfinite(res["truncated_metric_change"])
    assert all(v > 0 for v in (res["plain_s"], res["exact_s"], res["attribution_s"], res["matmul_gflops"]))
    assert (tmp_path / "index.html").is_file() and (tmp_path / "maps.npz").is_file()
    assert "exact" in capsys.readouterr().out
    for row in saved["per_pair"]:  # the map's own instrumentation, recorded by intervene.patch
        for name in ("plain", "exact", "attribution", "truncated"):
            timings = row[f"{name}_timings"]
            assert set(timings) == {"prepare_s", "guards_s", "cells_s"} and 0 < timings["cells_s"] <= row[f"{name}_s"]
            if name != "exact":
                assert timings["guards_s"] < 1e-3  # guards off while timing
        # the exact row's guards ran inside its call and are split off by the map's timings
        assert row["guards_s"] == row["exact_timings"]["guards_s"] > 0
    with np.load(tmp_path / "maps.npz") as maps:
        assert sorted(maps.files) == ["attribution_0", "attribution_atp_0", "attribution_ig_0", "exact_0"]
        assert maps["exact_0"].shape == (2, 3)


def test_perf_settings_are_checked():
    with pytest.raises(ConfigError, match=r"window_ms \(30\) must be a multiple of 20 ms"):
        perf.PerfSettings(window_ms=30)
    with pytest.raises(ConfigError, match="ig_steps"):
        perf.PerfSettings(ig_steps=0)
    with pytest.raises(ConfigError, match=r"layers\[0\] \(-1\) must be >= 0"):
        perf.PerfSettings(layers=(-1,))
    with pytest.raises(ConfigError, match="pairs"):
        perf.PerfSettings(pairs=(("yes",),))


def test_analytic_block_flops_match_torch_counter(tiny_en):
    analytic, counted = check_block_flops(tiny_en, n=300)
    assert analytic == counted
    assert block_flops(1500, 384, 1536) > block_flops(1500, 384, 1536, attention=False)


# --------------------------------------------------------------------------- --data and the Ray flags
def test_perf_data_and_ray_flags_are_checked_before_any_model(tmp_path, monkeypatch):
    import intervene
    from benchmarks.common import ExecutorOptions, parse_settings
    from tasks.errors import UnknownNameError

    def no_model(*args, **kwargs):
        raise AssertionError("bad flags must be refused before a model loads")

    monkeypatch.setattr(intervene, "load_model", no_model)
    with pytest.raises(UnknownNameError):
        perf.main(["--quick", "--out", str(tmp_path / "a"), "--data", "speechcommands:/tmp"])
    with pytest.raises(ConfigError, match="does not exist"):
        perf.main(["--quick", "--out", str(tmp_path / "b"), "--data", f"folder:{tmp_path / 'none'}"])
    with pytest.raises(ConfigError, match="--actors applies to --executor ray"):
        perf.main(["--quick", "--out", str(tmp_path / "c"), "--actors", "2"])
    run, s = parse_settings(["--executor", "ray", "--ray-address", "10.0.0.5:6379", "--actors", "3",
                             "--threads-per-actor", "2"], perf.PerfSettings, script="perf",
                            add_arguments=perf.add_arguments, scaleout=True)  # fmt: skip
    assert run.scaleout == ExecutorOptions("ray", "10.0.0.5:6379", 3, 2) and s == perf.PerfSettings()
    assert "measure in this process" in perf.__doc__ and "--executor ray`` adds the scale-out section" in perf.__doc__


def test_data_pairs_from_speech_commands_and_sentences(sc_root, sentence_manifest):
    import tasks
    from benchmarks.speed.data import data_pairs

    sc = data_pairs((f"speech_commands:{sc_root}",), 2, "whisper-tiny.en")
    assert len(sc) == 2 and all(isinstance(t, tasks.KeywordTask) for t, _ in sc)
    for _, pair in sc:  # the same speaker's two recordings: a natural word swap
        assert pair.corruption["kind"] == "recording_swap" and pair.clean_answer != pair.corrupt_answer
        assert pair.metadata["speaker"] and pair.params["via"] == "dataset"
    mixed = data_pairs((f"speech_commands:{sc_root}", f"manifest:{sentence_manifest}"), 8, "whisper-tiny.en")
    sentences = [(t, p) for t, p in mixed if isinstance(t, tasks.TranscriptTask)]
    assert len(mixed) == 8 and len(sentences) == 8 - sum(isinstance(t, tasks.KeywordTask) for t, _ in mixed) > 0
    for task, pair in sentences:
        clean, _ = task.answers(pair)
        assert str(clean) == pair.metadata["word"] and pair.corruption["kind"] == "noise"


@pytest.mark.slow  # a --quick run on recordings plus the scale-out section on the session's Ray: minutes
def test_perf_quick_on_data_with_the_scaleout_on_ray(tmp_path, sc_root):
    ray = pytest.importorskip("ray")
    res = perf.main(["--quick", "--out", str(tmp_path), "--no-progress", "--no-features", "--device", "cpu",
                     "--data", f"speech_commands:{sc_root}", "--max-clips", "1", "--executor", "ray", "--actors", "1",
                     "--scaleout-pairs", "1"])  # fmt: skip
    saved = json.loads((tmp_path / "perf.json").read_text())
    assert saved["data"]["kind"] == "data" and len(saved["data"]["pairs"]) == 1 == saved["pairs"]
    assert saved["data"]["pairs"][0]["corruption"] == "recording_swap" and res["exact_max_abs_diff"] == 0.0
    sc = saved["scaleout"]
    assert sc["data"] and sc["actors"] == 1 and sc["pairs"] == 1 and sc["max_abs_diff"] < 1e-4
    ray.shutdown()
