"""The driver's loop: units in, results out in order, the work store touched only here.

:func:`run_units` takes units lazily, asks ``lookup`` (the work store) for each, submits the
unfinished ones to the executor, and keeps about two units per worker in flight. As each unit
finishes (in any order) its result goes to ``record`` (the work store's atomic write) at
once; results are handed back in the order of the units, so what is computed from them (a
running mean) is the same whatever the executor and however many workers ran them. A run
killed at any point loses only the units in flight: every finished one is in the store, and a
rerun finds it there instead of computing it again.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from intervene.executors.base import Executor, Handle, WorkUnit

__all__ = ["run_units", "UnitResult"]

logger = logging.getLogger(__name__)


@dataclass
class UnitResult:
    """A finished unit: its value, whether it came from the store, and its compute seconds."""

    unit: WorkUnit
    value: Any
    reused: bool
    seconds: float = 0.0


def _bar(enabled: bool, total: int | None, desc: str, unit: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def run_units(executor: Executor, model, fn: Callable, units: Iterable[WorkUnit], *, shared: Any = None,
              lookup: Callable[[WorkUnit], Any] | None = None, record: Callable[[WorkUnit, Any, float], Any] | None = None,
              progress: bool = False, total: int | None = None, desc: str = "units",
              unit_name: str = "unit") -> Iterator[UnitResult]:  # fmt: skip
    """Run ``fn(model, shared, *unit.args)`` for every unit ``lookup`` does not find; yield in order.

    Parameters
    ----------
    executor : Executor
        Where units run (:class:`~intervene.executors.LocalExecutor`,
        :class:`~intervene.executors.RayExecutor`).
    model : SpeechModel, str or Path
        The model (workers load it themselves by name or path).
    fn : callable
        ``fn(model, shared, *unit.args) -> value``; a module-level function (workers import it).
    units : iterable of WorkUnit
        Consumed lazily: at most a few per worker are held at a time.
    shared : object, optional
        What every unit needs (a task, sites, options): sent to each worker once per run.
    lookup : callable, optional
        ``lookup(unit)`` -> the stored value, or None when the unit must run.
    record : callable, optional
        ``record(unit, value, seconds)`` -> the value to hand back; called on the driver as each
        unit finishes (write it to the store here), in the order units finish.
    progress : bool
        A progress bar on stderr (rate and, with ``total``, time left).
    total : int, optional
        The number of units, for the progress bar.

    Yields
    ------
    UnitResult
        One per unit, in the order of ``units``.

    Raises
    ------
    Exception
        The error a unit raised (where it ran), when its turn comes.
    """
    def in_flight_max() -> int:  # read each time: a Ray executor knows its slots once it has started
        return 2 * max(1, executor.slots)

    def buffered_max() -> int:
        return max(4 * executor.slots, 8)

    pending: deque = deque()  # [unit, handle or None, UnitResult or None], in unit order
    live: dict = {}  # handle -> entry, for the submitted and unfinished
    source = iter(units)
    exhausted = False
    bar = _bar(progress, total, desc, unit_name)

    def finish(handle: Handle) -> None:
        entry = live.pop(handle)
        if handle.error is not None:
            raise handle.error
        value = handle.value if record is None else record(entry[0], handle.value, handle.seconds)
        entry[2] = UnitResult(entry[0], value, False, handle.seconds)
        if bar is not None:
            bar.update(1)

    try:
        while True:
            while (not exhausted and len(pending) < buffered_max() and len(live) < in_flight_max()
                   and not (pending and pending[0][2] is not None)):
                unit = next(source, None)
                if unit is None:
                    exhausted = True
                    break
                found = lookup(unit) if lookup is not None else None
                if found is not None:
                    pending.append([unit, None, UnitResult(unit, found, True)])
                    if bar is not None:
                        bar.update(1)
                    continue
                handle = executor.submit(model, fn, shared, unit)
                entry = [unit, handle, None]
                pending.append(entry)
                live[handle] = entry
                if handle.done:  # ran in-process: store it before anything else runs
                    finish(handle)
            if pending and pending[0][2] is not None:
                yield pending.popleft()[2]
                continue
            if not pending:
                break
            for handle in executor.wait(list(live)):
                finish(handle)
    finally:
        if live:
            logger.info("stopping with %d unit(s) unfinished; they were not stored and will run again on resume",
                        len(live))
            executor.cancel(list(live))
        if bar is not None:
            bar.close()
