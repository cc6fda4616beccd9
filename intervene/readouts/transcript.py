"""Transcripts under intervention: greedy decoding with interventions held on, WER, word statuses.

:func:`transcribe` decodes greedily (Whisper: no timestamps, the adapter's suppression rules)
with the interventions installed for the whole run: the encoder pass and every decoding step.
Against a reference transcript it reports the word error rate (jiwer, after lower-casing and
removing punctuation on both sides) and, per word, whether the reference word was kept,
deleted or substituted, and which words were inserted, with the reference word's time span
when it is known (an Utterance's word spans).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from intervene.anatomy.apply import applied, as_list
from intervene.anatomy.base import RunEnv, as_clip
from tasks.errors import CapabilityError, ConfigError

__all__ = ["Transcript", "TranscriptWord", "transcribe", "align_words", "normalize_words", "STATUSES"]

STATUSES = ("kept", "deleted", "substituted", "inserted")


def normalize_words(text: str) -> list[str]:
    """The words WER counts: lower case, punctuation removed, split at whitespace."""
    import jiwer

    transform = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                               jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    words = transform(text)
    return list(words[0]) if words else []


@dataclass(frozen=True)
class TranscriptWord:
    """One word of an aligned transcript.

    ``word`` is the reference word (the hypothesis word for insertions), normalised;
    ``hypothesis`` what the transcript has in its place (None when deleted); ``start_s`` /
    ``end_s`` the reference word's span when known (None for insertions and unknown spans);
    ``status`` one of "kept", "deleted", "substituted", "inserted" (None without a reference).
    """

    word: str
    start_s: float | None = None
    end_s: float | None = None
    status: str | None = None
    hypothesis: str | None = None


@dataclass(frozen=True)
class Transcript:
    """A transcript, with its word error rate and word statuses when a reference was given.

    Attributes
    ----------
    text : str
        What the model wrote.
    wer : float or None
        Word error rate against the reference (None without one); can exceed 1 with insertions.
    words : tuple of TranscriptWord
        With a reference: every reference word in order (kept / deleted / substituted) and the
        inserted words where they fall; without: the transcript's words (status None).
    reference : str or None
    interventions : tuple of str
        What was held on (descriptions).
    """

    text: str
    wer: float | None = None
    words: tuple = ()
    reference: str | None = None
    interventions: tuple = field(default_factory=tuple)

    def count(self, status: str) -> int:
        """How many words have ``status``."""
        return sum(w.status == status for w in self.words)

    def to_dict(self) -> dict:
        return {"text": self.text, "wer": self.wer, "reference": self.reference,
                "interventions": list(self.interventions),
                "words": [{"word": w.word, "start_s": w.start_s, "end_s": w.end_s, "status": w.status,
                           "hypothesis": w.hypothesis} for w in self.words]}


def _reference(reference, audio) -> tuple[str, list | None]:
    """(text, spans or None) from a string, an Utterance-like object or word spans."""
    spans = None
    if hasattr(reference, "text") and hasattr(reference, "words"):
        text, spans = reference.text, list(reference.words)
    elif isinstance(reference, str):
        text = reference
        if hasattr(audio, "words") and getattr(audio, "words", None):
            spans = list(audio.words)
    elif isinstance(reference, (list, tuple)) and reference and all(len(w) == 3 for w in reference):
        spans = list(reference)
        text = " ".join(str(w[0]) for w in spans)
    else:
        raise ConfigError(f"reference ({type(reference).__name__}) must be a string, an Utterance or (word, start_s, "
                          "end_s) spans")
    if not isinstance(text, str) or not normalize_words(text):
        raise ConfigError(f"reference ({text!r}) is empty; give the words the audio says")
    return text, spans


def _span_times(ref_words: list, spans) -> list:
    """Per normalised reference word, ``(start_s, end_s)`` or None (spans matched word by word)."""
    if not spans:
        return [None] * len(ref_words)
    labels = [(normalize_words(str(w[0])) or [""])[0] for w in spans]
    out, j = [], 0
    for word in ref_words:
        k = j
        while k < len(labels) and labels[k] != word:
            k += 1
        if k < len(labels):
            out.append((float(spans[k][1]), float(spans[k][2])))
            j = k + 1
        else:
            out.append(None)
    return out


def align_words(reference: str, hypothesis: str, spans=None) -> tuple[float, tuple]:
    """WER and per-word statuses of ``hypothesis`` against ``reference`` (jiwer's alignment).

    Returns ``(wer, words)``, ``words`` as in :attr:`Transcript.words`.
    """
    import jiwer

    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        raise ConfigError(f"reference ({reference!r}) is empty; give the words the audio says")
    times = _span_times(ref, spans)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    words = []
    for chunk in out.alignments[0]:
        r0, r1, h0, h1 = chunk.ref_start_idx, chunk.ref_end_idx, chunk.hyp_start_idx, chunk.hyp_end_idx
        if chunk.type == "insert":
            words += [TranscriptWord(hyp[h], None, None, "inserted", hyp[h]) for h in range(h0, h1)]
            continue
        for i, r in enumerate(range(r0, r1)):
            t = times[r] or (None, None)
            if chunk.type == "equal":
                words.append(TranscriptWord(ref[r], t[0], t[1], "kept", hyp[h0 + i]))
            elif chunk.type == "substitute":
                words.append(TranscriptWord(ref[r], t[0], t[1], "substituted", hyp[h0 + i]))
            else:
                words.append(TranscriptWord(ref[r], t[0], t[1], "deleted", None))
    return float(out.wer), tuple(words)


@torch.no_grad()
def transcribe(model, audio, sample_rate: int = 16000, interventions=(), reference=None) -> Transcript:
    """Greedy transcript of ``audio`` with ``interventions`` held on for every decoding step.

    Parameters
    ----------
    model : SpeechModel
    audio : np.ndarray (samples,) or Utterance
        An Utterance brings its own rate and word spans.
    sample_rate : int
        Rate of an array ``audio`` (16000 by default).
    interventions : intervention or sequence of them
        :class:`intervene.Ablation`, :class:`intervene.AttentionWindow`, :class:`intervene.HeadMask`,
        :class:`intervene.Steering`; a list runs together.
    reference : str, Utterance or (word, start_s, end_s) spans, optional
        What the audio says; gives ``wer`` and word statuses (times from the spans: an
        Utterance's, or ``audio``'s when ``audio`` is an Utterance of the same words).

    Returns
    -------
    Transcript

    Raises
    ------
    ConfigError
        An empty reference; something that is not an intervention.
    CapabilityError
        An intervention that cannot be held on while decoding (e.g. a mean ablation of a
        decoder site, whose value depends on the growing decoder input).

    Examples
    --------
    >>> utt = tasks.speak("the quick brown fox jumps over the lazy dog")  # doctest: +SKIP
    >>> fox = utt.word_span("fox")  # doctest: +SKIP
    >>> t = intervene.transcribe(m, utt, interventions=intervene.Ablation(  # doctest: +SKIP
    ...     "encoder.3.block_output", kind="silence", times_s=(fox.start_s, fox.end_s)), reference=utt)
    >>> [w.status for w in t.words if w.word == "fox"]  # doctest: +SKIP
    ['deleted']
    """
    ivs = as_list(interventions)
    clip = as_clip(audio, "audio", sample_rate)
    ref = None if reference is None else _reference(reference, audio)
    checked = model.prepare(clip.audio, clip.sample_rate, name="audio")
    env = RunEnv(model, model.inputs(checked, model.sample_rate, checked=True), teacher_forced=False, base=clip)
    with applied(model, ivs, env):
        try:
            text = model.transcribe(checked, model.sample_rate)
        except NotImplementedError:
            raise CapabilityError(f"{model.name} ({model.architecture or type(model).__name__}) does not transcribe; "
                                  "use a Whisper model") from None
    described = tuple(iv.describe() for iv in ivs)
    if ref is None:
        return Transcript(text, None, tuple(TranscriptWord(w) for w in text.split()), None, described)
    wer, words = align_words(ref[0], text, ref[1])
    return Transcript(text, wer, words, ref[0], described)
