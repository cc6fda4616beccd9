"""The clips and minimal pairs of ``method_ladder.py``, and its design / report split of voices.

Every number of the report is measured on the *report voices*, which no method saw while it was
fitted or trained: probes and LEACE erasers are fitted on the clips of the *design voices*, DAS
trains (and early-stops) on their pairs, and exact patching, which learns nothing, is measured
on the report voices' pairs too so that every column of the ladder speaks of the same clips.

- clips (probes, LEACE): each word said by each voice at each of ``rates``, in 1 s clips with the
  word's onset at ``onset_s`` (Speech Commands style);
- pairs (patching, DAS): the clip at the first rate of each word whose word-swap partner
  (yes/no, up/down, ...) is also among the words and comes after it, swapped for the partner
  said by the same voice (:class:`corruptions.WordSwap`; one pair per partner couple, as DAS
  runs each pair in both directions).
"""

from __future__ import annotations

import logging

import tasks
from corruptions.word_swap import CORE_PARTNERS
from tasks.errors import ConfigError, PairError, UnknownNameError

__all__ = ["check_data_kind", "check_split", "data_split", "make_clips", "make_pairs", "pair_words"]

logger = logging.getLogger("method_ladder")


def pair_words(words) -> list[tuple[str, str]]:
    """``(word, partner)`` couples among ``words``, each once, in the order of ``words``.

    Examples
    --------
    >>> pair_words(["yes", "no", "up", "stop"])
    [('yes', 'no')]
    """
    words = [w.lower() for w in words]
    out = []
    for i, w in enumerate(words):
        partner = CORE_PARTNERS.get(w)
        if partner is not None and partner in words[i + 1 :]:
            out.append((w, partner))
    return out


def check_split(words, design_voices, report_voices) -> None:
    """Refuse settings under which DAS or the probes cannot split: no couple of partner words, too
    few design voices (DAS keeps some for early stopping), or report voices of one gender only
    (the gender eraser is judged on both)."""
    from intervene.learned.labels import voice_gender

    if not pair_words(words):
        raise ConfigError(f"words ({list(words)!r}) hold no word-swap couple (yes/no, up/down, left/right, on/off, "
                          "stop/go); DAS and patching need pairs")  # fmt: skip
    if len(design_voices) < 2:
        raise ConfigError(f"design voices ({list(design_voices)!r}) must be at least two: DAS trains on some and "
                          "stops early on another")  # fmt: skip
    overlap = sorted(set(design_voices) & set(report_voices))
    if overlap:
        raise ConfigError(f"voices {overlap} are both design and report voices; the report is on held-out voices")
    for part, voices in (("design", design_voices), ("report", report_voices)):
        genders = {voice_gender(v) for v in voices}
        if genders != {"female", "male"}:
            raise ConfigError(f"the {part} voices ({list(voices)!r}) must include a female (+f*) and a male voice: "
                              "the gender eraser is fitted and judged on both")  # fmt: skip


def make_clips(words, voices, rates, pitch: int, onset_s: float) -> list:
    """Every word said by every voice at every rate: :class:`tasks.Utterance`, 1 s, onset at ``onset_s``."""
    clips = []
    for voice in voices:
        for rate in rates:
            for word in words:
                utt = tasks.speak(word, voice=voice, rate=int(rate), pitch=int(pitch))
                if utt.duration_s > 1.0 - onset_s:
                    raise ConfigError(f"{word!r} said by {voice} at rate {rate} lasts {utt.duration_s:.2f} s; it does "
                                      f"not fit a 1 s clip from onset_s {onset_s}; lower onset_s or raise the rate")
                clips.append(utt.padded(1.0, onset_s=onset_s))
    return clips


