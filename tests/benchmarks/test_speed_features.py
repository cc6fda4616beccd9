"""benchmarks/speed/features.py: the activation-store row of perf.py, and why the store runs the whole encoder
(that its frames equal a plain hook capture is tests/features/test_store.py's)."""

from __future__ import annotations

from benchmarks.speed.features import STORE_COLUMNS, store_row, store_rows


def test_store_row_reports_speeds_and_the_truncation_error(tiny_en):
    row = store_row(tiny_en, n_clips=1)
    assert row["frames"] > 10 and row["clips"] == 1
    for key in ("store_frames_per_s", "full_forward_frames_per_s", "truncated_frames_per_s"):
        assert row[key] > 0, key
    # Whisper's encoder attends over the padding: a truncated context changes the activations a lot
    assert row["truncated_relative_error"] > 0.05 and row["truncated_max_abs_diff"] > 0.5
    rows = store_rows(row)
    assert len(rows) == 3 and all(len(r) == len(STORE_COLUMNS) for r in rows)

