"""Head masking: zero one attention head's output (encoder self-, decoder self- or cross-attention).

A head's output is its slice of the attention's ``out_proj`` input (the per-head sites of the
site table); masking it zeroes that slice before the output projection, at every position (or
at a map cell's positions), so the head contributes nothing but ``out_proj``'s bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from intervene._pyvene import pyvene as pv
from intervene.anatomy.apply import on_site
from intervene.anatomy.base import PER_HEAD, Kind
from intervene.sites import Site
from tasks.errors import ConfigError

__all__ = ["HeadMask"]


@dataclass(frozen=True, eq=False, repr=False)
class HeadMask(Kind):
    """Zero the output of the head named by ``site``.

    Parameters
    ----------
    site : Site or str
        A head site: ``"encoder.2.attention_head.3"`` (encoder self-attention),
        ``"decoder.1.attention_head.0"`` (decoder self-attention) or
        ``"decoder.1.cross_attention_head.5"`` (cross-attention). None: a template for
        :func:`intervene.patch`.

    Raises
    ------
    ConfigError
        Not a head site; a head index out of range (checked against the model when installed).

    Examples
    --------
    >>> HeadMask("decoder.1.cross_attention_head.5").site
    'decoder.1.cross_attention_head.5'
    """

    site: object = None
    positions: tuple | None = None
    name: ClassVar[str] = "head_mask"

    def __post_init__(self):
        if self.site is not None:
            s = Site.parse(self.site)
            if s.component not in PER_HEAD or s.head is None:
                raise ConfigError(
                    f"HeadMask site ({self.site!r}) must name one head: '<stream>.<layer>.attention_head.<head>' or "
                    "'decoder.<layer>.cross_attention_head.<head>'"
                )

    def resolved_site(self, model) -> Site:
        site = super().resolved_site(model)
        if site.component not in PER_HEAD:
            raise ConfigError(f"HeadMask site ({site.key!r}) must be a head site (attention_head / cross_attention_head)")
        return site

    def to_dict(self) -> dict:
        return {"type": "head_mask", "site": None if self.site is None else str(self.site)}

    def identity(self, env):
        """No parameter leaves a head mask unchanged: the guard runs the cell with no head masked."""
        return None

    def install(self, model, env, rows=None):
        site = self.resolved_site(model)
        return on_site(model, site, self.positions_for(model, site, env), lambda sel: sel.zero_(), rows)

    def pyvene_intervention(self, model, site, positions, env, rows: int, head: bool):
        return pv.ZeroIntervention()
