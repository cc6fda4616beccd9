"""Learned interventions and readers: DAS, probes with controls, LEACE erasure, planted models.

- :func:`das` (:mod:`~intervene.learned.das`): distributed alignment search with pyvene's
  rotated-space interventions; :class:`DASResult` (IIA on held-out voices, save / load,
  ``.intervention`` for :func:`intervene.intervene`).
- :func:`probe` (:mod:`~intervene.learned.probes`): logistic-regression probes over sites x
  windows with Hewitt & Liang control tasks; :class:`ProbeResult`.
- :func:`erase` (:mod:`~intervene.learned.erasure`): LEACE fitted on a site's activations,
  applied as a pyvene intervention; :class:`ErasureResult`.
- :mod:`~intervene.learned.planted`: tiny Whisper models with hand-set weights whose causal
  structure is known, to check every method against.
- :mod:`~intervene.learned.activations`, :mod:`~intervene.learned.labels`,
  :mod:`~intervene.learned.phonemes`, :mod:`~intervene.learned.splits`: collecting
  activations, labels read off the clips, phoneme timings, voice-disjoint splits.
"""

from intervene.learned.das import DASResult, das
from intervene.learned.erasure import ErasureResult, LeaceIntervention, erase
from intervene.learned.probes import ProbeResult, probe

__all__ = ["das", "DASResult", "probe", "ProbeResult", "erase", "ErasureResult", "LeaceIntervention"]
