"""Intervention sites: where in a model an activation can be read or replaced.

A :class:`Site` names one activation: ``Site("encoder", 3, "mlp_output")`` has the key
``"encoder.3.mlp_output"``; per-head sites carry a head, ``Site("decoder", 1,
"cross_attention_head", head=5)`` -> ``"decoder.1.cross_attention_head.5"``.

Each architecture declares a :class:`SiteTable` (see ``intervene/models/whisper/model.py`` and
``wav2vec2.py``): readable component names mapped to module paths, hook kinds and sizes. The
tables are registered into pyvene (:func:`register_pyvene`) so ``pyvene.IntervenableModel``
works on these models, and the same table drives SpeechLens's own hooks, so both paths touch
exactly the same tensor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from tasks.errors import ConfigError, UnknownNameError, close_names

__all__ = ["Site", "FeatureSite", "SiteSpec", "SiteTable", "ResolvedSite", "register_pyvene", "get_module"]


@dataclass(frozen=True, order=True)
class Site:
    """One activation in a model: ``stream`` ("encoder"/"decoder"), ``layer``, ``component``, ``head``.

    Examples
    --------
    >>> Site("encoder", 3, "mlp_output").key
    'encoder.3.mlp_output'
    >>> Site.parse("decoder.1.cross_attention_head.5")
    Site(stream='decoder', layer=1, component='cross_attention_head', head=5)
    """

    stream: str
    layer: int
    component: str
    head: int | None = None

    def __post_init__(self):
        if not isinstance(self.layer, int) or isinstance(self.layer, bool) or self.layer < 0:
            raise ConfigError(f"Site layer ({self.layer!r}) must be a non-negative integer")
        if self.head is not None and (not isinstance(self.head, int) or isinstance(self.head, bool) or self.head < 0):
            raise ConfigError(f"Site head ({self.head!r}) must be a non-negative integer or None")

    @property
    def key(self) -> str:
        base = f"{self.stream}.{self.layer}.{self.component}"
        return base if self.head is None else f"{base}.{self.head}"

    @property
    def pyvene_component(self) -> str:
        """The component name this site is registered under in pyvene's tables."""
        return f"{self.stream}_{self.component}"

    def without_head(self) -> "Site":
        return Site(self.stream, self.layer, self.component)

    @property
    def is_feature(self) -> bool:
        """Whether this site is a set of SAE features (:class:`FeatureSite`)."""
        return False

    @classmethod
    def parse(cls, key) -> "Site":
        """Parse ``"stream.layer.component[.head]"`` (or a feature site's key, see
        :class:`FeatureSite`); a Site passes through."""
        if isinstance(key, Site):
            return key
        if ".sae." in str(key):
            return FeatureSite.parse(key)
        m = re.fullmatch(r"([a-z_]+)\.(\d+)\.([a-z_]+)(?:\.(\d+))?", str(key).strip())
        if not m:
            raise ConfigError(
                f"site {key!r} is not of the form 'stream.layer.component[.head]', e.g. 'encoder.3.mlp_output'"
            )
        stream, layer, component, head = m.groups()
        return cls(stream, int(layer), component, None if head is None else int(head))

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, order=True)
class FeatureSite(Site):
    """Features of a sparse autoencoder read at a site: ``"encoder.3.block_output.sae.1234"``.

    The activation of a feature site is the SAE's feature activations ``features`` (and, with
    ``error``, the reconstruction error ``x - sae(x)`` after them); writing it changes the
    site's activation only along those features' decoder rows, so the reconstruction error and
    every other feature are kept (:mod:`intervene.features.sites`). Keys: ``...sae.1234`` (one
    feature), ``...sae.12+40`` (a set), ``...sae.error`` (the error term), ``...sae.12+error``.

    Attributes
    ----------
    features : tuple of int
        Sorted feature indices.
    error : bool
        Whether the reconstruction error is part of the site.
    sae : str
        The SAE's digest (:meth:`intervene.features.SAE.digest`); "" until resolved on a model.
    """

    features: tuple = ()
    error: bool = False
    sae: str = ""

    def __post_init__(self):
        super().__post_init__()
        feats = tuple(sorted({int(f) for f in self.features}))
        if any(f < 0 for f in feats) or any(isinstance(f, bool) for f in self.features):
            raise ConfigError(f"feature site: features ({self.features!r}) must be non-negative integers")
        if not feats and not self.error:
            raise ConfigError(f"feature site {self.base.key}.sae: give at least one feature (or 'error')")
        object.__setattr__(self, "features", feats)

    @property
    def is_feature(self) -> bool:
        return True

    @property
    def base(self) -> Site:
        """The site the SAE reads."""
        return Site(self.stream, self.layer, self.component, self.head)

    @property
    def label(self) -> str:
        return "+".join([str(f) for f in self.features] + (["error"] if self.error else []))

    @property
    def key(self) -> str:
        return f"{self.base.key}.sae.{self.label}"

    def without_head(self) -> "Site":
        return self

    @classmethod
    def parse(cls, key) -> "FeatureSite":
        if isinstance(key, FeatureSite):
            return key
        base, _, label = str(key).strip().partition(".sae.")
        parts = label.split("+") if label else []
        if not parts or not all(p == "error" or p.isdigit() for p in parts):
            raise ConfigError(f"feature site {key!r} must end in '.sae.' and feature indices joined by '+' (or "
                              "'error'), e.g. 'encoder.3.block_output.sae.1234' or '...sae.12+40'")
        site = Site.parse(base)
        return cls(site.stream, site.layer, site.component, site.head, features=tuple(int(p) for p in parts
                   if p != "error"), error="error" in parts)


