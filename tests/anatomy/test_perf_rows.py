"""benchmarks/speed/anatomy.py: the perf rows compute the same numbers both ways (no timing asserts)."""

from __future__ import annotations

import tasks
from benchmarks.speed.anatomy import anatomy_rows, measure_anatomy


def test_head_and_window_sweeps_agree_with_the_plain_loops(tiny_whisper, yes_no_pair):
    rec = measure_anatomy(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1], ks=(1499, 3), layers=(0, 2),
                          head_layers=(1,))
    assert rec["head_cells"] == 6 and rec["window_cells"] == 4  # layer 1: encoder self, decoder self, cross x 2 heads
    assert rec["head_max_abs_diff"] <= 1e-5 and rec["window_max_abs_diff"] <= 1e-5
    assert rec["head_runner"].startswith("cached") and rec["window_runner"].startswith("cached")
    assert len(rec["window_bound_tail_s"]) == 2 and rec["window_bound"] > 0 and rec["window_bound_full_s"] > 0
    rows = anatomy_rows(rec)
    assert len(rows) == 5 and all(r[1] > 0 for r in rows[:4]) and rows[1][4] == "same numbers"
    assert rows[4][2] == rec["window_bound_loop"] > 0 and rows[4][4] == "upper bound"
