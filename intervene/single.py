"""One hand-built intervention, run through pyvene: ``intervene.intervene(model, task, pair, interventions)``.

Each :class:`Intervention` names a site, the positions (or a time span) it acts on and an
intervention type: "interchange" (vanilla, the default), "zero", "noise", any pyvene
intervention class or instance (e.g. a trained ``RotatedSpaceIntervention`` for DAS), or a
function ``f(base, source) -> tensor`` on the selected activations ``(batch, units, size)``.
All interventions of one call run together in one pyvene forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from intervene.context import PairContext
from intervene.interventions import resolve_intervention
from intervene.methods.pyvene import build_intervenable, call, locations, representation
from intervene.sites import Site
from tasks.checks import check_int, check_span
from tasks.errors import ConfigError, InterventionError, PairError
from tasks.metrics import normalized_effect

__all__ = ["Intervention", "InterventionResult", "intervene"]


@dataclass
class Intervention:
    """Intervene on ``site`` at ``positions`` (None: every position) or over ``times_s``.

    Examples
    --------
    >>> Intervention("encoder.0.block_output", times_s=(0.05, 0.45))
    Intervention(site='encoder.0.block_output', positions=None, times_s=(0.05, 0.45), kind='interchange')
    """

    site: object
    positions: list | None = None
    times_s: tuple | None = None
    kind: object = "interchange"

    def __post_init__(self):
        if not isinstance(self.site, (str, Site)):
            raise ConfigError(f"Intervention site ({self.site!r}) must be a Site or a key such as "
                              "'encoder.0.block_output'")
        if self.positions is not None and self.times_s is not None:
            raise ConfigError("give positions or times_s, not both")
        if self.positions is not None:
            if isinstance(self.positions, (str, bytes, dict)) or not hasattr(self.positions, "__iter__"):
                raise ConfigError(f"positions ({self.positions!r}) must be a list of position indices (ints)")
            positions = [check_int(f"positions[{i}]", p, low=0) for i, p in enumerate(self.positions)]
            if not positions:
                raise ConfigError("positions ([]) is empty; give at least one position, or None for every position")
            self.positions = positions
        if self.times_s is not None:
            self.times_s = check_span("times_s", self.times_s)

    def resolve_positions(self, model, site: Site, seq_len: int) -> list:
        if self.positions is not None and self.times_s is not None:
            raise ConfigError("give positions or times_s, not both")
        if self.times_s is not None:
            if site.stream != "encoder":
                raise ConfigError("times_s selects encoder frames; give positions for decoder sites")
            lo, hi = check_span("times_s", self.times_s)
            first, last = int(math.floor(lo / model.frame_s)), int(math.ceil(hi / model.frame_s))
            if not (0 <= first < last <= seq_len):
                raise InterventionError(f"times_s {self.times_s} lies outside the encoder's {seq_len * model.frame_s:g} s")
            return list(range(first, last))
        if self.positions is None:
            return list(range(seq_len))
        pos = [int(p) for p in self.positions]
        bad = [p for p in pos if not 0 <= p < seq_len]
        if bad or not pos:
            raise InterventionError(f"positions {bad or pos} are outside {site.key}'s 0..{seq_len - 1}")
        return pos


@dataclass
class InterventionResult:
    """What one intervention did to the metric."""

    metric: float
    base_metric: float
    source_metric: float
    effect: float  # normalised; NaN when the two halves barely differ
    direction: str
    word_scores: dict = field(default_factory=dict)
    logits: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (f"InterventionResult(metric={self.metric:.4f}, base={self.base_metric:.4f}, "
                f"source={self.source_metric:.4f}, effect={self.effect:.4f}, direction={self.direction!r})")


@torch.no_grad()
def intervene(model, task, pair, interventions, direction: str = "denoise") -> InterventionResult:
    """Run hand-built interventions on the base run of ``pair``; return the metric it gives.

    Parameters
    ----------
    interventions : Intervention or list of Intervention
    direction : {"denoise", "noise"}
        Which half is the base (patched) and which the source.
    """
    if isinstance(interventions, Intervention):
        interventions = [interventions]
    if isinstance(interventions, (str, bytes, dict)) or not hasattr(interventions, "__iter__"):
        raise ConfigError(f"interventions ({interventions!r:.80}) must be an Intervention or a list of them")
    interventions = list(interventions)
    if not interventions:
        raise ConfigError("interventions is empty; give at least one Intervention")
    for i, iv in enumerate(interventions):
        if not isinstance(iv, Intervention):
            raise ConfigError(f"interventions[{i}] ({iv!r:.80}) must be an intervene.Intervention")
    ctx = PairContext.build(model, task, pair, direction)
    reps, locs, needs = [], [], set()
    rows = 1 if ctx.readout.decoder_input_ids is None else int(ctx.readout.decoder_input_ids.shape[0])
    for iv in interventions:
        site = model.site(iv.site)
        if getattr(iv.kind, "speechlens_trained_for", None):  # a trained DAS module: its own model and site only
            from intervene.learned.das import check_trained_for

            check_trained_for(model, site, iv.kind)
        cls, inst, needs_source = resolve_intervention(iv.kind)
        needs.add(needs_source)
        pos = iv.resolve_positions(model, site, ctx.seq_len(site.stream))
        reps.append(representation(site, len(pos), cls, inst))
        locs.append(locations(site, pos, rows))
    if len(needs) > 1:
        raise ConfigError("mix of interventions with and without a source (e.g. interchange and zero): run them separately")
    batched = getattr(model, "batched", lambda x: x)
    base, source = batched(ctx.base_inputs), batched(ctx.source_inputs)
    logits = call(model, build_intervenable(model, reps), base, [source] * len(reps) if needs.pop() else None, locs)
    metric = float(ctx.readout.metric(logits))
    scores = ctx.readout.word_scores(logits)
    try:
        effect = float(normalized_effect(metric, ctx.base_metric, ctx.source_metric))
    except PairError:
        effect = float("nan")
    return InterventionResult(
        metric=metric, base_metric=ctx.base_metric, source_metric=ctx.source_metric, effect=effect,
        direction=direction, word_scores={w: float(scores[i]) for i, w in enumerate(ctx.readout.words)},
        logits=logits.detach(),
    )

