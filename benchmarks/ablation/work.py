"""The model work of the corruption ablation: the clean reference, and one (design, clip) unit.

A unit builds the design's minimal pair from a clean clip, runs both halves once (word
scores and every encoder layer's block output), measures the effect size, the flip, the
off-distribution distance of the corrupted frames and, from an exact patching map (encoder
layer x time window over the whole clip), the localisation. Everything it returns is
JSON-able, so the run's :class:`~intervene.workstore.WorkStore` keeps it and a resumed run
needs no model. The clean reference (one fitted distribution per encoder layer) is kept in the
store too (:func:`reference_to_arrays`), so a restarted run does not refit it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import corruptions
import tasks
from benchmarks.ablation.metrics import (
    DISTANCES,
    Reference,
    fit_reference,
    frames_in_spans,
    mahalanobis,
    span_share,
)
from benchmarks.common import WorkStore, make_key, progress
from intervene.hooks import capture
from tasks.errors import PairError

__all__ = ["Clip", "UnitContext", "fit_references", "reference_to_arrays", "reference_from_arrays", "compute_unit",
           "slug", "REFERENCE_KEY"]  # fmt: skip

REFERENCE_KEY = make_key("reference")
"""The work key of the clean reference (its description, and its arrays beside it)."""

logger = logging.getLogger("corruption_ablation")


def slug(text: str) -> str:
    """``text`` as a safe file-name part (letters, digits, ``._+-``)."""
    return "".join(ch if ch.isalnum() or ch in "._+-" else "-" for ch in str(text)) or "x"


@dataclass(frozen=True)
class Clip:
    """A clean clip: ``word`` said by ``voice``, padded to ``duration_s`` with the onset at ``onset_s``."""

    word: str
    voice: str

    @property
    def id(self) -> str:
        return f"{self.word}-{self.voice}"

    def utterance(self, duration_s: float, onset_s: float, fit: bool = False):
        """The clip's :class:`tasks.Utterance`; ``fit`` moves the onset earlier where the word would not fit."""
        utt = tasks.speak(self.word, self.voice)
        if fit:
            length_s = utt.words[-1].end_s - utt.words[0].start_s
            onset_s = max(0.0, min(onset_s, duration_s - length_s - 0.02))
        return utt.padded(duration_s, onset_s=onset_s)


def reference_to_arrays(refs: list[Reference]) -> dict:
    """The fitted references as named arrays (``mean_<i>``, ``std_<i>``, ``precision_<i>``, ...)."""
    out = {}
    for i, r in enumerate(refs):
        out |= {f"mean_{i}": r.mean, f"std_{i}": r.std, f"precision_{i}": r.precision,
                f"shrinkage_{i}": np.float64(r.shrinkage), f"n_samples_{i}": np.int64(r.n_samples)}  # fmt: skip
    return out


def reference_from_arrays(arrays: dict, layers: int) -> list[Reference] | None:
    """:func:`reference_to_arrays` read back (bit for bit), or None when the arrays do not fit."""
    try:
        refs = [Reference(mean=arrays[f"mean_{i}"], std=arrays[f"std_{i}"], precision=arrays[f"precision_{i}"],
                          shrinkage=float(arrays[f"shrinkage_{i}"]), n_samples=int(arrays[f"n_samples_{i}"]))
                for i in range(layers)]  # fmt: skip
    except KeyError:
        return None
    if any(r.mean.ndim != 1 or r.precision.shape != (r.dims, r.dims) or r.std.shape != r.mean.shape for r in refs):
        return None
    return refs


@dataclass
class UnitContext:
    """What every unit needs: the model, task, sites, settings and the (lazily fitted) reference.

    The reference is read from ``store`` (key :data:`REFERENCE_KEY`) when it is there, and
    fitted and kept there otherwise.
    """

    model: object
    task: tasks.KeywordTask
    settings: object  # CorruptionAblationSettings
    out: Path
    reference_clips: list
    store: WorkStore | None = None
    show_progress: bool = False
    _references: list | None = field(default=None, repr=False)
    reference_info: dict | None = None

    @property
    def sites(self) -> list:
        return self.model.sites("encoder", "block_output")

    @property
    def references(self) -> list[Reference]:
        """One fitted :class:`Reference` per encoder layer (from the store, else fitted on first use)."""
        if self._references is None and self.store is not None:
            record = self.store.get(REFERENCE_KEY)
            arrays = self.store.load_arrays(record)
            refs = None if arrays is None else reference_from_arrays(arrays, len(self.sites))
            if refs is not None:
                logger.info("clean reference: read from the work store (%d clips)", len(record["info"]["clips"]))
                self._references, self.reference_info = refs, dict(record["info"])
        if self._references is None:
            self._references, self.reference_info = fit_references(self, self.reference_clips)
            if self.store is not None:
                self.store.put_arrays(REFERENCE_KEY, reference_to_arrays(self._references), {"info": self.reference_info})
        return self._references

    def describe_reference(self) -> dict:
        """The reference's description (clips, frames per layer, shrinkage); fits it if needed."""
        _ = self.references
        return dict(self.reference_info)


