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
    """Keep the (full, un-sliced) activation tensor of each site, retaining its gradient."""
    store: dict = {}
    handles = []
    try:
        for key in {s.without_head() for s in sites}:

            def fn(t, key=key):
                if t.requires_grad:
                    t.retain_grad()
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


def _grad_of(store, model, site):
    t = store[site.without_head()]
    g = t.grad if t.grad is not None else torch.zeros_like(t)
    sl = hooks.head_slice(model, site)
    return g if sl is None else g[..., sl]


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
    with torch.no_grad(), hooks.capture(model, sites) as base_acts:
        if whisper:
            x0_base = runner.stem(ctx.base_inputs["input_features"])
            base_metric = float(readout.metric(forward_from(x0_base)).reshape(-1)[0])
        else:
            base_metric = float(readout.metric(forward_from(inputs=ctx.base_inputs)).reshape(-1)[0])

    alphas = [0.0] if ig_steps == 0 else [(k + 0.5) / ig_steps for k in range(ig_steps)]
    grads: dict = {s: None for s in sites}
    for alpha in alphas:
        with torch.enable_grad(), _capture_with_grad(model, sites) as store:
            if whisper:
                x0 = (x0_base + alpha * (x0_src - x0_base)).detach().requires_grad_(True)
                logits = forward_from(x0)
            else:
                key = "input_values"
                inp = dict(ctx.base_inputs)
                inp[key] = (ctx.base_inputs[key] + alpha * (ctx.source_inputs[key] - ctx.base_inputs[key])).detach().requires_grad_(True)
                logits = forward_from(inputs=inp)
            readout.metric(logits).sum().backward()
            for s in sites:
                g = _grad_of(store, model, s).detach()
                grads[s] = g if grads[s] is None else grads[s] + g
        model.model.zero_grad(set_to_none=True)
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
