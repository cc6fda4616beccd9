"""Features: activation stores, sparse autoencoders on a site, and SAE features as sites.

- :mod:`intervene.features.corpus`: clips to read activations from (synthesis, recordings).
- :mod:`intervene.features.store`: :func:`extract` a site's activations to sharded files;
  :class:`ActivationStore` reads them.
- :mod:`intervene.features.sae`: :class:`SAE` (TopK, BatchTopK, ReLU), saved in SAELens's format.
- :mod:`intervene.features.train`: :func:`train_sae`.
- :mod:`intervene.features.sites`: an SAE's features as intervention sites.
"""

from intervene.features.corpus import SENTENCES, CorpusClip, dataset_corpus, synthetic_corpus
from intervene.features.evaluate import evaluate, match_directions, stability
from intervene.features.sae import SAE, SAEConfig
from intervene.features.sites import attach
from intervene.features.store import ActivationStore, extract
from intervene.features.train import TrainConfig, train_sae

__all__ = ["SAE", "SENTENCES", "ActivationStore", "CorpusClip", "SAEConfig", "TrainConfig", "attach", "dataset_corpus",
           "evaluate", "extract", "match_directions", "stability", "synthetic_corpus", "train_sae"]
