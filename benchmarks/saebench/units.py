"""``benchmarks/sae.py``'s units of work: where they run (``--executor``) and how they are kept.

Three kinds of unit, each a module-level function ``fn(model, shared, *args)`` so that Ray
workers can import it (``shared`` carries the run's settings and activations, sent to each
worker once):

- :func:`calibration_unit`: a short ReLU training with one L1 coefficient, its L0 on the
  training frames (one step of :func:`~benchmarks.saebench.matched.calibrate_l1`);
- :func:`train_unit`: one SAE (kind, width, seed, coefficient), returned to the driver, which
  saves it under ``out/saes/<name>/seed<s>`` and records its digest in the work store;
- :func:`evaluate_unit`: one SAE's numbers on held-out clips (reconstruction, sparsity,
  stability against the other seed, probes, downstream cost).

:func:`train_saes` runs training units through :func:`intervene.executors.run_units` with a
lookup that reloads finished SAEs from their folders; calibration and evaluation go through
:func:`benchmarks.common.units.run_stored`. Every unit is deterministic (seeded), so a Ray run
gives the numbers of a local one and either resumes the other's folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from intervene.workstore import make_key

__all__ = ["calibration_unit", "evaluate_unit", "sae_name", "train_saes", "train_unit"]

logger = logging.getLogger("sae")


def sae_name(kind: str, width: int, k: int, l1: float) -> str:
    """``topk-w3072-k32`` / ``relu-w3072-l10.0123``: the SAE's name in results.json and its folder."""
    return f"{kind}-w{width}" + (f"-l1{l1:.4g}" if kind == "relu" else f"-k{k}")


def _train(model, shared: dict, kind: str, width: int, seed: int, l1: float, steps: int, folder=None):
    from intervene.features.train import train_sae

    s = shared["settings"]
    return train_sae(model, s["site"], shared["x_train"], kind=kind, width=width, k=s["k"], out=folder, steps=steps,
                     batch_size=s["batch_size"], lr=s["lr"], l1=l1, seed=seed,
                     dead_frames=max(s["batch_size"] * 20, 10_000),
                     checkpoint_every=max(steps // 5, 1))  # fmt: skip


def calibration_unit(model, shared: dict, width: int, l1: float, steps: int, seed: int) -> dict:
    """``{"l1", "l0", "explained_variance"}`` of a ReLU SAE trained ``steps`` steps, on training frames."""
    from intervene.features.evaluate import evaluate

    sae = _train(model, shared, "relu", width, seed, l1, steps)
    m = evaluate(sae, shared["x_check"])
    return {"l1": l1, "l0": m["l0"], "explained_variance": m["explained_variance"], "steps": steps}


def train_unit(model, shared: dict, kind: str, width: int, seed: int, l1: float, folder: str):
    """One SAE trained on the training frames (checkpoints in ``folder`` while it trains)."""
    return _train(model, shared, kind, width, seed, l1, shared["settings"]["steps"], folder)


def train_saes(executor, model, specs: list, store, out: Path, shared: dict, progress: bool = False) -> list:
    """SAEs for ``specs`` (``(kind, width, seed, l1)`` each), trained where ``executor`` runs or reloaded.

    A finished SAE is saved by this process under ``out/saes/<name>/seed<s>`` and its digest put
    in ``store``; a rerun reloads it (and trains again if the folder no longer holds it).
    """
    from intervene.executors import WorkUnit, run_units
    from intervene.features import SAE

    s = shared["settings"]

    def folder(kind, width, seed, l1):
        return out / "saes" / sae_name(kind, width, s["k"], l1) / f"seed{seed}"

    def key(kind, width, seed, l1):  # ReLU SAEs of the trainer that resampled on the last step are not reused
        return make_key("train", sae_name(kind, width, s["k"], l1), f"seed{seed}", *(["r2"] if kind == "relu" else []))

    def lookup(unit):
        rec = store.get(unit.key)
        if rec is None or not (out / rec["folder"] / "cfg.json").is_file():
            return None
        sae = SAE.load(out / rec["folder"])
        if sae.digest() != rec["digest"]:
            logger.warning("%s does not hold the SAE recorded for %s; training it again", rec["folder"], unit.key)
            return None
        store.reused += 1
        return sae

    def record(unit, sae, seconds):
        where = Path(unit.args[4])
        sae.save(where)
        store.computed += 1
        store.put(unit.key, {"folder": str(where.relative_to(out)), "digest": sae.digest(), "seconds": seconds})
        return sae

    units = [WorkUnit(key(*spec), i, (*spec, str(folder(*spec)))) for i, spec in enumerate(specs)]
    return [r.value for r in run_units(executor, model, train_unit, units, shared=shared, lookup=lookup, record=record,
                                       progress=progress, total=len(units), desc="training SAEs", unit_name="sae")]


def _probes(sae, shared: dict) -> dict:
    from benchmarks.saebench.measure import clip_features, single_feature_probe

    feats = clip_features(sae, shared["x"], shared["clip"], shared["n_clips"])
    out = {}
    for name, ys in shared["labels"].items():
        tr = [i for i in shared["train"] if ys[i] is not None]
        te = [i for i in shared["test"] if ys[i] is not None]
        got = single_feature_probe(feats[tr], [ys[i] for i in tr], feats[te], [ys[i] for i in te])
        if got["test_accuracy"] is None:
            got["available"] = False
            got["why"] = (f"the {'data' if shared['data'] else 'corpus'} has fewer than two classes of {name} "
                          "among the labelled clips of a split")  # fmt: skip
        out[name] = got
    return out


def evaluate_unit(model, shared: dict, sae, other) -> dict:
    """One SAE's measurements on the held-out clips (``other``: the second seed's SAE, or None)."""
    from benchmarks.saebench.measure import downstream
    from intervene.features.evaluate import evaluate, stability

    with torch.no_grad():
        m = evaluate(sae, shared["x_test"])
    m.pop("frequency")
    return {**m, "stability": stability(sae, other) if other is not None else None, "probe": _probes(sae, shared),
            "downstream": downstream(model, sae, shared["held_out"], shared.get("downstream_base")),
            "train_seconds": sae.config.training.get("seconds")}  # fmt: skip
