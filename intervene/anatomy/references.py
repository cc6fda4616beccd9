"""Site activations of reference clips: means over a reference set, a resample clip, silence.

Computed once and cached per model, site, reference set (the clips' content, in order) and
decoder input (decoder sites read the same tokens as the run they are put into): a map that
mean-ablates every cell computes the mean once. All missing sites of one request are captured
in one forward per clip. The mean of a set of one clip is that clip's activations exactly
(float64 sum, divided by 1), which is what the ablation guard relies on.

"silence" is the site's activations for a silent input: all-zero audio, which Whisper's
feature extractor pads to 30 s with more zeros, so it is the padding-only input Reid (2023)
splices into the last encoder layer.
"""

from __future__ import annotations

import logging
import weakref

import numpy as np
import torch

from intervene import hooks
from intervene.anatomy.base import Clip, as_clips

__all__ = ["site_values", "silence_clip", "clip_activations", "cache_stats", "clear_cache"]

logger = logging.getLogger(__name__)

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_STATS = {"forwards": 0, "hits": 0}


def silence_clip(model) -> Clip:
    """One second of digital silence at the model's rate (padded, it is the padding-only input)."""
    return Clip(np.zeros(int(model.sample_rate), dtype=np.float32), int(model.sample_rate))


def cache_stats() -> dict:
    """``{"forwards": reference forwards run, "hits": requests served from the cache}``."""
    return dict(_STATS)


def clear_cache() -> None:
    _CACHE.clear()
    _STATS.update(forwards=0, hits=0)


@torch.no_grad()
def clip_activations(model, sites, clip: Clip, decoder_ids=None) -> dict:
    """``{Site: tensor (rows, positions, size)}`` for one clip (head sites: the head's slice).

    Encoder-only requests run only the encoder where the adapter can (Whisper).
    """
    inputs = model.inputs(clip.audio, clip.sample_rate, decoder_ids)
    encoder_only = all(s.stream == "encoder" for s in sites)
    with hooks.capture(model, sites) as acts:
        if not (encoder_only and model.runner().encoded(inputs) is not None):  # else the encoder alone ran
            model.logits(inputs)
    _STATS["forwards"] += 1
    return dict(acts)


def _ids_key(decoder_ids):
    if decoder_ids is None:
        return None
    ids = torch.as_tensor(decoder_ids)
    return (tuple(ids.shape), tuple(ids.reshape(-1).tolist()))


def site_values(model, sites, clips, decoder_ids=None) -> dict:
    """Mean activations over ``clips`` at each site: ``{Site: tensor (rows, positions, size)}``.

    Parameters
    ----------
    model : SpeechModel
    sites : list of Site
    clips : clip or sequence of clips
        Arrays at 16 kHz, Utterances or :class:`~intervene.anatomy.base.Clip` s.
    decoder_ids : tensor, optional
        The decoder input the run uses (needed for decoder sites).

    Raises
    ------
    ConfigError
        A reference set of zero clips.
    """
    clips = as_clips(clips, "reference")
    store = _CACHE.setdefault(model, {})
    ids = _ids_key(decoder_ids)
    ckey = tuple(c.key for c in clips)
    out, missing = {}, []
    for s in sites:
        key = (s.key, ckey, ids if s.stream == "decoder" else None)
        if key in store:
            out[s] = store[key]
            _STATS["hits"] += 1
        else:
            missing.append(s)
    if missing:
        total: dict = {}
        for clip in clips:
            acts = clip_activations(model, missing, clip, decoder_ids)
            for s in missing:
                a = acts[s].double()
                total[s] = a if s not in total else total[s] + a
        for s in missing:
            value = (total[s] / len(clips)).float()
            store[(s.key, ckey, ids if s.stream == "decoder" else None)] = value
            out[s] = value
        logger.debug("reference values of %d sites over %d clips computed", len(missing), len(clips))
    return out
