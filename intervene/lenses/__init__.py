"""Lenses: read an intermediate layer the way the model reads its last one.

- :func:`encoder_lens`: the decoder reads an encoder layer (through the encoder's final layer
  norm): the transcript and WER per layer, and next-token tables.
- :func:`logit_lens`: each decoder layer through the final layer norm and the unembedding.

Both return a :class:`LensTable` (layer x token tables of top tokens and of the answer's
probability and rank) that saves, loads (verified whole) and plots.
"""

from intervene.lenses.lensfile import FORMAT, load_lens, save_lens
from intervene.lenses.run import encoder_lens, logit_lens
from intervene.lenses.table import KINDS, LensTable

__all__ = ["FORMAT", "KINDS", "LensTable", "encoder_lens", "load_lens", "logit_lens", "save_lens"]
