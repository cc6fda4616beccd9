"""The family of intervention methods: one protocol (:class:`Method`), one registry.

Each method is one file here, a :class:`Method` subclass registered by name below (the
list is the registry's one visible place). :func:`intervene.patch` looks a method up with
:func:`get`; the CLI's ``--method`` choices come from :func:`names`. A new method is a new
file plus its test, and one :func:`register` line (or a call from user code).

Examples
--------
>>> import intervene.methods as methods
>>> methods.names()
['ablation', 'attribution', 'exact', 'head_mask', 'pyvene', 'steer', 'window']
"""

from __future__ import annotations

from intervene.interventions import is_interchange
from intervene.methods.ablation import AblationMethod
from intervene.methods.attribution import ESTIMATORS, AttributionMethod
from intervene.methods.base import Method, Patch
from intervene.methods.exact import ExactMethod
from intervene.methods.head_mask import HeadMaskMethod
from intervene.methods.pyvene import PyveneMethod
from intervene.methods.steer import SteerMethod
from intervene.methods.window import WindowMethod
from tasks.errors import ConfigError, unknown_name

__all__ = ["Method", "Patch", "register", "unregister", "get", "names", "default_for", "ESTIMATORS"]

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Add a :class:`Method` subclass under ``cls.name``; returns ``cls`` (usable as a decorator).

    Raises
    ------
    ConfigError
        Not a Method subclass, no name, or the name is taken.
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(f"register({cls!r}): only subclasses of intervene.methods.Method can be registered")
    if not isinstance(cls.name, str) or not cls.name:
        raise ConfigError(f"register({cls.__name__}): set the class attribute name = '<method>' first")
    if cls.name in _REGISTRY:
        raise ConfigError(f"method {cls.name!r} is already registered (by {_REGISTRY[cls.name].__name__}); pick another name")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a method (tests and plugins that registered one for a while)."""
    if name not in _REGISTRY:
        raise unknown_name("method", name, _REGISTRY)
    del _REGISTRY[name]


def get(name: str) -> type:
    """The method class registered as ``name`` (a typo gets the close names)."""
    if name not in _REGISTRY:
        raise unknown_name("method", name, _REGISTRY)
    return _REGISTRY[name]


def names() -> list[str]:
    """The registered method names, sorted."""
    return sorted(_REGISTRY)


def default_for(intervention) -> str:
    """The method ``patch`` uses when none is named: exact for interchange, else pyvene."""
    return "exact" if is_interchange(intervention) else "pyvene"


BUILTIN = (ExactMethod, PyveneMethod, AttributionMethod, AblationMethod, WindowMethod, HeadMaskMethod, SteerMethod)
for _cls in BUILTIN:
    register(_cls)
del _cls
