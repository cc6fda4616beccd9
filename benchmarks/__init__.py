"""SpeechLens benchmark scripts, installed as the ``benchmarks`` package (editable install).

Run each script from the repository root, e.g. ``python benchmarks/keyword_accuracy.py --quick``.
Layout: one entry script per benchmark (``patching_heatmaps.py``, ``corruption_ablation.py``,
``keyword_accuracy.py``, ``perf.py``), its parts in one folder each (:mod:`benchmarks.heatmaps`,
:mod:`benchmarks.ablation`, :mod:`benchmarks.accuracy`, :mod:`benchmarks.speed`), and the
shared infrastructure (settings, checks, the report folder, reports, statistics) in
:mod:`benchmarks.common`.
"""