@torch.no_grad()
def run_half(model, readout, audio: np.ndarray, sites, n_frames: int) -> tuple[torch.Tensor, list[np.ndarray]]:
    """One forward: word scores ``(words,)`` and each site's activations ``(n_frames, dims)``."""
    with capture(model, sites) as acts:
        logits = model.logits(model.inputs(audio, tasks.SAMPLE_RATE, readout.decoder_input_ids))
    scores = readout.word_scores(logits).reshape(-1, len(readout.words))[0].float().cpu()
    return scores, [acts[model.site(s)][0, :n_frames].double().cpu().numpy() for s in sites]


def fit_references(ctx: UnitContext, clips: list) -> tuple[list[Reference], dict]:
    """Fit one :class:`Reference` per encoder layer on every frame of the clean ``clips``.

    ``clips`` holds ``(Clip, onset_s)`` pairs: the same words at several onsets, so speech and
    silence are both seen at every position of the clip. The frames are the encoder positions
    that hold the clip's audio (its speech and the pauses around it, not Whisper's padding to
    30 s).
    """
    s, model = ctx.settings, ctx.model
    readout = ctx.task.readout(model, ctx.task.words[0], ctx.task.words[1])
    per_layer: list[list] = [[] for _ in ctx.sites]
    for clip, onset_s in progress(clips, enabled=ctx.show_progress, desc="clean reference", unit="clip"):
        audio = clip.utterance(s.duration_s, onset_s, fit=True).audio
        _, acts = run_half(model, readout, audio, ctx.sites, model.num_frames(audio.shape[0]))
        for i, a in enumerate(acts):
            per_layer[i].append(a)
    refs = [fit_reference(np.concatenate(frames)) for frames in per_layer]
    info = {"clips": [f"{c.id}@{onset:g}s" for c, onset in clips], "frames_per_layer": refs[0].n_samples,
            "shrinkage": [r.shrinkage for r in refs]}  # fmt: skip
    logger.info("clean reference: %d clips, %d frames per layer, Ledoit-Wolf shrinkage %s", len(clips),
                refs[0].n_samples, ", ".join(f"{r.shrinkage:.3f}" for r in refs))  # fmt: skip
    return refs, info


def _offdist(refs: list[Reference], clean: list, corrupt: list, mask: np.ndarray) -> dict:
    """Per layer and distance kind: mean distance of the clean and corrupt frames in ``mask``, and their ratio."""
    out = {}
    for kind in DISTANCES:
        rows = {"clean": [], "corrupt": [], "ratio": []}
        for ref, c, k in zip(refs, clean, corrupt):
            if not mask.any():  # the corruption changed no frame
                for values in rows.values():
                    values.append(None)
                continue
            dc = float(np.mean(mahalanobis(c[mask], ref, kind)))
            dk = float(np.mean(mahalanobis(k[mask], ref, kind)))
            rows["clean"].append(dc)
            rows["corrupt"].append(dk)
            rows["ratio"].append(dk / dc if dc > 0 else None)
        out[kind] = rows
    return out


def _logodds(scores: torch.Tensor, words: list, task_words: tuple, answer: str) -> float:
    """log-odds of ``answer`` among the task's words, from a readout's word scores."""
    idx = [words.index(w) for w in task_words]
    own = words.index(answer)
    others = [i for i in idx if i != own]
    return float(scores[own] - torch.logsumexp(scores[others], dim=0))


