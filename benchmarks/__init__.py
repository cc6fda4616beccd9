"""SpeechLens benchmark scripts (the CLI layer; not an installed package).

Run each script from the repository root, e.g. ``python benchmarks/keyword_accuracy.py --quick``.
Shared infrastructure (settings, resumable work, reports, progress) lives in
:mod:`benchmarks._common`.
"""
