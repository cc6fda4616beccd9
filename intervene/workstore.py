"""The one resumable work store: finished units kept as small JSON files (and maps, arrays).

:func:`intervene.sweep` (``checkpoint_dir=``) and every benchmark script name each unit of
work with :func:`make_key` and ask a :class:`WorkStore` for it::

    with folder_lock(out):                      # one run at a time in this folder
        store = WorkStore(out / "work", settings={...what changes a unit's result...})
        value = store.get_or_compute(make_key(model, word, clip), lambda: expensive(...))

A unit may own a causal map (:meth:`WorkStore.put_map`) or named arrays
(:meth:`WorkStore.put_arrays`): the file is written first, then the record naming it, so a
record always points at a complete file. A run killed at any moment and started again with the
same folder skips the finished units; the temporary ``.part`` files a killed write leaves
behind are removed when a store opens its folder (:func:`remove_partial_files`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from intervene.maps import CausalMap
from tasks.atomic import atomic_path, write_json
from tasks.errors import ConfigError, ModelLoadError
from tasks.jsonio import to_jsonable

__all__ = ["make_key", "WorkStore", "folder_lock", "remove_partial_files", "LOCK_NAME", "PARTIAL_GRACE_S"]

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^[A-Za-z0-9_+=@,%-][A-Za-z0-9._+=@,%-]*$")
_SETTINGS_NAME = "settings.json"
LOCK_NAME = ".speechlens.lock"
"""The lock file :func:`folder_lock` keeps in a folder (left in place; the lock is on the open file)."""
PARTIAL_GRACE_S = 60.0
"""A ``.part`` file untouched this long is a leftover of a killed write, not a write in progress."""
# tasks.atomic names its temporary files ".<name>.<random>.part<suffix>"
_PARTIAL = re.compile(r"^\..+\.part(\.[^.]+)?$")


# --------------------------------------------------------------------------- folders
def _make_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents); a ConfigError saying in words why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise ConfigError(f"cannot use '{folder}' as a folder: '{blocker}' is a file, not a folder; "
                          "choose another folder") from None  # fmt: skip
    except OSError as exc:
        raise ConfigError(f"cannot create the folder '{folder}' ({exc.strerror or exc}); "
                          "choose a folder you can write to") from None  # fmt: skip
    if not folder.is_dir():
        raise ConfigError(f"cannot use '{folder}' as a folder: it is not a folder")
    return folder


def _try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on the open file ``fd``; False when another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def folder_lock(path, *, wait_s: float = 0.0, poll_s: float = 0.2) -> Iterator[Path]:
    """Hold an exclusive lock on the folder ``path`` (created if needed) for the ``with`` block.

    Two runs writing into one folder would both compute everything and overwrite each other's
    files; the second one to ask for the lock waits up to ``wait_s`` seconds for the first to
    finish, then raises. The lock belongs to the open lock file (``path/.speechlens.lock``),
    so the operating system releases it when the process ends, even on ``kill -9``: a stale
    lock cannot block a later run. Locks are exclusive per open file, so a second
    ``folder_lock`` on the same folder in the same process is refused too.

    Parameters
    ----------
    path : str or Path
        The folder (e.g. a benchmark's or the CLI's ``--out``).
    wait_s : float
        How long to wait for another run to finish (0: refuse at once).
    poll_s : float
        How often to try again while waiting.

    Yields
    ------
    Path
        The folder.

    Raises
    ------
    ConfigError
        Another run holds the folder (the message says which process), the folder cannot be
        created (a file in the way, no permission, disk full), or a bad ``wait_s``.

    Examples
    --------
    >>> import tempfile
    >>> with folder_lock(tempfile.mkdtemp()) as folder:
    ...     pass  # compute and write into folder
    """
    for name, value in (("wait_s", wait_s), ("poll_s", poll_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} ({value!r}) must be a finite number of seconds >= 0")
    folder = _make_folder(Path(path))
    lock = folder / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(f"cannot write in the folder '{folder}' ({exc.strerror or exc}); "
                          "choose a folder you can write to") from None  # fmt: skip
    try:
        deadline = time.monotonic() + float(wait_s)
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                try:
                    holder = lock.read_text(encoding="utf-8", errors="replace").strip() or "another process"
                except OSError:
                    holder = "another process"
                waited = f" after waiting {wait_s:g} s" if wait_s else ""
                raise ConfigError(f"the folder '{folder}' is in use by another run ({holder}){waited}; wait for "
                                  "it to finish, or choose another folder")  # fmt: skip
            time.sleep(max(min(float(poll_s), deadline - time.monotonic()), 0.01))
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        except OSError:  # the lock holds without the note (e.g. a full disk)
            pass
        try:
            yield folder
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def remove_partial_files(folder, older_than_s: float = 0.0) -> list[Path]:
    """Remove the temporary ``.part`` files that writes killed half-way left under ``folder``.

    Every file SpeechLens writes goes through :func:`tasks.atomic.atomic_path`: a temporary
    ``.<name>.<random>.part<suffix>`` beside the final name, moved onto it once complete. A
    process killed during a write leaves the temporary file behind; nothing reads it, but it
    takes space. Files changed less than ``older_than_s`` seconds ago are kept (a write may be
    in progress in another process); under :func:`folder_lock`, pass 0.

    Returns
    -------
    list of Path
        The files removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    now, removed = time.time(), []
    for path in root.rglob(".*.part*"):
        try:
            if not _PARTIAL.match(path.name) or not path.is_file() or now - path.stat().st_mtime < older_than_s:
                continue
            path.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
        removed.append(path)
    if removed:
        logger.info("removed %d leftover partial file(s) of interrupted writes under '%s'", len(removed), root)
    return removed


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_key(*parts) -> str:
    """A work key from parts, each percent-encoded into a safe file name and joined by '/'.

    Examples
    --------
    >>> make_key("whisper-tiny.en", "yes", "en-us-r150-p40_nohash_0")
    'whisper-tiny.en/yes/en-us-r150-p40_nohash_0'
    >>> make_key("/models/my whisper", ".x")
    '%2Fmodels%2Fmy%20whisper/%2Ex'
    """
    if not parts:
        raise ConfigError("make_key needs at least one part")
    segments = []
    for part in parts:
        segment = quote(str(part), safe="-_.+=@,")
        if not segment:
            raise ConfigError(f"key parts ({parts!r}) must be non-empty")
        if segment.startswith("."):  # no hidden files, no '..'
            segment = "%2E" + segment[1:]
        segments.append(segment)
    return "/".join(segments)


