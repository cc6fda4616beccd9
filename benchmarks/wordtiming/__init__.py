"""Parts of ``benchmarks/alignment.py``: the speech it aligns (:mod:`.data`), how aligned word
spans are scored against reference spans (:mod:`.measure`), and the report (:mod:`.report`)."""
