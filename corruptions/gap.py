"""A gap: a span replaced by silence or level-matched noise, or cut out and padded back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_choice, check_number, draw_choice, draw_number, need
from corruptions.source import Source, as_source, span_samples
from corruptions.span import check_span_fields, draw_span
from tasks.utterance import WordSpan

__all__ = ["Gap"]

FILLS = ("silence", "noise", "cut")


@dataclass(frozen=True, eq=False)
class Gap(Corruption):
    """Blank out a span: digital silence, noise at the clip's level, or a crossfaded cut.

    - ``fill="silence"``: the span becomes exact zeros;
    - ``fill="noise"``: the span becomes ``color`` noise whose RMS is the whole clean clip's
      RMS times ``10**(level_db / 20)`` (exactly, over the span);
    - ``fill="cut"``: the span is removed, the two sides are joined by a raised-cosine
      crossfade of ``crossfade_s``, and zeros are appended to keep the length. Everything
      after the cut moves earlier, so frames after it are no longer aligned with the clean clip.

    Audio outside the span (outside the crossfade for ``"cut"``) is untouched, bit for bit.

    Parameters
    ----------
    fill : {"silence", "noise", "cut"} or a tuple to draw from
    span : {"word", "times", "all"}
        Default: the target word (see :mod:`corruptions.span`).
    start_s, duration_s : float or (low, high), optional
        Place the gap at given times instead (selects ``span="times"``).
    margin_s : float or (low, high)
        Widening of a word span on each side, in seconds.
    level_db : float or (low, high)
        Noise fill level relative to the clip's RMS, -60 to 20 dB.
    color : str
        Noise fill color (``"white"``, ``"pink"``, ``"brown"``, ...).
    crossfade_s : float
        Crossfade length of a cut, 0 to 0.1 s.
    ramp_s : float
        For silence/noise fills: length of the raised-cosine blend from the audio into the fill
        at each edge, inside the span (0 = hard edges).

    Examples
    --------
    >>> import numpy as np, corruptions
    >>> from tasks import Utterance
    >>> utt = Utterance(np.ones(16000, np.float32), words=[("yes", 0.25, 0.5)])
    >>> pair = corruptions.get("gap").pair(utt, seed=0)
    >>> float(np.abs(pair.corrupt[4000:8000]).max()), pair.changed_spans
    (0.0, [(0.25, 0.5)])
    """

    kind: ClassVar[str] = "gap"

    fill: str | tuple = "silence"
    span: str = "word"
    start_s: float | tuple | None = None
    duration_s: float | tuple | None = None
    margin_s: float | tuple = 0.0
    level_db: float | tuple = 0.0
    color: str = "white"
    crossfade_s: float = 0.01
    ramp_s: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "fill", check_choice("fill", self.fill, FILLS))
        check_span_fields(self, default_span="word")
        object.__setattr__(self, "level_db", check_number("level_db", self.level_db, low=-60.0, high=20.0, unit="dB"))
        object.__setattr__(self, "color", check_choice("color", self.color, tuple(F.NOISE_COLORS), allow_several=False))
        object.__setattr__(self, "crossfade_s", check_number("crossfade_s", self.crossfade_s, low=0.0, high=0.1,
                                                             allow_range=False, unit="s"))  # fmt: skip
        object.__setattr__(self, "ramp_s", check_number("ramp_s", self.ramp_s, low=0.0, high=0.1,
                                                        allow_range=False, unit="s"))  # fmt: skip

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """Draw the span and the fill: ``span, start_s, end_s, fill`` and the fill's own params."""
        src = as_source(source)
        params = draw_span(rng, src, target, self)
        fill = draw_choice(rng, self.fill)
        params["fill"] = fill
        if fill == "noise":
            params.update(
                level_db=draw_number(rng, self.level_db), color=self.color, noise_seed=int(rng.integers(2**63)),
                ramp_s=self.ramp_s,
            )  # fmt: skip
        elif fill == "cut":
            params["crossfade_s"] = self.crossfade_s
        else:
            params["ramp_s"] = self.ramp_s
        return params

    def apply(self, source, params: dict) -> np.ndarray:
        """Blank the span ``params`` give; float32 ``(samples,)``, same length as the source."""
        src = as_source(source)
        start_s, end_s, fill = need(params, self.kind, "start_s", "end_s", "fill")
        a, b = span_samples(start_s, end_s, src.sample_rate, src.n_samples)
        audio = src.audio
        if b <= a:
            return audio.copy()
        if fill == "cut":
            (crossfade_s,) = need(params, self.kind, "crossfade_s")
            return F.crossfade_cut(audio, a, b, int(round(crossfade_s * src.sample_rate)))
        if fill == "noise":
            level_db, color, noise_seed = need(params, self.kind, "level_db", "color", "noise_seed")
            level = F.rms(audio) * 10.0 ** (level_db / 20.0)
            fill_audio = F.colored_noise(np.random.default_rng(int(noise_seed)), b - a, color) * np.float32(level)
        else:
            fill_audio = np.zeros(b - a, dtype=np.float32)
        half = min(int(round(float(params.get("ramp_s", 0.0)) * src.sample_rate)), (b - a) // 2) // 2
        if half > 0:
            # Blend audio -> fill over the span's first 2*half samples and back over its last.
            inner = F.crossfade(audio[a:b], fill_audio, half, half)
            fill_audio = F.crossfade(inner, audio[a:b], b - a - half, half)
        return F.replace_span(audio, a, b, fill_audio)

    def corrupt_words(self, source: Source, params: dict) -> tuple:
        """Words wholly inside the gap are gone; after a cut, later words move earlier."""
        start_s, end_s = params["start_s"], params["end_s"]
        shift = end_s - start_s if params.get("fill") == "cut" else 0.0
        out = []
        for w in source.words:
            if w.start_s >= start_s and w.end_s <= end_s:
                continue
            s = w.start_s if w.start_s < start_s else max(w.start_s - shift, start_s)
            e = w.end_s if w.end_s <= start_s else max(w.end_s - shift, start_s)
            out.append(WordSpan(w.word, s, e))
        return tuple(out)
