"""Training sparse autoencoders on a site's activations: ``intervene.train_sae``.

A compact torch trainer (Adam on the reconstruction MSE) with the usual care:

- activations are scaled so that their mean squared norm is ``d_in`` while training, and the
  scale is folded back into the biases afterwards (the saved SAE reads raw activations);
- ``b_dec`` starts at the data mean; decoder rows are kept unit-norm (the gradient's component
  along each row is removed, then rows are renormalised after every step);
- dead features (none fired for ``dead_frames`` frames): TopK and BatchTopK get the auxiliary
  loss of Gao et al. (2024), the residual reconstructed from the ``aux_k`` largest dead
  pre-activations; ReLU SAEs are resampled (dead rows re-aimed at badly reconstructed frames),
  never within the last ``resample_every`` steps;
- BatchTopK trains with the ``k * batch`` largest activations of a batch, and its inference
  threshold is the running mean of the smallest activation kept (Bussmann et al. 2024);
- with ``out=`` a checkpoint is written atomically every ``checkpoint_every`` steps and an
  interrupted run resumes from it; the finished SAE is saved there (SAELens format).

SAELens's own trainer also takes activations from an iterator, but importing it brings in
transformer_lens and wandb (about 14 s) and its checkpoints are its own; the SAEs trained here
are written in its format instead, so its tools load them (``sae_lens.SAE.load_from_disk``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from intervene.features.sae import SAE, SAEConfig
from tasks.atomic import atomic_path
from tasks.checks import check_int, check_real
from tasks.errors import ConfigError, DatasetError

__all__ = ["TrainConfig", "activations_of", "fit_sae", "site_width", "train_sae"]

logger = logging.getLogger(__name__)

STATE = "train_state.pt"


@dataclass(frozen=True)
class TrainConfig:
    """How an SAE is trained (see the module notes).

    Parameters
    ----------
    steps : int
        Optimiser steps.
    batch_size : int
        Frames per step.
    lr : float
    l1 : float
        ReLU SAEs: the L1 penalty's coefficient (on activations times decoder norms).
    aux_k : int, optional
        TopK/BatchTopK: dead features used by the auxiliary loss (default ``2 * k``).
    aux_coef : float
        Weight of the auxiliary loss (1/32 as in Gao et al.).
    dead_frames : int
        Frames without firing after which a feature counts as dead.
    resample_every : int
        ReLU SAEs: steps between resamplings of dead features (0: never).
    checkpoint_every : int
        Steps between checkpoints when ``out`` is given.
    seed : int
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    l1: float = 1e-2
    aux_k: int | None = None
    aux_coef: float = 1 / 32
    dead_frames: int = 20_000
    resample_every: int = 500
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "dead_frames", "checkpoint_every"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), low=1))
        object.__setattr__(self, "resample_every", check_int("resample_every", self.resample_every, low=0))
        object.__setattr__(self, "seed", check_int("seed", self.seed, low=0))
        object.__setattr__(self, "lr", check_real("lr", self.lr, low=0.0, low_open=True))
        object.__setattr__(self, "l1", check_real("l1", self.l1, low=0.0))
        object.__setattr__(self, "aux_coef", check_real("aux_coef", self.aux_coef, low=0.0))
        if self.aux_k is not None:
            object.__setattr__(self, "aux_k", check_int("aux_k", self.aux_k, low=1))


def site_width(model, site) -> int:
    """Values per frame of ``site`` in ``model`` (from the site table and the model config)."""
    r = model.resolve(site)
    if r.head_slice is not None:
        return r.head_slice.stop - r.head_slice.start
    return int(getattr(model.config, r.spec.size))


def activations_of(model, site, data) -> tuple:
    """``(activations float32 (frames, d), where)`` from a store, a store folder, a tensor or clips."""
    from intervene.features.store import ActivationStore, read_activations

    key = model.site(site).key
    if isinstance(data, (str, Path)):
        data = ActivationStore(data)
    if isinstance(data, ActivationStore):
        if data.site != key:
            raise ConfigError(f"the activation store '{data.folder}' holds site {data.site!r}, not {key!r}; "
                              "give a store of this site")
        from intervene.learned.das import fingerprint

        if data.fingerprint != fingerprint(model):
            raise ConfigError(f"the activation store '{data.folder}' was extracted from another model "
                              f"({data.model!r}, weights {data.fingerprint}); extract it again with this model")
        return data.arrays()[0], str(data.folder)
    if isinstance(data, (np.ndarray, torch.Tensor)):
        x = torch.as_tensor(np.asarray(data) if isinstance(data, np.ndarray) else data).detach().float().cpu()
        if x.ndim != 2:
            raise ConfigError(f"activations have shape {tuple(x.shape)}; give (frames, d)")
        return x, "tensor"
    from intervene.features.corpus import as_corpus

    clips = as_corpus(data)
    xs = [read_activations(model, key, model.prepare(c.load(), 16000, name=f"clip {c.id}")) for c in clips]
    return torch.cat(xs), f"{len(clips)} clips"


