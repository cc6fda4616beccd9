"""A causal map on disk: writing it, and reading it back verified whole.

Two files side by side: ``NAME.npz`` (the arrays) and ``NAME.json`` (everything else; the
format is described in :mod:`intervene.maps`). :func:`load_map` returns the map exactly as
written or raises :class:`~tasks.errors.ModelLoadError` naming the file and the field; no
``BadZipFile``, ``JSONDecodeError``, ``KeyError`` or ``TypeError`` gets through.

What is verified
----------------
Format 2 (``"speechlens.causal_map/2"``, written since the hardening of issue 12):

* the JSON's ``checksum`` (SHA-256 of its canonical content, :func:`tasks.verify.content_digest`)
  must match, so an edit to *any* field (coordinates, metrics, spans, provenance) is refused;
  the JSON lists the npz's SHA-256, so the one checksum covers both files;
* every field has its type, range and shape checked, and the fields are checked against each
  other (below).

Format 1 (``"speechlens.causal_map/1"``, files written before; still read) has only the npz's
checksum. Edits to the arrays are detected; edits to the JSON only where they contradict the
arrays or each other:

* the metrics: every cell satisfies ``patched = base + values * (source - base)`` with base
  and source taken from ``clean_metric``, ``corrupt_metric`` and ``meta.direction``; for
  sweeps, each pair's row with ``per_pair_clean`` / ``per_pair_corrupt``, the means with the
  per-pair arrays, and ``meta.pairs`` with both;
* frame coordinates against ``times_s`` (= frame x ``meta.frame_s``); layer, head and
  component coordinates against ``meta.sites``; ``meta.unit`` against the dims;
* spans (``span_s``, ``words``, ``changed_spans``) inside the clip; types and ranges of every field.

Not detectable in format 1: edits that keep all of that consistent, such as provenance text
(model or task name, corruption parameters, voice, seed), word labels, guard records and timings.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from tasks.atomic import atomic_path, write_json
from tasks.errors import ConfigError, ModelLoadError
from tasks.jsonio import to_jsonable
from tasks.verify import (
    CHECKSUM_FIELD,
    FieldReader,
    content_digest,
    file_sha256,
    read_json_object,
    read_npz_arrays,
    seal,
)

__all__ = ["FORMAT", "LEGACY_FORMATS", "ARRAYS", "save_map", "load_map", "map_paths"]

FORMAT = "speechlens.causal_map/2"
LEGACY_FORMATS = ("speechlens.causal_map/1",)
ARRAYS = (
    "values", "patched", "times_s", "per_pair", "per_pair_patched", "per_pair_clean",
    "per_pair_corrupt", "spectrogram_clean", "spectrogram_corrupt", "values_std", "pair_counts",
)
DIMS = ("component", "layer", "head", "frame", "token", "k", "alpha")  # k, alpha: intervene.anatomy sweeps
_DIRECTIONS = ("denoise", "noise")
_UNITS = ("frame", "token", "all")
_SITE_KEY = re.compile(r"([a-z_]+)\.(\d+)\.([a-z_]+)(?:\.(\d+))?")


def map_paths(path) -> tuple[Path, Path]:
    """The ``.npz`` and ``.json`` paths of a map given either (or the stem)."""
    path = Path(path)
    if path.suffix in (".npz", ".json"):
        return path.with_suffix(".npz"), path.with_suffix(".json")
    return path.with_suffix(path.suffix + ".npz"), path.with_suffix(path.suffix + ".json")


def save_map(cmap, path) -> Path:
    """Write ``cmap`` as ``.npz`` (arrays) then ``.json`` (everything else, sealed with its checksum)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix not in ("", ".json") else path.with_suffix(".npz")
    arrays = {k: np.asarray(getattr(cmap, k)) for k in ARRAYS if getattr(cmap, k) is not None}
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    doc = {
        "format": FORMAT,
        "dims": list(cmap.dims),
        "coords": {k: [to_jsonable(v) for v in vals] for k, vals in cmap.coords.items()},
        "clean_metric": float(cmap.clean_metric),
        "corrupt_metric": float(cmap.corrupt_metric),
        "meta": to_jsonable(cmap.meta.to_dict()),
        "arrays": {"file": path.name, "sha256": file_sha256(path), "names": sorted(arrays),
                   "shapes": {k: list(a.shape) for k, a in sorted(arrays.items())}},
    }
    write_json(path.with_suffix(".json"), seal(doc))
    return path