class WorkStore:
    """Finished units of work, one small JSON file each under ``root``, for resumable runs.

    A unit's file ``root/<key>.json`` is written atomically once the unit is done, so a run
    killed and started again with the same ``root`` skips finished units and never sees a
    half-written one. ``root/settings.json`` records the settings that change a unit's result;
    opening the store with other settings raises instead of mixing results. One run at a time
    per folder.

    Parameters
    ----------
    root : str or Path
        Usually ``<out>/work``.
    settings : mapping
        JSON-able settings that change a unit's result (not those that only select units).
    partial_grace_s : float
        Leftover ``.part`` files under ``root`` older than this are removed on opening
        (:func:`remove_partial_files`).

    Raises
    ------
    ConfigError
        ``root`` holds work done with other settings, or work files without settings.json.

    Examples
    --------
    >>> import tempfile
    >>> store = WorkStore(tempfile.mkdtemp(), {"words": ["yes", "no"]})
    >>> store.get_or_compute(make_key("tiny", "yes"), lambda: {"score": 1.5})
    {'score': 1.5}
    >>> store.get_or_compute(make_key("tiny", "yes"), lambda: 1 / 0), store.computed, store.reused
    ({'score': 1.5}, 1, 1)
    """

    def __init__(self, root, settings: Mapping, *, partial_grace_s: float = PARTIAL_GRACE_S):
        self.root = Path(root)
        self.settings = json.loads(json.dumps(to_jsonable(dict(settings))))
        self.computed = 0
        self.reused = 0
        self._check_settings()
        remove_partial_files(self.root, older_than_s=partial_grace_s)

    def _check_settings(self) -> None:
        path = self.root / _SETTINGS_NAME
        if path.is_file():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigError(f"cannot read '{path}' ({exc}); delete '{self.root}' to start again") from exc
            if old != self.settings:
                changed = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                detail = "; ".join(f"{k}: {old.get(k)!r} there, {self.settings.get(k)!r} now" for k in changed)
                raise ConfigError(
                    f"'{self.root}' holds work done with other settings ({detail}); use another --out, "
                    f"or delete '{self.root}' to start again"
                )
            return
        if self.root.is_dir() and any(self.keys()):
            raise ConfigError(
                f"'{self.root}' holds work files but no {_SETTINGS_NAME}, so they cannot be trusted; "
                "use another --out, or delete that folder"
            )
        write_json(path, self.settings)

    def path(self, key: str) -> Path:
        """The file of ``key`` (``root/<key>.json``).

        Raises
        ------
        ConfigError
            ``key`` is not made of safe segments (build keys with :func:`make_key`).
        """
        segments = key.split("/") if isinstance(key, str) else []
        if not segments or not all(_SEGMENT.match(s) for s in segments) or key == "settings":
            raise ConfigError(f"work key ({key!r}) must be built with make_key() and not be 'settings'")
        return self.root.joinpath(*segments[:-1], segments[-1] + ".json")

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key``, or ``default`` if the unit is not finished."""
        path = self.path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return default
        except ValueError as exc:  # only a file damaged outside SpeechLens; redo the unit
            logger.warning("work file '%s' is damaged (%s); the unit will be computed again", path, exc)
            return default
        if not isinstance(record, dict) or record.get("key") != key:
            logger.warning("work file '%s' does not hold key %r; the unit will be computed again", path, key)
            return default
        return record.get("value")

    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` (JSON-able) for ``key`` atomically; returns it as read back from JSON,
        so a fresh run and a resumed run see exactly the same values."""
        value = json.loads(json.dumps(to_jsonable(value)))
        write_json(self.path(key), {"key": key, "value": value})
        return value

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored value of ``key``; else ``compute()``, stored, then returned."""
        missing = object()
        value = self.get(key, missing)
        if value is not missing:
            self.reused += 1
            return value
        value = self.put(key, compute())
        self.computed += 1
        return value

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys of ``keys`` whose unit is not finished, in order."""
        return [k for k in keys if k not in self]

    def keys(self) -> list[str]:
        """Every finished key under ``root``, sorted (temporary files and map files are not keys)."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*.json"):
            rel = path.relative_to(self.root).with_suffix("")
            if rel.as_posix() == "settings" or rel.suffix == ".map" or any(p.startswith(".") for p in rel.parts):
                continue
            found.append(rel.as_posix())
        return sorted(found)

    # ------------------------------------------------------------------ maps
    def map_path(self, key: str) -> Path:
        """Where the map of ``key`` goes by default: ``root/<key>.map.npz`` (+ ``.map.json``)."""
        record = self.path(key)
        return record.with_name(record.stem + ".map.npz")

    def put_map(self, key: str, cmap, record: Mapping, path=None) -> dict:
        """Save ``cmap`` (at ``path``, default :meth:`map_path`), then store ``record`` with the
        map's location under ``"map"`` (relative to the store's parent folder when inside it)."""
        path = Path(path) if path is not None else self.map_path(key)
        cmap.save(path)
        try:
            where = path.resolve().relative_to(self.root.resolve().parent).as_posix()
        except ValueError:
            where = str(path.resolve())
        return self.put(key, {**record, "map": where})

    def load_map(self, record: Mapping):
        """The map a record names, or None (logged) when it is missing or damaged: then the unit is redone."""
        if not isinstance(record, Mapping) or not record.get("map"):
            return None
        if not isinstance(record["map"], str):  # a record edited or damaged outside SpeechLens
            logger.warning("work record names its map as %r, not a path; its unit will be computed again", record["map"])
            return None
        path = self.root.parent / record["map"]
        try:
            return CausalMap.load(path)
        except (ModelLoadError, ConfigError, OSError, ValueError, KeyError) as exc:
            logger.warning("map '%s' cannot be read (%s); its unit will be computed again", path, exc)
            return None

    # ------------------------------------------------------------------ arrays
    def put_arrays(self, key: str, arrays: Mapping[str, Any], record: Mapping) -> dict:
        """Save named arrays as ``root/<key>.npz``, then store ``record`` naming the file and its
        SHA-256 (``"arrays"``, ``"sha256"``), so a unit can keep what JSON would bloat or round.

        Arrays come back bit for bit (:meth:`load_arrays`): a resumed run sees what a fresh run
        computed.
        """
        path = self.path(key)
        path = path.with_name(path.stem + ".arrays.npz")
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{name: np.asarray(value) for name, value in arrays.items()})
        where = path.relative_to(self.root).as_posix()
        return self.put(key, {**record, "arrays": where, "sha256": _sha256(path)})

    def load_arrays(self, record: Mapping) -> dict | None:
        """The arrays a :meth:`put_arrays` record names, or None (logged) when the file is missing,
        damaged or not the one recorded: then the unit is computed again."""
        if not isinstance(record, Mapping) or not isinstance(record.get("arrays"), str):
            return None
        path = self.root / record["arrays"]
        try:
            if _sha256(path) != record.get("sha256"):
                raise ValueError("its SHA-256 differs from the one recorded")
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("arrays '%s' cannot be used (%s); their unit will be computed again", path, exc)
            return None

    def __repr__(self) -> str:
        return f"WorkStore('{self.root}', computed={self.computed}, reused={self.reused})"

