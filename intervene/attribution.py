"""Attribution patching: a first-order estimate of every cell from one backward pass.

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

__all__ = ["attribution_metrics", "attribution_scores"]


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
    if not isinstance(ig_steps, int) or ig_steps < 0:
        raise ConfigError(f"ig_steps ({ig_steps!r}) must be a non-negative integer")
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


def attribution_metrics(ctx, sites, groups, ig_steps: int = 0, context_frames: int | None = None):
    """Estimated metric of every (site, position group) cell: ``(base, source, (sites, groups))``."""
    scores, base_metric, source_metric = attribution_scores(ctx, sites, ig_steps, context_frames)
    out = np.empty((len(sites), len(groups)))
    for i, s in enumerate(sites):
        per_pos = scores[s]
        for j, g in enumerate(groups):
            out[i, j] = base_metric + (per_pos.sum() if g is None else per_pos[list(g)].sum())
    return base_metric, source_metric, out