def _check_arrays(r: FieldReader, arrays: dict, dims: list, coords: dict) -> None:
    for k, a in arrays.items():
        if a.dtype.kind not in "fiu":
            r.fail(f"arrays.{k}", str(a.dtype), "must hold real numbers")
    values = arrays.get("values")
    if values is None or "patched" not in arrays:
        r.fail("arrays.names", sorted(arrays), "must include 'values' and 'patched'")
    if values.ndim != len(dims):
        r.fail("dims", dims, f"must name one axis per axis of values (shape {values.shape})")
    for axis, dim in enumerate(dims):
        if len(coords[dim]) != values.shape[axis]:
            r.fail(f"coords.{dim}", coords[dim], f"must have {values.shape[axis]} labels (axis {axis} of values)")
    if arrays["patched"].shape != values.shape:
        r.fail("arrays.patched", arrays["patched"].shape, f"must have the shape of values {values.shape}")
    if not np.array_equal(np.isnan(values), np.isnan(arrays["patched"].astype(float))):
        r.fail("arrays.values", "NaN cells", "must be NaN exactly where patched is NaN")
    if np.isinf(values).any() or np.isinf(arrays["patched"]).any():
        r.fail("arrays.values", "infinite cells", "must be finite (or NaN for cells a sweep's pairs lack)")
    for k in ("spectrogram_clean", "spectrogram_corrupt"):
        if k in arrays and (arrays[k].ndim != 2 or not np.isfinite(arrays[k]).all()):
            r.fail(f"arrays.{k}", arrays[k].shape, "must be a finite 2-D (mels, frames) array")
    if "per_pair" in arrays:
        n = arrays["per_pair"].shape[0] if arrays["per_pair"].ndim == values.ndim + 1 else -1
        if n < 1 or arrays["per_pair"].shape[1:] != values.shape:
            r.fail("arrays.per_pair", arrays["per_pair"].shape, f"must be (pairs, *{values.shape})")
        for k in ("per_pair_patched", "per_pair_clean", "per_pair_corrupt"):
            if k not in arrays:
                r.fail("arrays.names", sorted(arrays), f"must include {k!r} with per_pair")
        if arrays["per_pair_patched"].shape != arrays["per_pair"].shape:
            r.fail("arrays.per_pair_patched", arrays["per_pair_patched"].shape, "must have the shape of per_pair")
        for k in ("per_pair_clean", "per_pair_corrupt"):
            if arrays[k].shape != (n,) or not np.isfinite(arrays[k]).all():
                r.fail(f"arrays.{k}", arrays[k].shape, f"must be {n} finite metrics, one per pair")
    if "pair_counts" in arrays or "values_std" in arrays:
        _check_streamed(r, arrays, values)


def _check_streamed(r: FieldReader, arrays: dict, values: np.ndarray) -> None:
    """A streamed sweep's mean (intervene.aggregate): per-cell pair counts and spread instead of per_pair."""
    for k in ("pair_counts", "values_std"):
        if k not in arrays:
            r.fail("arrays.names", sorted(arrays), "must include both 'pair_counts' and 'values_std'")
        if arrays[k].shape != values.shape:
            r.fail(f"arrays.{k}", arrays[k].shape, f"must have the shape of values {values.shape}")
    counts, std = arrays["pair_counts"], arrays["values_std"].astype(float)
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        r.fail("arrays.pair_counts", str(counts.dtype), "must be whole numbers >= 0")
    if not np.array_equal(counts == 0, np.isnan(values)):
        r.fail("arrays.values", "NaN cells", "must be NaN exactly where pair_counts is 0")
    if not (np.isfinite(std[counts > 0]).all() and (std[counts > 0] >= 0).all()):
        r.fail("arrays.values_std", "cells", "must be finite and >= 0 where pair_counts > 0")
    n = arrays.get("per_pair_clean")
    if n is not None and counts.size and counts.max() > n.shape[0]:
        r.fail("arrays.pair_counts", int(counts.max()), f"must be at most the number of pairs ({n.shape[0]})")


def _check_dims(r: FieldReader, doc: dict) -> tuple[list, dict]:
    dims = r.sequence(r.get(doc, "dims"), "dims")
    for i, d in enumerate(dims):
        r.string(d, f"dims[{i}]", choices=DIMS)
    if len(set(dims)) != len(dims):
        r.fail("dims", dims, "must not repeat an axis")
    coords = r.mapping(r.get(doc, "coords"), "coords")
    if set(coords) != set(dims):
        r.fail("coords", sorted(coords), f"must have one list of labels per dim {dims}")
    for d in dims:
        labels = r.sequence(coords[d], f"coords.{d}")
        for i, v in enumerate(labels):
            if d in ("layer", "head"):
                r.integer(v, f"coords.{d}[{i}]", low=0)
            elif d == "frame":
                r.integer(v, f"coords.{d}[{i}]")
            elif d in ("component", "token"):
                r.string(v, f"coords.{d}[{i}]")
        if d != "token" and len(set(labels)) != len(labels):
            r.fail(f"coords.{d}", labels, "must not repeat a label")
    return dims, coords


