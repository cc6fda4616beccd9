"""The clips ``benchmarks/sae.py`` reads: synthesis by default, recordings with ``--data``.

:func:`build_corpus` gives a corpus (a list of
:class:`~intervene.features.corpus.CorpusClip`): the synthetic one (espeak voices x rates x
pitches x sentences and command words), or the first ``max_clips`` clips of each ``--data``
spec; noise and silence clips are added in both cases (so speech vs non-speech can be probed).
:func:`labels` gives the probes' labels per clip, None where a clip has none: recordings carry
no voice gender, so that probe is reported as not available rather than guessed.
:func:`steering_utterance` picks the steering demo's sentence: a held-out recording with word
spans (from the dataset or the aligner) under ``--data``, else a synthesized one.
"""

from __future__ import annotations

import logging

__all__ = ["build_corpus", "labels", "steering_utterance"]

logger = logging.getLogger("sae")


def _from_clip(spec: str, clip):
    from intervene.features.corpus import CorpusClip

    return CorpusClip(f"{spec}|{clip.id}", "speech", clip.load, text=(clip.word or clip.text or "").strip(),
                      speaker=clip.speaker)  # fmt: skip


def build_corpus(settings, aligner=None) -> tuple[list, list]:
    """``(corpus, data_clips)``: the CorpusClips to extract, and the dataset Clips behind them (or [])."""
    from intervene.features import synthetic_corpus

    if not settings.data:
        return synthetic_corpus(settings.n_speech, n_noise=settings.n_noise, n_silence=settings.n_silence, seed=0), []
    from benchmarks.common.data import data_clips

    clips = data_clips(settings.data, settings.max_clips, aligner)
    speech = [_from_clip(getattr(getattr(c, "dataset", None), "spec", "data"), c) for c in clips]
    extra = synthetic_corpus(0, n_noise=settings.n_noise, n_silence=settings.n_silence, seed=0)
    return speech + extra, clips


def labels(corpus: list) -> dict:
    """``{"speech", "keyword", "voice_gender"}``: one label (or None) per clip."""
    from intervene.learned.labels import voice_gender
    from tasks.keyword import SPEECH_COMMANDS_CORE

    return {
        "speech": [c.kind == "speech" for c in corpus],
        "keyword": [c.text if c.text in SPEECH_COMMANDS_CORE else None for c in corpus],
        "voice_gender": [voice_gender(c.voice) if c.voice else None for c in corpus],
    }


def steering_utterance(data_clips: list, test: list):
    """``(utterance, word_index, where)`` for the steering demo."""
    import tasks
    from tasks.errors import SpeechLensError

    for i in test:
        if i >= len(data_clips):
            continue
        clip = data_clips[i]
        if len((clip.text or "").split()) < 2:
            continue
        try:
            utt = clip.to_utterance()
        except SpeechLensError as exc:  # no spans and no alignment for this clip: try the next
            logger.info("steering demo: clip %s has no word spans (%s)", clip.id, exc)
            continue
        if len(utt.words) >= 2:
            return utt, 1, f"held-out recording {clip.id}"
    return tasks.speak("turn left now", voice="en-us").padded(2.0, 0.3), 1, "synthesized"
