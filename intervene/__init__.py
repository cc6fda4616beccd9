"""SpeechLens's engine: models, intervention sites, methods, patching sweeps and causal-effect maps.

audio -> task example -> corruption -> MinimalPair -> **interventions -> CausalMap**

Layout (each module depends only on those above it):

- :mod:`intervene.sites`, :mod:`intervene.hooks`: naming activations; the one hook mechanism.
- :mod:`intervene.models`: loading, and one adapter per architecture (site table + capabilities).
- :mod:`intervene.context`, :mod:`intervene.grid`, :mod:`intervene.maps`: a prepared pair, the
  axes of a sweep, the CausalMap and its typed metadata.
- :mod:`intervene.methods`: the family of intervention methods (one protocol, one registry).
- :mod:`intervene.patching`, :mod:`intervene.sweeping`, :mod:`intervene.single`: the public
  operations; :mod:`intervene.workstore`: resumable work.
- :mod:`intervene.app`: the CLI, demo, pictures and reports (application code).
"""

from intervene import methods
from intervene.maps import CausalMap, MapMeta
from intervene.methods import Method, Patch
from intervene.models import SpeechModel, known_models, load_model, register_pyvene_tables
from intervene.patching import patch
from intervene.single import Intervention, InterventionResult, intervene
from intervene.sites import Site
from intervene.sweeping import PairOutcome, combine_maps, sweep, sweep_pairs
from intervene.workstore import WorkStore, make_key
from tasks import errors as _errors
from tasks.errors import *  # noqa: F403  (the one error family; its __all__ is the list)

register_pyvene_tables()

__all__ = [
    "patch",
    "sweep",
    "sweep_pairs",
    "combine_maps",
    "PairOutcome",
    "intervene",
    "Intervention",
    "InterventionResult",
    "CausalMap",
    "MapMeta",
    "Patch",
    "Method",
    "methods",
    "load_model",
    "known_models",
    "SpeechModel",
    "Site",
    "WorkStore",
    "make_key",
    *_errors.__all__,
]
