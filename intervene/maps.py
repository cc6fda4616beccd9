"""CausalMap: a causal-effect map with named axes, its provenance, and save/load.

File format (open, documented, two files side by side)
------------------------------------------------------
``NAME.npz``  (numpy): ``values``, ``patched`` and, where present, ``times_s``,
``per_pair``, ``per_pair_patched``, ``per_pair_clean``, ``per_pair_corrupt``,
``spectrogram_clean``, ``spectrogram_corrupt`` — plain float arrays.

``NAME.json``: ``format`` ("speechlens.causal_map/1"), ``dims``, ``coords``,
``clean_metric``, ``corrupt_metric``, ``meta`` (model, task, direction, method, metric,
unit, window, span, corruptions, pairs, guards, context) and ``arrays`` (the npz's SHA-256,
so a JSON that does not belong to its npz is refused). Both are written atomically, the
JSON last: a map whose JSON exists is complete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tasks.atomic import atomic_path, write_json
from tasks.errors import ConfigError, ModelLoadError

__all__ = ["CausalMap", "FORMAT"]

FORMAT = "speechlens.causal_map/1"
_ARRAYS = (
    "values", "patched", "times_s", "per_pair", "per_pair_patched", "per_pair_clean",
    "per_pair_corrupt", "spectrogram_clean", "spectrogram_corrupt",
)


@dataclass
class CausalMap:
    """Normalised causal effects over named axes.

    Attributes
    ----------
    values : np.ndarray
        Normalised effects ``(m(patched) - m(base)) / (m(source) - m(base))``; for sweeps the
        mean over pairs.
    dims : tuple of str
        Axis names, from "component", "layer", "head", "frame", "token".
    coords : dict
        Labels per axis (frame axes: each window's first encoder frame).
    times_s : np.ndarray or None
        Frame axes: each window's start time in seconds.
    patched : np.ndarray
        The raw metric of each patched run (same shape as ``values``; mean over pairs).
    clean_metric, corrupt_metric : float
        The metric on the unpatched clean and corrupt clips (mean over pairs).
    per_pair, per_pair_patched : np.ndarray or None
        Sweeps: the per-pair maps behind the mean, ``(pairs, *values.shape)``.
    meta : dict
        Provenance: model, task, direction, method, metric, unit, window_ms, span, the
        corruptions and pairs it came from, guard results, encoder context.
    """

    values: np.ndarray
    dims: tuple
    coords: dict
    patched: np.ndarray
    clean_metric: float
    corrupt_metric: float
    times_s: np.ndarray | None = None
    per_pair: np.ndarray | None = None
    per_pair_patched: np.ndarray | None = None
    per_pair_clean: np.ndarray | None = None
    per_pair_corrupt: np.ndarray | None = None
    spectrogram_clean: np.ndarray | None = None
    spectrogram_corrupt: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        self.patched = np.asarray(self.patched, dtype=np.float64)
        self.dims = tuple(self.dims)
        if self.values.ndim != len(self.dims):
            raise ConfigError(f"values has {self.values.ndim} axes but dims names {len(self.dims)}: {self.dims}")
        for axis, dim in enumerate(self.dims):
            if len(self.coords.get(dim, [])) != self.values.shape[axis]:
                raise ConfigError(f"coords[{dim!r}] has {len(self.coords.get(dim, []))} labels for {self.values.shape[axis]} entries")

    # ------------------------------------------------------------- access
    @property
    def shape(self) -> tuple:
        return self.values.shape

    @property
    def std(self) -> np.ndarray | None:
        """Spread across pairs (standard deviation per cell), for sweeps."""
        return None if self.per_pair is None else np.nanstd(self.per_pair, axis=0)

    @property
    def n_pairs(self) -> int:
        return 1 if self.per_pair is None else int(self.per_pair.shape[0])

    def sel(self, **labels) -> np.ndarray:
        """Values at the given coordinate labels, e.g. ``m.sel(layer=0)`` -> ``(frames,)``."""
        index = []
        for dim in self.dims:
            if dim in labels:
                coords = list(self.coords[dim])
                if labels[dim] not in coords:
                    raise ConfigError(f"{dim}={labels[dim]!r} is not a coordinate; {dim} has {coords}")
                index.append(coords.index(labels[dim]))
            else:
                index.append(slice(None))
        unknown = set(labels) - set(self.dims)
        if unknown:
            raise ConfigError(f"unknown dims {sorted(unknown)}; this map has {self.dims}")
        return self.values[tuple(index)]

    def summary(self) -> dict:
        """The numbers a JSON summary needs (no arrays)."""
        flat = self.values[np.isfinite(self.values)]
        out = {
            "dims": list(self.dims),
            "shape": list(self.values.shape),
            "clean_metric": self.clean_metric,
            "corrupt_metric": self.corrupt_metric,
            "max_effect": float(flat.max()) if flat.size else None,
            "min_effect": float(flat.min()) if flat.size else None,
            "n_pairs": self.n_pairs,
        }
        if flat.size:
            arg = np.unravel_index(int(np.nanargmax(self.values)), self.values.shape)
            out["argmax"] = {d: _plain(self.coords[d][i]) for d, i in zip(self.dims, arg)}
        for k in ("model", "task", "direction", "method", "estimator", "metric", "unit", "corruption", "context_frames"):
            if k in self.meta:
                out[k] = self.meta[k]
        return out

    # ------------------------------------------------------------ save/load
    def save(self, path) -> Path:
        """Write ``path`` (.npz, arrays) and its .json (everything else); returns the .npz path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix not in ("", ".json") else path.with_suffix(".npz")
        arrays = {k: np.asarray(getattr(self, k)) for k in _ARRAYS if getattr(self, k) is not None}
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        write_json(
            path.with_suffix(".json"),
            {
                "format": FORMAT,
                "dims": list(self.dims),
                "coords": {k: [_plain(v) for v in vals] for k, vals in self.coords.items()},
                "clean_metric": float(self.clean_metric),
                "corrupt_metric": float(self.corrupt_metric),
                "meta": _plain(self.meta),
                "arrays": {"file": path.name, "sha256": digest, "names": sorted(arrays)},
            },
        )
        return path

    @classmethod
    def load(cls, path) -> "CausalMap":
        """Read a map written by :meth:`save` (give the .npz or the .json path)."""
        path = Path(path)
        npz, js = path.with_suffix(".npz"), path.with_suffix(".json")
        if not js.is_file() or not npz.is_file():
            raise ModelLoadError(f"causal map '{path}' is incomplete: need both {npz.name} and {js.name}")
        info = json.loads(js.read_text())
        if info.get("format") != FORMAT:
            raise ModelLoadError(f"'{js}' is not a SpeechLens causal map (format {info.get('format')!r})")
        if hashlib.sha256(npz.read_bytes()).hexdigest() != info["arrays"]["sha256"]:
            raise ModelLoadError(f"'{npz}' does not match '{js}' (checksum); the pair of files is inconsistent")
        with np.load(npz) as data:
            arrays = {k: data[k] for k in data.files}
        return cls(
            dims=tuple(info["dims"]),
            coords=info["coords"],
            clean_metric=info["clean_metric"],
            corrupt_metric=info["corrupt_metric"],
            meta=info["meta"],
            **arrays,
        )

    def plot(self, path=None, **kwargs):
        """Heatmap(s) under the clean clip's log-mel spectrogram; see :func:`intervene.plotting.plot_map`."""
        from intervene.plotting import plot_map

        return plot_map(self, path, **kwargs)

    def __repr__(self) -> str:
        shape = " x ".join(f"{d}={n}" for d, n in zip(self.dims, self.values.shape))
        return (
            f"CausalMap({shape}, method={self.meta.get('method')!r}, direction={self.meta.get('direction')!r}, "
            f"pairs={self.n_pairs}, clean={self.clean_metric:.3f}, corrupt={self.corrupt_metric:.3f})"
        )


def _plain(x):
    """JSON-able copy of ``x`` (numpy scalars and arrays to Python)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
