"""SpeechLens's one exception family.

Every error a user can trigger subclasses :class:`SpeechLensError`, and also the built-in
exception a Python user would try first (``ValueError`` for bad values, ``KeyError`` for
unknown names), so ``except ValueError`` keeps working. Messages name the argument, the
value and the rule, and say what to do.

The family lives in :mod:`tasks` because tasks is the first package on the data path
(audio -> task -> corruption -> engine). Its ``__all__`` is the one list of error names:
:mod:`tasks`, :mod:`corruptions` and :mod:`intervene` re-export exactly that list.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "SpeechLensError",
    "ConfigError",
    "AudioError",
    "UnknownNameError",
    "DatasetError",
    "ModelLoadError",
    "PairError",
    "InterventionError",
    "GuardError",
    "CapabilityError",
]


class SpeechLensError(Exception):
    """Base class of every error SpeechLens raises on purpose."""


class ConfigError(SpeechLensError, ValueError):
    """A parameter value breaks its rule (range, type, unit)."""


class AudioError(SpeechLensError, ValueError):
    """Audio that cannot be used: empty, NaN/inf, too long, wrong shape."""


class UnknownNameError(SpeechLensError, KeyError):
    """A name (model, site, corruption kind, voice, word) that is not known.

    ``KeyError`` quotes its message when printed; this class prints it as written.
    """

    def __str__(self) -> str:  # KeyError.__str__ would repr() the message
        return str(self.args[0]) if self.args else ""


class DatasetError(SpeechLensError, ValueError):
    """A dataset folder that is not in the expected layout."""


class ModelLoadError(SpeechLensError, RuntimeError):
    """A model folder or cache entry that cannot be read."""


class PairError(SpeechLensError, ValueError):
    """The two halves of a minimal pair do not match (length, rate) or barely differ."""


class InterventionError(SpeechLensError, RuntimeError):
    """An intervention that cannot be run as asked (unit outside the clip, bad site)."""


class GuardError(InterventionError):
    """A correctness guard failed: patching everything did not give the source, or
    patching nothing did not give the base. The sweep's numbers would be wrong."""


class CapabilityError(ConfigError):
    """A method or option the model's architecture does not offer (e.g. a truncated encoder
    on Wav2Vec2); the message names the fallback."""


def close_names(name: str, known: Iterable[str], n: int = 3) -> str:
    """A ready-to-append hint such as ``"; did you mean 'noise', 'gap'?"`` (or ``""``)."""
    matches = difflib.get_close_matches(str(name), list(known), n=n, cutoff=0.5)
    if not matches:
        return ""
    return "; did you mean " + ", ".join(repr(m) for m in matches) + "?"


def unknown_name(what: str, name: str, known: Iterable[str]) -> UnknownNameError:
    """Build the standard unknown-name error: names the value, the close names and all names."""
    known = sorted(known)
    return UnknownNameError(
        f"unknown {what} {name!r}{close_names(name, known)} Known: {', '.join(known)}"
    )
