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

from tasks import errors as _errors
from tasks.errors import *  # noqa: F403  (the one error family; its __all__ is the list)

# Public names -> the module that defines them. They load on first use (PEP 562), so that
# `import intervene` and the `speechlens` command's argument parsing (`--help`) import neither
# torch nor transformers nor pyvene. Importing intervene.models registers the site tables
# into pyvene (see intervene.models.register_pyvene_tables).
_LAZY = {
    "methods": None,
    "CausalMap": "intervene.maps",
    "MapMeta": "intervene.maps",
    "Method": "intervene.methods",
    "Patch": "intervene.methods",
    "SpeechModel": "intervene.models",
    "known_models": "intervene.models",
    "load_model": "intervene.models",
    "register_pyvene_tables": "intervene.models",
    "patch": "intervene.patching",
    "Intervention": "intervene.single",
    "InterventionResult": "intervene.single",
    "intervene": "intervene.single",
    "Site": "intervene.sites",
    "PairOutcome": "intervene.sweeping",
    "combine_maps": "intervene.sweeping",
    "sweep": "intervene.sweeping",
    "sweep_pairs": "intervene.sweeping",
    "WorkStore": "intervene.workstore",
    "make_key": "intervene.workstore",
    "align": "intervene.alignment",
    "Ablation": "intervene.anatomy",
    "AttentionWindow": "intervene.anatomy",
    "HeadMask": "intervene.anatomy",
    "Steering": "intervene.anatomy",
    "direction": "intervene.anatomy",
    "transcribe": "intervene.readouts",
    "Transcript": "intervene.readouts",
    "transcript_logprob": "intervene.readouts",
    "nonspeech_rate": "intervene.readouts",
    "encoder_lens": "intervene.lenses",
    "logit_lens": "intervene.lenses",
    "LensTable": "intervene.lenses",
    "das": "intervene.learned",
    "DASResult": "intervene.learned",
    "probe": "intervene.learned",
    "ProbeResult": "intervene.learned",
    "erase": "intervene.learned",
    "ErasureResult": "intervene.learned",
    "LeaceIntervention": "intervene.learned",
    "train_sae": "intervene.features.train",
    "SAE": "intervene.features.sae",
    "ActivationStore": "intervene.features.store",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'intervene' has no attribute {name!r}")
    import importlib

    module = _LAZY[name]
    value = importlib.import_module(f"intervene.{name}") if module is None else getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


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
    "align",
    "Ablation",
    "AttentionWindow",
    "HeadMask",
    "Steering",
    "direction",
    "transcribe",
    "Transcript",
    "transcript_logprob",
    "nonspeech_rate",
    "encoder_lens",
    "logit_lens",
    "LensTable",
    "das",
    "DASResult",
    "probe",
    "ProbeResult",
    "erase",
    "ErasureResult",
    "LeaceIntervention",
    "train_sae",
    "SAE",
    "ActivationStore",
    *_errors.__all__,
]
