"""Speech data and task definitions for SpeechLens (the first package on the data path).

audio -> **task example** -> corruption -> MinimalPair -> interventions -> CausalMap
"""

from tasks.audio import SAMPLE_RATE, prepare_audio, read_wav, write_wav
from tasks.errors import (
    AudioError,
    ConfigError,
    DatasetError,
    GuardError,
    InterventionError,
    ModelLoadError,
    PairError,
    SpeechLensError,
    UnknownNameError,
)
from tasks.utterance import Utterance, WordSpan

__all__ = [
    "SAMPLE_RATE",
    "prepare_audio",
    "read_wav",
    "write_wav",
    "Utterance",
    "WordSpan",
    "SpeechLensError",
    "ConfigError",
    "AudioError",
    "UnknownNameError",
    "DatasetError",
    "ModelLoadError",
    "PairError",
    "InterventionError",
    "GuardError",
]
