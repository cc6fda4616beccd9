"""The one resumable work store: finished units kept as small JSON files (and maps).

:func:`intervene.sweep` (``checkpoint_dir=``) and every benchmark script name each unit of
work with :func:`make_key` and ask a :class:`WorkStore` for it::

    store = WorkStore(run.out / "work", settings={...what changes a unit's result...})
    value = store.get_or_compute(make_key(model, word, clip), lambda: expensive(...))

A unit may own a causal map (:meth:`WorkStore.put_map`): the map is written first, then the
record naming it, so a record always points at a complete map. A run killed at any moment and
started again with the same folder skips the finished units.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from intervene.maps import CausalMap
from tasks.atomic import write_json
from tasks.errors import ConfigError, ModelLoadError
from tasks.jsonio import to_jsonable

__all__ = ["make_key", "WorkStore"]

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^[A-Za-z0-9_+=@,%-][A-Za-z0-9._+=@,%-]*$")
_SETTINGS_NAME = "settings.json"


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

    def __init__(self, root, settings: Mapping):
        self.root = Path(root)
        self.settings = json.loads(json.dumps(to_jsonable(dict(settings))))
        self.computed = 0
        self.reused = 0
        self._check_settings()

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
        path = self.root.parent / record["map"]
        try:
            return CausalMap.load(path)
        except (ModelLoadError, ConfigError, OSError, ValueError, KeyError) as exc:
            logger.warning("map '%s' cannot be read (%s); its unit will be computed again", path, exc)
            return None

    def __repr__(self) -> str:
        return f"WorkStore('{self.root}', computed={self.computed}, reused={self.reused})"

