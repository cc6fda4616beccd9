"""Word swap: the same voice (or speaker) says another word, aligned to the original's onset.

The in-distribution counterfactual: the corrupt clip is ordinary speech whose answer differs,
so a logit difference between the two words scores it (see FACTS.md). Inside a sentence only
the word's slot changes (:mod:`corruptions.splice`); the rest of the sentence is untouched.
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
from corruptions.splice import loudness_gain_db, splice_in_place, word_slot
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
      sentence the sentence is synthesized again with the word replaced and only the new
      word is cut from it (its coarticulation then fits the context);
    - ``"auto"`` (default): ``"dataset"`` when the source has a dataset and a speaker, else
      ``"tts"`` when it has a voice.

    How the new word goes in (recorded as ``params["splice"]``):

    - ``"shift"`` (a source with one word, e.g. a keyword clip): the new word's span starts at
      the target's onset and replaces the target's span; what followed the target (silence)
      follows the new word, shifted by the length difference unless ``stretch``; the clip keeps
      its length (trailing audio trimmed or zero-padded). Both joins are crossfaded over
      ``crossfade_s``; audio up to half a crossfade before the onset is untouched.
    - ``"in_place"`` (a source with several words, a sentence): the new word's slot (its span
      widened towards its neighbours by at most 40 ms, :func:`corruptions.splice.word_slot`) is
      time-stretched to the target's slot, scaled to the target word's loudness (``gain_db``)
      and written over the slot with ``crossfade_s`` fades inside it. Every sample outside
      ``[slot_start_s, slot_end_s)`` stays as it was and no later word moves, so the pair
      differs only in the word. ``stretch`` does not apply (the slot is always filled).

    Parameters
    ----------
    word : str, tuple of str, or None
        The word to swap in; a tuple is drawn from; None -> the target's partner among the
        Speech Commands core words (yes/no, up/down, left/right, on/off, stop/go).
    stretch : bool
        One-word sources: time-stretch the new word (phase vocoder, pitch kept) to the
        target's duration, so everything after it stays aligned. (Sentences are always
        spliced in place.)
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
        new_audio, new_span, path, new_slot = self._partner(src, params)
        params.update(partner_start_s=new_span.start_s, partner_end_s=new_span.end_s)
        if path is not None:
            params["partner_path"] = path
        if len(src.words) > 1:
            return self._in_place_params(src, span, params, new_audio, new_span, new_slot)
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
        """``(audio float32 at 16 kHz, WordSpan of the new word, path or None, slot (start_s, end_s))``.

        The slot is the new word's span widened towards its neighbours when it was cut from
        the re-synthesized sentence, towards the silence around it otherwise.
        """
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
            return audio, span, path, word_slot([span], 0, audio.shape[0] / src.sample_rate)
        from tasks.tts import speak

        voice, rate, pitch = need(params, self.kind, "voice", "rate", "pitch")
        index = int(params.get("index", 0))
        if len(src.words) > 1:
            words = [w.word for w in src.words]
            words[index] = word
            utterance = speak(" ".join(words), voice=voice, rate=rate, pitch=pitch)
            if len(utterance.words) == len(words):
                slot = word_slot(utterance.words, index, utterance.duration_s)
                return utterance.audio, utterance.words[index], None, slot
        utterance = speak(word, voice=voice, rate=rate, pitch=pitch)
        first, last = utterance.words[0], utterance.words[-1]
        span = WordSpan(word, first.start_s, last.end_s)
        return utterance.audio, span, None, word_slot([span], 0, utterance.duration_s)

    def _in_place_params(self, src: Source, span, params: dict, new_audio: np.ndarray, new_span, new_slot) -> dict:
        """Params of an in-place splice: both slots, the loudness gain, and the stretch ratio."""
        rate = src.sample_rate
        slot = word_slot(src.words, params["index"], src.duration_s)
        a, b = span_samples(*slot, rate, src.n_samples)
        na, nb = span_samples(*new_slot, rate, new_audio.shape[0])
        segment = F.time_stretch_to(new_audio[na:nb], b - a)
        ratio = (b - a) / max(nb - na, 1)
        # The new word's own span inside the stretched segment: its loudness is matched to the old word's.
        wa, wb = (int(round((t - new_slot[0]) * rate * ratio)) for t in (new_span.start_s, new_span.end_s))
        ta, tb = span_samples(span.start_s, span.end_s, rate, src.n_samples)
        params.update(
            splice="in_place", slot_start_s=slot[0], slot_end_s=slot[1], partner_slot_start_s=new_slot[0],
            partner_slot_end_s=new_slot[1], stretch_ratio=round(ratio, 6),
            gain_db=round(loudness_gain_db(src.audio[ta:tb], segment[max(wa, 0) : max(wb, wa + 1)]), 4),
            word_cut_s=0.0,
        )  # fmt: skip
        return params

    def apply(self, source, params: dict) -> np.ndarray:
        """Splice the new word over the target; float32 ``(samples,)``, same length as the source."""
        src = as_source(source)
        start_s, end_s, stretch, crossfade_s = need(params, self.kind, "start_s", "end_s", "stretch", "crossfade_s")
        new_audio, new_span, _, _ = self._partner(src, params)
        fade = int(round(crossfade_s * src.sample_rate))
        if params.get("splice") == "in_place":
            slot_s = need(params, self.kind, "slot_start_s", "slot_end_s")
            new_slot_s = need(params, self.kind, "partner_slot_start_s", "partner_slot_end_s")
            a, b = span_samples(*slot_s, src.sample_rate, src.n_samples)
            na, nb = span_samples(*new_slot_s, src.sample_rate, new_audio.shape[0])
            gain = 10.0 ** (float(params.get("gain_db", 0.0)) / 20.0)
            segment = F.time_stretch_to(new_audio[na:nb], b - a) * np.float32(gain)
            return splice_in_place(src.audio, a, b, segment, fade)
        a, b = span_samples(start_s, end_s, src.sample_rate, src.n_samples)
        na, nb = span_samples(new_span.start_s, new_span.end_s, src.sample_rate, new_audio.shape[0])
        segment = F.time_stretch_to(new_audio[na:nb], b - a) if stretch else None
        return F.splice(src.audio, a, b, new_audio, na, nb, fade, segment=segment)

    def corrupt_answer(self, params: dict, clean_answer: str | None) -> str | None:
        """The swapped-in word."""
        return params["word"]

    def corrupt_words(self, source: Source, params: dict) -> tuple:
        """The target replaced by the new word's span; later words shifted by the length change
        (none: in-place splices keep every other word where it was)."""
        duration_s = source.duration_s
        start_s, end_s, index = params["start_s"], params["end_s"], params["index"]
        if params.get("splice") == "in_place":
            slot_start_s, ratio = params["slot_start_s"], params["stretch_ratio"]

            def placed(t):
                return round(slot_start_s + (t - params["partner_slot_start_s"]) * ratio, 6)

            new = WordSpan(params["word"], placed(params["partner_start_s"]), placed(params["partner_end_s"]))
            return tuple(new if i == index else w for i, w in enumerate(source.words))
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