@dataclass(frozen=True)
class SiteSpec:
    """One row of an architecture's site table.

    ``module`` is a path relative to the architecture's core model with ``%s`` for the layer
    (pyvene's convention); ``hook`` is "output" (the module's output) or "input" (its first
    positional input); ``size`` and ``heads`` name config attributes, so one table serves every
    model size.
    """

    stream: str
    component: str
    module: str
    hook: str
    size: str
    heads: str | None = None
    doc: str = ""

    def __post_init__(self):
        if self.hook not in ("output", "input"):
            raise ConfigError(f"SiteSpec hook ({self.hook!r}) must be 'output' or 'input'")

    @property
    def per_head(self) -> bool:
        return self.heads is not None


@dataclass(frozen=True)
class SiteTable:
    """An architecture's sites: specs plus how to count layers per stream.

    ``layers`` maps a stream to the config attribute giving its layer count; ``prefixes``
    maps each model class name this table serves to the attribute path of the core model
    inside it (e.g. ``"model."`` for ``WhisperForConditionalGeneration``).
    """

    architecture: str
    specs: tuple
    layers: dict
    prefixes: dict = field(default_factory=dict)

    def spec(self, stream: str, component: str) -> SiteSpec:
        for s in self.specs:
            if s.stream == stream and s.component == component:
                return s
        streams = sorted({s.stream for s in self.specs})
        if stream not in streams:
            raise UnknownNameError(
                f"{self.architecture} has no stream {stream!r}{close_names(stream, streams)} Streams: {', '.join(streams)}"
            )
        comps = [s.component for s in self.specs if s.stream == stream]
        raise UnknownNameError(
            f"{self.architecture} has no {stream} component {component!r}{close_names(component, comps)} "
            f"Components: {', '.join(comps)}"
        )

    def num_layers(self, config, stream: str) -> int:
        return int(getattr(config, self.layers[stream]))

    def num_heads(self, config, spec: SiteSpec) -> int:
        return int(getattr(config, spec.heads))

    def all_sites(self, config) -> list[Site]:
        """Every site of a model with this config, heads expanded, in table order."""
        out = []
        for s in self.specs:
            for layer in range(self.num_layers(config, s.stream)):
                if s.per_head:
                    out += [Site(s.stream, layer, s.component, h) for h in range(self.num_heads(config, s))]
                else:
                    out.append(Site(s.stream, layer, s.component))
        return out

    def check(self, config, site) -> tuple[Site, SiteSpec]:
        """Validate ``site`` (a Site or key) against a model config; return it with its spec.

        Raises
        ------
        UnknownNameError
            Unknown stream or component (with the close names).
        ConfigError
            Layer or head out of range, a head on a whole-layer component or none on a per-head one.
        """
        try:
            site = Site.parse(site)
        except ConfigError as exc:
            keys = [s.key for s in self.all_sites(config)]
            raise UnknownNameError(f"{exc}{close_names(str(site), keys)}") from None
        spec = self.spec(site.stream, site.component)
        n = self.num_layers(config, site.stream)
        if site.layer >= n:
            raise ConfigError(f"site {site.key!r}: layer {site.layer} is out of range; the {site.stream} has {n} layers (0..{n - 1})")
        if spec.per_head:
            heads = self.num_heads(config, spec)
            if site.head is None:
                raise ConfigError(f"site {site.key!r} is per head: give a head 0..{heads - 1}, e.g. '{site.key}.0'")
            if site.head >= heads:
                raise ConfigError(f"site {site.key!r}: head {site.head} is out of range (0..{heads - 1})")
        elif site.head is not None:
            raise ConfigError(f"site {site.key!r}: component {site.component!r} is not per head; drop the head")
        return site, spec

    def module_path(self, model, spec: SiteSpec, layer: int) -> str:
        return self.prefix(model) + spec.module % layer

    def prefix(self, model) -> str:
        name = type(model).__name__
        if name not in self.prefixes:
            raise ConfigError(
                f"{self.architecture} sites do not know model class {name}; known: {', '.join(self.prefixes)}"
            )
        return self.prefixes[name]


