"""Model loading and one adapter per architecture.

Each adapter (``whisper/``, ``wav2vec2.py``) is a :class:`SpeechModel` subclass that declares
its site table and its :class:`Capabilities`; :data:`ADAPTERS` lists them, and
:func:`register_pyvene_tables` registers every table into pyvene (once, when this package is imported).
A new architecture is one new adapter module, added to :data:`ADAPTERS` and to the loader.
"""

from intervene.models.base import Capabilities, Runner, SpeechModel, default_device
from intervene.models.loader import BUNDLED, known_models, load_model
from intervene.models.wav2vec2 import HUBERT_SITES, WAV2VEC2_SITES, Wav2Vec2SpeechModel
from intervene.models.whisper import WHISPER_SITES, WhisperSpeechModel
from intervene.sites import register_pyvene

__all__ = [
    "SpeechModel",
    "Capabilities",
    "Runner",
    "WhisperSpeechModel",
    "Wav2Vec2SpeechModel",
    "load_model",
    "known_models",
    "default_device",
    "register_pyvene_tables",
    "BUNDLED",
    "SITE_TABLES",
    "WHISPER_SITES",
    "WAV2VEC2_SITES",
    "HUBERT_SITES",
]

SITE_TABLES = (WHISPER_SITES, WAV2VEC2_SITES, HUBERT_SITES)
"""Every architecture's site table (each names the transformers classes it serves)."""

_registered = False


def register_pyvene_tables() -> None:
    """Register every site table into pyvene for each model class it serves (idempotent).

    pyvene 0.1.8 knows no Whisper, Wav2Vec2 or HuBERT; afterwards ``pyvene.IntervenableModel``
    accepts components such as ``"encoder_block_output"`` on them.
    """
    global _registered
    if _registered:
        return
    import transformers

    for table in SITE_TABLES:
        register_pyvene(table, [getattr(transformers, name) for name in table.prefixes])
    _registered = True


register_pyvene_tables()
