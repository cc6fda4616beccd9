"""Streaming statistics of units (neurons or SAE features) over a corpus, one clip at a time.

:class:`UnitStats` takes each clip's activations ``(frames, units)`` with the clip's word and
phoneme spans and keeps, per unit:

- the top-N clips by the unit's peak activation in the clip (a bounded replace-the-smallest
  heap per unit, with the unit's activation over the clip's frames for each kept clip);
- how often it is active (frames above ``active_above``), its mean, spread and maximum;
- for every word and phoneme label, the sum of its rectified activation (``max(a, 0)``: what a
  unit does when it fires; GELU's small negative outputs are not signal) over the frames inside
  spans of that label (a frame belongs to a span when its centre lies inside it).

Nothing else of a clip is kept, so memory is ``units x top x frames`` for the traces plus
``labels x units`` for the associations, whatever the corpus size.
"""

from __future__ import annotations

import numpy as np

from tasks.errors import ConfigError

__all__ = ["LABEL_KINDS", "UnitStats"]

LABEL_KINDS = ("words", "phonemes")


class _Labels:
    """Per-label sums over span frames, ``(labels, units)``, grown as labels appear. Words are
    lower-cased; phoneme labels are kept as they are (espeak-ng's ``E`` and ``e`` differ)."""

    def __init__(self, n_units: int, lower: bool):
        self.n_units, self.lower = n_units, lower
        self.index: dict = {}
        self.sums = np.zeros((0, n_units))
        self.frames = np.zeros(0, dtype=np.int64)
        self.spans = np.zeros(0, dtype=np.int64)

    def _row(self, label: str) -> int:
        i = self.index.get(label)
        if i is None:
            i = self.index[label] = len(self.index)
            if i >= self.sums.shape[0]:
                grow = max(16, self.sums.shape[0])
                self.sums = np.concatenate([self.sums, np.zeros((grow, self.n_units))])
                self.frames = np.concatenate([self.frames, np.zeros(grow, dtype=np.int64)])
                self.spans = np.concatenate([self.spans, np.zeros(grow, dtype=np.int64)])
        return i

    def add(self, acts: np.ndarray, spans, frame_s: float) -> None:
        centres = (np.arange(acts.shape[0]) + 0.5) * frame_s
        for label, start_s, end_s in spans:
            label = str(label).strip()
            label = label.lower() if self.lower else label
            if not label:
                continue
            lo, hi = np.searchsorted(centres, [start_s, end_s], side="left")
            if hi <= lo:
                continue
            i = self._row(label)
            self.sums[i] += acts[lo:hi].sum(axis=0, dtype=np.float64)
            self.frames[i] += hi - lo
            self.spans[i] += 1


