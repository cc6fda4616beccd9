"""Features: activation stores, sparse autoencoders on a site, and SAE features as sites.

- :mod:`intervene.features.corpus`: clips to read activations from (synthesis, recordings).
- :mod:`intervene.features.store`: :func:`extract` a site's activations to sharded files;
  :class:`ActivationStore` reads them.
- :mod:`intervene.features.sae`: :class:`SAE` (TopK, BatchTopK, ReLU), saved in SAELens's format.
- :mod:`intervene.features.train`: :func:`train_sae`.
- :mod:`intervene.features.sites`: an SAE's features as intervention sites.
"""

from intervene.features.corpus import (
           SENTENCES,
           CorpusClip,
           dataset_corpus,
           synthetic_corpus,
)
from intervene.features.sae import SAE, SAEConfig
from intervene.features.store import ActivationStore, extract

__all__ = [
           "SAE",
           "SENTENCES",
           "ActivationStore",
           "CorpusClip",
           "SAEConfig",
           "dataset_corpus",
           "extract",
           "synthetic_corpus",
]
