"""The model work of the corruption ablation: the clean reference, and one (design, clip) unit.

A unit takes the design's minimal pair of a clean clip (built on the driver, which also saves
it), runs both halves once (word scores and every encoder layer's block output), measures the
effect size, the flip, the off-distribution distance of the corrupted frames and, from an exact
patching map (encoder layer x time window over the whole clip), the localisation.
:func:`ablation_unit` is a module-level function so that ``--executor ray`` actors can run it;
its record is JSON-able apart from the map, which the driver saves (:func:`finish_record`) and
keeps in the run's :class:`~intervene.workstore.WorkStore`, so a resumed run needs no model.
The clean reference (one fitted distribution per encoder layer) is fitted on the driver (it
needs every reference clip at once) and kept in the store too (:func:`reference_to_arrays`),
so a restarted run does not refit it.

Subjects (the clean clips) are synthetic keyword clips (:class:`Clip`) or, with ``--data``,
dataset recordings (:class:`DataClip`): a Speech Commands word (:class:`tasks.KeywordTask`) or
one aligned content word of a sentence (:class:`tasks.TranscriptTask` reading that word).
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
from benchmarks.common import make_key, progress
from intervene.hooks import capture
from tasks.errors import ConfigError, DatasetError, PairError, UnknownNameError

__all__ = ["Clip", "DataClip", "fit_references", "reference_to_arrays", "reference_from_arrays", "ablation_unit",
           "make_pair", "finish_record", "slug", "REFERENCE_KEY", "WHOLE_CLIP_KINDS"]  # fmt: skip

REFERENCE_KEY = make_key("reference")
"""The work key of the clean reference (its description, and its arrays beside it)."""
WHOLE_CLIP_KINDS = ("gap", "noise", "word_swap", "recording_swap", "on_word")
"""Kinds that take a target word themselves; inside a sentence the others go through ``on_word``."""

logger = logging.getLogger("corruption_ablation")


def slug(text: str) -> str:
    """``text`` as a safe file-name part (letters, digits, ``._+-``)."""
    return "".join(ch if ch.isalnum() or ch in "._+-" else "-" for ch in str(text)) or "x"


@dataclass(frozen=True)
class Clip:
    """A clean clip: ``word`` said by ``voice``, padded to ``duration_s`` with the onset at ``onset_s``."""

    word: str
    voice: str
    task: str = field(default="keyword", init=False)

    @property
    def id(self) -> str:
        return f"{self.word}-{self.voice}"

    @property
    def speaker(self) -> str:
        return self.voice

    def utterance(self, duration_s: float, onset_s: float, fit: bool = False):
        """The clip's :class:`tasks.Utterance`; ``fit`` moves the onset earlier where the word would not fit."""
        utt = tasks.speak(self.word, self.voice)
        if fit:
            length_s = utt.words[-1].end_s - utt.words[0].start_s
            onset_s = max(0.0, min(onset_s, duration_s - length_s - 0.02))
        return utt.padded(duration_s, onset_s=onset_s)


@dataclass(frozen=True)
class DataClip:
    """A dataset recording compared by the designs: its target ``word`` and the task reading it.

    ``task`` is ``"keyword"`` (a Speech Commands clip of a core word) or ``"transcript"`` (a
    sentence: :class:`tasks.TranscriptTask` reads ``word`` inside ``text``); ``partner`` is the
    word a ``word_swap`` design without ``word`` swaps in (for a sentence: the same speaker's
    target word of another clip, found in the dataset; None: no partner).
    """

    source: object = field(repr=False)  # tasks.datasets.Clip
    word: str
    task: str
    partner: str | None = None

    @property
    def id(self) -> str:
        return slug(self.source.id.rsplit(".", 1)[0] if self.task == "keyword" else self.source.id)

    @property
    def speaker(self) -> str | None:
        return self.source.speaker

    @property
    def voice(self) -> str:
        """The speaker (the report's 'voice' column)."""
        return str(self.source.speaker or "?")


# --------------------------------------------------------------------------- the clean reference
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


def encoder_sites(model) -> list:
    return model.sites("encoder", "block_output")


@torch.no_grad()
def run_half(model, readout, audio: np.ndarray, sites, n_frames: int, logits_out: list | None = None):
    """One forward: word scores ``(words,)`` and each site's activations ``(n_frames, dims)``.

    ``logits_out`` (a list) receives the decoder logits of the first row ``(tokens, vocab)``.
    """
    with capture(model, sites) as acts:
        logits = model.logits(model.inputs(audio, tasks.SAMPLE_RATE, readout.decoder_input_ids))
    if logits_out is not None:
        logits_out.append(logits[0].float().cpu())
    scores = readout.word_scores(logits).reshape(-1, len(readout.words))[0].float().cpu()
    return scores, [acts[model.site(s)][0, :n_frames].double().cpu().numpy() for s in sites]


