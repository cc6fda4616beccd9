"""benchmarks/perf.py --quick: correctness of every path it times (no timing asserts)."""

from __future__ import annotations

import json
import math

from benchmarks import perf
from benchmarks._perf_measure import block_flops, check_block_flops


def test_perf_quick(tmp_path, capsys):
    res = perf.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    saved = json.loads((tmp_path / "perf.json").read_text())
    for key in ("plain_s", "exact_s", "attribution_s", "exact_speedup", "attribution_speedup", "exact_max_abs_diff",
                "attribution_spearman", "exact_gflops", "matmul_gflops", "device", "model", "cells"):
        assert key in saved, key
    assert saved["cells"] == 20 and saved["model"] == "whisper-tiny.en"
    assert res["exact_max_abs_diff"] <= 1e-4  # exact mode gives the plain loop's numbers
    assert -1 <= res["attribution_spearman"] <= 1 and res["attribution_spearman"] > 0.3
    assert res["attribution_estimator"] == "lookahead" and -1 <= res["attribution_atp_spearman"] <= 1
    assert len(res["attribution_spearman_per_layer"]) == 2  # the quick preset's layers 0 and 3
    assert res["truncated_kl_clean"] >= 0 and math.isfinite(res["truncated_metric_change"])
    assert all(v > 0 for v in (res["plain_s"], res["exact_s"], res["attribution_s"], res["matmul_gflops"]))
    assert (tmp_path / "index.html").is_file() and (tmp_path / "maps.npz").is_file()
    assert "exact" in capsys.readouterr().out


def test_analytic_block_flops_match_torch_counter(tiny_en):
    analytic, counted = check_block_flops(tiny_en, n=300)
    assert analytic == counted
    assert block_flops(1500, 384, 1536) > block_flops(1500, 384, 1536, attention=False)
