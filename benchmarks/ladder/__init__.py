"""Parts of ``benchmarks/method_ladder.py``: clips, pairs and the design / report split
(:mod:`.data`), the resumable units per model, method and layer (:mod:`.work`), the ladder rows
and the layers they name (:mod:`.summary`), the planted-structure section (:mod:`.planted`),
and the pictures and report sections (:mod:`.report`)."""
