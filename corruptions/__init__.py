"""Counterfactual halves of aligned minimal pairs of audio.

audio -> task example -> **corruption** -> MinimalPair -> interventions -> CausalMap

Each corruption kind is a frozen dataclass of checked parameters with draw-then-apply
(``sample(rng, source)`` then ``apply(source, params)``) and ``pair(source, seed=...)``,
which returns a :class:`MinimalPair`. The signal processing lives in
:mod:`corruptions.functional`.

Examples
--------
>>> import numpy as np, corruptions
>>> corruptions.kinds()[:3]
['bandstop', 'gap', 'lowpass']
>>> c = corruptions.get("noise", snr_db=(0, 10), color=("white", "pink"))
>>> corruptions.from_dict(c.to_dict()) == c
True
"""

from corruptions import functional
from corruptions.bandstop import BandStop
from corruptions.base import Corruption
from corruptions.registry import from_dict, get, kinds, register
from corruptions.gap import Gap
from corruptions.lowpass import LowPass
from corruptions.noise import Noise
from corruptions.on_word import OnWord
from corruptions.pair import MinimalPair
from corruptions.pitch_shift import PitchShift
from corruptions.recording_swap import RecordingSwap
from corruptions.reverb import Reverb
from corruptions.source import Source, as_source
from corruptions.word_swap import CORE_PARTNERS, PartnerNotFoundError, WordSwap, partner_of
from tasks import errors as _errors
from tasks.errors import *  # noqa: F403  (the one error family; its __all__ is the list)

# The registry, in one visible place: kind name -> class (each class's `kind` attribute).
BUILTIN = (Noise, Gap, PitchShift, LowPass, BandStop, Reverb, WordSwap, RecordingSwap, OnWord)
for _cls in BUILTIN:
    register(_cls)
del _cls

__all__ = [
    "get",
    "from_dict",
    "register",
    "kinds",
    "Corruption",
    "MinimalPair",
    "Source",
    "as_source",
    "functional",
    "Noise",
    "Gap",
    "PitchShift",
    "LowPass",
    "BandStop",
    "Reverb",
    "WordSwap",
    "RecordingSwap",
    "OnWord",
    "PartnerNotFoundError",
    "CORE_PARTNERS",
    "partner_of",
    "BUILTIN",
    *_errors.__all__,
]
