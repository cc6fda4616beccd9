"""Distributed alignment search: ``intervene.das(model, task, pairs, site, ...) -> DASResult``.

DAS (Geiger et al. 2023) learns a subspace of a site's activations such that swapping it
between two runs swaps a causal variable: for keyword pairs, swapping the learned subspace of
the "yes" run's frames into the "no" run should make the model say "yes". The score is the
interchange intervention accuracy (IIA) on held-out pairs of other voices. The interventions
are pyvene's own trainable ones (:mod:`intervene.learned.subspace`), trained by
:mod:`intervene.learned.das_train` on cached activations (:mod:`intervene.learned.site_runner`).
The trained intervention runs anywhere pyvene does: ``intervene.intervene(model, task, pair,
result.intervention)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from intervene.learned import das_train as T
from intervene.learned import subspace as S
from intervene.learned.site_runner import SWAP, SiteRunner
from intervene.learned.splits import split_groups, wilson_interval
from tasks.atomic import atomic_path, write_json
from tasks.checks import check_int, check_real, check_span
from tasks.errors import ConfigError, InterventionError, PairError

__all__ = ["das", "DASResult", "fingerprint", "pair_examples", "check_trained_for"]

logger = logging.getLogger(__name__)
FORMAT = "speechlens.das/1"


def fingerprint(model) -> str:
    """A short digest of a model's weights (each parameter's name, shape and the bytes of up to 4096
    evenly spaced values): what a saved intervention or activation store must match.

    Only exact bytes are hashed, never a floating-point sum, so the digest does not depend on the
    number of torch threads (a parallel sum's rounding does).
    """
    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.model.named_parameters():
            flat = p.detach().float().reshape(-1)
            step = max(1, flat.numel() // 4096)
            h.update(f"{name}:{tuple(p.shape)}:".encode())
            h.update(flat[::step].cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def check_trained_for(model, site, module) -> None:
    """Refuse to run a trained DAS module on a model or site other than the one it was trained for.

    Modules without a record (any other pyvene intervention) pass.

    Raises
    ------
    InterventionError
        ``module`` was trained on another model (weights fingerprint) or at another site.
    """
    trained = getattr(module, "speechlens_trained_for", None)
    if not trained:
        return
    key = model.site(site).key
    if trained.get("site") is not None and key != trained["site"]:
        raise InterventionError(f"this DAS intervention was trained at {trained['site']}, not {key}; train one "
                                "for this site")
    fp = fingerprint(model)
    if trained.get("fingerprint") is not None and fp != trained["fingerprint"]:
        raise InterventionError(f"this DAS intervention was trained on {trained.get('model')!r} (fingerprint "
                                f"{trained['fingerprint']}); model {getattr(model, 'name', model)!r} ({fp}) is "
                                "another model")


def _positions(model, span, clip_frames: int, what: str) -> tuple:
    from intervene.learned.activations import window_frames

    return tuple(window_frames(model, span, clip_frames, what))


def _pair_span(pair) -> tuple:
    spans = list(getattr(pair, "changed_spans", None) or [])
    if not spans:
        raise PairError("pair has no changed_spans; give times_s (the frames to intervene on)")
    return (min(s[0] for s in spans), max(s[1] for s in spans))


def pair_examples(model, task, pairs, times_s, variable, context_frames=None) -> tuple:
    """Check the pairs against the variable; ``(readout, words, per-pair (answers, span, positions))``.

    Raises
    ------
    PairError
        A pair whose answers (or variable values) are not task words, or are the same in both halves.
    """
    words = list(task.words)
    readout = task.readout(model, words[0], words[1])
    info = []
    for i, pair in enumerate(pairs):
        clean_ans, corrupt_ans = task.answers(pair)
        if callable(variable):
            values = (variable(pair, "clean"), variable(pair, "corrupt"))
        elif variable == "answer":
            values = (clean_ans, corrupt_ans)
        else:
            raise ConfigError(f"variable ({variable!r}) must be 'answer' or a function f(pair, half) -> word")
        for half, v in zip(("clean", "corrupt"), values):
            if v not in words:
                raise PairError(f"pair {i}: the variable's value in the {half} half ({v!r}) is not one of the task's "
                                f"words {words}; the pair does not fit the variable")
        if values[0] == values[1]:
            raise PairError(f"pair {i}: the variable has the same value ({values[0]!r}) in both halves, so an "
                            "interchange cannot show it; DAS needs pairs whose answers differ (e.g. word swaps)")
        span = tuple(check_span("times_s", times_s)) if times_s is not None else _pair_span(pair)
        n = model.num_frames(len(pair.clean)) if context_frames is None else min(context_frames,
                                                                                 model.num_frames(len(pair.clean)))
        info.append((values, span, _positions(model, span, n, f"the span of pair {i}")))
    return readout, words, info


def _group(pair) -> str:
    meta = getattr(pair, "metadata", {}) or {}
    g = meta.get("voice") or meta.get("speaker")
    if not g:
        raise ConfigError("pairs need metadata['voice'] (or 'speaker') for a voice-disjoint split, or pass split=[...]")
    return str(g)


@dataclass
class DASResult:
    """A trained DAS intervention and how well it does on held-out pairs.

    Attributes
    ----------
    iia : float
        Interchange intervention accuracy on the test pairs (other voices), both directions.
    iia_ci : (float, float)
        Its 95% Wilson interval.
    iia_validation : float
    n_test : int
        Test examples (two per pair).
    kind, dim, site, times_s, embed_dim
        What was trained where (``times_s`` None: each pair's changed span).
    learned_dim : int
        ``dim``, or the boundary the boundless kind learned.
    record : dict
        Seeds, split groups, training history, early stopping, timings, model fingerprint, and
        ``full_interchange_iia`` (with ``_ci``): the same score for swapping the whole site over
        the same frames (exact patching), the reference to read ``iia`` against. It is not a
        strict ceiling: the trained swap is another intervention and may flip pairs the whole
        swap does not (on tiny.en layer 3, dim 4 reached 0.92 where the full swap gave 0.77).
    """

    kind: str
    dim: int
    site: str
    times_s: tuple | None
    embed_dim: int
    module: object  # the trained pyvene intervention
    iia: float
    iia_ci: tuple
    iia_validation: float
    n_test: int
    record: dict = field(default_factory=dict)

    def __post_init__(self):
        # The module remembers what it was trained for, so that intervene.intervene refuses to run it
        # on another model or site (check_trained_for) however it got there (save / load, .intervention).
        self.module.speechlens_trained_for = {"model": self.record.get("model"), "site": self.site,
                                              "fingerprint": self.record.get("fingerprint")}

    @property
    def learned_dim(self) -> int:
        return S.learned_dim(self.module, self.kind, self.dim)

    @property
    def intervention(self):
        """An :class:`intervene.Intervention` running the trained pyvene intervention over ``times_s``
        (or, when trained on each pair's span, over the span covering every training pair's)."""
        from intervene.single import Intervention

        span = self.times_s or tuple(self.record.get("span_cover_s", ()))
        return Intervention(self.site, times_s=span, kind=self.module)

    def intervention_for(self, pair):
        """The :class:`intervene.Intervention` for one pair (its own changed span unless ``times_s`` was given)."""
        from intervene.single import Intervention

        return Intervention(self.site, times_s=self.times_s or _pair_span(pair), kind=self.module)

    def subspace(self) -> np.ndarray:
        """Orthonormal basis (embed_dim, learned_dim) of the swapped subspace."""
        return S.subspace(self.module, self.kind, self.dim).cpu().numpy()

    def direction_cosine(self, direction) -> float:
        """|cosine| between ``direction`` and the subspace (norm of its unit vector's projection)."""
        v = np.asarray(direction, dtype=np.float64).reshape(-1)
        if v.shape[0] != self.embed_dim:
            raise ConfigError(f"direction has {v.shape[0]} values; the site has {self.embed_dim}")
        v = v / np.linalg.norm(v)
        return float(np.linalg.norm(self.subspace().astype(np.float64).T @ v))

    def check(self, model, site=None) -> None:
        """Refuse a model or site other than the one this was trained for (InterventionError)."""
        fp = fingerprint(model)
        if fp != self.record.get("fingerprint"):
            raise InterventionError(f"this DAS intervention was trained on {self.record.get('model')!r} "
                                    f"(fingerprint {self.record.get('fingerprint')}); model {model.name!r} "
                                    f"({fp}) is another model")
        if site is not None and model.site(site).key != self.site:
            raise InterventionError(f"this DAS intervention was trained at {self.site}, not {model.site(site).key}")

    def evaluate(self, model, task, pairs, batch_size: int = 8, keep_wrong: bool = False) -> tuple:
        """``(iia, (lo, hi), n)`` of this intervention on ``pairs`` (both directions), exact forward;
        examples whose base half the model gets wrong are left out unless ``keep_wrong``."""
        self.check(model)
        readout, words, info = pair_examples(model, task, pairs, self.times_s, "answer")
        runner = SiteRunner(model, self.site, readout)
        word_idx = [readout.words.index(w) for w in words]
        clips, examples = _prepare(model, runner, pairs, info, words, readout, range(len(pairs)))
        examples = examples if keep_wrong else T.keep_right(examples, clips, word_idx)
        hits, n, _ = T.iia(runner, self.module, clips, examples, word_idx, batch_size)
        return hits / max(n, 1), wilson_interval(hits, n), n

    def to_dict(self) -> dict:
        return {"format": FORMAT, "kind": self.kind, "dim": self.dim, "learned_dim": self.learned_dim,
                "site": self.site, "times_s": list(self.times_s) if self.times_s else None, "embed_dim": self.embed_dim,
                "iia": self.iia, "iia_ci": list(self.iia_ci), "iia_validation": self.iia_validation,
                "n_test": self.n_test, "record": self.record}  # fmt: skip

    def save(self, path) -> Path:
        """Write ``path`` (a folder): ``das.json`` and ``das.safetensors`` (atomically)."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "das.safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in S.state(self.module).items()}, str(tmp))
        write_json(folder / "das.json", self.to_dict())
        return folder

    @classmethod
    def load(cls, path, model=None, site=None) -> "DASResult":
        """Read a saved result; with ``model`` (and ``site``) check it was trained for them.

        Raises
        ------
        ConfigError
            Not a saved DAS folder.
        InterventionError
            Another model or site, or weights that do not reproduce the saved rotation.
        """
        from safetensors.torch import load_file

        folder = Path(path)
        meta_path, tensor_path = folder / "das.json", folder / "das.safetensors"
        if not meta_path.is_file() or not tensor_path.is_file():
            raise ConfigError(f"'{folder}' is not a saved DAS result (das.json and das.safetensors)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ConfigError(f"'{meta_path}' has format {meta.get('format')!r}, not {FORMAT!r}")
        module = S.make_intervention(meta["kind"], int(meta["embed_dim"]), int(meta["dim"]))
        S.load_state(module, load_file(str(tensor_path)), where=f"'{tensor_path}'")
        result = cls(kind=meta["kind"], dim=int(meta["dim"]), site=meta["site"],
                     times_s=tuple(meta["times_s"]) if meta["times_s"] else None, embed_dim=int(meta["embed_dim"]),
                     module=module, iia=meta["iia"], iia_ci=tuple(meta["iia_ci"]),
                     iia_validation=meta["iia_validation"], n_test=int(meta["n_test"]), record=meta["record"])
        if model is not None:
            result.check(model, site)
        elif site is not None and str(site) != result.site:
            raise InterventionError(f"this DAS intervention was trained at {result.site}, not {site}")
        return result

    def __repr__(self) -> str:
        lo, hi = self.iia_ci
        return (f"DASResult({self.kind}, dim={self.learned_dim}, site={self.site!r}, IIA={self.iia:.3f} "
                f"[{lo:.3f}, {hi:.3f}] on {self.n_test} held-out examples)")


def _prepare(model, runner, pairs, info, words, readout, which, progress=None) -> tuple:
    """Prepared clips (clean, corrupt per pair) and the examples of pairs ``which``; examples whose
    base half the model gets wrong are left out."""
    clips, examples = [], []
    for i in which:
        pair = pairs[i]
        (v_clean, v_corrupt), _, pos = info[i]
        c = runner.prepare(model.prepare(pair.clean, pair.sample_rate, name="pair.clean"))
        k = runner.prepare(model.prepare(pair.corrupt, pair.sample_rate, name="pair.corrupt"))
        ic = len(clips)
        clips += [c, k]
        g = str((getattr(pair, "metadata", {}) or {}).get("voice", i))
        w_clean, w_corrupt = readout.words.index(v_clean), readout.words.index(v_corrupt)
        examples.append(T.Example(ic + 1, ic, pos, w_clean, w_corrupt, g))
        examples.append(T.Example(ic, ic + 1, pos, w_corrupt, w_clean, g))
        if progress is not None:
            progress.update(1)
    return clips, examples


def das(model, task, pairs, site, times_s=None, dim: int = 1, kind: str = "rotated", *, variable="answer",
        split="voice", test=0.3, validation=0.2, batch_size: int = 8, lr: float = 1e-2, max_epochs: int = 20,
        patience: int = 3, seed: int = 0, boundary_weight: float = 0.5, train_context_frames: int | None = None, checkpoint=None,
        keep_wrong: bool = False, progress: bool = False) -> DASResult:
    """Learn a ``dim``-dimensional subspace of ``site`` over a time span that carries the variable.

    Parameters
    ----------
    model : SpeechModel
    task : KeywordTask
    pairs : list of MinimalPair
        Pairs whose halves differ in the variable (word swaps); ``metadata["voice"]`` groups them.
    site : Site or key
    times_s : (start_s, end_s), optional
        The frames to intervene on (default: each pair's changed span).
    dim : int
        Subspace size (boundless: its initial boundary).
    kind : {"rotated", "low_rank", "boundless"}
    variable : "answer" or callable
        The causal variable: the answer word, or ``f(pair, half) -> word`` giving its value in
        the "clean" / "corrupt" half; the target of an interchange is the source half's value.
    split : "voice" or list of str
        Groups for the train / validation / test split (one per pair), voices by default.
    test, validation : float or list
        Held-out fraction (or test groups) and the validation fraction of the rest.
    batch_size, lr, max_epochs, patience, seed
        Training: examples per batch (two per pair), Adam's learning rate, epochs, early-stopping
        patience (epochs without a lower validation loss), the seed of everything random.
        On whisper-tiny.en, lr 1e-2 with batches of 4 fits in a few epochs; 5e-2 does not train
        (the whole d x d rotation moves too far per step: IIA stayed near 0).
    boundary_weight : float
        Boundless: the penalty on the boundary's width (a fraction of the site's size) added to
        the loss.
    train_context_frames : int, optional
        Whisper: train on a truncated encoder context (faster, an approximation); IIA on the
        test pairs is always measured on the full model.
    checkpoint : path, optional
        Resume from / save to this file after each epoch.
    keep_wrong : bool
        Keep examples whose base half the model answers wrongly (default: left out and counted).

    Returns
    -------
    DASResult

    Raises
    ------
    ConfigError
        ``dim`` outside 1..size of the site, unknown kind, bad numbers, too few voices, a
        checkpoint of other settings.
    PairError
        Pairs whose answers do not fit the variable; no pair the model answers correctly.

    Examples
    --------
    >>> r = intervene.das(model, tasks.KeywordTask(), pairs, "encoder.3.block_output", dim=4)  # doctest: +SKIP
    >>> r.iia, r.iia_ci                                                                          # doctest: +SKIP
    >>> intervene.intervene(model, task, pair, r.intervention).effect                           # doctest: +SKIP
    """
    t0 = time.perf_counter()
    site = model.site(site)
    embed_dim = int(getattr(model.config, model.spec(site).size))
    if site.head is not None:
        embed_dim //= model.num_heads(site)
    if kind not in S.KINDS:
        from tasks.errors import unknown_name

        raise unknown_name("DAS kind", kind, S.KINDS)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= int(dim) <= embed_dim:
        raise ConfigError(f"dim ({dim!r}) must be a whole number between 1 and the size of {site.key} ({embed_dim})")
    batch_size = check_int("batch_size", batch_size, low=1)
    max_epochs = check_int("max_epochs", max_epochs, low=1)
    patience = check_int("patience", patience, low=1)
    lr = check_real("lr", lr, low=0, low_open=True)
    pairs = list(pairs)
    if len(pairs) < 3:
        raise ConfigError(f"pairs has {len(pairs)} pairs; DAS needs at least 3 (train, validation and test voices)")
    groups = [_group(p) for p in pairs] if isinstance(split, str) and split == "voice" else [str(g) for g in split]
    if len(groups) != len(pairs):
        raise ConfigError(f"split has {len(groups)} groups for {len(pairs)} pairs; give one per pair")
    readout, words, info = pair_examples(model, task, pairs, times_s, variable, train_context_frames)
    train_g, val_g, test_g = split_groups(groups, test=test, validation=validation or 0.0, seed=seed)
    if not val_g:
        raise ConfigError("validation (0) leaves no validation voices; early stopping needs some (e.g. 0.2)")
    idx = {name: [i for i, g in enumerate(groups) if g in part] for name, part in
           (("train", train_g), ("validation", val_g), ("test", test_g))}
    word_idx = [readout.words.index(w) for w in words]
    train_runner = SiteRunner(model, site, readout, train_context_frames)
    clips, ex = _prepare(model, train_runner, pairs, info, words, readout, idx["train"] + idx["validation"])
    dropped = {}

    def right(examples, clips_):
        return examples if keep_wrong else T.keep_right(examples, clips_, word_idx)

    n_train = len(idx["train"]) * 2
    train_ex, val_ex = right(ex[:n_train], clips), right(ex[n_train:], clips)
    dropped["train"], dropped["validation"] = n_train - len(train_ex), len(ex) - n_train - len(val_ex)
    if not train_ex or not val_ex:
        raise PairError("the model answers no training (or validation) pair correctly; DAS has nothing to align "
                        "(pass keep_wrong=True to train anyway)")
    module = S.make_intervention(kind, embed_dim, int(dim), seed)
    cfg = T.TrainConfig(kind=kind, dim=int(dim), batch_size=batch_size, lr=lr, max_epochs=max_epochs,
                        patience=patience, seed=int(seed),
                        boundary_weight=check_real("boundary_weight", boundary_weight, low=0))
    digest = hashlib.sha256(json.dumps([fingerprint(model), site.key, list(times_s) if times_s else None, int(dim), kind,
                                        batch_size, lr, int(seed), boundary_weight, sorted(train_g), sorted(val_g), train_context_frames,
                                        [p.clean[:64].tolist() for p in pairs[:4]]]).encode()).hexdigest()[:16]
    trained = T.train(cfg, module, train_runner, clips, train_ex, val_ex, word_idx,
                      checkpoint=None if checkpoint is None else Path(checkpoint), digest=digest, progress=progress)
    t1 = time.perf_counter()
    test_runner = SiteRunner(model, site, readout) if train_context_frames is not None else train_runner
    tclips, tex = _prepare(model, test_runner, pairs, info, words, readout, idx["test"])
    test_ex = right(tex, tclips)
    dropped["test"] = len(tex) - len(test_ex)
    if test_ex:  # built-in guard: the runner's no-op gives the base run, swapping everything the source run
        test_runner.check_guards(tclips[test_ex[0].base], tclips[test_ex[0].source])
    hits, n, test_loss = T.iia(test_runner, module, tclips, test_ex, word_idx, batch_size)
    # IIA's reference (exact patching): how often swapping the whole site over the same frames gives the source's answer.
    c_hits, c_n, _ = T.iia(test_runner, SWAP, tclips, test_ex, word_idx, batch_size)
    if train_context_frames is not None:
        vclips, vex = _prepare(model, test_runner, pairs, info, words, readout, idx["validation"])
        vh, vn, _ = T.iia(test_runner, module, vclips, right(vex, vclips), word_idx, batch_size)
    else:
        vh, vn, _ = T.iia(train_runner, module, clips, val_ex, word_idx, batch_size)
    spans = [info[i][1] for i in idx["train"]]
    record = {"model": model.name, "fingerprint": fingerprint(model), "seed": int(seed), "split": {
        "train": sorted(train_g), "validation": sorted(val_g), "test": sorted(test_g)},
        "examples": {"train": len(train_ex), "validation": len(val_ex), "test": len(test_ex)},
        "dropped_wrong": dropped, "variable": "answer" if not callable(variable) else getattr(variable, "__name__", "f"),
        "batch_size": batch_size, "lr": lr, "max_epochs": max_epochs, "patience": patience,
        "train_context_frames": train_context_frames, "test_loss": test_loss,
        "full_interchange_iia": c_hits / max(c_n, 1), "full_interchange_iia_ci": list(wilson_interval(c_hits, c_n)),
        "span_cover_s": [min(s[0] for s in spans), max(s[1] for s in spans)],
        "timings": {"train_s": round(t1 - t0, 3), "test_s": round(time.perf_counter() - t1, 3)}, **trained}
    if kind == "boundless":
        record["learned_dim"] = S.learned_dim(module, kind, int(dim))
    return DASResult(kind=kind, dim=int(dim), site=site.key, times_s=tuple(times_s) if times_s else None,
                     embed_dim=embed_dim, module=module, iia=hits / max(n, 1), iia_ci=wilson_interval(hits, n),
                     iia_validation=vh / max(vn, 1), n_test=n, record=record)
