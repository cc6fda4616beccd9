"""Where sweeps run: in this process (``"local"``, the default) or on Ray actors (``"ray"``).

:func:`intervene.sweep` and :func:`intervene.sweep_pairs` take ``executor="local"``,
``executor="ray"`` or an executor instance (reuse one across sweeps so its actors load the model
once)::

    from intervene.executors import RayExecutor

    with RayExecutor(address="10.0.0.5:6379", threads_per_actor=4) as ray_ex:
        cmap = intervene.sweep("whisper-tiny.en", task, pairs, sites, executor=ray_ex,
                               checkpoint_dir="runs/sweep", per_pair=False, progress=True)

A *work unit* is one pair x one site group x one method (and its options): its key is a digest
of both halves' audio and those settings, so it is the same on every run and every executor.
Only the driver reads and writes the work store (:func:`run_units`); workers compute. A local
run and a Ray run of the same sweep give identical numbers, and either resumes the other's
folder.

Members: :class:`Executor` (the interface), :class:`LocalExecutor`, :class:`RayExecutor`
(``pip install "speechlens[ray]"``), :func:`make_executor`, :func:`run_units`, :class:`WorkUnit`.
"""

from intervene.executors.base import EXECUTORS, Executor, Handle, WorkUnit, make_executor, model_source
from intervene.executors.local import LocalExecutor
from intervene.executors.pipeline import UnitResult, run_units

__all__ = [
    "EXECUTORS",
    "Executor",
    "Handle",
    "WorkUnit",
    "LocalExecutor",
    "RayExecutor",
    "make_executor",
    "model_source",
    "run_units",
    "UnitResult",
]


def __getattr__(name: str):
    if name == "RayExecutor":  # imported on use: `import intervene.executors` works without Ray
        from intervene.executors.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'intervene.executors' has no attribute {name!r}")
