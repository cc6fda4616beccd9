"""The clips ``corruption_ablation.py`` compares and its clean reference: synthetic, or a dataset split by speaker."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tasks
from benchmarks.ablation.work import Clip, DataClip, slug
from benchmarks.common.data import data_clips, data_record, lazy_aligner, pick_word
from tasks.errors import ConfigError

__all__ = ["Subjects", "synthetic_subjects", "data_subjects"]

logger = logging.getLogger("corruption_ablation")


@dataclass
class Subjects:
    """The clean clips compared, the clean reference's clips (built lazily) and what the data gave."""

    clips: list
    reference: object  # () -> [(label, audio)]
    reference_source: str
    data: dict
    skipped: list


def synthetic_subjects(settings) -> Subjects:
    """The settings' synthetic clips; the reference voices x words x onsets, built when asked for."""
    def reference():
        return [(f"{c.id}@{onset:g}s", c.utterance(settings.duration_s, onset, fit=True).audio)
                for c, onset in [(Clip(w, v), o) for v in settings.reference_voices for w in settings.reference_words
                                 for o in settings.reference_onsets]]  # fmt: skip

    return Subjects(settings.clip_list(), reference, "synthetic", data_record(()), [])


def data_subjects(settings, device=None) -> Subjects:
    """Dataset clips split by speaker: every second speaker (order of appearance) is the reference.

    Raises
    ------
    DatasetError
        A spec gives no clip; ConfigError: no clip can be compared (no core word, no content word).
    """
    clips = data_clips(settings.data, settings.max_clips, lazy_aligner(settings.model, device))
    speakers = list(dict.fromkeys(c.speaker for c in clips if c.speaker))
    held_out = set(speakers[1::2])
    compared, skipped = [], []
    for clip in (c for c in clips if c.speaker not in held_out):
        if clip.word is not None:  # Speech Commands: one word, the label
            if clip.word in tasks.SPEECH_COMMANDS_CORE:
                compared.append(DataClip(clip, clip.word, "keyword"))
            else:
                skipped.append((clip.id, f"{clip.word!r} is not a core word (KeywordTask reads the core words)"))
            continue
        if not (clip.text or "").strip():
            skipped.append((clip.id, "no transcript"))
            continue
        span = pick_word(clip)
        if span is None:
            skipped.append((clip.id, "no content word with a confident alignment"))
            continue
        compared.append(DataClip(clip, span.word, "transcript"))
    for i, d in enumerate(compared):  # a sentence's word-swap partner: the speaker's word of another clip
        if d.task == "transcript":
            others = [o.word for o in compared[i + 1:] + compared[:i]
                      if o.task == "transcript" and o.speaker == d.speaker and o.word.lower() != d.word.lower()]
            if others:
                compared[i] = DataClip(d.source, d.word, d.task, others[0])
    for clip_id, reason in skipped:
        logger.info("--data clip %s skipped: %s", clip_id, reason)
    if not compared:
        raise ConfigError(f"--data {list(settings.data)}: no clip to compare ({len(clips)} read; "
                          f"{len(skipped)} skipped, e.g. {skipped[0][1] if skipped else 'all held out'})")  # fmt: skip
    reference_clips = [c for c in clips if c.speaker in held_out]
    if reference_clips:
        source = f"held-out speakers of the data ({', '.join(sorted(held_out))})"

        def reference():
            return [(slug(c.id), c.audio) for c in reference_clips]
    else:
        source = "synthetic (the data has no second speaker to hold out)"
        reference = synthetic_subjects(settings).reference
    record = data_record(settings.data, clips, compared=[d.id for d in compared], skipped=dict(skipped),
                         reference_speakers=sorted(held_out),
                         tasks=sorted({d.task for d in compared}))  # fmt: skip
    return Subjects(compared, reference, source, record, skipped)
