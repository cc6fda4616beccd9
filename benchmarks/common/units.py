"""A benchmark's units of work, run where ``--executor`` says and kept in its work store.

Scripts whose work is not a patching sweep (transcripts under an intervention, alignments,
trained probes, SAE runs, ...) hand their units to :func:`run_stored`::

    def _score(model, shared, clip_audio, text):          # module level: Ray workers import it
        return {"wer": ...}

    items = [(make_key(name, clip.key), (clip.audio, clip.text)) for clip in clips]
    with run.scaleout.open(run.device) as executor:
        for value in run_stored(executor, name, _score, items, store, progress=run.progress, desc="scoring"):
            ...

Units already in the store are read back and never run again; the others run on the executor
(in this process, or on Ray actors that load the model by its name) and are written to the
store by this process alone, atomically, as each finishes. Values come back in the order of
``items`` whatever order they finish in, so the numbers are those of a local run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from intervene.executors import WorkUnit, run_units
from intervene.workstore import WorkStore

__all__ = ["run_stored"]


def run_stored(executor, model, fn: Callable, items: Iterable[tuple[str, tuple]], store: WorkStore, *,
               shared: Any = None, progress: bool = False, desc: str = "units", unit_name: str = "unit",
               total: int | None = None) -> Iterator[Any]:  # fmt: skip
    """Yield ``fn(model, shared, *args)`` for each ``(key, args)`` of ``items``, stored under ``key``.

    Parameters
    ----------
    executor : intervene.executors.Executor
        Where units run (``run.scaleout.open(run.device)`` in a benchmark script).
    model : SpeechModel, str or Path
        A loaded model (local executor) or its name / folder (workers load it themselves).
        With every unit stored the model is never used, so a name costs nothing on resume.
    fn : callable
        ``fn(model, shared, *args) -> JSON-able value``, defined at module level.
    items : iterable of (str, tuple)
        Work keys (``make_key(...)``, deterministic) and the arguments of each unit.
    store : WorkStore
        Where finished units are kept; a rerun reads them instead of computing them.
    shared : object, optional
        What every unit needs, sent to each worker once.
    progress : bool
        A progress bar (rate and time left).

    Yields
    ------
    object
        Each unit's value, in the order of ``items``.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)

    def units():
        for index, (key, args) in enumerate(items):
            yield WorkUnit(key, index, tuple(args))

    def lookup(unit: WorkUnit):
        found = store.get(unit.key)
        if found is not None:
            store.reused += 1
        return found

    def record(unit: WorkUnit, value, seconds: float):
        store.computed += 1
        return store.put(unit.key, value)

    for result in run_units(executor, model, fn, units(), shared=shared, lookup=lookup, record=record,
                            progress=progress, total=total, desc=desc, unit_name=unit_name):  # fmt: skip
        yield result.value
