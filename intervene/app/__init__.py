"""Application code on top of the engine: the ``speechlens`` command (:mod:`.cli`), the demo,
pictures of maps (:mod:`.plotting`) and HTML reports (:mod:`.report`). Nothing in the engine
imports this package, except :meth:`CausalMap.plot <intervene.maps.CausalMap.plot>`, which
draws through :mod:`.plotting` when called."""