def fit_references(model, clips: list, show_progress: bool = False) -> tuple[list[Reference], dict]:
    """Fit one :class:`Reference` per encoder layer on every frame of the clean ``clips``.

    ``clips`` holds ``(label, audio float32 (samples,) at 16 kHz)``: for the synthetic set the
    same words at several onsets (so speech and silence are both seen at every position), with
    ``--data`` the clean recordings of held-out speakers. The frames are the encoder positions
    that hold the clip's audio (its speech and the pauses around it, not Whisper's padding to
    30 s).
    """
    task = tasks.KeywordTask()
    readout = task.readout(model, task.words[0], task.words[1])
    sites = encoder_sites(model)
    per_layer: list[list] = [[] for _ in sites]
    for _, audio in progress(clips, enabled=show_progress, desc="clean reference", unit="clip"):
        _, acts = run_half(model, readout, audio, sites, model.num_frames(audio.shape[0]))
        for i, a in enumerate(acts):
            per_layer[i].append(a)
    refs = [fit_reference(np.concatenate(frames)) for frames in per_layer]
    info = {"clips": [label for label, _ in clips], "frames_per_layer": refs[0].n_samples,
            "shrinkage": [r.shrinkage for r in refs]}  # fmt: skip
    logger.info("clean reference: %d clips, %d frames per layer, Ledoit-Wolf shrinkage %s", len(clips),
                refs[0].n_samples, ", ".join(f"{r.shrinkage:.3f}" for r in refs))  # fmt: skip
    return refs, info


# --------------------------------------------------------------------------- pairs (driver)
def _design_corruption(design: dict, subject):
    config = {k: v for k, v in design.items() if k != "label"}
    sentence = isinstance(subject, DataClip) and subject.task == "transcript"
    if sentence and config["kind"] == "word_swap" and config.get("word") is None:
        if subject.partner is None:
            raise DatasetError(f"no partner word for a word swap of {subject.word!r} (speaker {subject.speaker!r} "
                               "says no other target word in the data)")  # fmt: skip
        config["word"] = subject.partner
    if sentence and config["kind"] not in WHOLE_CLIP_KINDS:
        config = {"kind": "on_word", "corruption": config}
    return corruptions.from_dict(config)


def make_pair(design: dict, subject, settings):
    """``(pair, word_span (start_s, end_s), task)`` of a design on a subject, built here (cheap).

    Raises
    ------
    PairError, DatasetError, ConfigError, UnknownNameError
        The design cannot corrupt this clip (e.g. no partner recording for a word swap).
    """
    if isinstance(subject, Clip):
        utt = subject.utterance(settings.duration_s, settings.onset_s)
        span = utt.word_span(subject.word)
        pair = _design_corruption(design, subject).pair(utt, seed=settings.seed)
        return pair, (span.start_s, span.end_s), tasks.KeywordTask()
    clip = subject.source
    span = clip.word_span(subject.word)
    pair = _design_corruption(design, subject).pair(clip, seed=settings.seed, target=subject.word)
    pair.metadata.update({"word": subject.word, "speaker": clip.speaker, "text": clip.text, "clip": clip.id})
    if subject.task == "keyword":
        return pair, (span.start_s, span.end_s), tasks.KeywordTask()
    return pair, (span.start_s, span.end_s), tasks.TranscriptTask(text=clip.text, word=subject.word)


PAIR_ERRORS = (PairError, DatasetError, ConfigError, UnknownNameError)


# --------------------------------------------------------------------------- one unit (anywhere)
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


def _word_logodds(logprob: float) -> float:
    """log(p / (1 - p)) of a word whose log-probability is ``logprob`` (p below 1 - 1e-9)."""
    lp = min(float(logprob), -1e-9)
    return lp - float(np.log(-np.expm1(lp)))


def _keyword_answers(task, readout, sc, sk, clean_answer) -> dict:
    words = list(readout.words)
    predict = [words.index(w) for w in task.words]
    return {"clean_logodds": _logodds(sc, words, task.words, clean_answer),
            "corrupt_logodds": _logodds(sk, words, task.words, clean_answer),
            "clean_prediction": task.words[int(torch.argmax(sc[predict]))],
            "corrupt_prediction": task.words[int(torch.argmax(sk[predict]))]}  # fmt: skip


def _transcript_answers(model, readout, sc, sk, lc, lk) -> dict:
    """Teacher-forced: the word's log-odds, and the token each half predicts where the word begins."""
    at = readout.prefix_length - 1  # the logits that predict the word's first token
    first = int(readout.decoder_input_ids[0, readout.prefix_length])

    def heard(logits):
        top = int(torch.argmax(logits[at]))
        return readout.clean_answer if top == first else model.tokenizer.decode([top]).strip() or repr(top)

    i = readout.target_index
    return {"clean_logodds": _word_logodds(sc[i]), "corrupt_logodds": _word_logodds(sk[i]),
            "clean_prediction": heard(lc[0]), "corrupt_prediction": heard(lk[0])}  # fmt: skip


