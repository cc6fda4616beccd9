"""Any corruption confined to one word: ``on_word`` (pitch, filters, reverb over a word's span).

Pitch shifts, low-pass and band-stop filters and reverb act on the whole clip; on a recording
with aligned words (a dataset clip, an utterance) :class:`OnWord` applies one of them to the
target word only: the inner corruption runs on the whole clip and its output replaces the
word's span (widened by ``margin_s``), with raised-cosine crossfades of ``crossfade_s`` just
outside the span. Audio before and after (beyond the crossfades) is the clean audio, bit for bit.

Examples
--------
>>> import corruptions, tasks
>>> utt = tasks.speak("turn the lights off")
>>> c = corruptions.get("on_word", corruption={"kind": "pitch_shift", "semitones": 4.0})
>>> pair = c.pair(utt, target="lights", seed=0)
>>> pair.params["inner"]["semitones"], pair.changed_spans[0][0] >= utt.word_span("lights").start_s - 0.02
(4.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_number, draw_number, need
from corruptions.source import Source, as_source, span_samples, target_span
from tasks.errors import ConfigError, SpeechLensError

__all__ = ["OnWord"]


def _default_inner() -> dict:
    return {"kind": "pitch_shift", "semitones": 4.0}


@dataclass(frozen=True, eq=False)
class OnWord(Corruption):
    """Apply ``corruption`` to the target word's span only.

    Parameters
    ----------
    corruption : dict
        The inner corruption's config (``{"kind": "lowpass", "cutoff_hz": 1000.0}``), as
        :func:`corruptions.from_dict` reads it. Default: pitch shift by +4 semitones.
    margin_s : float or (low, high)
        Widening of the word's span on each side, in seconds.
    crossfade_s : float
        Length of each raised-cosine crossfade, just outside the span, 0 to 0.05 s.
    """

    kind: ClassVar[str] = "on_word"

    corruption: dict = field(default_factory=_default_inner)
    margin_s: float | tuple = 0.0
    crossfade_s: float = 0.01

    def __post_init__(self):
        from corruptions.registry import from_dict

        if not isinstance(self.corruption, dict) or "kind" not in self.corruption:
            raise ConfigError(f"corruption ({self.corruption!r:.80}) must be a corruption config such as "
                              "{'kind': 'pitch_shift', 'semitones': 4.0}")  # fmt: skip
        if self.corruption["kind"] in ("on_word", "word_swap", "recording_swap", "gap"):
            raise ConfigError(f"corruption kind {self.corruption['kind']!r} already acts on a word; use it directly")
        try:
            inner = from_dict(dict(self.corruption))
        except SpeechLensError as exc:
            raise ConfigError(f"corruption ({self.corruption!r:.80}) is not a valid corruption config: {exc}") from exc
        object.__setattr__(self, "corruption", inner.to_dict())
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "margin_s", check_number("margin_s", self.margin_s, low=0.0, unit="s"))
        object.__setattr__(self, "crossfade_s", check_number("crossfade_s", self.crossfade_s, low=0.0, high=0.05,
                                                             allow_range=False, unit="s"))  # fmt: skip

    @property
    def inner(self) -> Corruption:
        """The inner corruption."""
        return self._inner

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """The word's span (plus margin) and the inner corruption's own parameters.

        Raises
        ------
        AudioError, UnknownNameError
            The source has no word spans, or not the target word.
        """
        src = as_source(source)
        span = target_span(src, target)
        margin_s = draw_number(rng, self.margin_s)
        return {
            "target": span.word,
            "start_s": max(span.start_s - margin_s, 0.0),
            "end_s": min(span.end_s + margin_s, src.duration_s),
            "crossfade_s": self.crossfade_s,
            "inner": self.inner.sample(rng, src, target=span.word),
        }

    def apply(self, source, params: dict) -> np.ndarray:
        """The clean clip with the inner corruption's output over the span; float32 ``(samples,)``."""
        src = as_source(source)
        start_s, end_s, crossfade_s, inner = need(params, self.kind, "start_s", "end_s", "crossfade_s", "inner")
        full = self.inner.apply(src, inner)
        a, b = span_samples(start_s, end_s, src.sample_rate, src.n_samples)
        half = int(round(crossfade_s * src.sample_rate)) // 2
        out = F.crossfade(src.audio, full, a - half, half)
        return F.crossfade(out, src.audio, b + half, half)

    def corrupt_answer(self, params: dict, clean_answer: str | None) -> str | None:
        return self.inner.corrupt_answer(params["inner"], clean_answer)

    def corrupt_words(self, source: Source, params: dict) -> tuple:
        return source.words
