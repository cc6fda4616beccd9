"""``method="attribution"``: estimates of every cell from one backward pass.

Three estimators (``estimator=``):

* ``"lookahead"`` (default where the model's adapter offers it,
  :attr:`Capabilities.lookahead <intervene.models.Capabilities>`): the patched positions
  carried exactly through the rest of the model, first order only in what spills onto the
  other positions (Whisper: :mod:`intervene.models.whisper.lookahead`). Sites it does not
  cover fall back to ``"atp"`` and the map lists them (``meta["atp_sites"]``); on a model
  without it the default is ``"atp"``, and asking for it is a typed error.
* ``"atp"``: plain attribution patching, below.
* ``"ig"``: integrated gradients with ``ig_steps`` steps, below.

For a cell patching site activations ``a`` at positions P from the source into the base run,

    m(patched) - m(base)  ~=  sum over P of (a_source - a_base) . dm/da |_base

(gradient x activation difference, "AtP"). One source forward (no autograd), one base forward
and one backward give every cell of every site at once: all layers, all positions, every
component and head.

With ``ig_steps = k > 0`` the gradient is instead averaged over k points on the straight path
from the base to the source input (where the model's runner says the path starts: the
residual stream entering the first encoder layer for Whisper, the input values otherwise),
midpoint rule: integrated gradients, as in EAP-IG. That costs k forward+backward passes and
is usually closer to exact patching.

Estimates are not guarded (they are approximations); benchmarks/perf.py reports their rank
correlation and largest error against exact patching.
"""

from __future__ import annotations

import numpy as np
import torch

from intervene import hooks
from intervene.methods.base import Method
from tasks.errors import CapabilityError, ConfigError, InterventionError, unknown_name

__all__ = ["ESTIMATORS", "AttributionMethod", "attribution_scores", "resolve_estimator"]

ESTIMATORS = ("lookahead", "atp", "ig")


def resolve_estimator(estimator: str | None, ig_steps: int, model=None) -> str:
    """The estimator to use: ``estimator`` if given, else "ig" with ``ig_steps`` > 0, else the
    model's best ("lookahead" where its adapter offers it, else "atp")."""
    if not isinstance(ig_steps, (int, np.integer)) or isinstance(ig_steps, bool) or ig_steps < 0:
        raise ConfigError(f"ig_steps ({ig_steps!r}) must be a non-negative integer")
    ig_steps = int(ig_steps)
    if estimator is None:
        if ig_steps:
            return "ig"
        return "lookahead" if model is None or model.capabilities.lookahead else "atp"
    if estimator not in ESTIMATORS:
        raise unknown_name("estimator", estimator, ESTIMATORS)
    if estimator == "ig" and ig_steps == 0:
        raise ConfigError("estimator='ig' needs ig_steps >= 1 (integrated-gradient steps along the path)")
    if estimator != "ig" and ig_steps:
        raise ConfigError(f"ig_steps ({ig_steps}) applies to estimator='ig', not {estimator!r}; drop one of them")
    if estimator == "lookahead" and model is not None and not model.capabilities.lookahead:
        model.lookahead(None, [], [], None)  # raises the adapter's CapabilityError, naming the fallback
    return estimator


def _activation_grads(metric, store) -> dict:
    """d metric / d activation for every captured tensor, and nothing else.

    ``torch.autograd.grad`` with the activations as inputs skips the weight gradients a plain
    ``backward()`` would compute (about a third of the pass) and leaves no ``.grad`` behind.
    """
    keys = [k for k, t in store.items() if t.requires_grad]
    grads = torch.autograd.grad(metric, [store[k] for k in keys], allow_unused=True)
    return {k: torch.zeros_like(store[k]) if g is None else g for k, g in zip(keys, grads)} | {
        k: torch.zeros_like(t) for k, t in store.items() if not t.requires_grad}


def _sliced(tensors: dict, model, site):
    """The site's part of a full (un-sliced) captured tensor."""
    t = tensors[site.without_head()]
    sl = hooks.head_slice(model, site)
    return t if sl is None else t[..., sl]


