"""``method="head_mask"``: maps of head masking (layer x head; with time or token columns too).

``intervene.patch(model, task, pair, "decoder.cross_attention_head", unit="all", span="all",
method="head_mask")`` zeroes each head's output in turn and records the metric (a cell masks
its positions: ``span="all"`` every position; patch's default span, the frames where the pair
differs, masks encoder heads only there; ``unit="frame"`` gives a layer x head x time map). Cells run on
the adapter's cached runner (Whisper: an encoder head at layer L re-runs blocks from L; a
decoder head only the decoder, on cached cross-attention keys and values). Guards: no head
masked gives the base metric; masking matches a plain torch-hook forward.
"""

from __future__ import annotations

from intervene.anatomy.engine import AnatomyMethod
from intervene.anatomy.head_mask import HeadMask

__all__ = ["HeadMaskMethod"]


class HeadMaskMethod(AnatomyMethod):
    """Mask each cell's head (see the module notes)."""

    name = "head_mask"
    summary = "zero each head's output (encoder/decoder self-attention or cross-attention heads)"
    kind = HeadMask
    default_engine = "cached"

    @classmethod
    def default_template(cls):
        return HeadMask(None)
