"""Parts of ``benchmarks/patching_heatmaps.py``: the sweeps and pairs (:mod:`.sweeps`), the work
on a model through :func:`intervene.sweep_pairs` (:mod:`.work`), per-sweep results and report
sections (:mod:`.results`) and the pictures (:mod:`.figures`)."""
