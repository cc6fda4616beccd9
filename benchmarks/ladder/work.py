"""The model work of ``method_ladder.py``: one resumable unit per (model, method, layer).

========================  ===========================================================  ========================
unit                      what                                                         measured on
========================  ===========================================================  ========================
``probe/layer<L>``        :func:`intervene.probe` of the keyword (mean over the word's   report voices' clips
                          frames) with its control task, fitted on the design voices
``patch/<pair>``          :func:`intervene.patch` exact, denoising, each layer's block   report voices' pairs
                          output over the word's frames (the pair's changed span)
``das/layer<L>/dim<d>``   :func:`intervene.das` over each pair's changed span, trained   report voices' pairs
                          and early-stopped on design voices (checkpointed each
                          epoch: a killed unit resumes); the rotation is saved
``leace/layer<L>/<lab>``  :func:`intervene.erase` of ``keyword`` or ``gender`` over the  report voices' clips
                          word's frames, fitted on design voices; keyword accuracy
                          with and without the eraser
========================  ===========================================================  ========================

A patch unit covers every layer of one pair (one call of the exact method measures them all
and shares the pair's plain forwards). The model is loaded, and the clips' activations
collected, only when some unit of the model is unfinished.

Where they run (``--executor``): probe, patch and eraser units go through
:func:`~benchmarks.common.units.run_stored` (:mod:`benchmarks.ladder.units`; with Ray each actor
collects the clips' activations once for its probe and eraser units); DAS trains on the driver.
With ``--data`` the groups are speakers instead of voices and only ``keyword`` is erased (a
recording's gender is not known).
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

import tasks
from benchmarks.common import WorkStore, make_key, progress
from benchmarks.common.units import run_stored
from benchmarks.ladder import units as U

__all__ = ["ModelWork", "clips_key", "erase_summary", "group_of", "pair_id", "probe_summary"]

logger = logging.getLogger("method_ladder")

ERASED_LABELS = ("keyword", "gender")


def pair_id(pair) -> str:
    """``<voice or speaker>-<clean word>-<digest of both halves>``: a patch unit belongs to the pair's audio."""
    h = hashlib.sha256()
    for audio in (pair.clean, pair.corrupt):
        h.update(np.ascontiguousarray(audio, dtype="<f4").tobytes())
    return f"{group_of(pair)}-{pair.clean_answer}-{h.hexdigest()[:12]}"


def probe_summary(r) -> dict:
    """The figures of a one-site, one-window :class:`~intervene.ProbeResult` (plus its full record)."""
    lo, hi = (float(v) for v in r.ci_grid.reshape(-1, 2)[0])
    return {"accuracy": r.accuracy, "control_accuracy": r.control_accuracy, "selectivity": r.selectivity,
            "chance": r.chance, "accuracy_ci": [lo, hi], "n_train": int(r.n_train.reshape(-1)[0]),
            "n_test": int(r.n_test.reshape(-1)[0]), "train_groups": r.train_groups, "test_groups": r.test_groups,
            "classes": r.classes, "pool": r.pool, "control_by": r.control_by, "seconds": round(r.seconds, 3)}  # fmt: skip


def erase_summary(r) -> dict:
    """The figures of an :class:`~intervene.ErasureResult`."""
    return {"label": r.label, "rank": r.rank, "probe_before": probe_summary(r.probe_before),
            "probe_after": probe_summary(r.probe_after), "pooled_probe_before": probe_summary(r.pooled_before),
            "pooled_probe_after": probe_summary(r.pooled_after), "keyword_accuracy_before": r.task_accuracy_before,
            "keyword_accuracy_after": r.task_accuracy_after, "keyword_ci_before": list(r.task_ci_before),
            "keyword_ci_after": list(r.task_ci_after), "n_clips": r.n_task, "record": r.record}  # fmt: skip


def group_of(pair) -> str:
    """The split group of a pair: its voice (synthesized) or its speaker (recordings)."""
    return str(pair.metadata.get("voice") or pair.metadata["speaker"])


def clips_key(clips, layers) -> str:
    """A digest of the clips' audio and the layers: names a worker's cached activations."""
    h = hashlib.sha256(repr(list(layers)).encode())
    for clip in clips:
        h.update(np.ascontiguousarray(clip.audio, dtype="<f4").tobytes())
    return h.hexdigest()[:16]


