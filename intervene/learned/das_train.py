"""The training loop of distributed alignment search: batches, early stopping, checkpoints.

One *example* is (pair, which half is the base): the intervention swaps the learned subspace
of the source half's activations into the base half's at the example's positions, and the
target is the variable's value in the source half (by default its answer). The loss is the
cross-entropy of the task's word scores against the target (boundless: plus a small penalty
on the boundary's width, with the mask's temperature annealed from 50 to 0.1).

After every epoch the loss and IIA on the validation examples decide early stopping
(``patience`` epochs without a lower validation loss), and a checkpoint is written atomically
(the intervention's state, the optimiser's, the best state so far, the history). Run again
with the same checkpoint path and settings to resume after the last finished epoch; Ctrl-C
stops at once and keeps the last checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from tasks.atomic import atomic_path
from tasks.errors import ConfigError

__all__ = ["Example", "TrainConfig", "train", "batch_scores", "iia", "keep_right"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """Swap from ``source`` into ``base`` (indices into the prepared clips) at ``positions``;
    ``target`` is the index of the expected word among the readout's words, ``base_target``
    the index of the base half's own answer."""

    base: int
    source: int
    positions: tuple
    target: int
    base_target: int
    group: str


def keep_right(examples, clips, words: list) -> list:
    """The examples whose base half the model answers correctly without any intervention."""
    return [e for e in examples if words[int(clips[e.base].scores[words].argmax())] == e.base_target]


@dataclass
class TrainConfig:
    kind: str
    dim: int
    batch_size: int = 8
    lr: float = 1e-2
    max_epochs: int = 20
    patience: int = 3
    seed: int = 0
    boundary_weight: float = 0.5
    history: list = field(default_factory=list)


def batch_scores(runner, iv, clips, batch) -> torch.Tensor:
    """Word scores (len(batch), words) with ``iv`` swapping source into base at each example's positions.

    The rotation's orthogonal parametrisation (a matrix exponential of a d x d matrix, and its
    backward) is computed once per batch, not three times per example (``parametrize.cached``):
    on whisper-tiny.en that was three quarters of a training step's time.
    """
    with torch.nn.utils.parametrize.cached():
        return runner.scores(lambda b, s: iv(b, s), [clips[e.base] for e in batch],
                             [clips[e.source] for e in batch], [list(e.positions) for e in batch])


@torch.no_grad()
def iia(runner, iv, clips, examples, words: list, batch_size: int = 8) -> tuple:
    """``(hits, n, mean loss)``: examples whose intervened prediction (argmax over ``words``) is the target."""
    hits, losses = 0, []
    for k in range(0, len(examples), batch_size):
        batch = examples[k : k + batch_size]
        scores = batch_scores(runner, iv, clips, batch)[:, words]
        target = torch.tensor([words.index(e.target) for e in batch])
        losses.append(float(torch.nn.functional.cross_entropy(scores, target, reduction="sum")))
        hits += int((scores.argmax(-1) == target).sum())
    return hits, len(examples), sum(losses) / max(1, len(examples))


def _loss(cfg, iv, scores, target):
    loss = torch.nn.functional.cross_entropy(scores, target)
    if cfg.kind == "boundless":
        loss = loss + cfg.boundary_weight * torch.clamp(iv.intervention_boundaries, 1e-3, 1.0).sum()
    return loss


def _save(path, payload) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def train(cfg: TrainConfig, iv, runner, clips, train_ex, val_ex, words: list, *, checkpoint=None, digest="",
          progress=False) -> dict:
    """Train ``iv`` in place; leave it at its best validation state. Returns the run's record.

    Raises
    ------
    ConfigError
        ``checkpoint`` holds a run with other settings.
    """
    params = [p for p in iv.parameters() if p.requires_grad]
    if cfg.kind == "boundless":
        iv.temperature.requires_grad_(False)
        params = [p for p in params if p is not iv.temperature]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    steps_per_epoch = max(1, int(np.ceil(len(train_ex) / cfg.batch_size)))
    # The boundary mask's temperature, annealed from soft to sharp on the scale of the site's size
    # (pyvene's tutorials anneal 50 -> 0.1 on 4096-wide states).
    d = int(getattr(iv, "embed_dim", 1) or 1)
    temps = torch.linspace(max(0.5, d / 10.0), 0.05, cfg.max_epochs * steps_per_epoch)
    start_epoch, best, best_state, bad, history, stopped = 0, float("inf"), None, 0, [], False
    if checkpoint is not None and checkpoint.is_file():
        ck = torch.load(checkpoint, weights_only=False)
        if ck.get("digest") != digest:
            raise ConfigError(f"checkpoint '{checkpoint}' holds a DAS run with other settings; delete it or pass "
                              "another checkpoint path")
        iv.load_state_dict(ck["iv"])
        opt.load_state_dict(ck["opt"])
        start_epoch, best, best_state, bad, history, stopped = (ck[k] for k in (
            "epoch", "best", "best_state", "bad", "history", "stopped"))
        logger.info("DAS: resumed from '%s' after epoch %d", checkpoint, start_epoch)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(cfg.max_epochs - start_epoch) * steps_per_epoch, desc=f"DAS {cfg.kind} dim {cfg.dim}",
                   unit="batch", leave=False)
    try:
        for epoch in range(start_epoch, cfg.max_epochs):
            if stopped:
                break
            iv.train()
            order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_ex))
            total = 0.0
            for step in range(steps_per_epoch):
                batch = [train_ex[i] for i in order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
                if cfg.kind == "boundless":
                    iv.set_temperature(temps[min(epoch * steps_per_epoch + step, len(temps) - 1)])
                scores = batch_scores(runner, iv, clips, batch)[:, words]
                target = torch.tensor([words.index(e.target) for e in batch])
                loss = _loss(cfg, iv, scores, target)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch)
                if bar is not None:
                    bar.update(1)
            iv.eval()
            hits, n, val_loss = iia(runner, iv, clips, val_ex, words, cfg.batch_size)
            history.append({"epoch": epoch + 1, "train_loss": total / len(train_ex), "val_loss": val_loss,
                            "val_iia": hits / max(n, 1)})
            logger.info("DAS %s dim %d epoch %d: train loss %.4f, validation loss %.4f, IIA %.3f", cfg.kind, cfg.dim,
                        epoch + 1, total / len(train_ex), val_loss, hits / max(n, 1))
            if val_loss < best - 1e-4:
                best, bad = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in iv.state_dict().items()}
            else:
                bad += 1
                stopped = bad >= cfg.patience
            if checkpoint is not None:
                _save(checkpoint, {"digest": digest, "epoch": epoch + 1, "iv": iv.state_dict(), "opt": opt.state_dict(),
                                   "best": best, "best_state": best_state, "bad": bad, "history": history,
                                   "stopped": stopped})
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        iv.load_state_dict(best_state)
    iv.eval()
    best_epoch = min(history, key=lambda h: h["val_loss"])["epoch"] if history else 0
    return {"history": history, "best_epoch": best_epoch, "stopped_early": bool(stopped),
            "epochs_run": len(history)}
