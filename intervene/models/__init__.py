"""Model loading and per-architecture adapters (site tables)."""

from intervene.models.base import SpeechModel, default_device
from intervene.models.loader import BUNDLED, known_models, load_model
from intervene.models.wav2vec2 import HUBERT_SITES, WAV2VEC2_SITES, Wav2Vec2SpeechModel
from intervene.models.whisper import WHISPER_SITES, WhisperSpeechModel

__all__ = [
    "SpeechModel",
    "WhisperSpeechModel",
    "Wav2Vec2SpeechModel",
    "load_model",
    "known_models",
    "default_device",
    "BUNDLED",
    "WHISPER_SITES",
    "WAV2VEC2_SITES",
    "HUBERT_SITES",
]
