"""Concept erasure with LEACE: ``intervene.erase(model, site, clips, labels, task=...)``.

LEACE (Belrose et al. 2023; the maintained ``concept-erasure`` package) fits the least-squares
affine map that makes a label linearly undecodable from a site's activations (equal class
means), changing them as little as possible. :func:`erase` fits it on the frames of the
training voices' clips, then reports on held-out voices

- the probe accuracy before and after erasure (:func:`intervene.probe` on the same frames
  with and without the eraser): it should fall to chance;
- the causal consequence: the task's accuracy on the held-out clips with the eraser applied
  at the site over each clip's window (a plain torch hook, :mod:`intervene.hooks`).

The eraser is also a pyvene intervention (:class:`LeaceIntervention`, source-free), so
``intervene.intervene(model, task, pair, result.intervention)`` runs it through pyvene.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from intervene import hooks
from intervene._pyvene import pyvene as pv
from intervene.learned import activations as A
from intervene.learned import labels as L
from intervene.learned.probes import ProbeResult, _labels_for, probe
from intervene.learned.splits import check_split, split_groups, wilson_interval
from tasks.errors import ConfigError

__all__ = ["erase", "ErasureResult", "LeaceIntervention", "fit_leace"]


class LeaceIntervention(pv.SourcelessIntervention, pv.LocalistRepresentationIntervention):
    """A fitted LEACE eraser as a source-free pyvene intervention: ``x - (x - b) P_r^T P_l^T`` on
    the last dimension of each selected position."""

    def __init__(self, proj_left=None, proj_right=None, bias=None, **kwargs):
        super().__init__(**kwargs)
        self.keep_last_dim = True
        self.register_buffer("proj_left", torch.as_tensor(proj_left, dtype=torch.float32))
        self.register_buffer("proj_right", torch.as_tensor(proj_right, dtype=torch.float32))
        self.register_buffer("bias", torch.zeros(self.proj_left.shape[0]) if bias is None
                             else torch.as_tensor(bias, dtype=torch.float32))  # fmt: skip

    @classmethod
    def from_eraser(cls, eraser) -> "LeaceIntervention":
        return cls(proj_left=eraser.proj_left.float(), proj_right=eraser.proj_right.float(),
                   bias=None if eraser.bias is None else eraser.bias.float())  # fmt: skip

    def forward(self, base, source=None, subspaces=None, **kwargs):
        delta = base - self.bias.to(base.dtype)
        out = base - (delta @ self.proj_right.to(base.dtype).mT) @ self.proj_left.to(base.dtype).mT
        return out.to(base.dtype)

    def __str__(self):
        return f"LeaceIntervention(rank={self.proj_left.shape[1]})"


def fit_leace(x: np.ndarray, y: np.ndarray) -> tuple:
    """``(LeaceIntervention, classes)`` fitted on samples ``x`` (n, d) with labels ``y`` (n,)."""
    from concept_erasure import LeaceFitter

    classes = sorted(set(np.asarray(y).tolist()))
    z = torch.zeros(len(y), len(classes), dtype=torch.float64)
    z[torch.arange(len(y)), torch.tensor([classes.index(v) for v in np.asarray(y).tolist()])] = 1.0
    fitter = LeaceFitter.fit(torch.as_tensor(x, dtype=torch.float64), z)
    return LeaceIntervention.from_eraser(fitter.eraser), classes


@dataclass
class ErasureResult:
    """A fitted eraser and what erasing did on held-out voices.

    Attributes
    ----------
    site, label, windows
        Where and what was erased.
    module : LeaceIntervention
    probe_before, probe_after : ProbeResult
        Frame probes on held-out voices without and with the eraser (fitted afresh on erased
        training frames).
    pooled_before, pooled_after : ProbeResult
        The same with one mean-pooled sample per clip.
    task_accuracy_before, task_accuracy_after : float
        The task's accuracy on the held-out clips (NaN without a task), with 95% intervals.
    """

    site: str
    label: str
    windows: list
    module: LeaceIntervention
    probe_before: ProbeResult
    probe_after: ProbeResult
    pooled_before: ProbeResult | None
    pooled_after: ProbeResult | None
    task_accuracy_before: float = float("nan")
    task_accuracy_after: float = float("nan")
    task_ci_before: tuple = (float("nan"), float("nan"))
    task_ci_after: tuple = (float("nan"), float("nan"))
    n_task: int = 0
    record: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        """How many directions the eraser removes (rank of its projection's complement)."""
        m = (self.module.proj_left @ self.module.proj_right).double()
        return int(torch.linalg.matrix_rank(m, atol=1e-6))

    @property
    def intervention(self):
        """An :class:`intervene.Intervention` applying the eraser over the (single) window."""
        from intervene.single import Intervention

        if len(self.windows) != 1 or isinstance(self.windows[0], str):
            raise ConfigError("the eraser was fitted on each clip's word span; use intervention_for(span)")
        return Intervention(self.site, times_s=tuple(self.windows[0]), kind=self.module)

    def intervention_for(self, times_s):
        from intervene.single import Intervention

        return Intervention(self.site, times_s=tuple(times_s), kind=self.module)

    def to_dict(self) -> dict:
        return {"site": self.site, "label": self.label, "windows": [w if isinstance(w, str) else list(w) for w in self.windows],
                "rank": self.rank, "probe_before": self.probe_before.to_dict(),
                "probe_after": self.probe_after.to_dict(),
                "pooled_before": None if self.pooled_before is None else self.pooled_before.to_dict(),
                "pooled_after": None if self.pooled_after is None else self.pooled_after.to_dict(),
                "task_accuracy_before": self.task_accuracy_before, "task_accuracy_after": self.task_accuracy_after,
                "task_ci_before": list(self.task_ci_before), "task_ci_after": list(self.task_ci_after),
                "n_task": self.n_task, "record": self.record}  # fmt: skip

    def __repr__(self) -> str:
        return (f"ErasureResult({self.label!r} at {self.site}: probe {self.probe_before.accuracy:.3f} -> "
                f"{self.probe_after.accuracy:.3f} (chance {self.probe_after.chance:.3f}); task accuracy "
                f"{self.task_accuracy_before:.3f} -> {self.task_accuracy_after:.3f} on {self.n_task} clips)")


def _erased(module, acts: list, spans: list, model) -> list:
    out = []
    with torch.no_grad():
        for a, span in zip(acts, spans):
            b = a.copy()
            pos = A.window_frames(model, span, a.shape[0])
            b[pos] = module(torch.as_tensor(a[pos]))[...].numpy()
            out.append(b)
    return out


@torch.no_grad()
def task_accuracy(model, task, clips, words, site, module=None, spans=None) -> tuple:
    """``(hits, n)``: the task's prediction on each clip equals its word (eraser hooked at the span if given)."""
    hits = 0
    for i, clip in enumerate(clips):
        audio, rate = A.clip_audio(clip)
        if module is None:
            pred = task.predict(model, audio, rate)
        else:
            n = model.num_frames(len(audio))
            pos = A.window_frames(model, spans[i], n)
            with hooks.replace(model, {site: (pos, lambda sel: module(sel))}):
                pred = task.predict(model, audio, rate)
        hits += int(pred == words[i])
    return hits, len(clips)


def erase(model, site, clips, labels, times_s=None, *, task=None, split="voice", test=0.3, seed: int = 0,
          relative_to: str = "clip", activations: dict | None = None, progress=None) -> ErasureResult:
    """Fit LEACE for ``labels`` at ``site`` on training voices; measure probes and the task on held-out ones.

    Parameters
    ----------
    model, site, clips, labels, times_s, split, test, seed, relative_to
        As :func:`intervene.probe` (one window; labels per clip: the eraser is fitted on every
        frame of each training clip's window, labelled with its clip's label).
    task : KeywordTask, optional
        Measure its accuracy on the held-out clips with and without the eraser (each clip's
        expected answer is the word it says).

    Returns
    -------
    ErasureResult

    Raises
    ------
    ConfigError
        As :func:`intervene.probe`; a sweep over several windows or sites (fit one eraser each).
    """
    t0 = time.perf_counter()
    clips = list(clips)
    site = model.site(site)
    if times_s is not None and not (len(times_s) == 2 and all(isinstance(t, (int, float, np.number)) for t in times_s)):
        raise ConfigError("erase fits one eraser for one window: give times_s=(start_s, end_s) or None")
    acts = activations if activations is not None else A.collect(model, [site], clips, progress)
    lengths = [a.shape[0] for a in acts[site]]
    name, clip_level, per_clip = _labels_for(model, clips, labels, lengths)
    if not clip_level:
        raise ConfigError("erase takes clip labels (keyword, speaker, voice, gender or one label per clip)")
    groups = np.asarray(L.groups_of(clips, split))
    train_g, _, test_g = split_groups(groups, test=test, seed=seed)
    tr = np.isin(groups, list(train_g))
    check_split(per_clip, f"split={split!r}", {"train": tr, "test": ~tr})
    windows, spans = A.resolve_windows(clips, times_s, relative_to)
    spans = [s[0] for s in spans]
    x, idx, _ = A.features(model, [acts[site][i] for i in np.flatnonzero(tr)], [spans[i] for i in np.flatnonzero(tr)],
                           "frames")
    module, classes = fit_leace(x, per_clip[np.flatnonzero(tr)][idx])
    erased = {site: _erased(module, acts[site], spans, model)}
    kw = dict(split=split, test=sorted(test_g), seed=seed, relative_to=relative_to, control=True)
    per_frame = [np.full(n, lab) for n, lab in zip(lengths, per_clip)]
    before = probe(model, site, clips, per_frame, times_s, activations=acts, pool="frames", **kw)
    after = probe(model, site, clips, per_frame, times_s, activations=erased, pool="frames", **kw)
    pooled_b = probe(model, site, clips, list(per_clip), times_s, activations=acts, pool="mean", **kw)
    pooled_a = probe(model, site, clips, list(per_clip), times_s, activations=erased, pool="mean", **kw)
    for r in (before, after, pooled_b, pooled_a):
        r.label = name
    result = ErasureResult(site=site.key, label=name, windows=windows, module=module, probe_before=before,
                           probe_after=after, pooled_before=pooled_b, pooled_after=pooled_a,
                           record={"classes": classes, "train_groups": sorted(train_g), "test_groups": sorted(test_g),
                                   "n_fit_frames": int(x.shape[0]), "seed": int(seed)})
    if task is not None:
        test_idx = np.flatnonzero(~tr)
        test_clips = [clips[i] for i in test_idx]
        words = L.clip_labels(test_clips, "keyword")
        hb, n = task_accuracy(model, task, test_clips, words, site)
        ha, _ = task_accuracy(model, task, test_clips, words, site, module, [spans[i] for i in test_idx])
        result.task_accuracy_before, result.task_accuracy_after = hb / n, ha / n
        result.task_ci_before, result.task_ci_after = wilson_interval(hb, n), wilson_interval(ha, n)
        result.n_task = n
    result.record["seconds"] = round(time.perf_counter() - t0, 3)
    return result
