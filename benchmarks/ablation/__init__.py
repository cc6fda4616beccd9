"""Parts of ``benchmarks/corruption_ablation.py``: numbers on plain arrays (:mod:`.metrics`), the
model work of one (design, clip) unit and the clean reference (:mod:`.work`), per-design
summaries, ranking and advice (:mod:`.summary`), and the report (:mod:`.report`)."""
