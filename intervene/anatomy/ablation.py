"""Ablation: replace a site's activations (over a time span or every position) with something else.

=============  ================================================================================
``zero``       zeros (pyvene ``ZeroIntervention``)
``mean``       the site's mean over a reference set of clips, per position (computed once, cached)
``resample``   the site's activations on another clip (maps: the pair's source half by default)
``silence``    the site's activations on a silent, padding-only input (Reid 2023's splice)
=============  ================================================================================

The replacement values are put in by a constant-source pyvene ``VanillaIntervention``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from intervene._pyvene import pyvene as pv
from intervene.anatomy.apply import on_site, pyvene_op
from intervene.anatomy.base import Kind, as_clips, check_times
from intervene.anatomy.references import silence_clip, site_values
from tasks.errors import CapabilityError, ConfigError, unknown_name

__all__ = ["Ablation", "ABLATION_KINDS"]

ABLATION_KINDS = ("zero", "mean", "resample", "silence")


@dataclass(frozen=True, eq=False, repr=False)
class Ablation(Kind):
    """Replace ``site``'s activations over ``times_s`` (default: every position).

    Parameters
    ----------
    site : Site or str
        E.g. ``"encoder.3.block_output"`` or a head ``"decoder.1.cross_attention_head.5"``
        (None: a template for :func:`intervene.patch`, which fills in each cell's site).
    kind : {"zero", "mean", "resample", "silence"}
    times_s : (start_s, end_s), optional
        Encoder sites: the frames covering this span (default: every position).
    reference : clip or list of clips, optional
        ``mean``: the reference set (one or more clips: 16 kHz arrays or Utterances);
        ``resample``: the one clip to take activations from.
    positions : tuple of int, optional
        Explicit positions instead of ``times_s`` (what a map's cell sets).

    Raises
    ------
    ConfigError
        An unknown kind, bad times, a reference set of zero clips, a reference for a kind that
        takes none, or several clips for ``resample``.

    Examples
    --------
    >>> Ablation("encoder.3.block_output", kind="silence", times_s=(0.5, 0.8)).kind
    'silence'
    """

    site: object = None
    kind: str = "zero"
    times_s: tuple | None = None
    reference: object = None
    positions: tuple | None = None
    name: ClassVar[str] = "ablation"

    def __post_init__(self):
        if self.kind not in ABLATION_KINDS:
            raise unknown_name("ablation kind", self.kind, ABLATION_KINDS)
        object.__setattr__(self, "times_s", check_times(self.times_s))
        if self.reference is not None:
            if self.kind in ("zero", "silence"):
                raise ConfigError(f"reference applies to kind 'mean' or 'resample', not {self.kind!r}; drop it")
            clips = as_clips(self.reference, "reference")
            if self.kind == "resample" and len(clips) != 1:
                raise ConfigError(f"reference has {len(clips)} clips; a resample ablation takes one clip (kind='mean' averages)")
            object.__setattr__(self, "reference", clips)
        elif self.kind == "mean" and self.site is not None:
            raise ConfigError("kind='mean' needs reference=<a list of clips> to average over")

    def describe(self) -> str:
        ref = f", {len(self.reference)} reference clips" if self.reference else ""
        return f"Ablation({self.site}, kind={self.kind!r}{ref})"

    def to_dict(self) -> dict:
        return {"type": "ablation", "site": None if self.site is None else str(self.site), "kind": self.kind,
                "times_s": self.times_s, "reference_clips": len(self.reference or ())}

    def identity(self, env):
        """The guard's twin: a mean ablation over a set of one clip, the run's own input."""
        if env.base is None:
            return None
        return dataclasses.replace(self, kind="mean", reference=(env.base,))

    # ----------------------------------------------------------- values
    def values(self, model, site, env):
        """The replacement ``(rows, positions, size)`` for ``mean``/``resample``/``silence``."""
        if site.stream == "decoder" and not env.teacher_forced:
            raise CapabilityError(
                f"a {self.kind} ablation of decoder site {site.key} depends on the decoder's input, which grows while "
                "decoding; ablate an encoder site, or use kind='zero' (or a teacher-forced map)"
            )
        return site_values(model, [site], self._clips(model, env), env.decoder_ids)[site]

    def _clips(self, model, env) -> tuple:
        if self.kind == "silence":
            return (silence_clip(model),)
        if self.reference is not None:
            return self.reference
        if self.kind == "resample" and env.source is not None:
            return (env.source,)
        raise ConfigError(f"kind={self.kind!r} needs reference=<clip(s)> (no pair source to resample from here)")

    def prefetch(self, model, sites, env) -> None:
        """Compute the replacement values of every site of a map at once (one forward per clip)."""
        if self.kind != "zero":
            site_values(model, [model.site(s) for s in sites], self._clips(model, env), env.decoder_ids)

    def _replacement(self, model, site, positions, env):
        v = self.values(model, site, env)
        return v if positions is None else v[:, list(positions)]

    # ----------------------------------------------------------- install
    def install(self, model, env, rows=None):
        site = self.resolved_site(model)
        positions = self.positions_for(model, site, env)
        if self.kind == "zero":
            return on_site(model, site, positions, pyvene_op(pv.ZeroIntervention()), rows)
        v = self._replacement(model, site, positions, env)

        def op(sel):
            if v.shape[0] not in (1, sel.shape[0]):
                raise ConfigError(f"{site.key}: reference values have {v.shape[0]} rows for a run of {sel.shape[0]}")
            return pyvene_op(pv.VanillaIntervention(source_representation=v.to(sel.device).expand_as(sel)))(sel)

        return on_site(model, site, positions, op, rows)

    def pyvene_intervention(self, model, site, positions, env, rows: int, head: bool):
        """The pyvene intervention for ``IntervenableModel`` (gathered shape ``(rows, [1,] n, size)``)."""
        if self.kind == "zero":
            return pv.ZeroIntervention()
        v = self._replacement(model, site, positions, env)
        v = v.expand(rows, *v.shape[1:])
        return pv.VanillaIntervention(source_representation=(v[:, None] if head else v).contiguous())
