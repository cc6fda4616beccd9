"""Streaming mean and spread of causal maps: one pair at a time, never all of them in memory.

:func:`intervene.combine_maps` stacks every pair's map (``per_pair``), which is what a sweep of
tens of pairs wants. A sweep over a dataset (``intervene.sweep(..., per_pair=False)``) folds each
pair's map into a :class:`MapAccumulator` instead and drops it:

- the mean of each cell is the running sum of the pairs that have the cell divided by their
  number, summed in pair order, so it is bit for bit what :func:`combine_maps` (``np.nanmean``
  over the stacked maps) gives;
- the spread is Welford's running variance (population standard deviation, as ``np.nanstd``;
  equal to it up to rounding, about 1e-15 relative);
- frame maps aligned by onset gain columns as pairs with other onsets arrive.

Memory is one map's size (times four) plus a few numbers per pair (its clean and corrupt metric
and its provenance for ``meta.pairs``), so 10,000 pairs cost megabytes, not gigabytes. The map
it returns has no ``per_pair`` arrays; it has ``values_std`` (the spread per cell) and
``pair_counts`` (how many pairs each cell averages). Each pair's own map stays in the sweep's
work store, when it has one.
"""

from __future__ import annotations

import warnings

import numpy as np

from intervene.maps import CausalMap
from tasks.errors import ConfigError

__all__ = ["MapAccumulator", "onset_frame", "PAIR_FIELDS"]

PAIR_FIELDS = ("answers", "corruption", "params", "seed", "words", "changed_spans", "duration_s", "pair_metadata",
               "guards")
"""The per-pair provenance a combined map keeps in ``meta.pairs`` (with the pair's metrics)."""


def onset_frame(m: CausalMap) -> int:
    """The frame of the clean answer word's onset in ``m`` (for ``align="onset"``)."""
    answer = (m.meta.answers or [""])[0]
    words = m.meta.words or []
    match = [w for w in words if str(w[0]).lower() == str(answer).lower()] or words[:1]
    if not match:
        raise ConfigError("align='onset' needs word spans on every pair (pair.words)")
    return int(np.floor(float(match[0][1]) / float(m.meta.frame_s) + 1e-9))


