"""The report folder of a run: one run at a time, no leftovers, no stale results that look finished.

Every script wraps its work in :func:`run_folder`::

    with run_folder(run, settings, work={...settings that change a unit's result...}) as store:
        ...compute (resumable, in the WorkStore ``run.out / "work"``) and write the report...

On entry it takes the folder's lock (:func:`intervene.workstore.folder_lock`: a second run on
the same ``--out`` exits at once with a message naming the process that holds it), removes the
``.part`` files of writes that a killed run left behind, opens the work store (which refuses
work done with other settings, before anything is changed), and retires the results of a run
with other settings: their files are renamed ``<name>.stale<suffix>`` (``results.stale.json``,
``index.stale.html``), so a rerun with other settings that dies half-way cannot leave the
previous run's ``results.json`` looking like its own. ``results.json`` names the settings it
belongs to (``settings`` and ``settings_digest``) and is written last.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common.settings import settings_digest
from intervene.workstore import WorkStore, folder_lock, remove_partial_files

__all__ = ["run_folder", "results_digest", "retire_stale_results", "stale_name"]

logger = logging.getLogger(__name__)


def stale_name(path: Path) -> Path:
    """``results.json`` -> ``results.stale.json``; ``maps.npz`` -> ``maps.stale.npz``."""
    return path.with_name(f"{path.stem}.stale{path.suffix}")


def results_digest(path: Path) -> str | None:
    """The settings digest a results file belongs to, or None when it is missing or unreadable.

    Read from its ``settings_digest``, else computed from its ``settings`` (files written
    before the digest was recorded).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("settings_digest"), str):
        return data["settings_digest"]
    return settings_digest(data["settings"]) if isinstance(data.get("settings"), dict) else None


def retire_stale_results(out: Path, digest: str, results: Sequence[str]) -> list[Path]:
    """Rename the result files of ``out`` to ``*.stale.*`` unless they belong to ``digest``.

    ``results[0]`` is the file written last (its presence means the report is complete); when
    it is missing, unreadable or of other settings, every file of ``results`` is retired, as
    they may be half of an interrupted report.

    Returns
    -------
    list of Path
        The new names of the files retired.
    """
    out = Path(out)
    if results_digest(out / results[0]) == digest:
        return []
    retired = []
    for name in results:
        path = out / name
        if path.is_file():
            target = stale_name(path)
            path.replace(target)
            retired.append(target)
    if retired:
        logger.warning("'%s' held results of other settings or of an unfinished run; renamed them to %s", out,
                       ", ".join(p.name for p in retired))  # fmt: skip
    return retired


@contextmanager
def run_folder(run, settings, work: Mapping | None = None,
               results: Sequence[str] = ("results.json", "index.html")) -> Iterator[WorkStore | None]:  # fmt: skip
    """Hold ``run.out`` for this run: lock, clean leftovers, open the work store, retire stale results.

    Parameters
    ----------
    run : RunOptions
    settings : BenchmarkSettings
        The run's settings; results of other settings in the folder are retired.
    work : mapping, optional
        The settings that change a unit's result: the run's
        :class:`~intervene.workstore.WorkStore` is opened at ``run.out / "work"`` with them.
    results : sequence of str
        The result files, the one written last first.

    Yields
    ------
    WorkStore or None
        The work store (None without ``work``).

    Raises
    ------
    ConfigError
        Another run holds the folder, the folder cannot be created or written, or its work
        store holds work done with other settings (then nothing in the folder is changed).
    """
    with folder_lock(run.out) as out:
        remove_partial_files(out)
        store = None if work is None else WorkStore(out / "work", work)
        retire_stale_results(out, settings.digest(), results)
        yield store
