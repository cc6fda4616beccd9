"""An SAE's features as intervention sites.

``model.sites(sae=sae)`` attaches ``sae`` to the site it was trained on and returns one
:class:`~intervene.sites.FeatureSite` per feature (``"encoder.3.block_output.sae.1234"``);
sets of features (``"...sae.12+40"``) and the reconstruction error (``"...sae.error"``) are
sites too. Every engine path reads and writes them through one :class:`FeatureCodec`:

    read(x)      = f(x)[F]                       (and x - sae(x) when the error is part of the site)
    write(x, v)  = x + (v - f(x)[F]) @ W_dec[F]  (+ the change of the error term, if any)

so a write changes the site's activation only along the chosen features' decoder rows: the
reconstruction error and every other feature stay as they were. Hence, exactly (bitwise):
writing back what was read (patch no feature, or patch from a source equal to the base)
leaves the activation unchanged. Patching every feature from a source gives
``sae(source) + (base - sae(base))``: the source's reconstruction plus the base's error;
patching every feature *and* the error gives the source activation (up to float rounding).

Plain hooks (:mod:`intervene.hooks`), the anatomy methods' hooks and pyvene
(:class:`FeatureIntervention` wraps any pyvene intervention or function to act on feature
values) all use the codec, so they agree.
"""

from __future__ import annotations

import torch

from intervene.sites import FeatureSite, ResolvedSite, Site
from tasks.errors import ConfigError

__all__ = [
    "FeatureCodec",
    "attach",
    "attached",
    "feature_sites",
    "resolve_feature",
    "site_size",
    "wrap_intervention",
]

_SAES: dict = {}
"""SAE digest -> SAE, for every SAE attached to a model (pyvene's wrapper finds it by digest)."""


def attach(model, sae) -> None:
    """Make ``sae``'s features sites of ``model`` (at ``sae.site``); replaces an SAE attached there before.

    Raises
    ------
    ConfigError
        Not an SAE, an SAE without a site, or a site whose width is not the SAE's ``d_in``.
    """
    from intervene.features.sae import SAE
    from intervene.features.train import site_width

    if not isinstance(sae, SAE):
        raise ConfigError(f"sae ({type(sae).__name__}) must be an intervene.SAE (train_sae or SAE.load)")
    if not sae.site:
        raise ConfigError("this SAE records no site; set it when training (train_sae does) to use its features as sites")
    site = model.site(sae.site)
    width = site_width(model, site)
    if width != sae.d_in:
        raise ConfigError(f"the SAE reads {sae.d_in} values per frame but site {site.key} of {model.name!r} has "
                          f"{width}; use an SAE trained on this site of this model")
    saes = model.__dict__.setdefault("_saes", {})
    sae = sae.to(model.device).eval()
    for p in sae.parameters():
        p.requires_grad_(False)
    saes[site.key] = sae
    _SAES[sae.digest()] = sae
    model._resolved = {k: v for k, v in model._resolved.items() if v.codec is None}  # drop stale feature sites


def attached(model, site):
    """The SAE attached at ``site`` (a base site), or a typed error saying how to attach one."""
    key = Site.parse(site).key
    sae = getattr(model, "_saes", {}).get(key)
    if sae is None:
        raise ConfigError(f"no SAE is attached at site {key} of {model.name!r}: call model.sites(sae=sae) "
                          "(or intervene.features.attach(model, sae)) with an SAE trained there first")
    return sae


def resolve_feature(model, site: FeatureSite, spec, module) -> ResolvedSite:
    """A feature site checked against the SAE attached at its base site (what ``model.resolve`` returns)."""
    sae = attached(model, site.base)
    digest = sae.digest()
    if site.sae and site.sae != digest:
        raise ConfigError(f"feature site {site.key} belongs to SAE {site.sae}, but SAE {digest} is attached at "
                          f"{site.base.key}; attach that SAE again (model.sites(sae=...))")
    bad = [f for f in site.features if f >= sae.width]
    if bad:
        raise ConfigError(f"feature site {site.key}: feature(s) {bad} out of range; the SAE has {sae.width} "
                          f"features (0..{sae.width - 1})")
    full = FeatureSite(site.stream, site.layer, site.component, site.head, site.features, site.error, digest)
    return ResolvedSite(full, spec, module, None, FeatureCodec(sae, site.features, site.error))


def feature_sites(model, sae, features=None, error: bool = False) -> list:
    """Attach ``sae`` and return its features as sites (one per feature; ``features``: which ones)."""
    attach(model, sae)
    base = model.site(sae.site)
    feats = range(sae.width) if features is None else features
    out = [model.site(FeatureSite(base.stream, base.layer, base.component, base.head, (int(f),), False))
           for f in feats]
    if error:
        out.append(model.site(FeatureSite(base.stream, base.layer, base.component, base.head, (), True)))
    return out


