"""Intervention kinds that pyvene runs: names, classes, instances and functions.

"interchange" (vanilla, the default), "zero", "noise", any pyvene intervention class or
instance (e.g. a trained ``RotatedSpaceIntervention`` for DAS), or a function
``f(base, source) -> tensor`` on the selected activations ``(batch, units, size)``.
"""

from __future__ import annotations

from intervene._pyvene import pyvene as pv
from tasks.errors import ConfigError, unknown_name

__all__ = ["INTERVENTIONS", "resolve_intervention", "is_interchange", "intervention_name"]

INTERVENTIONS = {
    "interchange": pv.VanillaIntervention,
    "vanilla": pv.VanillaIntervention,
    "zero": pv.ZeroIntervention,
    "noise": pv.NoiseIntervention,
}
"""Intervention names accepted besides pyvene classes, instances and functions."""


def resolve_intervention(intervention):
    """Return ``(pyvene class or None, instance or None, needs_source)`` for a user's choice."""
    if intervention is None:
        intervention = "interchange"
    if isinstance(intervention, str):
        if intervention not in INTERVENTIONS:
            raise unknown_name("intervention", intervention, INTERVENTIONS)
        intervention = INTERVENTIONS[intervention]
    if isinstance(intervention, type):
        if not issubclass(intervention, pv.Intervention):
            raise ConfigError(f"intervention class {intervention.__name__} is not a pyvene Intervention")
        needs_source = not issubclass(intervention, (pv.ConstantSourceIntervention, pv.SourcelessIntervention))
        return intervention, None, needs_source
    if isinstance(intervention, pv.Intervention):
        return None, intervention, not getattr(intervention, "is_source_constant", False)
    if callable(intervention):
        return None, intervention, True
    raise ConfigError(
        f"intervention ({intervention!r}) must be a name ({', '.join(INTERVENTIONS)}), a pyvene Intervention "
        "class or instance, or a function f(base, source) -> tensor"
    )


def is_interchange(intervention) -> bool:
    """Whether ``intervention`` is plain interchange (vanilla), what exact methods compute."""
    cls, inst, _ = resolve_intervention(intervention)
    return inst is None and cls is pv.VanillaIntervention


def intervention_name(intervention) -> str:
    """A readable name for the map's metadata."""
    if intervention is None:
        return "interchange"
    if isinstance(intervention, str):
        return intervention
    return getattr(intervention, "__name__", type(intervention).__name__)
