"""Word swap: the same voice (or speaker) says another word, aligned to the original's onset.

The in-distribution counterfactual: the corrupt clip is ordinary speech whose answer differs,
so a logit difference between the two words scores it (see FACTS.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from corruptions import functional as F
from corruptions.base import Corruption
from corruptions.params import check_choice, check_flag, check_number, draw_choice, need
from corruptions.source import Source, as_source, span_samples, target_span
from tasks.audio import prepare_audio
from tasks.errors import ConfigError, DatasetError, PairError
from tasks.utterance import WordSpan

__all__ = ["WordSwap", "PartnerNotFoundError", "CORE_PARTNERS", "partner_of"]

logger = logging.getLogger(__name__)

CORE_PARTNERS = {
    "yes": "no", "no": "yes", "up": "down", "down": "up", "left": "right",
    "right": "left", "on": "off", "off": "on", "stop": "go", "go": "stop",
}  # fmt: skip
"""The default partner of each Speech Commands core word."""

VIAS = ("auto", "tts", "dataset")


class PartnerNotFoundError(DatasetError):
    """The dataset has no recording of the new word by the source's speaker."""


def partner_of(word: str) -> str:
    """The default swap partner of a Speech Commands core word (``"yes"`` -> ``"no"``).

    Raises
    ------
    ConfigError
        ``word`` is not a core word; the message asks for ``word=``.
    """
    partner = CORE_PARTNERS.get(str(word).lower())
    if partner is None:
        raise ConfigError(
            f"word_swap has no default partner for {word!r} (defaults exist for "
            f"{', '.join(sorted(CORE_PARTNERS))}); pass word= the word to swap in"
        )
    return partner