def make_pairs(words, voices, rate: int, pitch: int, onset_s: float, seed: int) -> tuple[list, list]:
    """Word-swap pairs of every couple of ``words`` per voice.

    Returns
    -------
    (list of MinimalPair, list of str)
        The pairs (``metadata["voice"]`` groups them) and why any couple could not make one.
    """
    from corruptions.word_swap import WordSwap

    pairs, skipped = [], []
    for voice in voices:
        for k, (word, partner) in enumerate(pair_words(words)):
            source = tasks.speak(word, voice=voice, rate=int(rate), pitch=int(pitch)).padded(1.0, onset_s=onset_s)
            try:
                pairs.append(WordSwap(word=partner).pair(source, seed=seed + k, target=word))
            except (PairError, UnknownNameError) as exc:  # the synthesizer merged the word into another
                skipped.append(f"{word}->{partner} by {voice}: {exc}")
                logger.warning("no pair %s->%s by %s: %s", word, partner, voice, exc)
    return pairs, skipped


def check_data_kind(specs) -> None:
    """The ladder's keyword task needs one ``speech_commands:`` spec (1 s recordings of single words).

    Raises
    ------
    ConfigError
        More than one spec, or a spec of another kind (sentences have no keyword pairs here).
    """
    from tasks.datasets import parse_spec

    if not specs:
        return
    if len(specs) != 1:
        raise ConfigError(f"data ({list(specs)}): the method ladder takes one speech_commands:PATH spec")
    kind, _ = parse_spec(specs[0])
    if kind != "speech_commands":
        raise ConfigError(f"data ({specs[0]!r}): the method ladder needs speech_commands:PATH data; its keyword "
                          "task scores one word per 1 s clip (forced choice among the words) and its pairs are one "
                          "speaker's recordings of two words, which sentence datasets do not give")  # fmt: skip


def data_split(spec: str, words, max_clips: int | None, seed: int) -> dict:
    """Clips, speaker-matched pairs and the design / report split of speakers of ``--data``.

    Speakers who said at least two of ``words`` are drawn in a seeded order until their clips
    (each word's first recording by each speaker) reach ``max_clips``; the last 30% of them (at
    least one) are the *report speakers*, held out from every fit, the rest the *design
    speakers*. Pairs: each chosen speaker's recording of one word with the word replaced by the
    same speaker's recording of another (:func:`benchmarks.common.data.speaker_pairs`).

    Returns
    -------
    dict
        ``clips`` (Utterances with ``speaker``), ``recordings`` (the dataset's clips they come from),
        ``pairs``, ``design`` and ``report`` (speaker ids).

    Raises
    ------
    DatasetError
        Fewer than three such speakers (DAS needs two design speakers and a report one).
    """
    import numpy as np

    import corruptions
    from benchmarks.common.data import open_data
    from tasks.errors import DatasetError

    data = open_data(spec)
    words = [w.lower() for w in words]
    speakers = sorted({p.speaker for p in data.pairs(words)})
    order = [speakers[int(i)] for i in np.random.default_rng(seed).permutation(len(speakers))]
    chosen, clips = [], []
    for spk in order:
        if max_clips is not None and len(clips) >= max_clips:
            break
        said = {}
        for clip in data.clips_of(spk):
            if clip.word in words and clip.word not in said:
                said[clip.word] = clip
        chosen.append(spk)
        clips += [said[w] for w in words if w in said]
    if len(chosen) < 3:
        raise DatasetError(f"--data {spec!r}: {len(chosen)} speakers said two of {words} (within --max-clips "
                           f"{max_clips}); the ladder needs at least 3 (two design speakers for DAS's early "
                           "stopping, one held-out report speaker)")  # fmt: skip
    n_report = max(1, round(0.3 * len(chosen)))
    design, report = chosen[:-n_report], chosen[-n_report:]
    keep = set(chosen)
    pairs = []
    for p in (p for p in data.pairs(words) if p.speaker in keep):  # as speaker_pairs, for the chosen speakers only
        pair = corruptions.get("recording_swap", word=p.second.word).pair(p.first, seed=seed + len(pairs))
        pair.metadata.update({"speaker": p.speaker, "word": p.first.word, "swap": p.second.word, "data": spec})
        pairs.append(pair)
    return {"clips": [c.to_utterance() for c in clips], "recordings": clips, "pairs": pairs, "design": design,
            "report": report}  # fmt: skip
