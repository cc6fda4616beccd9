"""The local executor: every unit runs here, in this process, one after the other (the default)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from intervene.executors.base import Executor, Handle, WorkUnit, model_source

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Run each unit in-process as it is submitted (no Ray needed).

    A model given by name or path is loaded once (:func:`intervene.load_model`) and kept; a
    loaded model is used as it is.

    Parameters
    ----------
    device : str, optional
        Device of models loaded by name (default: CUDA when available, else the CPU).

    Examples
    --------
    >>> from intervene.executors import LocalExecutor, WorkUnit
    >>> ex = LocalExecutor()
    >>> h = ex.submit(None, lambda model, shared, x: shared * x, 3, WorkUnit("k", 0, (2,)))
    >>> h.done, h.value
    (True, 6)
    """

    name = "local"
    slots = 1

    def __init__(self, device=None):
        self.device = device
        self._models: dict = {}

    def _model(self, model):
        if not isinstance(model, str) and not hasattr(model, "__fspath__"):
            return model
        source = model_source(model)
        if source not in self._models:
            from intervene.models import load_model

            self._models = {source: load_model(source, device=self.device)}  # one model at a time
        return self._models[source]

    def submit(self, model, fn: Callable, shared: Any, unit: WorkUnit) -> Handle:
        handle = Handle(unit)
        loaded = self._model(model)
        t0 = time.perf_counter()
        try:
            handle.value = fn(loaded, shared, *unit.args)
        except Exception as exc:  # handed to the driver, which raises it in order
            handle.error = exc
        handle.seconds = time.perf_counter() - t0
        handle.done = True
        return handle

    def wait(self, handles: Sequence[Handle]) -> list[Handle]:
        return [h for h in handles if h.done]

    def close(self) -> None:
        self._models = {}
