"""The pieces of ``benchmarks/whisper_anatomy.py``: the speech it runs on (:mod:`.data`), the
model work of each section (:mod:`.measure`), the published claims and this run's verdicts
(:mod:`.claims`), and the report's tables and figures (:mod:`.report`)."""
