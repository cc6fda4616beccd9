"""Attribution patching: estimates of every cell from one backward pass.

Three estimators (``estimator=``):

* ``"lookahead"`` (default): the patched positions carried exactly through the rest of the
  model, first order only in what spills onto the other positions (:mod:`intervene.lookahead`).
  Whisper encoder sites; any other site falls back to ``"atp"``.
* ``"atp"``: plain attribution patching, below.
* ``"ig"``: integrated gradients with ``ig_steps`` steps, below.

For a cell patching site activations ``a`` at positions P from the source into the base run,

    m(patched) - m(base)  ~=  sum over P of (a_source - a_base) . dm/da |_base

(gradient x activation difference, "AtP"). One source forward (no autograd), one base forward
and one backward give every cell of every site at once: all layers, all positions, every
component and head.

With ``ig_steps = k > 0`` the gradient is instead averaged over k points on the straight path
from the base to the source input (the residual stream entering the first encoder layer for
Whisper, the input values otherwise), midpoint rule: integrated gradients, as in EAP-IG. That
costs k forward+backward passes and is usually closer to exact patching.

Estimates are not guarded (they are approximations); benchmarks/perf.py reports their rank
correlation and largest error against exact patching.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from intervene import hooks
from intervene.sites import Site
from intervene.whisper_runner import WhisperRunner
from tasks.errors import ConfigError

__all__ = ["ESTIMATORS", "attribution_metrics", "attribution_scores", "resolve_estimator"]

ESTIMATORS = ("lookahead", "atp", "ig")


def resolve_estimator(estimator: str | None, ig_steps: int) -> str:
    """The estimator to use: ``estimator`` if given, else "ig" with ``ig_steps`` > 0, else "lookahead"."""
    if not isinstance(ig_steps, int) or isinstance(ig_steps, bool) or ig_steps < 0:
        raise ConfigError(f"ig_steps ({ig_steps!r}) must be a non-negative integer")
    if estimator is None:
        return "ig" if ig_steps else "lookahead"
    if estimator not in ESTIMATORS:
        from tasks.errors import unknown_name

        raise unknown_name("estimator", estimator, ESTIMATORS)
    if estimator == "ig" and ig_steps == 0:
        raise ConfigError("estimator='ig' needs ig_steps >= 1 (integrated-gradient steps along the path)")
    if estimator != "ig" and ig_steps:
        raise ConfigError(f"ig_steps ({ig_steps}) applies to estimator='ig', not {estimator!r}; drop one of them")
    return estimator


@contextmanager
def _capture_with_grad(model, sites):
    """Keep the (full, un-sliced) activation tensor of each site, still in the autograd graph."""
    store: dict = {}
    handles = []
    try:
        for key in {s.without_head() for s in sites}:

            def fn(t, key=key):
                store[key] = t
                return None

            # Per-head sites share one tensor (the out_proj input); any head locates its module.
            per_head = model.table.spec(key.stream, key.component).per_head
            probe = Site(key.stream, key.layer, key.component, 0) if per_head else key
            handles.append(hooks._register(model, probe, fn))
        yield store
    finally:
        for h in handles:
            h.remove()


def _activation_grads(metric, store) -> dict:
    """d metric / d activation for every captured tensor, and nothing else.

    ``torch.autograd.grad`` with the activations as inputs skips the weight gradients a plain
    ``backward()`` would compute (about a third of the pass) and leaves no ``.grad`` behind.
    """
    keys = [k for k, t in store.items() if t.requires_grad]
    grads = torch.autograd.grad(metric, [store[k] for k in keys], allow_unused=True)
    return {k: torch.zeros_like(store[k]) if g is None else g for k, g in zip(keys, grads)} | {
        k: torch.zeros_like(t) for k, t in store.items() if not t.requires_grad}


def _grad_of(grads, model, site):
    g = grads[site.without_head()]
    sl = hooks.head_slice(model, site)
    return g if sl is None else g[..., sl]


def _value_of(store, model, site):
    t = store[site.without_head()].detach()
    sl = hooks.head_slice(model, site)
    return t if sl is None else t[..., sl]


def attribution_scores(ctx, sites, ig_steps: int = 0, context_frames: int | None = None):
    """Per-site tensors ``(a_source - a_base) * grad`` summed over batch rows and features: ``{site: (positions,)}``.

    Also returns the base and source metrics of the same (possibly truncated) forward.
    """
    resolve_estimator("ig" if ig_steps else "atp", ig_steps)
    model, readout = ctx.model, ctx.readout
    whisper = getattr(model, "architecture", "") == "whisper"
    runner = WhisperRunner(model, context_frames) if whisper else None
    if context_frames is not None and not whisper:
        raise ConfigError("context_frames applies to Whisper only")
    ids = readout.decoder_input_ids

    def forward_from(x0=None, inputs=None):
        if whisper:
            return runner.decode(runner.final(runner.blocks(x0)), ids)
        return model.logits(inputs)

    with torch.no_grad(), hooks.capture(model, sites) as src_acts:
        if whisper:
            x0_src = runner.stem(ctx.source_inputs["input_features"])
            source_metric = float(readout.metric(forward_from(x0_src)).reshape(-1)[0])
        else:
            source_metric = float(readout.metric(forward_from(inputs=ctx.source_inputs)).reshape(-1)[0])
    if whisper:
        with torch.no_grad():
            x0_base = runner.stem(ctx.base_inputs["input_features"])

    def base_point(alpha: float):
        """The input at ``alpha`` on the path from the base (0) to the source (1), as a grad leaf."""
        if whisper:
            return (x0_base + alpha * (x0_src - x0_base)).detach().requires_grad_(True)
        key = "input_values"
        point = ctx.base_inputs[key] + alpha * (ctx.source_inputs[key] - ctx.base_inputs[key])
        return dict(ctx.base_inputs, **{key: point.detach().requires_grad_(True)})

    def run(point):
        return forward_from(point) if whisper else forward_from(inputs=point)

    base_acts, base_metric = None, None
    if ig_steps:  # the base's own activations are not among the integration points
        with torch.no_grad(), hooks.capture(model, sites) as base_acts:
            base_metric = float(readout.metric(run(base_point(0.0))).reshape(-1)[0])
    alphas = [0.0] if ig_steps == 0 else [(k + 0.5) / ig_steps for k in range(ig_steps)]
    grads: dict = {s: None for s in sites}
    for alpha in alphas:
        with torch.enable_grad(), _capture_with_grad(model, sites) as store:
            metric = readout.metric(run(base_point(alpha))).sum()
            point_grads = _activation_grads(metric, store)
            for s in sites:
                g = _grad_of(point_grads, model, s)
                grads[s] = g if grads[s] is None else grads[s] + g
            if base_acts is None:  # alpha = 0: this run is the base itself
                base_acts = {s: _value_of(store, model, s) for s in sites}
                base_metric = float(metric.detach())
    scores = {}
    for s in sites:
        g = grads[s] / len(alphas)
        delta = src_acts[s] - base_acts[s]
        scores[s] = (delta * g).sum(dim=(0, 2)).cpu().numpy().astype(np.float64)  # sum rows and features
    return scores, base_metric, source_metric


def _atp_metrics(ctx, sites, groups, ig_steps, context_frames):
    scores, base_metric, source_metric = attribution_scores(ctx, sites, ig_steps, context_frames)
    out = np.empty((len(sites), len(groups)))
    for i, s in enumerate(sites):
        per_pos = scores[s]
        for j, g in enumerate(groups):
            out[i, j] = per_pos.sum() if g is None else per_pos[list(g)].sum()
    return out, base_metric, source_metric


def attribution_metrics(ctx, sites, groups, estimator: str | None = None, ig_steps: int = 0,
                        context_frames: int | None = None):
    """Estimated metric of every (site, position group) cell.

    Returns ``(base, source, (sites, groups) array, info)``; ``info`` names the estimator and
    the sites that fell back to plain attribution patching (``"atp_sites"``).
    """
    from intervene.lookahead import lookahead_scores, supports

    estimator = resolve_estimator(estimator, ig_steps)
    ahead = [i for i, s in enumerate(sites) if estimator == "lookahead" and supports(ctx.model, s)]
    rest = [i for i in range(len(sites)) if i not in ahead]
    deltas = np.empty((len(sites), len(groups)))
    base_metric = source_metric = None
    if ahead:
        deltas[ahead], base_metric, source_metric = lookahead_scores(ctx, [sites[i] for i in ahead], groups, context_frames)
    if rest:
        deltas[rest], base_metric, source_metric = _atp_metrics(ctx, [sites[i] for i in rest], groups, ig_steps,
                                                                context_frames)
    info = {"estimator": estimator, "atp_sites": [sites[i].key for i in rest] if estimator == "lookahead" else []}
    return base_metric, source_metric, base_metric + deltas, info