_META_TYPES = {
    "model": "str", "task": "str", "method": "str", "intervention": "str", "estimator": "str", "runner": "str",
    "metric": "str", "time_origin": "str", "task_config": "dict", "params": "dict", "pair_metadata": "dict",
    "timings": "dict", "atp_sites": "list", "answers": "list", "sites": "list", "guards": "list", "pairs": "list",
    "skipped": "list",
}


def _check_meta(r: FieldReader, meta: dict) -> dict:
    for key, kind in _META_TYPES.items():
        value = meta.get(key)
        if value is not None:
            {"str": r.string, "dict": r.mapping, "list": r.sequence}[kind](value, f"meta.{key}")
    r.string(meta.get("direction"), "meta.direction", allow_none=True, choices=_DIRECTIONS)
    r.string(meta.get("unit"), "meta.unit", allow_none=True, choices=_UNITS)
    r.string(meta.get("align"), "meta.align", allow_none=True, choices=("start", "onset"))
    r.mapping(meta.get("extra"), "meta.extra", allow_none=True)
    frame_s = r.number(meta.get("frame_s", 0.02), "meta.frame_s", low=1e-6, high=10.0)
    r.number(meta.get("window_ms"), "meta.window_ms", low=1e-6, allow_none=True)
    r.number(meta.get("margin_ms"), "meta.margin_ms", low=0, allow_none=True)
    duration = r.number(meta.get("duration_s"), "meta.duration_s", low=1e-6, allow_none=True)
    r.integer(meta.get("ig_steps"), "meta.ig_steps", low=0, allow_none=True)
    r.integer(meta.get("seed"), "meta.seed", low=0, allow_none=True)
    r.integer(meta.get("context_frames"), "meta.context_frames", low=1, allow_none=True)
    for key in ("sites", "atp_sites"):
        for i, s in enumerate(meta.get(key) or []):
            r.string(s, f"meta.{key}[{i}]")
    if meta.get("answers") is not None:
        for i, a in enumerate(r.sequence(meta["answers"], "meta.answers", length=2)):
            r.string(a, f"meta.answers[{i}]", allow_none=True)
    span = meta.get("span")
    if span is not None and not isinstance(span, str):
        r.span(span, "meta.span", duration_s=duration)
    if meta.get("span_s") is not None:
        r.span(meta["span_s"], "meta.span_s", duration_s=duration)
    r.word_spans(meta.get("words"), "meta.words", duration_s=duration, allow_none=True)
    for i, s in enumerate(r.sequence(meta.get("changed_spans"), "meta.changed_spans", allow_none=True) or []):
        r.span(s, f"meta.changed_spans[{i}]", duration_s=duration)
    for key in ("guards", "pairs", "skipped"):
        for i, item in enumerate(meta.get(key) or []):
            r.mapping(item, f"meta.{key}[{i}]")
    for k, v in (meta.get("timings") or {}).items():
        r.number(v, f"meta.timings.{k}", low=0)
    c = meta.get("corruption")
    if c is not None and not isinstance(c, (str, dict)):
        for i, item in enumerate(r.sequence(c, "meta.corruption")):
            r.mapping(item, f"meta.corruption[{i}]")
    return {"frame_s": frame_s}


def _close(a, b, scale) -> np.ndarray:
    return np.abs(np.asarray(a, float) - np.asarray(b, float)) <= 1e-6 * np.maximum(1.0, scale)


def _check_effects(r: FieldReader, field: str, values, patched, clean: float, corrupt: float, direction: str) -> None:
    """``patched = base + values * (source - base)`` wherever both are numbers."""
    base, source = (corrupt, clean) if direction == "denoise" else (clean, corrupt)
    ok = np.isnan(values) | _close(base + values * (source - base), patched,
                                   np.abs(patched) + abs(base) + abs(source))
    if not ok.all():
        r.fail(field, f"{int((~ok).sum())} cells", "contradicts the metrics: every cell must satisfy patched = base "
                                                   "+ values x (source - base) for the clean/corrupt metrics and direction")