def ablation_unit(model, shared: dict, design_label: str, subject: dict, pair, word_span: tuple, task) -> dict:
    """Run one (design, clip) unit wherever the executor puts it; returns its record.

    ``shared``: ``{"references": [Reference per encoder layer], "window_ms", "direction"}``.
    ``subject``: ``{"clip", "word", "voice"}``. The record is JSON-able except ``record["map"]
    ["cmap"]`` (the :class:`~intervene.maps.CausalMap`, saved by the driver in
    :func:`finish_record`). A pair whose metric barely moves gets ``PairError`` from
    ``intervene.patch``: the record then has ``map = None`` and ``no_effect`` holding the reason.
    """
    import intervene

    start = time.perf_counter()
    sites = encoder_sites(model)
    clean_answer, corrupt_answer = task.answers(pair)
    readout = task.readout(model, clean_answer, corrupt_answer)
    n_frames = model.num_frames(pair.n_samples)
    lc, lk = [], []
    sc, clean_acts = run_half(model, readout, pair.clean, sites, n_frames, lc)
    sk, corrupt_acts = run_half(model, readout, pair.corrupt, sites, n_frames, lk)
    if isinstance(task, tasks.KeywordTask):
        answers = _keyword_answers(task, readout, sc, sk, clean_answer)
    else:
        answers = _transcript_answers(model, readout, sc, sk, lc, lk)
    clean_metric = float(readout.metric_from_scores(sc))
    corrupt_metric = float(readout.metric_from_scores(sk))
    mask = frames_in_spans(n_frames, model.frame_s, pair.changed_spans)
    clean_name, corrupt_name = str(clean_answer), str(corrupt_answer)
    record = {
        "design": design_label, "clip": subject["clip"], "word": subject["word"], "voice": subject["voice"],
        "task": getattr(task, "name", type(task).__name__),
        "corruption": pair.corruption, "params": pair.params, "seed": pair.seed,
        "changed_spans": pair.changed_spans, "word_span": list(word_span),
        "answers": [clean_name, corrupt_name], "metric": readout.metric_name,
        "clean_metric": clean_metric, "corrupt_metric": corrupt_metric, "gap": clean_metric - corrupt_metric,
        **answers,
        "offdist_frames": int(mask.sum()),
        "offdist": _offdist(shared["references"], clean_acts, corrupt_acts, mask),
    }  # fmt: skip
    record["flipped"] = record["corrupt_prediction"] != (clean_name if isinstance(task, tasks.KeywordTask)
                                                         else readout.clean_answer)  # fmt: skip
    record["logodds_drop"] = record["clean_logodds"] - record["corrupt_logodds"]
    try:
        cmap = intervene.patch(model, task, pair, sites, window_ms=shared["window_ms"], span="clip",
                               direction=shared["direction"])  # fmt: skip
    except PairError as exc:
        logger.info("%s / %s: no effect (%s)", design_label, subject["clip"], str(exc).split(";")[0])
        record["map"], record["no_effect"] = None, str(exc)
    else:
        record["map"], record["no_effect"] = _map_record(cmap, pair, shared["window_ms"], word_span), None
    record["seconds"] = time.perf_counter() - start
    return record


def _map_record(cmap, pair, window_ms: float, word_span) -> dict:
    starts = np.asarray(cmap.times_s, dtype=np.float64)
    window_s = window_ms / 1000.0
    ends = np.minimum(starts + window_s, pair.duration_s)
    values = np.asarray(cmap.values, dtype=np.float64)
    margin = window_s  # one window of margin on each side
    ones = np.ones((1, starts.size))
    return {
        "cmap": cmap,
        "values": values.tolist(),
        "layers": list(cmap.coords["layer"]),
        "starts_s": starts.tolist(),
        "ends_s": ends.tolist(),
        "clean_metric": cmap.clean_metric,
        "corrupt_metric": cmap.corrupt_metric,
        "localisation": {
            "changed": span_share(values, starts, ends, pair.changed_spans, margin),
            "word": span_share(values, starts, ends, [tuple(word_span)], margin),
            "changed_chance": span_share(ones, starts, ends, pair.changed_spans, margin),
            "word_chance": span_share(ones, starts, ends, [tuple(word_span)], margin),
        },
    }


def finish_record(record: dict, out: Path, design_label: str, clip_id: str) -> dict:
    """On the driver: save the unit's map under ``out/maps/<design>/<clip>.npz``; the record names the file."""
    record = dict(record)
    record["pair_dir"] = (Path("pairs") / slug(design_label) / slug(clip_id)).as_posix()
    if record.get("map") is not None:
        entry = dict(record["map"])
        path = out / "maps" / slug(design_label) / f"{slug(clip_id)}.npz"
        entry.pop("cmap").save(path)
        record["map"] = {"file": path.relative_to(out).as_posix(), **entry}
    return record
