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
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

import tasks
from benchmarks.common import WorkStore, make_key, progress
from tasks.errors import GuardError, PairError

__all__ = ["ModelWork", "erase_summary", "pair_id", "probe_summary"]

logger = logging.getLogger("method_ladder")

ERASED_LABELS = ("keyword", "gender")


def pair_id(pair) -> str:
    """``<voice>-<clean word>-<digest of both halves>``: a patch unit belongs to the pair's audio."""
    h = hashlib.sha256()
    for audio in (pair.clean, pair.corrupt):
        h.update(np.ascontiguousarray(audio, dtype="<f4").tobytes())
    return f"{pair.metadata['voice']}-{pair.clean_answer}-{h.hexdigest()[:12]}"


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


class ModelWork:
    """Every unit of one model; ``run()`` computes the unfinished ones and returns every record.

    Parameters
    ----------
    name : str
    settings : MethodLadderSettings
    clips, pairs : list
        All voices' clips and pairs (design and report).
    store : WorkStore
    run : RunOptions
    """

    def __init__(self, name: str, settings, clips: list, pairs: list, store: WorkStore, run):
        self.name, self.settings, self.clips, self.pairs, self.store, self.run = name, settings, clips, pairs, store, run
        self.task = tasks.KeywordTask(settings.words)
        self.report = set(settings.report_voices)
        self.report_pairs = [p for p in pairs if p.metadata["voice"] in self.report]
        self._model, self._acts = None, None
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

    def activations(self) -> dict:
        """Every selected layer's block output on every clip (one forward per clip), kept in memory."""
        if self._acts is None:
            from intervene.learned.activations import collect

            sites = [self.model.site(self.site(layer)) for layer in self.layers]
            bar = progress(range(len(self.clips)), enabled=self.run.progress, desc=f"{self.name} activations",
                           unit="clip")  # fmt: skip
            self._acts = collect(self.model, sites, self.clips, bar)
            bar.close()
        return self._acts

    @staticmethod
    def site(layer: int) -> str:
        return f"encoder.{layer}.block_output"

    @property
    def layers(self) -> list[int]:
        if self.settings.layers is not None:
            return list(self.settings.layers)
        return list(range(self.model.num_layers("encoder")))

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
            for label in ERASED_LABELS:
                out[make_key(self.name, "leace", f"layer{layer}", label)] = ("leace", (layer, label))
        return out

    def _probe(self, layer: int) -> dict:
        import intervene

        r = intervene.probe(self.model, self.site(layer), self.clips, "keyword", times_s=None, control=True,
                            pool="mean", split="voice", test=sorted(self.report), control_by=self.settings.control_by,
                            seed=self.settings.seed, activations=self.activations())  # fmt: skip
        return {"layer": layer, **probe_summary(r)}

    def _patch(self, pair) -> dict:
        import intervene

        s = self.settings
        base = {"pair": pair_id(pair), "voice": pair.metadata["voice"], "answers": [pair.clean_answer,
                                                                                     pair.corrupt_answer]}
        t0 = time.perf_counter()
        sites = [self.site(layer) for layer in self.layers]
        try:
            cmap = intervene.patch(self.model, self.task, pair, sites, unit="all", span="changed", margin_ms=0.0)
        except (PairError, GuardError) as exc:
            return {**base, "status": "skipped", "reason": str(exc), "seconds": round(time.perf_counter() - t0, 3)}
        gap = float(cmap.clean_metric - cmap.corrupt_metric)
        record = {**base, "clean_metric": float(cmap.clean_metric), "corrupt_metric": float(cmap.corrupt_metric),
                  "gap": gap, "layers": self.layers, "effect": [float(v) for v in np.asarray(cmap.values).reshape(-1)],
                  "span_s": list(cmap.meta.span_s), "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
        if gap < s.min_gap:
            return {**record, "status": "skipped", "reason": f"clean-minus-corrupt metric {gap:.2f} < min_gap {s.min_gap}"}
        return {**record, "status": "used"}

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

    def _leace(self, layer: int, label: str) -> dict:
        import intervene

        r = intervene.erase(self.model, self.site(layer), self.clips, label, times_s=None, task=self.task,
                            split="voice", test=sorted(self.report), seed=self.settings.seed,
                            activations={self.model.site(self.site(layer)): self.activations()[
                                self.model.site(self.site(layer))]})  # fmt: skip
        return {"layer": layer, **erase_summary(r)}

    def run_units(self) -> dict:
        """Every unit's record (computing the unfinished ones): ``{"probe": {layer: ...}, "patch": [...],
        "das": {(layer, dim): ...}, "leace": {(layer, label): ...}}``."""
        layers = list(self.settings.layers) if self.settings.layers is not None else None
        if layers is None:  # the layer count needs the model only when nothing is stored yet
            known = self.store.get(make_key(self.name, "layers"))
            layers = known if known is not None else self.store.put(make_key(self.name, "layers"), self.layers)
        units = self.keys(layers)
        todo = self.store.missing(units)
        logger.info("%s: %d units, %d to compute", self.name, len(units), len(todo))
        out = {"probe": {}, "patch": [], "das": {}, "leace": {}}
        bar = progress(list(units.items()), enabled=self.run.progress, desc=self.name, unit="unit")
        for key, (method, args) in bar:
            record = self.store.get(key)
            if record is None:
                record = self.store.put(key, getattr(self, f"_{method}")(*args))
                self.computed += 1
            else:
                self.reused += 1
            if method == "patch":
                out["patch"].append(record)
            else:
                out[method][args if len(args) > 1 else args[0]] = record
        out["layers"] = layers
        return out
