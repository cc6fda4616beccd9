"""Register SpeechLens's site tables into pyvene's model tables (done on ``import intervene``).

pyvene 0.1.8 knows no Whisper, Wav2Vec2 or HuBERT; after registration
``pyvene.IntervenableModel`` accepts components such as ``"encoder_block_output"`` on them.
Registration is explicit and happens once, here.
"""

from __future__ import annotations

from intervene.models.wav2vec2 import HUBERT_SITES, WAV2VEC2_SITES
from intervene.models.whisper import WHISPER_SITES
from intervene.sites import register_pyvene

__all__ = ["register_all"]

_done = False


def register_all() -> None:
    """Register every architecture's table for every model class it serves (idempotent)."""
    global _done
    if _done:
        return
    import transformers

    for table in (WHISPER_SITES, WAV2VEC2_SITES, HUBERT_SITES):
        register_pyvene(table, [getattr(transformers, name) for name in table.prefixes])
    _done = True
