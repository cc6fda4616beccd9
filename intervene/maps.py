"""CausalMap: a causal-effect map with named axes, its provenance, and save/load.

File format (open, documented, two files side by side)
------------------------------------------------------
``NAME.npz``  (numpy): ``values``, ``patched`` and, where present, ``times_s``,
``per_pair``, ``per_pair_patched``, ``per_pair_clean``, ``per_pair_corrupt``,
``spectrogram_clean``, ``spectrogram_corrupt``, and for streamed sweeps ``values_std`` and
``pair_counts`` (integers) — plain numeric arrays.

``NAME.json``: ``format`` ("speechlens.causal_map/2"), ``dims``, ``coords``,
``clean_metric``, ``corrupt_metric``, ``meta`` (the fields of :class:`MapMeta`: model, task,
direction, method, metric, unit, window, span, corruptions, pairs, guards, context),
``arrays`` (the npz's file name, SHA-256, array names and shapes) and ``checksum`` (the
SHA-256 of the JSON's own canonical content, so the one checksum covers both files). Both are
written atomically, the JSON last: a map whose JSON exists is complete. Loading verifies the
whole artifact and every field (:mod:`intervene.mapfile`, which also says what files of the
older format "speechlens.causal_map/1" can and cannot be checked for). Unknown meta keys are
kept in ``MapMeta.extra``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from intervene.mapfile import FORMAT
from tasks.errors import ConfigError
from tasks.jsonio import to_jsonable

__all__ = ["CausalMap", "MapMeta", "FORMAT"]


@dataclass(frozen=True)
class MapMeta(Mapping):
    """Where a map came from and how it was computed (typed; also reads like a dict).

    ``meta.frame_s`` and ``meta["frame_s"]`` give the same value; ``to_dict()`` is what the
    map's JSON holds; keys a file has that are not fields (older or newer writers) are kept in
    ``extra``.

    Attributes
    ----------
    model, task : str
        Model name and task name; ``task_config`` the task's ``to_dict()``.
    direction : {"denoise", "noise"}
    method : str
        The method's registry name; ``estimator``, ``atp_sites``, ``ig_steps`` for attribution;
        ``runner`` what the method re-ran per cell; ``intervention`` the intervention's name.
    metric : str
        "logit_diff" or "logodds"; ``answers`` the clean and corrupt answers.
    unit : {"frame", "token", "all"}
        Map columns; ``window_ms`` and ``frame_s`` their width and the model's frame.
    span, span_s, margin_ms
        The span asked for, the span covered (s) and the margin around the changed frames.
    sites : list of str
    corruption, params, seed, words, changed_spans, duration_s, pair_metadata
        Provenance of the pair (for sweeps: of the first pair; ``pairs`` has every pair's).
    guards : list of dict
        The guard records (each with "guard", "got", "expected", "ok").
    context_frames : int or None
        Truncated encoder context, if any.
    align, pairs, time_origin, skipped
        Sweeps: how columns were aligned, per-pair provenance and metrics, the time origin of
        onset-aligned maps, and the pairs left out (with the reason).
    timings : dict
        Seconds spent preparing the pair (``prepare_s``), on the guards (``guards_s``) and on
        the cells (``cells_s``): the instrumentation ``benchmarks/perf.py`` reads.
    """

    model: str | None = None
    task: str | None = None
    task_config: dict | None = None
    direction: str | None = None
    method: str | None = None
    intervention: str | None = None
    estimator: str | None = None
    atp_sites: list | None = None
    ig_steps: int | None = None
    runner: str | None = None
    metric: str | None = None
    answers: list | None = None
    unit: str | None = None
    window_ms: float | None = None
    frame_s: float = 0.02
    span: object = None
    span_s: list | None = None
    margin_ms: float | None = None
    sites: list | None = None
    corruption: object = None
    params: dict | None = None
    seed: int | None = None
    words: list | None = None
    changed_spans: list | None = None
    duration_s: float | None = None
    pair_metadata: dict | None = None
    guards: list | None = None
    context_frames: int | None = None
    align: str | None = None
    pairs: list | None = None
    time_origin: str | None = None
    skipped: list | None = None
    timings: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def field_names(cls) -> tuple:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def from_dict(cls, data) -> "MapMeta":
        """Read a metadata dict (any writer's): known keys become fields, the rest ``extra``."""
        if isinstance(data, MapMeta):
            return data
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"map metadata ({type(data).__name__}) must be a mapping of names to values")
        names = set(cls.field_names())
        known = {k: v for k, v in data.items() if k in names}
        extra = dict(data.get("extra") or {}) | {k: v for k, v in data.items() if k not in names and k != "extra"}
        if known.get("frame_s") is None:
            known.pop("frame_s", None)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        """Every field, then the extra keys (what the map's JSON holds)."""
        out = {name: getattr(self, name) for name in self.field_names()}
        return out | {k: v for k, v in self.extra.items() if k not in out}

    def replace(self, **changes) -> "MapMeta":
        """A copy with ``changes`` (unknown names go to ``extra``)."""
        names = set(self.field_names())
        extra = dict(self.extra) | {k: v for k, v in changes.items() if k not in names}
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if k in names}, extra=extra)

    @property
    def window_s(self) -> float:
        """Width of a frame column in seconds (one frame when no window was recorded)."""
        return (self.window_ms if self.window_ms is not None else self.frame_s * 1000.0) / 1000.0

    # Mapping: read-only dict access for code written against the untyped metadata.
    def __getitem__(self, key):
        data = self.to_dict()
        if key not in data:
            raise KeyError(key)
        return data[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


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
    values_std, pair_counts : np.ndarray or None
        Streamed sweeps (``sweep(..., per_pair=False)``, :mod:`intervene.aggregate`), which keep
        no per-pair maps: the spread (std over pairs) and the number of pairs of each cell.
    meta : MapMeta
        Provenance: model, task, direction, method, metric, unit, window_ms, span, the
        corruptions and pairs it came from, guard results, encoder context (a dict given
        here is read with :meth:`MapMeta.from_dict`).
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
    values_std: np.ndarray | None = None
    pair_counts: np.ndarray | None = None
    meta: MapMeta = field(default_factory=MapMeta)

    def __post_init__(self):
        self.meta = MapMeta.from_dict(self.meta)
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
        if self.per_pair is None:
            return None if self.values_std is None else np.asarray(self.values_std)
        return np.nanstd(self.per_pair, axis=0)

    @property
    def n_pairs(self) -> int:
        if self.per_pair is not None:
            return int(self.per_pair.shape[0])
        return 1 if self.per_pair_clean is None else int(np.asarray(self.per_pair_clean).shape[0])

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
            out["argmax"] = {d: to_jsonable(self.coords[d][i]) for d, i in zip(self.dims, arg)}
        for k in ("model", "task", "direction", "method", "estimator", "metric", "unit", "corruption", "context_frames"):
            out[k] = self.meta[k]
        return out

    # ------------------------------------------------------------ save/load
    def save(self, path) -> Path:
        """Write ``path`` (.npz, arrays) and its .json (everything else, with a checksum over
        both); returns the .npz path. See :func:`intervene.mapfile.save_map`."""
        from intervene.mapfile import save_map

        return save_map(self, path)

    @classmethod
    def load(cls, path) -> "CausalMap":
        """Read a map written by :meth:`save` (give the .npz or the .json path), verified whole.

        Raises
        ------
        ModelLoadError
            Missing, truncated, changed or invalid files; the message names the file and the
            field (see :func:`intervene.mapfile.load_map`).
        """
        from intervene.mapfile import load_map

        return load_map(path)

    def plot(self, path=None, **kwargs):
        """Heatmap(s) under the clean clip's log-mel spectrogram; see :func:`intervene.app.plotting.plot_map`."""
        from intervene.app.plotting import plot_map

        return plot_map(self, path, **kwargs)

    def __repr__(self) -> str:
        shape = " x ".join(f"{d}={n}" for d, n in zip(self.dims, self.values.shape))
        return (
            f"CausalMap({shape}, method={self.meta.method!r}, direction={self.meta.direction!r}, "
            f"pairs={self.n_pairs}, clean={self.clean_metric:.3f}, corrupt={self.corrupt_metric:.3f})"
        )
