"""Parts of ``benchmarks/perf.py``: FLOP counts, matmul throughput and peak memory (:mod:`.measure`),
and the timed rows of one pair through the public API (:mod:`.rows`)."""
