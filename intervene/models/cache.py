"""The converted-weights cache.

CTranslate2 weights are converted to transformers' layout once and kept as safetensors under
``$SPEECHLENS_CACHE`` (default ``$XDG_CACHE_HOME/speechlens``, else ``~/.cache/speechlens``).
An entry is a folder with ``model.safetensors``, ``config.json`` and ``manifest.json``;
the manifest is written last and records the size and SHA-256 of the weights file, so a
partial or corrupt entry (a killed conversion, a truncated copy) is detected and rebuilt,
never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from tasks.atomic import atomic_path, write_json
from tasks.cachedir import cache_root

__all__ = ["cache_root", "entry_dir", "load_entry", "save_entry"]

logger = logging.getLogger(__name__)

_FORMAT = 1


def fingerprint(files) -> str:
    """A short id of the source files (paths, sizes, modification times)."""
    h = hashlib.sha256(str(_FORMAT).encode())
    for f in files:
        st = Path(f).stat()
        h.update(f"{Path(f).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def entry_dir(slug: str, files) -> Path:
    return cache_root() / "models" / f"{slug}-{fingerprint(files)}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def load_entry(entry: Path):
    """Return ``(state_dict, config_dict)`` from a complete entry, or None if it is absent or broken."""
    manifest_path = entry / "manifest.json"
    weights = entry / "model.safetensors"
    if not manifest_path.is_file():
        if entry.exists():
            logger.warning("cache entry %s is incomplete (no manifest); rebuilding it", entry)
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        config = json.loads((entry / "config.json").read_text())
        ok = (
            manifest.get("format") == _FORMAT
            and weights.is_file()
            and weights.stat().st_size == manifest["weights_bytes"]
            and _sha256(weights) == manifest["weights_sha256"]
        )
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("cache entry %s is unreadable (%s); rebuilding it", entry, exc)
        return None
    if not ok:
        logger.warning("cache entry %s does not match its manifest (partial or corrupt); rebuilding it", entry)
        return None
    from safetensors.torch import load_file

    try:
        return load_file(str(weights)), config
    except Exception as exc:  # a corrupt header that still matches size/hash is impossible; be safe anyway
        logger.warning("cache entry %s cannot be loaded (%s); rebuilding it", entry, exc)
        return None


def save_entry(entry: Path, state_dict, config_dict: dict, source: dict) -> None:
    """Write an entry: weights and config first, the manifest last (all atomically)."""
    from safetensors.torch import save_file

    entry.mkdir(parents=True, exist_ok=True)
    (entry / "manifest.json").unlink(missing_ok=True)  # another process may be rebuilding it too
    weights = entry / "model.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp))
    write_json(entry / "config.json", config_dict)
    write_json(
        entry / "manifest.json",
        {
            "format": _FORMAT,
            "weights_bytes": weights.stat().st_size,
            "weights_sha256": _sha256(weights),
            "source": source,
        },
    )
