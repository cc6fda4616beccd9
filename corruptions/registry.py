"""The registry of corruption kinds: kind name -> class.

Kinds are registered explicitly (the list is in :mod:`corruptions`); :func:`register` refuses
a duplicate and :func:`get` answers a typo with the close names. This module imports no other
part of :mod:`corruptions` at load time, so :class:`~corruptions.pair.MinimalPair` can rebuild a
pair from its recorded config without an import cycle.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tasks.errors import ConfigError, close_names, unknown_name

if TYPE_CHECKING:
    from corruptions.base import Corruption

__all__ = ["register", "unregister", "get", "from_dict", "kinds"]

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Add a :class:`Corruption` subclass to the registry under ``cls.kind``; returns ``cls``.

    Raises
    ------
    ConfigError
        ``cls`` is not a Corruption subclass, has no ``kind``, or its kind is taken.
    """
    protocol = ("sample", "apply", "pair", "to_dict")
    if not (isinstance(cls, type) and all(callable(getattr(cls, name, None)) for name in protocol)):
        raise ConfigError(f"register({cls!r}): only subclasses of corruptions.Corruption can be registered")
    kind = getattr(cls, "kind", "")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"register({cls.__name__}): set the class attribute kind = '<name>' first")
    if kind in _REGISTRY:
        raise ConfigError(
            f"corruption kind {kind!r} is already registered (by {_REGISTRY[kind].__name__}); pick another kind"
        )
    _REGISTRY[kind] = cls
    return cls


def unregister(kind: str) -> None:
    """Remove a kind (tests and plugins that registered one for a while).

    Raises
    ------
    UnknownNameError
        No such kind (the message lists the close names).
    """
    if kind not in _REGISTRY:
        raise unknown_name("corruption kind", kind, _REGISTRY)
    del _REGISTRY[kind]


def kinds() -> list[str]:
    """The registered corruption kinds, sorted."""
    return sorted(_REGISTRY)


def get(kind: str, **params) -> Corruption:
    """Build the corruption ``kind`` with ``params`` (unset ones take their defaults).

    Raises
    ------
    UnknownNameError
        No such kind (the message lists the close names).
    ConfigError
        A parameter the kind does not have, or a bad value.

    Examples
    --------
    >>> import corruptions
    >>> corruptions.get("pitch_shift", semitones=2.0).semitones
    2.0
    """
    if kind not in _REGISTRY:
        raise unknown_name("corruption kind", kind, _REGISTRY)
    cls = _REGISTRY[kind]
    names = [f.name for f in dataclasses.fields(cls)]
    for name in params:
        if name not in names:
            raise ConfigError(
                f"corruption {kind!r} has no parameter {name!r}{close_names(name, names)} "
                f"Its parameters: {', '.join(names)}"
            )
    return cls(**params)


def from_dict(config: dict) -> Corruption:
    """Build a corruption from ``{"kind": ..., **params}`` (what :meth:`Corruption.to_dict` gives).

    Raises
    ------
    ConfigError
        ``config`` is not a dict or has no ``kind``.
    UnknownNameError
        Unknown kind.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config ({type(config).__name__}) must be a dict with a 'kind' key")
    if "kind" not in config:
        raise ConfigError(f"config {config!r} has no 'kind'; known kinds: {', '.join(kinds())}")
    params = dict(config)
    return get(params.pop("kind"), **params)

