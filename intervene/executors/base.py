"""The executor interface: where units of work run (in this process, or on Ray actors).

An executor runs ``fn(model, shared, *args)`` for units of work and hands back the values; it
never writes anything. :func:`intervene.executors.run_units` drives it (work-store look-ups
and writes, order, progress). Two members: :class:`~intervene.executors.local.LocalExecutor`
and :class:`~intervene.executors.ray_executor.RayExecutor`; :func:`make_executor` turns the
``executor=`` option of :func:`intervene.sweep` into one.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.errors import ConfigError

__all__ = ["Executor", "Handle", "WorkUnit", "model_source", "EXECUTORS", "make_executor"]

EXECUTORS = ("local", "ray")
"""The executor names :func:`make_executor` knows."""


@dataclass(frozen=True)
class WorkUnit:
    """One unit of work: its work-store key (deterministic: the same inputs give the same key,
    so a rerun finds it), its position, and the arguments ``fn`` gets after ``(model, shared)``."""

    key: str
    index: int
    args: tuple = ()


@dataclass(eq=False)
class Handle:
    """A submitted unit: finished when ``done`` (then ``value`` and ``seconds``, or ``error``)."""

    unit: WorkUnit
    done: bool = False
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0  # the unit's compute time where it ran
    attempts: int = 1
    extra: dict = field(default_factory=dict)  # the executor's own bookkeeping


def model_source(model) -> str:
    """What a worker passes to :func:`intervene.load_model` to load ``model`` itself.

    A name or path is taken as it is; a loaded SpeechModel gives the name or folder it was
    loaded from (``model.name``).

    Raises
    ------
    ConfigError
        ``model`` is neither a string, a path nor a loaded model.
    """
    if isinstance(model, (str, Path)):
        return str(model)
    name = getattr(model, "name", None)
    if isinstance(name, str) and name:
        return name
    raise ConfigError(f"model ({model!r:.80}) must be a model name, a folder path or a model from intervene.load_model")


class Executor(abc.ABC):
    """Runs units of work; subclasses say where.

    Attributes
    ----------
    name : str
        "local" or "ray".
    slots : int
        How many units run at once (the driver keeps about twice as many submitted).
    """

    name: str = "executor"
    slots: int = 1

    @abc.abstractmethod
    def submit(self, model, fn: Callable, shared: Any, unit: WorkUnit) -> Handle:
        """Start ``fn(model, shared, *unit.args)``; returns its handle (maybe already done)."""

    @abc.abstractmethod
    def wait(self, handles: Sequence[Handle]) -> list[Handle]:
        """Block until at least one of ``handles`` is done; returns the done ones."""

    def cancel(self, handles: Sequence[Handle]) -> None:  # noqa: B027  (optional)
        """Give up on unfinished ``handles`` (the run was interrupted); by default nothing."""

    def describe(self) -> dict:
        """A JSON-able description for logs and reports."""
        return {"executor": self.name, "slots": self.slots}

    def close(self) -> None:  # noqa: B027  (optional)
        """Release what the executor holds (workers, a Ray it started)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(executor="local", **options) -> tuple[Executor, bool]:
    """An executor from a name or an instance, and whether the caller owns it (must close it).

    Parameters
    ----------
    executor : {"local", "ray"} or Executor
        A name makes a new executor with ``options`` (the caller closes it); an instance is
        used as it is (its owner closes it).
    **options
        For "ray": what :class:`~intervene.executors.ray_executor.RayExecutor` takes
        (``address``, ``actors``, ``threads_per_actor``, ``gpus_per_actor``, ...).

    Raises
    ------
    ConfigError
        An unknown name, or options given with an instance.
    CapabilityError
        "ray" without Ray installed (the message says ``pip install "speechlens[ray]"``).
    """
    if isinstance(executor, Executor):
        if options:
            raise ConfigError(f"executor options {sorted(options)} apply to executor names; configure the "
                              f"{type(executor).__name__} you pass instead")
        return executor, False
    if executor == "local" or executor is None:
        from intervene.executors.local import LocalExecutor

        return LocalExecutor(**options), True
    if executor == "ray":
        from intervene.executors.ray_executor import RayExecutor

        return RayExecutor(**options), True
    raise ConfigError(f"executor ({executor!r:.80}) must be one of {', '.join(map(repr, EXECUTORS))} "
                      "or an intervene.executors.Executor")
