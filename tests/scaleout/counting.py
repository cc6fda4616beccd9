"""A test executor that records what it computes (shared by the scale-out tests)."""

from __future__ import annotations

from intervene.executors import Executor


class Counting(Executor):
    """Wraps an executor and notes the key of every unit submitted (computed) through it."""

    def __init__(self, inner: Executor):
        self.inner, self.name, self.slots, self.keys = inner, inner.name, inner.slots, []

    def submit(self, model, fn, shared, unit):
        self.keys.append(unit.key)
        return self.inner.submit(model, fn, shared, unit)

    def wait(self, handles):
        return self.inner.wait(handles)

    def cancel(self, handles):
        self.inner.cancel(handles)