def attribution_scores(ctx, sites, ig_steps: int = 0, runner=None):
    """Per-site tensors ``(a_source - a_base) * grad`` summed over batch rows and features: ``{site: (positions,)}``.

    Also returns the base and source metrics of the same (possibly truncated) forward.
    """
    model, readout = ctx.model, ctx.readout
    runner = runner if runner is not None else model.runner()
    with torch.no_grad(), hooks.capture(model, sites) as src_acts:
        x0_src = runner.start(ctx.source_inputs)
        source_metric = float(readout.metric(runner.logits_from_start(x0_src, ctx.source_inputs)).reshape(-1)[0])
    with torch.no_grad():
        x0_base = runner.start(ctx.base_inputs)

    def run(alpha: float):
        """The forward from the point at ``alpha`` on the path from the base (0) to the source (1)."""
        point = (x0_base + alpha * (x0_src - x0_base)).detach().requires_grad_(True)
        return runner.logits_from_start(point, ctx.base_inputs)

    base_acts, base_metric = None, None
    if ig_steps:  # the base's own activations are not among the integration points
        with torch.no_grad(), hooks.capture(model, sites) as base_acts:
            base_metric = float(readout.metric(run(0.0)).reshape(-1)[0])
    alphas = [0.0] if ig_steps == 0 else [(k + 0.5) / ig_steps for k in range(ig_steps)]
    grads: dict = {s: None for s in sites}
    for alpha in alphas:
        with torch.enable_grad(), hooks.capture(model, sites, full=True) as store:
            metric = readout.metric(run(alpha)).sum()
            point_grads = _activation_grads(metric, store)
            for s in sites:
                g = _sliced(point_grads, model, s)
                grads[s] = g if grads[s] is None else grads[s] + g
            if base_acts is None:  # alpha = 0: this run is the base itself
                base_acts = {s: _sliced(store, model, s).detach() for s in sites}
                base_metric = float(metric.detach())
    scores = {}
    for s in sites:
        g = grads[s] / len(alphas)
        delta = src_acts[s] - base_acts[s]
        scores[s] = (delta * g).sum(dim=(0, 2)).cpu().numpy().astype(np.float64)  # sum rows and features
    return scores, base_metric, source_metric


def _atp_deltas(ctx, sites, groups, ig_steps, runner):
    scores, base_metric, source_metric = attribution_scores(ctx, sites, ig_steps, runner)
    out = np.full((len(sites), len(groups)), np.nan)
    for i, s in enumerate(sites):
        per_pos = scores[s]
        for j, g in enumerate(groups):
            out[i, j] = per_pos.sum() if g is None else per_pos[list(g)].sum()
    return out, base_metric, source_metric


class AttributionMethod(Method):
    """Attribution patching estimates (see the module notes).

    Options
    -------
    estimator : {"lookahead", "atp", "ig"}, optional
    ig_steps : int
        Integrated-gradient steps (> 0 selects estimator "ig").
    context_frames : int, optional
        Encoder positions to run (models whose adapter offers a truncated context).
    """

    name = "attribution"
    summary = "estimates of every cell from one backward pass (lookahead, atp or ig)"
    options = {"estimator": None, "ig_steps": 0, "context_frames": None}
    guarded = False

    def __init__(self, ctx, estimator=None, ig_steps=0, context_frames=None):
        super().__init__(ctx)
        self.estimator = resolve_estimator(estimator, ig_steps, self.model)
        self.ig_steps = int(ig_steps)
        self.runner = self.model.runner(context_frames)
        self.base_metric = self.source_metric = None
        self.atp_sites: list = []

    @property
    def truncated(self) -> bool:
        return self.runner.truncated

    def prepare(self, sites) -> None:
        feature = [s.key for s in sites if s.is_feature]
        if feature:  # its gradients are taken of whole module tensors, not of SAE feature values
            raise CapabilityError(f"method 'attribution' does not estimate SAE feature sites ({feature[0]}); "
                                  "use method='exact' or 'pyvene'")
        self.base_metric = self.source_metric = None  # measured with the estimate, in run()

    def metrics(self) -> tuple[float, float]:
        if self.base_metric is None:
            raise InterventionError("attribution measures its base and source metrics with the estimate: run() first")
        return self.base_metric, self.source_metric

    def run(self, cells: list, progress=None) -> np.ndarray:
        """Estimated metric of each single-patch cell (all cells of a grid in one pass)."""
        if any(len(cell) != 1 for cell in cells):
            raise InterventionError("attribution estimates cells of one patch each; use method='exact' for combined patches")
        sites = list(dict.fromkeys(cell[0].site for cell in cells))
        groups = list(dict.fromkeys(cell[0].positions for cell in cells))
        deltas, base, source = self.estimate(sites, groups)
        self.base_metric, self.source_metric = base, source
        si, gi = {s: i for i, s in enumerate(sites)}, {g: j for j, g in enumerate(groups)}
        out = np.array([base + deltas[si[c[0].site], gi[c[0].positions]] for c in cells])
        if progress is not None:
            progress.update(len(cells))
        return out

    def estimate(self, sites, groups):
        """``(deltas (sites, groups), base_metric, source_metric)``: estimated metric changes."""
        model = self.model
        ahead = [i for i, s in enumerate(sites) if self.estimator == "lookahead" and model.lookahead_covers(s)]
        rest = [i for i in range(len(sites)) if i not in ahead]
        deltas = np.full((len(sites), len(groups)), np.nan)
        base_metric = source_metric = None
        if ahead:
            deltas[ahead], base_metric, source_metric = model.lookahead(self.ctx, [sites[i] for i in ahead], groups,
                                                                        self.runner)
        if rest:
            deltas[rest], base_metric, source_metric = _atp_deltas(self.ctx, [sites[i] for i in rest], groups,
                                                                   self.ig_steps, self.runner)
        self.atp_sites = [sites[i].key for i in rest] if self.estimator == "lookahead" else []
        return deltas, base_metric, source_metric

    def record(self) -> dict:
        return {"estimator": self.estimator, "atp_sites": self.atp_sites,
                "ig_steps": self.ig_steps, "runner": "one backward pass"}
