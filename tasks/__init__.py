"""Speech data and task definitions for SpeechLens (the first package on the data path).

audio -> **task example** -> corruption -> MinimalPair -> interventions -> CausalMap
"""

from tasks.audio import SAMPLE_RATE, prepare_audio, read_wav, write_wav
from tasks import errors as _errors
from tasks.errors import *  # noqa: F403  (the one error family; its __all__ is the list)
from tasks.metrics import normalized_effect
from tasks.speech_commands import SpeechCommands, SpeechCommandsExample
from tasks.speech_commands_synth import synthesize_speech_commands
from tasks.tts import speak, voices
from tasks.utterance import Utterance, WordSpan
from tasks.datasets import open_dataset
from tasks.textgrid import read_textgrid, write_textgrid

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
    "open_dataset",
    "read_textgrid",
    "write_textgrid",
    "TranscriptTask",
    *_errors.__all__,
]

# The task classes import torch; they load on first use, so that importing the error family
# (every ``speechlens`` command, ``speechlens --help`` included) stays light.
_LAZY = {
    "KeywordTask": "tasks.keyword",
    "Evaluation": "tasks.keyword",
    "SPEECH_COMMANDS_CORE": "tasks.keyword",
    "CarrierTask": "tasks.carrier",
    "Readout": "tasks.readout",
    "TranscriptTask": "tasks.transcript",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
