"""Word swap on recordings: splice the same speaker's recording of another word over a word.

:class:`RecordingSwap` (kind ``"recording_swap"``) is the word swap for recorded speech with
aligned word spans (a :class:`tasks.datasets.Clip` from ``tasks.open_dataset(...,
aligner=...)``, a Speech Commands clip, or any source with ``.words``). The new word comes
from:

- ``via="dataset"``: the same speaker's recording of ``word`` in the source's dataset
  (``source.dataset.find(word, speaker)``: for a sentence corpus, a clip of that speaker whose
  aligned words include it). The pair records the recording's path or id.
- ``via="tts"``: a synthesised word (espeak-ng), in the source's voice for synthesised sources,
  else in ``voice`` (a recording has no espeak voice: the swap is then out of speaker).

The new word is scaled to the loudness of the word it replaces (RMS over audible frames, so
pauses and a recording's noise floor do not count; gain limited to ``max_gain_db``) and
spliced with the helpers of :mod:`corruptions.splice` (shared with :class:`corruptions.WordSwap`):

- in a sentence (``params["splice"] == "in_place"``): the partner word's slot (its span widened
  towards its neighbours, :func:`corruptions.splice.word_slot`) is time-stretched to the
  target's slot and written over it with crossfades inside the slot
  (:func:`corruptions.splice.splice_in_place`); every sample outside the slot is untouched and
  no other word moves;
- in a one-word clip (Speech Commands, ``"shift"``): the new word starts at the target's onset
  (:func:`corruptions.functional.splice`), what followed it follows the new word, and the clip
  keeps its length.

``params["via"]``, ``params["gain_db"]``, ``params["splice"]`` and the partner's path record
what was done. (:class:`corruptions.WordSwap` is the word swap for synthesised speech; this kind
adds loudness matching over audible frames and synthesised words for recordings.)
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
from corruptions.splice import splice_in_place, word_slot
from corruptions.word_swap import PartnerNotFoundError, partner_of
from tasks._energy import active_range
from tasks.audio import prepare_audio
from tasks.errors import ConfigError, PairError
from tasks.utterance import WordSpan

__all__ = ["RecordingSwap", "loudness_gain_db"]

logger = logging.getLogger(__name__)

VIAS = ("auto", "dataset", "tts")


def _audible(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    found = active_range(audio, sample_rate, 40.0)
    return audio if found is None else audio[found[0] : found[1]]


def loudness_gain_db(target: np.ndarray, new: np.ndarray, sample_rate: int, max_gain_db: float) -> float:
    """The gain (dB) that gives ``new`` the RMS of ``target`` over their audible frames, limited to +-max."""
    a, b = F.rms(_audible(target, sample_rate)), F.rms(_audible(new, sample_rate))
    if a <= 0.0 or b <= 0.0:
        return 0.0
    return float(np.clip(20.0 * np.log10(a / b), -max_gain_db, max_gain_db))


def _check_words(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError("word (()) must name at least one word to swap in")
        return tuple(_check_words(v) for v in value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"word ({value!r}) must be a non-empty word, a tuple of words to draw from, or None")
    return value.strip()


@dataclass(frozen=True, eq=False)
class RecordingSwap(Corruption):
    """Replace the target word of a recording with another recording of the same speaker.

    Parameters
    ----------
    word : str, tuple of str, or None
        The word to swap in; a tuple is drawn from; None -> the target's Speech Commands
        partner (yes/no, up/down, ...).
    via : {"auto", "dataset", "tts"}
        "auto": "dataset" when the source has a dataset and a speaker, else "tts" for a
        synthesised source. "tts" on a recording must be asked for.
    voice : str, optional
        espeak-ng voice for ``via="tts"`` on a source without one (default "en-us").
    loudness_match : bool
        Scale the new word to the replaced word's RMS (audible frames).
    max_gain_db : float
        Largest loudness correction, 0 to 40 dB.
    crossfade_s : float
        Crossfade at each join, 0 to 0.05 s (recordings have a noise floor: 10 ms by default).

    Examples
    --------
    >>> data = tasks.open_dataset("speech_commands:sc/")  # doctest: +SKIP
    >>> p = data.pairs(["yes", "no"])[0]  # doctest: +SKIP
    >>> pair = corruptions.get("recording_swap", word=p.second.word).pair(p.first, seed=0)  # doctest: +SKIP
    >>> pair.params["via"], pair.params["partner_path"]  # doctest: +SKIP
    ('dataset', '.../no/en-us-r175-p50_nohash_0.wav')
    """

    kind: ClassVar[str] = "recording_swap"

    word: str | tuple | None = None
    via: str = "auto"
    voice: str | None = None
    loudness_match: bool = True
    max_gain_db: float = 20.0
    crossfade_s: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "word", _check_words(self.word))
        object.__setattr__(self, "via", check_choice("via", self.via, VIAS, allow_several=False))
        if self.voice is not None and (not isinstance(self.voice, str) or not self.voice.strip()):
            raise ConfigError(f"voice ({self.voice!r}) must be an espeak-ng voice such as 'en-us', or None")
        object.__setattr__(self, "loudness_match", check_flag("loudness_match", self.loudness_match))
        object.__setattr__(self, "max_gain_db", check_number("max_gain_db", self.max_gain_db, low=0.0, high=40.0,
                                                             allow_range=False, unit="dB"))  # fmt: skip
        object.__setattr__(self, "crossfade_s", check_number("crossfade_s", self.crossfade_s, low=0.0, high=0.05,
                                                             allow_range=False, unit="s"))  # fmt: skip

    def _via(self, src: Source) -> str:
        has_dataset = src.dataset is not None and hasattr(src.dataset, "find") and src.speaker is not None
        if self.via == "dataset" or (self.via == "auto" and has_dataset):
            if not has_dataset:
                raise ConfigError(
                    "via='dataset' needs a dataset clip (source.dataset and source.speaker): open the recordings "
                    "with tasks.open_dataset(...); or pass via='tts' to splice in a synthesised word"
                )
            return "dataset"
        if self.via == "auto" and src.voice is None:
            raise ConfigError(
                "recording_swap on this source: it has no dataset to take the same speaker's recording from "
                "and no synthesiser voice; open it with tasks.open_dataset, or pass via='tts' (and voice=)"
            )
        return "tts"

    def sample(self, rng: np.random.Generator, source, target: str | None = None) -> dict:
        """Pick the new word, find its recording and the loudness gain.

        Raises
        ------
        ConfigError
            No default partner for the target (pass ``word=``), or no way to get the new word.
        PartnerNotFoundError
            ``via="dataset"`` and the speaker has no recording of the new word.
        """
        src = as_source(source)
        span = target_span(src, target)
        word = partner_of(span.word) if self.word is None else draw_choice(rng, self.word)
        index = next(i for i, w in enumerate(src.words) if w.word.lower() == span.word.lower()
                     and abs(w.start_s - span.start_s) < 1e-9)  # fmt: skip
        params = {"target": span.word, "word": word, "index": index, "start_s": span.start_s, "end_s": span.end_s,
                  "via": self._via(src), "crossfade_s": self.crossfade_s, "stretch": False}  # fmt: skip
        if params["via"] == "tts":
            params.update(voice=src.voice or self.voice or "en-us", rate=src.rate or 175, pitch=src.pitch or 50)
        new_audio, new_span, partner, new_slot = self._partner(src, params)
        params.update(partner_start_s=new_span.start_s, partner_end_s=new_span.end_s, **partner)
        if len(src.words) > 1:
            slot = word_slot(src.words, index, src.duration_s)
            params.update(splice="in_place", slot_start_s=slot[0], slot_end_s=slot[1],
                          partner_slot_start_s=new_slot[0], partner_slot_end_s=new_slot[1])  # fmt: skip
        else:
            params["splice"] = "shift"
        gain_db = 0.0
        if self.loudness_match:
            a, b = span_samples(span.start_s, span.end_s, src.sample_rate, src.n_samples)
            na, nb = span_samples(new_span.start_s, new_span.end_s, src.sample_rate, new_audio.shape[0])
            gain_db = loudness_gain_db(src.audio[a:b], new_audio[na:nb], src.sample_rate, self.max_gain_db)
        params["gain_db"] = gain_db
        cut_s = 0.0 if params["splice"] == "in_place" else max(span.start_s + new_span.duration_s - src.duration_s, 0.0)
        if cut_s > 0:
            logger.warning("recording_swap: %r is %.3f s longer than the clip allows and is cut", word, cut_s)
        params["word_cut_s"] = cut_s
        return params

    def _partner(self, src: Source, params: dict) -> tuple:
        """``(audio float32 16 kHz, WordSpan of the new word, {partner_path/partner_id}, its slot)``."""
        word = params["word"]
        if params["via"] == "dataset":
            found = src.dataset.find(word, src.speaker)
            if found is None:
                raise PartnerNotFoundError(
                    f"the dataset has no recording of {word!r} by speaker {src.speaker!r} (with aligned words); "
                    "pick another word (word=...), or pass via='tts' to splice in a synthesised word"
                )
            record = {"partner_path": None if getattr(found, "path", None) is None else str(found.path),
                      "partner_id": getattr(found, "id", None) or getattr(found, "relative_path", None)}  # fmt: skip
            for key in ("partner_path", "partner_id"):
                if key in params and params[key] != record[key]:
                    raise PairError(f"the dataset now gives {record[key]!r} for {word!r} by {src.speaker!r}, but the "
                                    f"pair was made from {params[key]!r}; rebuild it from the same dataset")  # fmt: skip
            audio = prepare_audio(found.audio, found.sample_rate, name=f"recording of {word!r}")
            words = [WordSpan(*w) for w in found.words]
            index = next(i for i, w in enumerate(words) if w.word.lower() == word.lower())
            return audio, words[index], record, word_slot(words, index, audio.shape[0] / src.sample_rate)
        from tasks.tts import speak

        voice, rate, pitch = need(params, self.kind, "voice", "rate", "pitch")
        utterance = speak(word, voice=voice, rate=rate, pitch=pitch)
        span = WordSpan(word, utterance.words[0].start_s, utterance.words[-1].end_s)
        return utterance.audio, span, {}, word_slot([span], 0, utterance.duration_s)

    def apply(self, source, params: dict) -> np.ndarray:
        """Splice the (loudness-matched) new word over the target; float32 ``(samples,)``, same length."""
        src = as_source(source)
        start_s, end_s, crossfade_s = need(params, self.kind, "start_s", "end_s", "crossfade_s")
        new_audio, new_span, _, _ = self._partner(src, params)
        new_audio = new_audio * np.float32(10.0 ** (float(params.get("gain_db", 0.0)) / 20.0))
        fade = int(round(crossfade_s * src.sample_rate))
        if params.get("splice") == "in_place":
            slot = need(params, self.kind, "slot_start_s", "slot_end_s")
            new_slot = need(params, self.kind, "partner_slot_start_s", "partner_slot_end_s")
            a, b = span_samples(*slot, src.sample_rate, src.n_samples)
            na, nb = span_samples(*new_slot, src.sample_rate, new_audio.shape[0])
            return splice_in_place(src.audio, a, b, F.time_stretch_to(new_audio[na:nb], b - a), fade)
        a, b = span_samples(start_s, end_s, src.sample_rate, src.n_samples)
        na, nb = span_samples(new_span.start_s, new_span.end_s, src.sample_rate, new_audio.shape[0])
        return F.splice(src.audio, a, b, new_audio, na, nb, fade)

    def corrupt_answer(self, params: dict, clean_answer: str | None) -> str | None:
        """The swapped-in word."""
        return params["word"]

    def corrupt_words(self, source: Source, params: dict) -> tuple:
        """The target relabelled (in place: same span, nothing moves), or replaced by the new word's
        span with later words shifted by the length change (shift)."""
        start_s, end_s, index = params["start_s"], params["end_s"], params["index"]
        if params.get("splice") == "in_place":
            return tuple(WordSpan(params["word"], w.start_s, w.end_s) if i == index else w
                         for i, w in enumerate(source.words))  # fmt: skip
        new_s = params["partner_end_s"] - params["partner_start_s"]
        shift = new_s - (end_s - start_s)
        out = []
        for i, w in enumerate(source.words):
            if i < index:
                out.append(w)
            elif i == index:
                out.append(WordSpan(params["word"], start_s, min(start_s + new_s, source.duration_s)))
            elif w.start_s + shift < source.duration_s:
                out.append(WordSpan(w.word, w.start_s + shift, min(w.end_s + shift, source.duration_s)))
        return tuple(out)
