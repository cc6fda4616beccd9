"""The :class:`Corruption` base class: the protocol every corruption kind follows.

A corruption is a frozen dataclass of checked, unit-named parameters. It draws concrete
parameters with an explicit generator and then applies them (draw, then apply)::

    params = corruption.sample(rng, source, target="yes")   # a JSON-able dict
    corrupt = corruption.apply(source, params)              # float32 (samples,) at 16 kHz
    pair = corruption.pair(source, seed=0)                  # both steps -> MinimalPair

The registry of kinds lives in :mod:`corruptions.registry`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.pair import MinimalPair
from corruptions.source import Source, as_source, resolve_target
from tasks.errors import ConfigError
from tasks.jsonio import to_jsonable

__all__ = ["Corruption", "resolve_rng"]


def resolve_rng(seed=None, rng=None) -> tuple[np.random.Generator, int | None]:
    """The generator to draw with, and the seed to record.

    ``seed`` -> ``np.random.default_rng(seed)``; ``rng`` -> used as is (the recorded seed is
    None; the drawn params still rebuild the pair); neither -> a fresh seed from the OS,
    recorded so the pair can be rebuilt.

    Raises
    ------
    ConfigError
        Both given, a seed that is not a non-negative int, or an rng that is not a Generator.
    """
    if seed is not None and rng is not None:
        raise ConfigError("give seed= or rng=, not both: a pair is drawn from exactly one generator")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"rng ({type(rng).__name__}) must be a numpy.random.Generator (np.random.default_rng)")
        return rng, None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed ({seed!r}) must be a non-negative int")
    return np.random.default_rng(int(seed)), int(seed)


@dataclasses.dataclass(frozen=True, eq=False)
class Corruption:
    """Base class of corruptions: a frozen dataclass of parameters, with draw-then-apply.

    Subclasses set ``kind`` (the registry name), declare their parameters as dataclass
    fields checked in ``__post_init__``, and implement :meth:`sample` and :meth:`apply`.
    Equality and hashing go through :meth:`to_dict`.
    """

    kind: ClassVar[str] = ""

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """Draw concrete parameters for ``source`` with ``rng``; returns a JSON-able dict."""
        raise NotImplementedError

    def apply(self, source, params: dict) -> np.ndarray:
        """Apply drawn ``params`` to ``source``; returns float32 ``(samples,)`` at 16 kHz, same length."""
        raise NotImplementedError

    def corrupt_answer(self, params: dict, clean_answer: str | None) -> str | None:
        """The answer the corrupt clip carries (the clean one, unless the corruption swaps words)."""
        return clean_answer

    def corrupt_words(self, source: Source, params: dict) -> tuple:
        """The word spans of the corrupt clip (the clean ones, unless the corruption moves words)."""
        return source.words

    def pair(self, source, seed: int | None = None, rng: np.random.Generator | None = None,
             target: str | None = None) -> MinimalPair:  # fmt: skip
        """Make the aligned minimal pair (clean ``source``, corrupted copy).

        Parameters
        ----------
        source : tasks.Utterance, dataset example, or float array at 16 kHz
        seed : int, optional
            Seed of the generator parameters are drawn with; the same seed gives the same pair.
            With neither ``seed`` nor ``rng``, a fresh seed is drawn and recorded in the pair.
        rng : numpy.random.Generator, optional
            Draw from this generator instead (the pair records ``seed=None``).
        target : str, optional
            The source word the pair is about (default: ``source.word``, else its only word).

        Returns
        -------
        MinimalPair

        Raises
        ------
        ConfigError
            Bad seed/rng, or an ambiguous target.

        Examples
        --------
        >>> import numpy as np, corruptions
        >>> audio = np.sin(np.arange(16000) * 0.05).astype(np.float32)
        >>> pair = corruptions.get("noise", snr_db=10.0).pair(audio, seed=0)
        >>> pair.clean.shape == pair.corrupt.shape
        True
        """
        src = as_source(source)
        target = resolve_target(src, target)
        generator, seed = resolve_rng(seed, rng)
        params = to_jsonable(self.sample(generator, src, target=target), strict=False)
        corrupt = self.apply(src, params)
        return MinimalPair(
            clean=src.audio,
            corrupt=corrupt,
            sample_rate=src.sample_rate,
            clean_answer=target,
            corrupt_answer=self.corrupt_answer(params, target),
            changed_spans=F.changed_spans(src.audio, corrupt, src.sample_rate),
            corruption=self.to_dict(),
            params=params,
            seed=seed,
            words=src.words,
            corrupt_words=self.corrupt_words(src, params),
            metadata=src.metadata(),
        )

    def to_dict(self) -> dict:
        """``{"kind": ..., <every parameter>: ...}``, JSON-able; :func:`from_dict` inverts it."""
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = to_jsonable(getattr(self, f.name), strict=False)
        return out

    def __eq__(self, other) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))