def _map_record(ctx: UnitContext, pair, cmap, design_slug: str, clip: Clip, word_span) -> dict:
    s = ctx.settings
    path = ctx.out / "maps" / design_slug / f"{slug(clip.id)}.npz"
    cmap.save(path)
    starts = np.asarray(cmap.times_s, dtype=np.float64)
    window_s = s.window_ms / 1000.0
    ends = np.minimum(starts + window_s, pair.duration_s)
    values = np.asarray(cmap.values, dtype=np.float64)
    margin = window_s  # one window of margin on each side
    ones = np.ones((1, starts.size))
    return {
        "file": path.relative_to(ctx.out).as_posix(),
        "values": values,
        "layers": list(cmap.coords["layer"]),
        "starts_s": starts,
        "ends_s": ends,
        "clean_metric": cmap.clean_metric,
        "corrupt_metric": cmap.corrupt_metric,
        "localisation": {
            "changed": span_share(values, starts, ends, pair.changed_spans, margin),
            "word": span_share(values, starts, ends, [word_span], margin),
            "changed_chance": span_share(ones, starts, ends, pair.changed_spans, margin),
            "word_chance": span_share(ones, starts, ends, [word_span], margin),
        },
    }


def compute_unit(ctx: UnitContext, design: dict, clip: Clip) -> dict:
    """Run one (design, clip) unit; returns its JSON-able record (see the module notes).

    A pair whose metric barely moves gets ``PairError`` from ``intervene.patch``: the record
    then has ``map = None`` and ``no_effect`` holding the reason.
    """
    import intervene

    start = time.perf_counter()
    s, model, task = ctx.settings, ctx.model, ctx.task
    label = design["label"]
    config = {k: v for k, v in design.items() if k != "label"}
    utt = clip.utterance(s.duration_s, s.onset_s)
    word_span = utt.word_span(clip.word)
    pair = corruptions.from_dict(config).pair(utt, seed=s.seed)
    design_slug = slug(label)
    pair.save(ctx.out / "pairs" / design_slug / slug(clip.id))
    clean_answer, corrupt_answer = task.answers(pair)
    readout = task.readout(model, clean_answer, corrupt_answer)
    n_frames = model.num_frames(pair.n_samples)
    sc, clean_acts = run_half(model, readout, pair.clean, ctx.sites, n_frames)
    sk, corrupt_acts = run_half(model, readout, pair.corrupt, ctx.sites, n_frames)
    words = list(readout.words)
    predict = [words.index(w) for w in task.words]
    clean_pred = task.words[int(torch.argmax(sc[predict]))]
    corrupt_pred = task.words[int(torch.argmax(sk[predict]))]
    clean_metric = float(readout.metric_from_scores(sc))
    corrupt_metric = float(readout.metric_from_scores(sk))
    mask = frames_in_spans(n_frames, model.frame_s, pair.changed_spans)
    record = {
        "design": label, "clip": clip.id, "word": clip.word, "voice": clip.voice,
        "corruption": pair.corruption, "params": pair.params, "seed": pair.seed,
        "changed_spans": pair.changed_spans, "word_span": [word_span.start_s, word_span.end_s],
        "answers": [clean_answer, corrupt_answer], "metric": readout.metric_name,
        "clean_metric": clean_metric, "corrupt_metric": corrupt_metric, "gap": clean_metric - corrupt_metric,
        "clean_logodds": _logodds(sc, words, task.words, clean_answer),
        "corrupt_logodds": _logodds(sk, words, task.words, clean_answer),
        "clean_prediction": clean_pred, "corrupt_prediction": corrupt_pred,
        "flipped": corrupt_pred != clean_answer,
        "offdist_frames": int(mask.sum()),
        "offdist": _offdist(ctx.references, clean_acts, corrupt_acts, mask),
        "pair_dir": (Path("pairs") / design_slug / slug(clip.id)).as_posix(),
    }  # fmt: skip
    record["logodds_drop"] = record["clean_logodds"] - record["corrupt_logodds"]
    try:
        cmap = intervene.patch(model, task, pair, ctx.sites, window_ms=s.window_ms, span="clip",
                               direction=s.direction)  # fmt: skip
    except PairError as exc:
        logger.info("%s / %s: no effect (%s)", label, clip.id, str(exc).split(";")[0])
        record["map"], record["no_effect"] = None, str(exc)
    else:
        record["map"], record["no_effect"] = _map_record(ctx, pair, cmap, design_slug, clip, record["word_span"]), None
    record["seconds"] = time.perf_counter() - start
    return record