@dataclass(frozen=True, eq=False)
class ResolvedSite:
    """A site checked once against a loaded model: its spec, module and head slice.

    Built by :meth:`SpeechModel.resolve <intervene.models.SpeechModel.resolve>` (cached per
    model), and what :mod:`intervene.hooks` registers on, so a site name is parsed and checked
    once however many hooks use it.

    Attributes
    ----------
    site : Site
    spec : SiteSpec
    module : torch.nn.Module
        The module whose output (``spec.hook == "output"``) or first input is the activation.
    head_slice : slice or None
        Per-head sites: the head's part of the last dimension.
    codec : FeatureCodec or None
        Feature sites: reads the SAE's features from the module's tensor and writes them back
        (:class:`intervene.features.sites.FeatureCodec`); None for other sites.
    """

    site: Site
    spec: SiteSpec
    module: torch.nn.Module
    head_slice: slice | None
    codec: object = None

    @property
    def key(self) -> str:
        return self.site.key


def get_module(model: torch.nn.Module, path: str) -> torch.nn.Module:
    """The submodule at a pyvene-style path such as ``"model.encoder.layers[3].fc2"``."""
    module = model
    for part in path.split("."):
        m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        if not m:
            raise ConfigError(f"bad module path {path!r}")
        module = getattr(module, m.group(1))
        if m.group(2) is not None:
            module = module[int(m.group(2))]
    return module


def register_pyvene(table: SiteTable, model_classes) -> None:
    """Register ``table`` into pyvene's type tables for each class in ``model_classes``.

    After this, ``pyvene.IntervenableModel`` accepts configs such as
    ``{"layer": 3, "component": "encoder_block_output", "unit": "pos"}`` on these models.
    Per-head components are split into heads by pyvene (unit "h.pos").
    """
    from intervene._pyvene import pyvene, CONST_INPUT_HOOK, CONST_OUTPUT_HOOK, split_head_and_permute

    for cls in model_classes:
        prefix = table.prefixes[cls.__name__]
        modules, dims = {}, {}
        for s in table.specs:
            hook = CONST_OUTPUT_HOOK if s.hook == "output" else CONST_INPUT_HOOK
            name = f"{s.stream}_{s.component}"
            if s.per_head:
                modules[name] = (prefix + s.module, hook, (split_head_and_permute, s.heads))
                dims[name] = (f"{s.size}/{s.heads}",)
                dims[s.heads] = (s.heads,)
            else:
                modules[name] = (prefix + s.module, hook)
                dims[name] = (s.size,)
        pyvene.type_to_module_mapping[cls] = modules
        pyvene.type_to_dimension_mapping[cls] = dims