class UnitStats:
    """Per-unit statistics, updated clip by clip (see the module notes).

    Parameters
    ----------
    n_units : int
    top : int
        Clips kept per unit.
    active_above : float
        A frame counts as active for a unit when its activation is above this.
    keep_above : float
        A clip enters a unit's top list only when the unit's peak in it is above this
        (``0.0`` for SAE features: a clip where a feature never fires is not one of its top
        clips; ``-inf`` for neurons).
    """

    def __init__(self, n_units: int, top: int, active_above: float, keep_above: float = -np.inf):
        if n_units < 1 or top < 1:
            raise ConfigError(f"n_units ({n_units}) and top ({top}) must be at least 1")
        self.n_units, self.top = int(n_units), int(top)
        self.active_above, self.keep_above = float(active_above), float(keep_above)
        self.n_frames = 0
        self.n_clips = 0
        self.active = np.zeros(n_units, dtype=np.int64)
        self.sum = np.zeros(n_units)
        self.sum_sq = np.zeros(n_units)
        self.pos_sum = np.zeros(n_units)
        self.pos_sum_sq = np.zeros(n_units)
        self.max = np.full(n_units, -np.inf)
        self.top_value = np.full((n_units, top), -np.inf)
        self.top_clip = np.full((n_units, top), -1, dtype=np.int64)
        self.top_frame = np.zeros((n_units, top), dtype=np.int64)
        self.traces: dict = {}
        self.labels = {"words": _Labels(n_units, lower=True), "phonemes": _Labels(n_units, lower=False)}

    def add(self, clip: int, acts: np.ndarray, frame_s: float, words=(), phonemes=()) -> None:
        """Take one clip: ``acts`` float (frames, units); spans ``(label, start_s, end_s)``."""
        acts = np.asarray(acts, dtype=np.float32)
        if acts.ndim != 2 or acts.shape[1] != self.n_units:
            raise ConfigError(f"activations have shape {acts.shape}; expected (frames, {self.n_units})")
        if acts.shape[0] == 0:
            return
        self.n_clips += 1
        self.n_frames += acts.shape[0]
        self.active += (acts > self.active_above).sum(axis=0)
        self.sum += acts.sum(axis=0, dtype=np.float64)
        self.sum_sq += np.square(acts, dtype=np.float64).sum(axis=0)
        peak = acts.max(axis=0)
        self.max = np.maximum(self.max, peak)
        slot = self.top_value.argmin(axis=1)
        rows = np.arange(self.n_units)
        enter = (peak > self.top_value[rows, slot]) & (peak > self.keep_above)
        peak_frame = acts.argmax(axis=0)
        for u in np.flatnonzero(enter):
            s = int(slot[u])
            self.top_value[u, s] = peak[u]
            self.top_clip[u, s] = clip
            self.top_frame[u, s] = peak_frame[u]
            self.traces[(int(u), s)] = acts[:, u].astype(np.float16)
        pos = np.maximum(acts, 0.0)
        self.pos_sum += pos.sum(axis=0, dtype=np.float64)
        self.pos_sum_sq += np.square(pos, dtype=np.float64).sum(axis=0)
        self.labels["words"].add(pos, words, frame_s)
        self.labels["phonemes"].add(pos, phonemes, frame_s)

    # ------------------------------------------------------------------ results
    @property
    def density(self) -> np.ndarray:
        """Share of frames where each unit is active, ``(units,)``."""
        return self.active / max(self.n_frames, 1)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.n_frames, 1)

    @property
    def std(self) -> np.ndarray:
        var = self.sum_sq / max(self.n_frames, 1) - np.square(self.mean)
        return np.sqrt(np.maximum(var, 0.0))

    def top_clips(self, unit: int) -> list:
        """``[(clip, peak, peak_frame, trace float16 (frames,)), ...]``, highest peak first."""
        out = [(int(self.top_clip[unit, s]), float(self.top_value[unit, s]), int(self.top_frame[unit, s]),
                self.traces[(unit, s)]) for s in range(self.top) if self.top_clip[unit, s] >= 0]
        return sorted(out, key=lambda t: (-t[1], t[0]))

    def associations(self, kind: str, n: int = 5, min_spans: int = 2) -> list:
        """Per unit, the ``n`` labels of ``kind`` with the highest standardised mean rectified
        activation inside their spans, ``(mean_inside - mean_all) / std_all`` over all frames,
        keeping scores above 0 among labels with at least ``min_spans`` spans (a unit that
        never fires has none).

        Returns
        -------
        list (units) of list of ``(label, score, mean_inside, spans)``
        """
        lab = self.labels[kind]
        n_labels = len(lab.index)
        out = [[] for _ in range(self.n_units)]
        if n_labels == 0:
            return out
        names = np.array(list(lab.index), dtype=object)
        frames, spans = lab.frames[:n_labels], lab.spans[:n_labels]
        ok = spans >= min_spans
        if not ok.any():
            return out
        inside = lab.sums[:n_labels][ok] / frames[ok][:, None]
        n_frames = max(self.n_frames, 1)
        mean = self.pos_sum / n_frames
        std = np.sqrt(np.maximum(self.pos_sum_sq / n_frames - np.square(mean), 0.0))
        score = np.where(std > 1e-6, (inside - mean) / np.maximum(std, 1e-6), 0.0)
        names, spans = names[ok], spans[ok]
        k = min(n, score.shape[0])
        best = np.argsort(-score, axis=0, kind="stable")[:k]
        for u in range(self.n_units):
            for i in best[:, u]:
                if score[i, u] > 0:
                    out[u].append((str(names[i]), float(score[i, u]), float(inside[i, u]), int(spans[i])))
        return out