def _cross_check(r: FieldReader, arrays: dict, dims: list, coords: dict, clean: float, corrupt: float,
                 meta: dict, frame_s: float) -> None:
    values, patched = arrays["values"].astype(float), arrays["patched"].astype(float)
    if "frame" in dims:
        times = arrays.get("times_s")
        n = len(coords["frame"])
        if times is None or times.shape != (n,):
            r.fail("arrays.times_s", None if times is None else times.shape, f"must give one time per frame column ({n})")
        if not _close(times, np.asarray(coords["frame"], float) * frame_s, 1.0).all():
            r.fail("coords.frame", coords["frame"], "must match times_s / meta.frame_s")
        span_s, duration = meta.get("span_s"), meta.get("duration_s")
        if span_s is not None and duration is not None and "per_pair" not in arrays and "pair_counts" not in arrays:
            _check_columns(r, coords["frame"], span_s, duration, meta.get("window_ms"), frame_s)
    unit = meta.get("unit")
    last = dims[-1] if dims else None
    if unit is not None and (unit if unit in ("frame", "token") else None) != (last if last in ("frame", "token")
                                                                                else None):
        r.fail("meta.unit", unit, f"must match the map's last axis ({last!r})")
    keys = [_SITE_KEY.fullmatch(s) for s in meta.get("sites") or []]
    if keys and all(keys):
        if "layer" in dims and sorted({int(m.group(2)) for m in keys}) != sorted(coords["layer"]):
            r.fail("coords.layer", coords["layer"], f"must be the layers of meta.sites {meta['sites']}")
        heads = sorted({int(m.group(4)) for m in keys if m.group(4) is not None})
        if "head" in dims and heads != sorted(coords["head"]):
            r.fail("coords.head", coords["head"], f"must be the heads of meta.sites {meta['sites']}")
        if "component" in dims and list(dict.fromkeys(m.group(3) for m in keys)) != coords["component"]:
            r.fail("coords.component", coords["component"], f"must be the components of meta.sites {meta['sites']}")
    direction, produced = meta.get("direction"), meta.get("method") is not None
    if "per_pair" in arrays:
        pc, pk = arrays["per_pair_clean"].astype(float), arrays["per_pair_corrupt"].astype(float)
        for name, value, per_pair in (("clean_metric", clean, pc), ("corrupt_metric", corrupt, pk)):
            if not _close(value, per_pair.mean(), abs(value)):
                r.fail(name, value, f"must be the mean of the pairs' metrics in per_pair_{name.split('_')[0]} "
                                    f"({per_pair.mean():.6g})")
        per, per_p = arrays["per_pair"].astype(float), arrays["per_pair_patched"].astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, mean_p = np.nanmean(per, axis=0), np.nanmean(per_p, axis=0)
        both = ~np.isnan(mean)
        if not (np.array_equal(both, ~np.isnan(values)) and _close(mean[both], values[both], np.abs(values[both])).all()
                and _close(mean_p[both], patched[both], np.abs(patched[both])).all()):
            r.fail("arrays.values", "mean", "must be the mean over pairs of per_pair (and patched of per_pair_patched)")
        if produced and direction is not None:
            for k in range(per.shape[0]):
                _check_effects(r, f"arrays.per_pair[{k}]", per[k], per_p[k], pc[k], pk[k], direction)
        pairs = meta.get("pairs")
        if pairs is not None:
            if len(pairs) != per.shape[0]:
                r.fail("meta.pairs", f"{len(pairs)} entries", f"must describe the {per.shape[0]} pairs of per_pair")
            for k, p in enumerate(pairs):
                got = (r.number(p.get("clean_metric"), f"meta.pairs[{k}].clean_metric"),
                       r.number(p.get("corrupt_metric"), f"meta.pairs[{k}].corrupt_metric"))
                if not _close(got, (pc[k], pk[k]), np.abs(got)).all():
                    r.fail(f"meta.pairs[{k}]", got, "must hold the pair's metrics in per_pair_clean/corrupt")
    elif "pair_counts" in arrays:  # a streamed mean: the pairs' metrics, but no per-pair maps
        _cross_check_streamed(r, arrays, clean, corrupt, meta)
    elif produced and direction is not None:
        _check_effects(r, "arrays.values", values, patched, clean, corrupt, direction)


