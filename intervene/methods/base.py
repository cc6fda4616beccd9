"""The protocol every intervention method follows.

A *cell* is a list of :class:`Patch` es applied together (site + positions). A method is
built for one prepared pair (:class:`~intervene.context.PairContext`) with its options, then

1. ``prepare(sites)``: whatever it caches per pair;
2. ``run(cells, progress) -> np.ndarray``: the metric of the base run under each cell
   (an empty cell runs the base unpatched, through the method's own code path: what the
   patch-nothing guard checks);
3. ``metrics() -> (base_metric, source_metric)``: the two unpatched metrics as the method
   measures them (after ``prepare``; an estimate's after ``run``);
4. ``record() -> dict``: what the map's metadata should say about how it was computed.

:func:`intervene.patch` resolves the sites, builds the pair context and the axes, and hands
the cells to the method; it never asks which method it holds. A method declares its
options (with defaults) in ``options``; ``patch`` passes it only those, and an option given
to a method that does not take it is a typed error naming the method that does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from intervene.sites import Site

__all__ = ["Patch", "Method"]


@dataclass(frozen=True)
class Patch:
    """Patch ``site`` at ``positions`` (a tuple of ints; None = every position)."""

    site: Site
    positions: tuple | None = None


class Method:
    """Base class of intervention methods (see the module notes).

    Class attributes
    ----------------
    name : str
        The registry name (``method=`` in :func:`intervene.patch`, ``--method`` in the CLI).
    summary : str
        One line for the CLI's help.
    options : dict
        Option name -> default, the keyword arguments this method takes from ``patch``.
    guarded : bool
        Whether ``patch`` runs the correctness guards on it (False for estimates).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    options: ClassVar[dict] = {}
    guarded: ClassVar[bool] = True

    def __init__(self, ctx, **options):
        self.ctx = ctx
        self.model = ctx.model

    @property
    def truncated(self) -> bool:
        """True when the method measures an approximation of the model (then its own unpatched
        metrics, not the plain forward's, are what its cells are compared with)."""
        return False

    def reference_runner(self):
        """The forward the guards compare this method with (the model this method measures)."""
        return self.model.runner()

    @classmethod
    def accepts(cls, intervention) -> bool:
        """Whether this method can run ``intervention`` (the ``intervention=`` of ``patch``)."""
        return intervention in (None, "interchange", "vanilla")

    def guard(self, sites, base_metric: float, source_metric: float) -> list:
        """Run this method's correctness guards (after ``prepare``); their records.

        The default (:func:`intervene.guards.run_guards`): patch nothing = base, patch every
        position = source (or a plain torch-hook forward). Methods whose cells are not
        interchange (ablations, windows, steering) override it with guards of their own kind.

        Raises
        ------
        GuardError
            A guard failed.
        """
        from intervene.guards import run_guards

        return run_guards(self.ctx, self, sites, base_metric, source_metric)

    def prepare(self, sites) -> None:
        raise NotImplementedError

    def run(self, cells: list, progress=None) -> np.ndarray:
        raise NotImplementedError

    def metrics(self) -> tuple[float, float]:
        raise NotImplementedError

    def record(self) -> dict:
        return {}