class MapAccumulator:
    """The mean and spread over pairs of causal maps that arrive one at a time.

    Parameters
    ----------
    align : {"start", "onset"}
        Frame maps: align columns by clip time or by the clean answer word's onset (as
        :func:`intervene.combine_maps`).

    Examples
    --------
    >>> acc = MapAccumulator()                      # doctest: +SKIP
    >>> for outcome in intervene.sweep_pairs(model, task, pairs, sites):  # doctest: +SKIP
    ...     if outcome.map is not None:
    ...         acc.add(outcome.map)
    >>> mean_map = acc.result()                     # doctest: +SKIP
    """

    def __init__(self, align: str = "start"):
        if align not in ("start", "onset"):
            raise ConfigError(f"align ({align!r}) must be 'start' or 'onset'")
        self.align = align
        self.n = 0
        self._first: CausalMap | None = None
        self._cols: list | None = None  # frame maps: the column labels seen so far, sorted
        self._sum = self._sum_p = self._count = self._mean = self._m2 = None
        self._clean: list = []
        self._corrupt: list = []
        self._pairs: list = []
        self._kinds: list = []
        self._durations: set = set()

    def __len__(self) -> int:
        return self.n

    # ------------------------------------------------------------------ adding
    def _check_axes(self, m: CausalMap) -> None:
        first = self._first
        if m.dims != first.dims or any(m.coords[d] != first.coords[d] for d in first.dims[:-1] if d != "frame"):
            raise ConfigError(f"maps differ in their axes ({m.dims} vs {first.dims}); sweep the same sites with the same units")
        last = first.dims[-1] if first.dims else None
        if last and last != "frame" and m.coords[last] != first.coords[last]:
            raise ConfigError(f"maps differ in their {last} axis; sweep pairs with the same decoder prefix")

    def _widen(self, labels: list) -> list:
        """Frame maps: insert columns not seen before; returns the indices of ``labels``."""
        new = sorted(set(labels) - set(self._cols))
        if new:
            cols = sorted(set(self._cols) | set(new))
            where = [cols.index(c) for c in self._cols]
            for name, fill in (("_sum", 0.0), ("_sum_p", 0.0), ("_count", 0), ("_mean", 0.0), ("_m2", 0.0)):
                old = getattr(self, name)
                grown = np.full(old.shape[:-1] + (len(cols),), fill, dtype=old.dtype)
                grown[..., where] = old
                setattr(self, name, grown)
            self._cols = cols
        index = {c: i for i, c in enumerate(self._cols)}
        return [index[c] for c in labels]

    def add(self, m: CausalMap) -> None:
        """Fold one pair's map into the running sums (the map can be dropped afterwards).

        Raises
        ------
        ConfigError
            ``m`` is not a CausalMap, or its axes differ from the first map's.
        """
        if not isinstance(m, CausalMap):
            raise ConfigError(f"map ({m!r:.80}) must be a CausalMap")
        if self._first is None:
            self._first = m
            shape = m.values.shape
            if m.dims and m.dims[-1] == "frame":
                shape = shape[:-1] + (0,)
                self._cols = []
            self._sum, self._sum_p = np.zeros(shape), np.zeros(shape)
            self._count = np.zeros(shape, dtype=np.int64)
            self._mean, self._m2 = np.zeros(shape), np.zeros(shape)
        else:
            self._check_axes(m)
        values, patched = np.asarray(m.values, dtype=np.float64), np.asarray(m.patched, dtype=np.float64)
        if self._cols is not None:
            offset = onset_frame(m) if self.align == "onset" else 0
            idx = self._widen([int(c) - offset for c in m.coords["frame"]])
            full = np.full(self._sum.shape, np.nan)
            full_p = np.full(self._sum.shape, np.nan)
            full[..., idx], full_p[..., idx] = values, patched
            values, patched = full, full_p
        have = ~np.isnan(values)
        # Same order and operations as np.nanmean over the stacked maps: NaN as 0, summed pair by pair.
        self._sum += np.where(have, values, 0.0)
        self._sum_p += np.where(np.isnan(patched), 0.0, patched)
        self._count += have
        delta = np.where(have, values - self._mean, 0.0)  # Welford
        with np.errstate(invalid="ignore", divide="ignore"):
            self._mean += np.where(have, delta / np.maximum(self._count, 1), 0.0)
        self._m2 += np.where(have, delta * (np.where(have, values, 0.0) - self._mean), 0.0)
        self.n += 1
        self._clean.append(float(m.clean_metric))
        self._corrupt.append(float(m.corrupt_metric))
        self._pairs.append({k: m.meta[k] for k in PAIR_FIELDS} | {"clean_metric": m.clean_metric,
                                                                   "corrupt_metric": m.corrupt_metric})
        if m.meta.corruption not in self._kinds:
            self._kinds.append(m.meta.corruption)
        self._durations.add(m.meta.duration_s)

    # ------------------------------------------------------------------ result
    def result(self, skipped: list | None = None) -> CausalMap:
        """The mean map so far: ``values``/``patched`` means, ``values_std``, ``pair_counts``,
        each pair's metrics (``per_pair_clean``/``per_pair_corrupt``) and provenance (``meta.pairs``).

        Raises
        ------
        ConfigError
            No map was added.
        """
        if self._first is None:
            raise ConfigError("no map was added; the mean of no pairs is undefined")
        first = self._first
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # cells no pair has stay NaN
            values, patched = self._sum / self._count, self._sum_p / self._count
            std = np.sqrt(self._m2 / self._count)
        coords, times = dict(first.coords), first.times_s
        if self._cols is not None:
            coords["frame"] = list(self._cols)
            times = np.asarray(self._cols, dtype=float) * float(first.meta.frame_s)
        clean, corrupt = np.array(self._clean), np.array(self._corrupt)
        meta = first.meta.replace(
            align=self.align, pairs=list(self._pairs),
            corruption=self._kinds[0] if len(self._kinds) == 1 else list(self._kinds),
            time_origin="answer word onset" if self.align == "onset" else first.meta.time_origin,
        )
        if skipped is not None:
            meta = meta.replace(skipped=list(skipped))
        spectrum = self.align == "start" and len(self._durations) == 1
        return CausalMap(
            values=values, dims=first.dims, coords=coords, patched=patched,
            clean_metric=float(clean.mean()), corrupt_metric=float(corrupt.mean()), times_s=times,
            per_pair_clean=clean, per_pair_corrupt=corrupt, values_std=std, pair_counts=self._count.copy(),
            spectrogram_clean=first.spectrogram_clean if spectrum else None,
            spectrogram_corrupt=first.spectrogram_corrupt if spectrum else None,
            meta=meta,
        )  # fmt: skip
