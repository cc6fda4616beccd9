"""SpeechLens's engine: models, intervention sites, patching sweeps and causal-effect maps.

audio -> task example -> corruption -> MinimalPair -> **interventions -> CausalMap**
"""

from intervene.engine import Patch
from intervene.maps import CausalMap
from intervene.models import SpeechModel, known_models, load_model
from intervene.patching import patch, sweep
from intervene.pyvene_tables import register_all as _register_all
from intervene.single import Intervention, InterventionResult, intervene
from intervene.sites import Site
from tasks.errors import (
    AudioError,
    ConfigError,
    GuardError,
    InterventionError,
    ModelLoadError,
    PairError,
    SpeechLensError,
    UnknownNameError,
)

_register_all()

__all__ = [
    "patch",
    "sweep",
    "intervene",
    "Intervention",
    "InterventionResult",
    "CausalMap",
    "Patch",
    "load_model",
    "known_models",
    "SpeechModel",
    "Site",
    "SpeechLensError",
    "ConfigError",
    "AudioError",
    "UnknownNameError",
    "ModelLoadError",
    "PairError",
    "InterventionError",
    "GuardError",
]