class ModelWork:
    """Every unit of one model; ``run_units()`` computes the unfinished ones and returns every record.

    Probe, patch and eraser units run on ``executor`` (:mod:`benchmarks.ladder.units`, through
    :func:`~benchmarks.common.units.run_stored`); DAS trains here, on the driver: it needs every
    pair, checkpoints each epoch and saves its intervention into the report folder.

    Parameters
    ----------
    name : str
    settings : MethodLadderSettings
    clips, pairs : list
        All groups' clips and pairs (design and report).
    store : WorkStore
    run : RunOptions
    executor : intervene.executors.Executor, optional
        Default: in this process.
    report : sequence of str, optional
        The held-out groups (default: ``settings.report_voices``).
    split : str
        What the groups are: ``"voice"`` (synthesized) or ``"speaker"`` (``--data``).
    labels : sequence of str
        The erased labels (``gender`` needs synthesized voices).
    """

    def __init__(self, name: str, settings, clips: list, pairs: list, store: WorkStore, run, executor=None,
                 report=None, split: str = "voice", labels=ERASED_LABELS):  # fmt: skip
        from intervene.executors import make_executor

        self.name, self.settings, self.clips, self.pairs, self.store, self.run = name, settings, clips, pairs, store, run
        self.executor = executor if executor is not None else make_executor("local", device=run.device)[0]
        self.task = tasks.KeywordTask(settings.words)
        self.report = set(settings.report_voices if report is None else report)
        self.split, self.labels = split, tuple(labels)
        self.report_pairs = [p for p in pairs if group_of(p) in self.report]
        self._model = None
        self.computed, self.reused = 0, 0
        self.load_s = None

    # ------------------------------------------------------------------ lazily
    @property
    def model(self):
        if self._model is None:
            import intervene

            t0 = time.perf_counter()
            self._model = intervene.load_model(self.name, device=self.run.device)
            self.load_s = round(time.perf_counter() - t0, 3)
        return self._model

    def _model_for(self, keys) -> object:
        """Remote workers (or nothing to compute): the name; here: the model, loaded once."""
        if self.executor.name != "local" or all(k in self.store for k in keys):
            return self.name
        return self.model

    def _stored(self, items: list, shared, fn, desc: str) -> list:
        if not items:
            return []
        keys = [k for k, _ in items]
        todo = sum(k not in self.store for k in keys)
        values = list(run_stored(self.executor, self._model_for(keys), fn, items, self.store, shared=shared,
                                 progress=self.run.progress, desc=f"{self.name} {desc}"))  # fmt: skip
        self.computed += todo
        self.reused += len(items) - todo
        return values

    @staticmethod
    def site(layer: int) -> str:
        return U.site(layer)

    # ------------------------------------------------------------------ units
    def keys(self, layers) -> dict:
        """``{key: (method, args)}`` of every unit, in the order they run."""
        s, out = self.settings, {}
        for layer in layers:
            out[make_key(self.name, "probe", f"layer{layer}")] = ("probe", (layer,))
        for pair in self.report_pairs:
            out[make_key(self.name, "patch", pair_id(pair))] = ("patch", (pair,))
        for layer in layers:
            for dim in s.dims:
                out[make_key(self.name, "das", f"layer{layer}", f"dim{dim}")] = ("das", (layer, dim))
        for layer in layers:
            for label in self.labels:
                out[make_key(self.name, "leace", f"layer{layer}", label)] = ("leace", (layer, label))
        return out

    def _das(self, layer: int, dim: int) -> dict:
        import intervene

        s = self.settings
        folder = self.run.out / "das" / self.name / f"layer{layer}-dim{dim}"
        checkpoint = folder.with_name(folder.name + ".ckpt")  # a killed run resumes after the last finished epoch
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        r = intervene.das(self.model, self.task, self.pairs, self.site(layer), dim=dim, kind=s.das_kind, split="voice",
                          test=sorted(self.report), validation=s.das_validation, batch_size=s.das_batch_size,
                          lr=s.das_lr, max_epochs=s.das_epochs, patience=s.das_patience, seed=s.seed,
                          train_context_frames=s.train_context_frames, checkpoint=checkpoint)  # fmt: skip
        r.save(folder)
        checkpoint.unlink(missing_ok=True)
        d = r.to_dict()
        d["files"] = {"intervention": folder.relative_to(self.run.out).as_posix()}
        return {"layer": layer, **d}

    def run_units(self) -> dict:
        """Every unit's record (computing the unfinished ones): ``{"probe": {layer: ...}, "patch": [...],
        "das": {(layer, dim): ...}, "leace": {(layer, label): ...}}``."""
        s = self.settings
        layers = list(s.layers) if s.layers is not None else None
        if layers is None:  # the layer count needs the model only when nothing is stored yet
            (layers,) = self._stored([(make_key(self.name, "layers"), ())], None, U.layers_unit, "layers")
        units = self.keys(layers)
        todo = self.store.missing(units)
        logger.info("%s: %d units, %d to compute", self.name, len(units), len(todo))
        by_method: dict = {"probe": [], "patch": [], "das": [], "leace": []}
        for key, (method, args) in units.items():
            by_method[method].append((key, args))
        clip_shared = {"clips": self.clips, "layers": layers, "split": self.split, "report": sorted(self.report),
                       "seed": s.seed, "control_by": s.control_by, "words": list(s.words),
                       "acts_key": clips_key(self.clips, layers)}  # fmt: skip
        out = {"probe": {}, "patch": [], "das": {}, "leace": {}, "layers": layers}
        probes = self._stored(by_method["probe"], clip_shared, U.probe_unit, "probes")
        out["probe"] = {args[0]: r for (_, args), r in zip(by_method["probe"], probes)}
        patch_items = [(k, (pair, pair_id(pair), group_of(pair))) for k, (pair,) in by_method["patch"]]
        out["patch"] = self._stored(patch_items, {"words": list(s.words), "layers": layers, "min_gap": s.min_gap},
                                    U.patch_unit, "patching")  # fmt: skip
        bar = progress(by_method["das"], enabled=self.run.progress, desc=f"{self.name} DAS", unit="unit")
        for key, (layer, dim) in bar:
            record = self.store.get(key)
            if record is None:
                record = self.store.put(key, self._das(layer, dim))
                self.computed += 1
            else:
                self.reused += 1
            out["das"][layer, dim] = record
        erased = self._stored(by_method["leace"], clip_shared, U.leace_unit, "erasers")
        out["leace"] = {tuple(args): r for (_, args), r in zip(by_method["leace"], erased)}
        return out