def site_size(model, site) -> int:
    """Values per position of ``site``'s activation (a feature site: its features, plus d_in with the error)."""
    r = model.resolve(site)
    if r.codec is not None:
        return r.codec.size
    if r.head_slice is not None:
        return r.head_slice.stop - r.head_slice.start
    return int(getattr(model.config, r.spec.size))


class FeatureCodec:
    """Reads a feature site's values from the base site's tensor and writes them back (module notes).

    Parameters
    ----------
    sae : SAE
    features : tuple of int
    error : bool
    """

    def __init__(self, sae, features: tuple, error: bool):
        self.sae, self.features, self.error = sae, tuple(features), bool(error)
        self.n = len(self.features)
        self.size = self.n + (sae.d_in if self.error else 0)
        self._index = torch.as_tensor(self.features, dtype=torch.long)

    def _parts(self, x: torch.Tensor) -> tuple:
        f = self.sae.encode(x.float())
        idx = self._index.to(x.device)
        err = (x.float() - self.sae.decode(f)) if self.error else None
        return f.index_select(-1, idx), err

    def read(self, x: torch.Tensor) -> torch.Tensor:
        """Feature values (and error) of activations ``x (..., d_in)``: ``(..., size)``."""
        f, err = self._parts(x)
        return f.to(x.dtype) if err is None else torch.cat([f, err], -1).to(x.dtype)

    def write(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``x`` changed so that its feature values (and error) become ``values (..., size)``."""
        if values.shape[-1] != self.size:
            raise ConfigError(f"values for an SAE feature site have {values.shape[-1]} per position; this site "
                              f"has {self.size} ({self.n} features{' + the error' if self.error else ''})")
        f, err = self._parts(x)
        values = values.float()
        delta = torch.zeros_like(x, dtype=torch.float32)
        if self.n:
            w = self.sae.W_dec.index_select(0, self._index.to(x.device))
            delta = delta + (values[..., : self.n] - f) @ w
        if self.error:
            delta = delta + (values[..., self.n:] - err)
        return (x.float() + delta).to(x.dtype)

    def replace_where(self, x: torch.Tensor, mask: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """``x`` with its feature values set to ``source`` where ``mask (..., 1)`` is set (else unchanged, exactly)."""
        current = self.read(x)
        new = torch.where(mask, source.to(current.dtype), current)
        return torch.where(mask, self.write(x, new), x)


def wrap_intervention(site: FeatureSite, cls=None, instance=None):
    """A pyvene intervention acting on ``site``'s feature values: ``cls``/``instance`` (a pyvene
    intervention, run on the ``(batch, units, size)`` feature values) or a function
    ``f(base, source) -> values``; the result is written back through the codec."""
    from intervene._pyvene import pyvene as pv

    sae = _SAES.get(site.sae)
    if sae is None:
        raise ConfigError(f"feature site {site.key} is not resolved on a model with its SAE attached; "
                          "pass sites from model.sites(sae=...) or model.site(key)")
    codec = FeatureCodec(sae, site.features, site.error)
    inner = instance if instance is not None else (cls() if cls is not None else pv.VanillaIntervention())
    if isinstance(inner, pv.Intervention):
        inner.set_interchange_dim(codec.size)
        constant = bool(getattr(inner, "is_source_constant", False))
    else:
        constant = False
    return _wrapped_class(pv)(codec, inner, constant)


_CLASS = None


def _wrapped_class(pv):
    global _CLASS
    if _CLASS is None:

        class _Wrapped(pv.Intervention, pv.LocalistRepresentationIntervention):
            """A pyvene intervention on an SAE feature site: ``inner`` on the feature values, written back."""

            def __init__(self, codec, inner, constant, **kwargs):
                super().__init__(**kwargs)
                self.codec, self.inner, self.is_source_constant = codec, inner, constant
                self.keep_last_dim = True

            def forward(self, base, source=None, subspaces=None, **kwargs):
                fb = self.codec.read(base)
                fs = None if source is None or self.is_source_constant else self.codec.read(source)
                if isinstance(self.inner, pv.Intervention):
                    new = self.inner(fb, fs, subspaces)
                else:
                    new = self.inner(fb, fs)
                return self.codec.write(base, new.to(fb.dtype).expand_as(fb))

            def __str__(self):
                return f"SAEFeature({self.inner}, features={self.codec.features}, error={self.codec.error})"

        _CLASS = _Wrapped
    return _CLASS
