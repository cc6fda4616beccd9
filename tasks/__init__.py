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
from tasks.carrier import CarrierTask
from tasks.keyword import SPEECH_COMMANDS_CORE, Evaluation, KeywordTask
from tasks.metrics import normalized_effect
from tasks.readout import Readout
from tasks.speech_commands import SpeechCommands, SpeechCommandsExample, synthesize_speech_commands
from tasks.tts import speak, voices
from tasks.utterance import Utterance, WordSpan

__all__ = [
    "SAMPLE_RATE",
    "prepare_audio",
    "read_wav",
    "write_wav",
    "KeywordTask",
    "CarrierTask",
    "Evaluation",
    "Readout",
    "SPEECH_COMMANDS_CORE",
    "normalized_effect",
    "speak",
    "voices",
    "SpeechCommands",
    "SpeechCommandsExample",
    "synthesize_speech_commands",
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
