"""The grid of a sweep: which sites (rows) and which positions (columns) each cell patches.

Rows come from the sites (grouped into component x layer x head axes); columns from the unit:

``"frame"``  encoder time windows of ``window_ms`` (default one 20 ms frame) over a span;
``"token"``  decoder token positions (the decoder prefix);
``"all"``    no position axis: each cell patches every position of the span (or every token).

The span of a frame axis defaults to the frames where the pair differs plus a margin
(``span="changed"``); ``"clip"`` takes the whole clip, ``"word"`` the target word plus the
margin, and ``(start_s, end_s)`` given times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intervene.sites import ResolvedSite, Site
from tasks.checks import check_int, check_real
from tasks.errors import ConfigError, InterventionError

__all__ = ["Axis", "frame_axis", "token_axis", "all_axis", "row_axes", "UNITS"]

UNITS = ("frame", "token", "all")


@dataclass
class Axis:
    """Columns of a sweep: the positions each column patches and their labels."""

    name: str | None  # "frame", "token" or None (unit "all")
    groups: list  # tuple of positions per column (None = every position)
    coords: list  # a label per column
    times_s: np.ndarray | None = None  # frame axes: start time of each column
    span_s: tuple | None = None  # frame axes: the span covered, in seconds


def _span_seconds(ctx, span, margin_s: float) -> tuple[float, float]:
    duration = ctx.n_samples / ctx.model.sample_rate
    pair = ctx.pair
    if span == "clip":
        return 0.0, duration
    if span == "changed":
        spans = [tuple(s) for s in (getattr(pair, "changed_spans", None) or [])]
        if not spans:
            return 0.0, duration
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        return max(0.0, lo - margin_s), min(duration, hi + margin_s)
    if span == "word":
        words = getattr(pair, "words", None) or []
        answer = str(getattr(pair, "clean_answer", "")).lower()
        match = [w for w in words if str(w[0]).lower() == answer] or list(words[:1])
        if not match:
            raise InterventionError("span='word' needs the pair's word spans (pair.words); give span='clip' or times")
        _, lo, hi = match[0]
        return max(0.0, lo - margin_s), min(duration, hi + margin_s)
    if isinstance(span, (tuple, list)) and len(span) == 2:
        lo, hi = check_real("span[0]", span[0], unit="s"), check_real("span[1]", span[1], unit="s")
        if not (0.0 <= lo < hi <= duration + 1e-9):
            raise InterventionError(
                f"span {tuple(span)} s lies outside the clip (0 to {duration:.3f} s); give 0 <= start_s < end_s <= {duration:.3f}"
            )
        return lo, hi
    raise ConfigError(f"span ({span!r}) must be 'changed', 'clip', 'word' or (start_s, end_s)")


def frame_axis(ctx, span="changed", window_ms: float | None = None, margin_ms: float = 100.0) -> Axis:
    """Encoder time windows over ``span`` (see the module notes)."""
    frame_ms = ctx.model.frame_s * 1000.0
    window_ms = check_real("window_ms", frame_ms if window_ms is None else window_ms, low=0, low_open=True, unit="ms")
    margin_ms = check_real("margin_ms", margin_ms, low=0, unit="ms")
    n = window_ms / frame_ms
    if abs(n - round(n)) > 1e-6:
        raise ConfigError(f"window_ms ({window_ms:g}) must be a positive multiple of the model's frame ({frame_ms:g} ms)")
    n = int(round(n))
    lo_s, hi_s = _span_seconds(ctx, span, margin_ms / 1000.0)
    first = int(math.floor(lo_s / ctx.model.frame_s + 1e-9))
    last = min(int(math.ceil(hi_s / ctx.model.frame_s - 1e-9)), ctx.clip_frames)
    if last <= first:
        raise InterventionError(f"span {lo_s:.3f}-{hi_s:.3f} s covers no encoder frame")
    groups = [tuple(range(s, min(s + n, last))) for s in range(first, last, n)]
    coords = [g[0] for g in groups]
    return Axis("frame", groups, coords, np.asarray(coords, dtype=float) * ctx.model.frame_s, (lo_s, hi_s))


def token_axis(ctx, tokens=None) -> Axis:
    """Decoder positions of the readout's prefix (or the given ones), labelled by token text."""
    prefix = int(ctx.readout.prefix_length)
    if not prefix:
        raise ConfigError("unit='token' needs a decoder (Whisper); this model has none")
    if tokens is not None and (isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__")):
        raise ConfigError(f"tokens ({tokens!r}) must be a list of decoder positions (ints)")
    tokens = list(range(prefix)) if tokens is None else [check_int(f"tokens[{i}]", t) for i, t in enumerate(tokens)]
    if not tokens:
        raise ConfigError("tokens ([]) is empty; give at least one decoder position or leave it unset")
    bad = [t for t in tokens if not 0 <= t < prefix]
    if bad:
        raise InterventionError(f"token positions {bad} are outside the decoder prefix (0..{prefix - 1})")
    ids = ctx.readout.decoder_input_ids[0].tolist()
    tok = getattr(ctx.model, "tokenizer", None)
    labels = [tok.decode([ids[t]]) if tok is not None else str(ids[t]) for t in tokens]
    return Axis("token", [(t,) for t in tokens], labels)


def all_axis(ctx, stream: str, span="changed", margin_ms: float = 100.0) -> Axis:
    """One column: every position of the span (encoder) or every decoder position."""
    margin_ms = check_real("margin_ms", margin_ms, low=0, unit="ms")
    if stream == "encoder" and span != "all":
        ax = frame_axis(ctx, span, None, margin_ms)
        return Axis(None, [tuple(p for g in ax.groups for p in g)], ["all"], None, ax.span_s)
    return Axis(None, [None], ["all"])


def row_axes(sites: list) -> tuple[list, list, dict]:
    """Dims and coords for the row part of a map, and each site's index tuple.

    Returns ``(dims, coords_per_dim, index)`` where ``index[site]`` is the site's position in
    the (component?, layer, head?) grid.
    """
    components = list(dict.fromkeys(s.component for s in sites))
    layers = sorted({s.layer for s in sites})
    heads = sorted({s.head for s in sites if s.head is not None})
    if heads and any(s.head is None for s in sites):
        raise ConfigError("mix of per-head and whole-layer sites: sweep them separately")
    features = list(dict.fromkeys(s.label for s in sites if s.is_feature))
    if features and not all(s.is_feature for s in sites):
        raise ConfigError("mix of SAE feature sites and other sites: sweep them separately")
    dims, coords = [], []
    if len(components) > 1:
        dims.append("component")
        coords.append(components)
    dims.append("layer")
    coords.append(layers)
    if heads:
        dims.append("head")
        coords.append(heads)
    if features:
        dims.append("feature")
        coords.append(features)
    index = {}
    for s in sites:
        key = []
        if len(components) > 1:
            key.append(components.index(s.component))
        key.append(layers.index(s.layer))
        if heads:
            key.append(heads.index(s.head))
        if features:
            key.append(features.index(s.label))
        index[s] = tuple(key)
    return dims, coords, index


def parse_sites(model, sites) -> list[Site]:
    """Sites from Sites/keys, or ``"stream.component"`` for every layer (and head) of it."""
    if isinstance(sites, (str, Site)):
        sites = [sites]
    if sites is None or isinstance(sites, (bytes, dict)) or not hasattr(sites, "__iter__"):
        raise ConfigError(f"sites ({sites!r}) must be a Site, a site key or a list of them, "
                          "e.g. model.sites('encoder', 'block_output') or 'encoder.block_output'")
    out = []
    for s in sites:
        if not isinstance(s, (str, Site, ResolvedSite)):
            raise ConfigError(f"sites holds {s!r} ({type(s).__name__}); give Site objects or keys such as "
                              "'encoder.0.block_output'")
        if isinstance(s, str) and s.count(".") == 1:
            stream, component = s.split(".")
            out += model.sites(stream, component)
        else:
            out.append(model.site(s))
    if not out:
        raise ConfigError("no sites given; e.g. model.sites('encoder', 'block_output')")
    return list(dict.fromkeys(out))
