"""A static HTML atlas of a layer's MLP neurons or an SAE's features.

    from intervene.app.atlas import build_atlas
    build_atlas(model, "encoder.3.mlp_hidden", clips=120, out="atlas-l3")                 # neurons
    build_atlas(model, "encoder.3.block_output", sae="runs/sae-l3", out="atlas-sae")     # SAE features

or ``speechlens atlas --model whisper-tiny.en --site encoder.3.mlp_hidden --out atlas-l3``.
Open ``index.html`` through a local web server (``python -m http.server -d atlas-l3``).

- :mod:`~intervene.app.atlas.collect`: streaming per-unit statistics (top clips, density, associations).
- :mod:`~intervene.app.atlas.marks`: a clip's audio with word and phoneme marks.
- :mod:`~intervene.app.atlas.media`: WAV bytes and byte-scaled spectrograms.
- :mod:`~intervene.app.atlas.write`: the folder layout.
- :mod:`~intervene.app.atlas.page`: the page (inline JS and CSS).
- :mod:`~intervene.app.atlas.build`: :func:`build_atlas`.
"""

from intervene.app.atlas.build import (
    DEFAULT_CLIPS,
    NEURON_ACTIVE_ABOVE,
    AtlasResult,
    build_atlas,
)

__all__ = ["DEFAULT_CLIPS", "NEURON_ACTIVE_ABOVE", "AtlasResult", "build_atlas"]
