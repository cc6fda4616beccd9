"""Parts of ``benchmarks/keyword_accuracy.py``: the clips and their scores (:mod:`.data`), the
summary numbers (:mod:`.summary`) and the report (:mod:`.report`)."""
