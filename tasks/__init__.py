"""Speech data and task definitions for SpeechLens (the first package on the data path).

audio -> **task example** -> corruption -> MinimalPair -> interventions -> CausalMap
"""

from tasks.audio import SAMPLE_RATE, prepare_audio, read_wav, write_wav
from tasks import errors as _errors
from tasks.errors import *  # noqa: F403  (the one error family; its __all__ is the list)
from tasks.carrier import CarrierTask
from tasks.keyword import SPEECH_COMMANDS_CORE, Evaluation, KeywordTask
from tasks.metrics import normalized_effect
from tasks.readout import Readout
from tasks.speech_commands import SpeechCommands, SpeechCommandsExample
from tasks.speech_commands_synth import synthesize_speech_commands
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
    *_errors.__all__,
]
