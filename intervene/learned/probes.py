"""Linear probes with control tasks: ``intervene.probe(model, site, clips, labels)``.

A probe is scikit-learn's logistic regression on standardised activations of a site, fitted on
clips of some voices and scored on clips of other voices (:mod:`intervene.learned.splits`).
Every accuracy comes with the accuracy of the same probe on Hewitt & Liang's control task
(labels reassigned at random per type) and their difference, the *selectivity*: a probe that
is accurate on the task but also on the control has memorised types rather than read the
property. Decodable is not used: compare with patching (:func:`intervene.patch`) and DAS
(:func:`intervene.das`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from intervene.learned import activations as A
from intervene.learned import labels as L
from intervene.learned.splits import check_labels, check_split, control_labels, split_groups, wilson_interval
from tasks.errors import ConfigError

__all__ = ["probe", "ProbeResult", "fit_probe"]

logger = logging.getLogger(__name__)


def fit_probe(x_train, y_train, c: float = 1.0, seed: int = 0):
    """A fitted ``StandardScaler`` + ``LogisticRegression`` pipeline (None when one class)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(np.asarray(y_train).tolist())) < 2:
        return None
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    return clf.fit(x_train, y_train)


@dataclass
class ProbeResult:
    """Probe accuracies over sites x windows on held-out groups.

    Attributes
    ----------
    sites : list of str
    windows : list
        The windows ((start_s, end_s), or "word": each clip's word span).
    accuracy_grid, control_grid, chance_grid : float (sites, windows)
        Test accuracy, control-task test accuracy, majority-class rate of the test labels.
    ci_grid : float (sites, windows, 2)
        95% Wilson interval of the test accuracy.
    n_train, n_test : int (sites, windows)
    label, pool, classes, train_groups, test_groups, control_by, seed, relative_to
        How it was made.
    """

    sites: list
    windows: list
    accuracy_grid: np.ndarray
    control_grid: np.ndarray
    chance_grid: np.ndarray
    ci_grid: np.ndarray
    n_train: np.ndarray
    n_test: np.ndarray
    label: str
    pool: str
    classes: list
    train_groups: list
    test_groups: list
    control_by: str
    seed: int
    relative_to: str = "clip"
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def _single(self) -> bool:
        return self.accuracy_grid.size == 1

    def _pick(self, grid):
        return float(grid.reshape(-1)[0]) if self._single else grid

    @property
    def accuracy(self):
        """Held-out accuracy (a float, or (sites, windows) for a sweep)."""
        return self._pick(self.accuracy_grid)

    @property
    def control_accuracy(self):
        """Held-out accuracy on the control task (same shape as :attr:`accuracy`)."""
        return self._pick(self.control_grid)

    @property
    def selectivity(self):
        """accuracy - control accuracy."""
        return self._pick(self.accuracy_grid - self.control_grid)

    @property
    def chance(self):
        return self._pick(self.chance_grid)

    def to_dict(self) -> dict:
        def grid(a):
            return np.where(np.isfinite(a), a, np.nan).round(6).tolist()

        return {"sites": self.sites, "windows": [w if isinstance(w, str) else list(w) for w in self.windows],
                "label": self.label, "pool": self.pool, "classes": self.classes, "accuracy": grid(self.accuracy_grid),
                "control_accuracy": grid(self.control_grid), "selectivity": grid(self.accuracy_grid - self.control_grid),
                "chance": grid(self.chance_grid), "accuracy_ci": grid(self.ci_grid), "n_train": self.n_train.tolist(),
                "n_test": self.n_test.tolist(), "train_groups": self.train_groups, "test_groups": self.test_groups,
                "control_by": self.control_by, "seed": self.seed, "relative_to": self.relative_to,
                "seconds": round(self.seconds, 3), "notes": self.notes}  # fmt: skip

    def __repr__(self) -> str:
        if self._single:
            return (f"ProbeResult({self.label!r} at {self.sites[0]}: accuracy={self.accuracy:.3f}, "
                    f"control={self.control_accuracy:.3f}, selectivity={self.selectivity:.3f}, chance={self.chance:.3f}, "
                    f"n_test={int(self.n_test.reshape(-1)[0])})")
        return f"ProbeResult({self.label!r}, {len(self.sites)} sites x {len(self.windows)} windows)"