def train_sae(model, site, store_or_clips, kind: str = "topk", width: int = 3072, k: int | None = 32, *,
              out=None, progress: bool = False, **options) -> SAE:
    """Train a sparse autoencoder on ``site``'s activations.

    Parameters
    ----------
    model : SpeechModel
    site : str or Site
        E.g. ``"encoder.3.block_output"``.
    store_or_clips : ActivationStore, str/Path (a store folder), list of clips or tensor (frames, d)
        Where the activations come from (clips are run through the model first).
    kind : {"topk", "batch_topk", "relu"}
    width : int
        Number of features.
    k : int
        Active features per frame (topk, batch_topk); ignored (set None) for relu.
    out : str or Path, optional
        Folder for checkpoints and the finished SAE; a rerun resumes an interrupted training.
    progress : bool
        A tqdm bar over steps.
    **options
        :class:`TrainConfig` fields (steps, batch_size, lr, l1, aux_k, seed, ...).

    Returns
    -------
    SAE
        Reads raw activations of ``site``; ``config.training`` records how it was trained.

    Raises
    ------
    ConfigError, UnknownNameError
        A bad kind, width or k, ``k > width``, an unknown option, activations whose width is not
        the site's, a store of another site or model.
    DatasetError
        No activations (an empty store or clips list), or an unreadable store.

    Examples
    --------
    >>> sae = intervene.train_sae(m, "encoder.3.block_output", store, kind="topk", width=3072, k=32)  # doctest: +SKIP
    """
    key = model.site(site).key
    if kind == "relu":
        k = None
    config = SAEConfig(kind=kind, d_in=site_width(model, key), width=width, k=k, site=key, model=model.name)
    unknown = sorted(set(options) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown training option(s) {unknown}; train_sae takes "
                          f"{', '.join(TrainConfig.__dataclass_fields__)}")
    cfg = TrainConfig(**options)
    x, where = activations_of(model, key, store_or_clips)
    if x.shape[1] != config.d_in:
        raise ConfigError(f"activations have {x.shape[1]} values per frame but site {key} has {config.d_in}")
    sae = fit_sae(x, config, cfg, out=out, progress=progress)
    sae.config.training["data"] = where
    if out is not None:
        sae.save(out)
    return sae


def _select(sae: SAE, pre: torch.Tensor, batch_k: bool) -> tuple:
    """Training activations ``f`` and, for BatchTopK, the smallest kept value."""
    if sae.kind == "relu":
        return torch.relu(pre), None
    if not batch_k:
        return sae.activate(pre), None
    flat = torch.relu(pre).flatten()
    values, index = torch.topk(flat, sae.k * pre.shape[0])
    f = torch.zeros_like(flat).scatter_(0, index, values).view_as(pre)
    kept = values[values > 0]
    return f, (float(kept.min().detach()) if kept.numel() else None)