def _cross_check_streamed(r: FieldReader, arrays: dict, clean: float, corrupt: float, meta: dict) -> None:
    pc, pk = arrays.get("per_pair_clean"), arrays.get("per_pair_corrupt")
    if pc is None or pk is None or pc.ndim != 1 or pk.shape != pc.shape or not pc.size:
        r.fail("arrays.per_pair_clean", None if pc is None else pc.shape,
               "must hold one clean and one corrupt metric per pair (per_pair_clean, per_pair_corrupt)")
    for name, value, per in (("clean_metric", clean, pc.astype(float)), ("corrupt_metric", corrupt, pk.astype(float))):
        if not _close(value, per.mean(), abs(value)):
            r.fail(name, value, f"must be the mean of the pairs' metrics ({per.mean():.6g})")
    pairs = meta.get("pairs")
    if pairs is not None and len(pairs) != pc.shape[0]:
        r.fail("meta.pairs", f"{len(pairs)} entries", f"must describe the {pc.shape[0]} pairs of per_pair_clean")


def _check_columns(r: FieldReader, frames: list, span_s, duration_s: float, window_ms, frame_s: float) -> None:
    """A single map's frame columns are exactly the windows :func:`intervene.grid.frame_axis` lays over span_s."""
    step = 1 if window_ms is None else max(1, int(round(window_ms / (frame_s * 1000.0))))
    first = int(np.floor(span_s[0] / frame_s + 1e-9))
    last = min(int(np.ceil(span_s[1] / frame_s - 1e-9)), int(np.ceil(duration_s / frame_s - 1e-9)))
    if list(frames) != list(range(first, last, step)):
        r.fail("coords.frame", frames, f"must be the {step}-frame windows over meta.span_s {list(span_s)} "
                                       f"(frames {first} to {last - 1})")


def load_map(path):
    """Read a map written by :func:`save_map` (give the .npz or the .json path), verified whole.

    Raises
    ------
    ModelLoadError
        A file is missing, unreadable, truncated, of another format, changed after it was
        written (checksums), or holds a field of the wrong type, shape or range, or fields
        that contradict each other; the message names the file and the field.
    """
    from intervene.maps import CausalMap

    npz, js = map_paths(path)
    if not js.is_file() or not npz.is_file():
        raise ModelLoadError(f"causal map '{path}' is incomplete: need both {npz.name} and {js.name}")
    doc = read_json_object(js, ModelLoadError, "causal map")
    r = FieldReader(js, ModelLoadError)
    fmt = doc.get("format")
    if fmt != FORMAT and fmt not in LEGACY_FORMATS:
        raise ModelLoadError(f"'{js}' is not a SpeechLens causal map (field 'format' is {fmt!r}; "
                             f"expected {FORMAT!r})")
    if fmt == FORMAT:
        seal_ = r.mapping(r.get(doc, CHECKSUM_FIELD), CHECKSUM_FIELD)
        if seal_.get("sha256") != content_digest(doc):
            raise ModelLoadError(f"'{js}' was changed after it was written: its content does not match its "
                                 "checksum (field 'checksum'); write the map again rather than editing it")
    info = r.mapping(r.get(doc, "arrays"), "arrays")
    names = r.sequence(r.get(info, "names", "arrays.names"), "arrays.names")
    for i, n in enumerate(names):
        r.string(n, f"arrays.names[{i}]", choices=ARRAYS)
    digest = r.string(r.get(info, "sha256", "arrays.sha256"), "arrays.sha256")
    if file_sha256(npz) != digest:
        raise ModelLoadError(f"'{npz}' does not match '{js}' (field 'arrays.sha256': checksum); the pair of files "
                             "is inconsistent or the npz was changed or truncated")
    arrays = read_npz_arrays(npz, names, ModelLoadError)
    dims, coords = _check_dims(r, doc)
    clean = r.number(r.get(doc, "clean_metric"), "clean_metric")
    corrupt = r.number(r.get(doc, "corrupt_metric"), "corrupt_metric")
    meta = r.mapping(r.get(doc, "meta"), "meta")
    checked = _check_meta(r, meta)
    _check_arrays(r, arrays, dims, coords)
    if fmt == FORMAT and "shapes" in info:
        shapes = r.mapping(info["shapes"], "arrays.shapes")
        for k, a in arrays.items():
            if shapes.get(k) != list(a.shape):
                r.fail(f"arrays.shapes.{k}", shapes.get(k), f"must be the shape of the array {list(a.shape)}")
    _cross_check(r, arrays, dims, coords, clean, corrupt, meta, checked["frame_s"])
    try:
        return CausalMap(dims=tuple(dims), coords=coords, clean_metric=clean, corrupt_metric=corrupt, meta=meta,
                         **arrays)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"'{js}' does not make a valid causal map: {exc}") from exc