def _labels_for(model, clips, labels, acts_lengths) -> tuple:
    """``(name, clip_level, per-clip labels)``: a str array (clips,) or a list of (frames,) arrays."""
    if isinstance(labels, str):
        if labels in L.CLIP_LABELS:
            return labels, True, check_labels(L.clip_labels(clips, labels), len(clips))
        if labels in L.FRAME_LABELS:
            per = [L.frame_labels(c, labels, n, model.frame_s) for c, n in zip(clips, acts_lengths)]
            check_labels(np.concatenate(per), sum(len(p) for p in per), what=f"labels={labels!r} (all frames)")
            return labels, False, per
        from tasks.errors import unknown_name

        raise unknown_name("label", labels, L.LABELS)
    if isinstance(labels, (bytes, dict)) or not hasattr(labels, "__len__"):
        raise ConfigError(f"labels ({labels!r:.60}) must be a label name ({', '.join(L.LABELS)}) or one label per clip")
    if len(labels) != len(clips):
        raise ConfigError(f"labels has {len(labels)} entries for {len(clips)} clips; give exactly one label per clip "
                          "(or one array of frame labels per clip)")
    if len(labels) and all(isinstance(x, np.ndarray) and x.ndim == 1 for x in labels):
        per = [np.asarray(x).astype(str) for x in labels]
        for i, (p, n) in enumerate(zip(per, acts_lengths)):
            if len(p) < n:
                raise ConfigError(f"labels[{i}] has {len(p)} frame labels for a clip of {n} frames")
        check_labels(np.concatenate(per), sum(len(p) for p in per))
        return "custom", False, per
    return "custom", True, check_labels(labels, len(clips))


