"""Whisper anatomy: ablations, attention windows, head masks and steering, held on a whole run.

Interventions are small frozen objects; a list of them runs together, and they stay on for
every forward of a run (every decoding step of :func:`intervene.transcribe`, every cell of a
map):

- :class:`Ablation` (``zero``, ``mean``, ``resample``, ``silence``) of a site over a time span;
- :class:`AttentionWindow`: encoder self-attention restricted to +-k frames;
- :class:`HeadMask`: one head's output zeroed;
- :class:`Steering`: ``alpha * direction`` added, with :func:`direction` from two sets of clips.

Maps of them go through :func:`intervene.patch` / :func:`intervene.sweep` with ``method=`` the
intervention's name ("ablation", "window", "head_mask", "steer"; :mod:`intervene.anatomy.engine`)
and :func:`window_map` / :func:`steer_map` for k x layer and alpha x layer maps.
"""

from intervene.anatomy.ablation import ABLATION_KINDS, Ablation
from intervene.anatomy.apply import applied
from intervene.anatomy.base import Clip, RunEnv
from intervene.anatomy.direction import direction
from intervene.anatomy.head_mask import HeadMask
from intervene.anatomy.steering import Steering
from intervene.anatomy.sweeps import stack_maps, steer_map, window_map
from intervene.anatomy.window import AttentionWindow, window_bias

__all__ = [
    "Ablation",
    "ABLATION_KINDS",
    "AttentionWindow",
    "HeadMask",
    "Steering",
    "direction",
    "applied",
    "RunEnv",
    "Clip",
    "window_bias",
    "window_map",
    "steer_map",
    "stack_maps",
]