def fit_sae(x: torch.Tensor, config: SAEConfig, cfg: TrainConfig = TrainConfig(), *, out=None,
            progress: bool = False) -> SAE:
    """Train an SAE of ``config`` on activations ``x (frames, d_in)`` (see the module notes)."""
    if x.ndim != 2 or x.shape[0] == 0:
        raise DatasetError(f"no activations to train on (shape {tuple(x.shape)})")
    if x.shape[1] != config.d_in:
        raise ConfigError(f"activations have {x.shape[1]} values per frame, the SAE reads {config.d_in}")
    x = x.float()
    scale = float(np.sqrt(config.d_in / x.pow(2).sum(-1).mean().clamp_min(1e-12).item()))
    xs = x * scale
    sae = SAE(config, seed=cfg.seed)
    with torch.no_grad():
        sae.b_dec.copy_(xs.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    since = torch.zeros(config.width, dtype=torch.long)  # frames since each feature last fired
    thresholds: list = []
    step = 0
    folder = Path(out).expanduser() if out is not None else None
    run_key = {"config": config.to_dict() | {"training": None}, "train": asdict(cfg), "n": int(x.shape[0]),
               "data": float(x.sum())}
    if folder is not None and (folder / STATE).is_file():
        state = torch.load(folder / STATE, weights_only=False)
        if state.get("key") != run_key:
            raise ConfigError(f"'{folder}' holds a checkpoint of another training run; train into another folder")
        sae.load_state_dict(state["sae"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        since, thresholds, step = state["since"], state["thresholds"], state["step"]
        logger.info("resuming SAE training in %s at step %d of %d", folder, step, cfg.steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc=f"sae {config.kind}", unit="step")
    aux_k = min(cfg.aux_k or 2 * (config.k or 1), config.width)
    start = time.perf_counter()
    try:
        while step < cfg.steps:
            batch = xs[torch.randint(0, xs.shape[0], (cfg.batch_size,), generator=gen)]
            pre = sae.pre(batch)
            if config.kind == "topk":  # decode only the k active rows: same sum, a fraction of the work
                values, index = torch.topk(pre, config.k, dim=-1)
                values = torch.relu(values)
                recon = torch.nn.functional.embedding_bag(index, sae.W_dec, per_sample_weights=values, mode="sum") + sae.b_dec
                fired = torch.zeros(config.width, dtype=torch.bool).index_fill_(0, index[values > 0], True)
            else:
                f, kept_min = _select(sae, pre, config.kind == "batch_topk")
                if kept_min is not None:
                    thresholds.append(kept_min)
                recon = sae.decode(f)
                fired = (f > 0).any(0)
            err = batch - recon
            loss = err.pow(2).sum(-1).mean()
            if config.kind == "relu":
                loss = loss + cfg.l1 * (f * sae.W_dec.norm(dim=1)).sum(-1).mean()
            since = torch.where(fired, torch.zeros_like(since), since + cfg.batch_size)
            dead = since >= cfg.dead_frames
            if config.kind != "relu" and dead.any() and cfg.aux_coef > 0:
                dead_pre = torch.where(dead, torch.relu(pre), torch.zeros_like(pre))
                v, i = torch.topk(dead_pre, min(aux_k, int(dead.sum())), dim=-1)
                e_hat = torch.zeros_like(pre).scatter_(-1, i, v) @ sae.W_dec
                target = err.detach()
                aux = (e_hat - target).pow(2).sum(-1).mean() / target.pow(2).sum(-1).mean().clamp_min(1e-12)
                loss = loss + cfg.aux_coef * torch.nan_to_num(aux)
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():  # keep W_dec's rows on the unit sphere: drop the radial gradient
                g, w = sae.W_dec.grad, sae.W_dec
                g -= (g * w).sum(1, keepdim=True) * w
            opt.step()
            sae.normalize_decoder()
            step += 1
            # never in the last resample_every steps: a resampled feature needs training (resampled on the
            # final step, thousands of fresh features made the saved SAE dense and wrong)
            if (config.kind == "relu" and cfg.resample_every and step % cfg.resample_every == 0
                    and step + cfg.resample_every <= cfg.steps and dead.any()):
                _resample(sae, opt, xs, dead, gen)
                since[dead] = 0
            if bar is not None:
                bar.update(1)
            if folder is not None and (step % cfg.checkpoint_every == 0) and step < cfg.steps:
                folder.mkdir(parents=True, exist_ok=True)
                with atomic_path(folder / STATE) as tmp:
                    torch.save({"key": run_key, "sae": sae.state_dict(), "opt": opt.state_dict(),
                                "gen": gen.get_state(), "since": since, "thresholds": thresholds, "step": step}, tmp)
    finally:
        if bar is not None:
            bar.close()
    with torch.no_grad():  # fold the training scale back: the SAE reads raw activations
        if config.kind == "batch_topk":
            sae.threshold.fill_(float(np.mean(thresholds)) if thresholds else 0.0)
        sae.b_enc /= scale
        sae.b_dec /= scale
        sae.threshold /= scale
    seconds = time.perf_counter() - start
    sae.config.training.update({**asdict(cfg), "frames": int(x.shape[0]), "scale": scale, "seconds": seconds,
                                "dead_at_end": int((since >= cfg.dead_frames).sum())})
    if folder is not None and (folder / STATE).is_file():
        (folder / STATE).unlink()
    return sae


@torch.no_grad()
def _resample(sae: SAE, opt, xs: torch.Tensor, dead: torch.Tensor, gen) -> None:
    """Re-aim dead features at frames the SAE reconstructs badly (Anthropic, 2023)."""
    idx = torch.randint(0, xs.shape[0], (min(4096, xs.shape[0]),), generator=gen)
    sample = xs[idx]
    loss = (sample - sae(sample)).pow(2).sum(-1)
    n = int(dead.sum())
    pick = torch.multinomial(loss / loss.sum(), n, replacement=n > loss.numel(), generator=gen)
    direction = sample[pick] - sae.b_dec
    direction /= direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    alive = ~dead
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    sae.W_dec[dead] = direction
    sae.W_enc[:, dead] = direction.t() * enc_norm * 0.2
    sae.b_enc[dead] = 0.0
    for p in (sae.W_dec, sae.W_enc, sae.b_enc):
        state = opt.state.get(p, {})
        for name in ("exp_avg", "exp_avg_sq"):
            if name in state:
                if p is sae.W_enc:
                    state[name][:, dead] = 0.0
                else:
                    state[name][dead] = 0.0