def probe(model, site, clips, labels, times_s=None, control=True, *, pool: str | None = None,
          relative_to: str = "clip", split="voice", test=0.3, control_by="utterance", seed: int = 0,
          c: float = 1.0, activations: dict | None = None, progress=None) -> ProbeResult:
    """Fit linear probes for ``labels`` on ``site`` activations; score them on held-out voices.

    Parameters
    ----------
    model : SpeechModel
    site : Site, key, list of them, or "stream.component" (every layer)
        Encoder sites; several sites make a sweep over layers.
    clips : list of Utterance
        Clips with ``audio`` (and ``voice``, ``text``, ``rate``, ``pitch`` for the default split,
        controls and named labels).
    labels : str or sequence
        A name (``"keyword"``, ``"speaker"``, ``"voice"``, ``"gender"``: one per clip;
        ``"speech"``, ``"phoneme"``: one per frame), one label per clip, or one array of frame
        labels per clip.
    times_s : None, (start_s, end_s) or list of them
        The window(s): None is each clip's word span; a list makes a sweep over windows.
    control : bool
        Fit the control task too (else its accuracy is NaN).
    pool : {"mean", "frames"}, optional
        One sample per clip (mean over the window) or one per frame (default: "mean" for clip
        labels, "frames" for frame labels).
    relative_to : {"clip", "onset"}
        Windows measured from the clip's start or from its first word's onset.
    split : "voice", "speaker", "word" or one group per clip
        The unit held out (speaker labels need ``split="word"``).
    test : float or list of str
        Fraction of groups held out, or the test groups.
    control_by : "utterance", "word" or one type per clip
        Types of the control task (frame samples add their frame's offset in the window).
    seed : int
    c : float
        Inverse regularisation strength of the logistic regression.
    activations : dict, optional
        :func:`intervene.learned.activations.collect` output for these clips, to reuse.

    Returns
    -------
    ProbeResult

    Raises
    ------
    ConfigError
        Labels of the wrong length or a single class, an unknown label name, a split that
        leaves a class out of train or test, a decoder site, a window outside a clip.

    Examples
    --------
    >>> r = intervene.probe(model, "encoder.3.block_output", clips, "keyword")  # doctest: +SKIP
    >>> r.accuracy, r.control_accuracy, r.selectivity                           # doctest: +SKIP
    """
    from intervene.grid import parse_sites

    t0 = time.perf_counter()
    sites = parse_sites(model, site)
    clips = list(clips)
    if len(clips) < 4:
        raise ConfigError(f"clips has {len(clips)} clips; a held-out probe needs at least 4")
    acts = activations if activations is not None else A.collect(model, sites, clips, progress)
    missing = [s.key for s in sites if s not in acts]
    if missing:
        raise ConfigError(f"activations lack site(s) {missing}; collect them for these sites")
    lengths = [a.shape[0] for a in acts[sites[0]]]
    name, clip_level, per_clip = _labels_for(model, clips, labels, lengths)
    pool = pool or ("mean" if clip_level else "frames")
    if clip_level is False and pool == "mean":
        raise ConfigError("frame labels need pool='frames' (one sample per frame)")
    groups = np.asarray(L.groups_of(clips, split))
    types = np.asarray(L.control_types(clips, control_by)) if control else None
    train_g, _, test_g = split_groups(groups, test=test, seed=seed)
    windows, spans = A.resolve_windows(clips, times_s, relative_to)
    if clip_level:
        check_split(per_clip, f"split={split!r}", {"train": np.isin(groups, list(train_g)),
                                                  "test": np.isin(groups, list(test_g))})
    shape = (len(sites), len(windows))
    acc, ctl, chance = (np.full(shape, np.nan) for _ in range(3))
    ci = np.full(shape + (2,), np.nan)
    n_tr, n_te = np.zeros(shape, dtype=int), np.zeros(shape, dtype=int)
    notes = []
    for j in range(len(windows)):
        spans_j = [s[j] for s in spans]
        y = None
        for i, s in enumerate(sites):
            x, idx, frames = A.features(model, acts[s], spans_j, pool)
            if y is None:
                y = per_clip[idx] if clip_level else np.concatenate(
                    [per_clip[k][f:f + 1] for k, f in zip(idx, frames)])
                g = groups[idx]
                tr, te = np.isin(g, list(train_g)), np.isin(g, list(test_g))
                if not clip_level and j == 0 and len(windows) == 1:
                    check_split(y, f"split={split!r}", {"train": tr, "test": te})
                yc = None
                if control:
                    first = {k: min(frames[idx == k]) for k in set(idx.tolist())}
                    t = types[idx] if pool == "mean" else np.asarray(
                        [f"{types[k]}|{f - first[k]}" for k, f in zip(idx, frames)])
                    yc = control_labels(t, y, tr, seed)
            n_tr[i, j], n_te[i, j] = int(tr.sum()), int(te.sum())
            clf = fit_probe(x[tr], y[tr], c, seed)
            if clf is None or not te.any():
                notes.append(f"{s.key} window {j}: one class in train or no test samples; left NaN")
                continue
            hits = int((clf.predict(x[te]) == y[te]).sum())
            acc[i, j] = hits / te.sum()
            ci[i, j] = wilson_interval(hits, int(te.sum()))
            top = max(set(y[tr].tolist()), key=lambda k: (y[tr] == k).sum())
            chance[i, j] = float((y[te] == top).mean())
            if control:
                cclf = fit_probe(x[tr], yc[tr], c, seed)
                ctl[i, j] = float("nan") if cclf is None else float((cclf.predict(x[te]) == yc[te]).mean())
    classes = sorted(set(np.concatenate([np.atleast_1d(p) for p in per_clip]).tolist())) if not clip_level \
        else sorted(set(per_clip.tolist()))
    return ProbeResult(
        sites=[s.key for s in sites], windows=windows, accuracy_grid=acc, control_grid=ctl, chance_grid=chance,
        ci_grid=ci, n_train=n_tr, n_test=n_te, label=name, pool=pool, classes=classes,
        train_groups=sorted(str(g) for g in train_g), test_groups=sorted(str(g) for g in test_g),
        control_by=control_by if isinstance(control_by, str) else "custom", seed=int(seed), relative_to=relative_to,
        seconds=time.perf_counter() - t0, notes=notes,
    )