def _check_word(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError("word (()) must name at least one word to swap in")
        return tuple(_check_word(v) for v in value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"word ({value!r}) must be a non-empty word, a tuple of words to draw from, or None")
    return value.strip()


@dataclass(frozen=True, eq=False)
class WordSwap(Corruption):
    """Replace the target word with ``word`` said by the same voice or speaker.

    Where the new word comes from (``via``):

    - ``"dataset"``: the same speaker's recording of ``word`` in ``source.dataset``
      (``dataset.find(word, source.speaker)``); none -> :class:`PartnerNotFoundError`;
    - ``"tts"``: :func:`tasks.tts.speak` with the source's voice, rate and pitch. Inside a
      sentence the whole sentence is re-synthesized with the word replaced and the new
      word's span is taken from it (its coarticulation then fits the context);
    - ``"auto"`` (default): ``"dataset"`` when the source has a dataset and a speaker, else
      ``"tts"`` when it has a voice.

    The new word's span starts at the target's onset and replaces the target's span; what
    followed the target follows the new word (shifted by the length difference unless
    ``stretch``), and the clip keeps its length (trailing audio trimmed or zero-padded).
    Both joins are crossfaded over ``crossfade_s``; audio up to half a crossfade before the
    onset is untouched.

    Parameters
    ----------
    word : str, tuple of str, or None
        The word to swap in; a tuple is drawn from; None -> the target's partner among the
        Speech Commands core words (yes/no, up/down, left/right, on/off, stop/go).
    stretch : bool
        Time-stretch the new word (phase vocoder, pitch kept) to the target's duration, so
        everything after it stays aligned.
    via : {"auto", "tts", "dataset"}
    crossfade_s : float
        Crossfade at each join, 0 to 0.05 s.

    Examples
    --------
    >>> import corruptions
    >>> from tasks.tts import speak
    >>> pair = corruptions.get("word_swap").pair(speak("yes"), seed=0)
    >>> pair.clean_answer, pair.corrupt_answer
    ('yes', 'no')
    """

    kind: ClassVar[str] = "word_swap"

    word: str | tuple | None = None
    stretch: bool = False
    via: str = "auto"
    crossfade_s: float = 0.005

    def __post_init__(self):
        object.__setattr__(self, "word", _check_word(self.word))
        object.__setattr__(self, "stretch", check_flag("stretch", self.stretch))
        object.__setattr__(self, "via", check_choice("via", self.via, VIAS, allow_several=False))
        object.__setattr__(self, "crossfade_s", check_number("crossfade_s", self.crossfade_s, low=0.0, high=0.05,
                                                             allow_range=False, unit="s"))  # fmt: skip

    def _via(self, src: Source) -> str:
        has_dataset = src.dataset is not None and hasattr(src.dataset, "find") and src.speaker is not None
        if self.via == "dataset" or (self.via == "auto" and has_dataset):
            if not has_dataset:
                raise ConfigError("via='dataset' needs a dataset example (source.dataset and source.speaker)")
            return "dataset"
        if src.voice is None:
            raise ConfigError(
                "word_swap needs a synthesized source (with .voice, .rate, .pitch: tasks.tts.speak) or a "
                "dataset example (with .dataset and .speaker); this source has neither"
            )
        return "tts"

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """Pick the new word and find it: ``target, word, start_s, end_s, via`` and the partner's span.

        Raises
        ------
        ConfigError
            No default partner for the target (pass ``word=``), or no way to get the new word.
        PartnerNotFoundError
            ``via="dataset"`` and the speaker never said the new word.
        """
        src = as_source(source)
        span = target_span(src, target)
        word = partner_of(span.word) if self.word is None else draw_choice(rng, self.word)
        index = next(i for i, w in enumerate(src.words) if w.word.lower() == span.word.lower())
        params = {
            "target": span.word, "word": word, "index": index, "start_s": span.start_s, "end_s": span.end_s,
            "stretch": self.stretch, "via": self._via(src), "crossfade_s": self.crossfade_s,
        }  # fmt: skip
        if params["via"] == "tts":
            params.update(voice=src.voice, rate=src.rate, pitch=src.pitch)
        new_audio, new_span, path = self._partner(src, params)
        params.update(partner_start_s=new_span.start_s, partner_end_s=new_span.end_s)
        if path is not None:
            params["partner_path"] = path
        a, b = span_samples(span.start_s, span.end_s, src.sample_rate, src.n_samples)
        length = b - a if self.stretch else int(round(new_span.duration_s * src.sample_rate))
        cut_s = max(a + length - src.n_samples, 0) / src.sample_rate
        if cut_s > 0:
            logger.warning(
                "word_swap: %r is %.3f s longer than the clip allows and is cut; pad the source or pass "
                "stretch=True", word, cut_s,
            )  # fmt: skip
        params["word_cut_s"] = cut_s
        return params

    def _partner(self, src: Source, params: dict) -> tuple:
        """``(audio float32 at 16 kHz, WordSpan of the new word, path or None)``."""
        word, via = params["word"], params["via"]
        if via == "dataset":
            example = src.dataset.find(word, src.speaker)
            if example is None:
                raise PartnerNotFoundError(
                    f"the dataset has no recording of {word!r} by speaker {src.speaker!r}; pick another word "
                    "(word=...) or another source"
                )
            path = None if getattr(example, "path", None) is None else str(example.path)
            if "partner_path" in params and path != params["partner_path"]:
                raise PairError(
                    f"the dataset now gives '{path}' for {word!r} by {src.speaker!r}, but the pair was made "
                    f"from '{params['partner_path']}'; rebuild from the same dataset"
                )
            audio = prepare_audio(example.audio, example.sample_rate, name=f"recording of {word!r}")
            spans = list(example.words)
            span = next((WordSpan(*s) for s in spans if s[0].lower() == word.lower()), WordSpan(*spans[0]))
            return audio, span, path
        from tasks.tts import speak

        voice, rate, pitch = need(params, self.kind, "voice", "rate", "pitch")
        index = int(params.get("index", 0))
        if len(src.words) > 1:
            words = [w.word for w in src.words]
            words[index] = word
            utterance = speak(" ".join(words), voice=voice, rate=rate, pitch=pitch)
            if len(utterance.words) == len(words):
                return utterance.audio, utterance.words[index], None
        utterance = speak(word, voice=voice, rate=rate, pitch=pitch)
        first, last = utterance.words[0], utterance.words[-1]
        return utterance.audio, WordSpan(word, first.start_s, last.end_s), None

    def apply(self, source, params: dict) -> np.ndarray:
        """Splice the new word over the target; float32 ``(samples,)``, same length as the source."""
        src = as_source(source)
        start_s, end_s, stretch, crossfade_s = need(params, self.kind, "start_s", "end_s", "stretch", "crossfade_s")
        new_audio, new_span, _ = self._partner(src, params)
        a, b = span_samples(start_s, end_s, src.sample_rate, src.n_samples)
        na, nb = span_samples(new_span.start_s, new_span.end_s, src.sample_rate, new_audio.shape[0])
        segment = F.time_stretch_to(new_audio[na:nb], b - a) if stretch else None
        fade = int(round(crossfade_s * src.sample_rate))
        return F.splice(src.audio, a, b, new_audio, na, nb, fade, segment=segment)

    def corrupt_answer(self, params: dict, clean_answer: str | None) -> str | None:
        """The swapped-in word."""
        return params["word"]

    def corrupt_words(self, source: Source, params: dict) -> tuple:
        """The target replaced by the new word's span; later words shifted by the length change."""
        duration_s = source.duration_s
        start_s, end_s, index = params["start_s"], params["end_s"], params["index"]
        new_s = end_s - start_s if params["stretch"] else params["partner_end_s"] - params["partner_start_s"]
        shift = new_s - (end_s - start_s)
        out = []
        for i, w in enumerate(source.words):
            if i < index:
                out.append(w)
            elif i == index:
                out.append(WordSpan(params["word"], start_s, min(start_s + new_s, duration_s)))
            elif w.start_s + shift < duration_s:
                out.append(WordSpan(w.word, w.start_s + shift, min(w.end_s + shift, duration_s)))
        return tuple(out)
