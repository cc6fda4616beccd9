"""A steering direction from data: the difference of means between two sets of clips."""

from __future__ import annotations

import numpy as np
import torch

from intervene.anatomy.base import as_clips
from intervene.anatomy.references import clip_activations

__all__ = ["direction", "mean_activation"]


def mean_activation(model, site, clips, name: str = "clips") -> np.ndarray:
    """The mean of ``site``'s activations over the clips' audio frames: float64 ``(size,)``.

    Encoder sites pool the frames that cover each clip's audio (not the padding after it);
    decoder sites pool the decoder prompt's positions (what the decoder holds before the first
    word). Every frame counts once, so longer clips weigh more.
    """
    site = model.site(site)
    total, count = None, 0
    for clip in as_clips(clips, name):
        acts = clip_activations(model, [site], clip)[site][0]  # (positions, size)
        if site.stream == "encoder":
            n = int(round(clip.audio.shape[0] * model.sample_rate / clip.sample_rate))
            acts = acts[: max(1, min(model.num_frames(n), acts.shape[0]))]
        s = acts.double().sum(0)
        total = s if total is None else total + s
        count += acts.shape[0]
    return (total / count).cpu().numpy()


@torch.no_grad()
def direction(model, site, clips_a, clips_b) -> np.ndarray:
    """Difference of means of ``site``'s activations, set A minus set B: float32 ``(size,)``.

    Parameters
    ----------
    model : SpeechModel
    site : Site or str
        E.g. ``"encoder.3.block_output"`` (head sites give a head-sized vector).
    clips_a, clips_b : clip or sequence of clips
        16 kHz arrays or Utterances, e.g. speech vs non-speech, "yes" clips vs "no" clips.

    Returns
    -------
    np.ndarray
        ``mean_A - mean_B`` over the clips' audio frames (see :func:`mean_activation`), ready
        for :class:`intervene.Steering`.

    Raises
    ------
    ConfigError
        A set of zero clips (the message names ``clips_a`` or ``clips_b``), clips that are not audio.
    UnknownNameError, ConfigError
        A site the model does not have.

    Examples
    --------
    >>> v = intervene.direction(m, "encoder.3.block_output", speech, noise)  # doctest: +SKIP
    >>> steer = intervene.Steering("encoder.3.block_output", v, alpha=-1.0)  # doctest: +SKIP
    """
    as_clips(clips_a, "clips_a")
    as_clips(clips_b, "clips_b")
    a = mean_activation(model, site, clips_a, "clips_a")
    b = mean_activation(model, site, clips_b, "clips_b")
    return (a - b).astype(np.float32)
