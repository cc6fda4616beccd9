"""``--data`` for ``patching_heatmaps.py``: minimal pairs from recordings instead of synthesis.

- ``speech_commands:PATH`` feeds the keyword sweeps: natural speaker-matched pairs (the same
  speaker saying two words, :func:`benchmarks.common.data.speaker_pairs`): a ``word_swap``
  corruption is the recording swap (the second recording spliced over the first's word, no
  synthesis); any other corruption acts on the first recording's word.
- Sentence datasets (``librispeech:``, ``manifest:``, ``hf:``, ``folder:`` with transcripts)
  feed the carrier sweeps: the corruption is confined to one aligned content word of each
  sentence (:func:`benchmarks.common.data.word_pairs`) and :class:`tasks.TranscriptTask` reads
  that word (its log-probability; a logit difference for a word swap, which needs ``word=``).

Sweeps the given data cannot feed are skipped (:func:`sweeps_for_data` says why). Pairs are
padded with silence where the word's onset sits closer to the clip's edges than the sweep's
``before_ms`` / ``after_ms``, so time maps stay aligned to the word's onset as for synthesis.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np

import corruptions
import tasks
from benchmarks.common.data import (
    data_clips,
    lazy_aligner,
    open_data,
    speaker_pairs,
    word_pairs,
)
from benchmarks.heatmaps import sweeps as sw
from tasks.errors import ConfigError, DatasetError, PairError, UnknownNameError

__all__ = ["sweeps_for_data", "data_plan", "pad_pair", "data_tasks"]

logger = logging.getLogger("patching_heatmaps")

_PAIR_ERRORS = (ConfigError, DatasetError, PairError, UnknownNameError)


def _kind(spec: str) -> str:
    return spec.split(":", 1)[0]


def sweeps_for_data(sweeps, data, log: bool = True) -> tuple[tuple, dict]:
    """``(sweeps to run, {skipped sweep: reason})`` for ``data`` specs (all sweeps without data);
    ``log`` says each skipped sweep in the log.

    Raises
    ------
    ConfigError
        None of ``sweeps`` can be fed by ``data``.
    """
    if not data:
        return tuple(sweeps), {}
    keyword = any(_kind(s) == "speech_commands" for s in data)
    sentences = any(_kind(s) != "speech_commands" for s in data)
    run, skipped = [], {}
    for name in sweeps:
        task = sw.SWEEPS[name].task
        if task == "keyword" and not keyword:
            skipped[name] = "keyword sweeps take speaker-matched pairs from a speech_commands:PATH spec; none given"
        elif task == "carrier" and not sentences:
            skipped[name] = ("carrier sweeps take a word inside a sentence from a sentence dataset (librispeech:, "
                             "manifest:, hf:, folder:); none given")  # fmt: skip
        else:
            run.append(name)
    for name, reason in skipped.items() if log else ():
        logger.info("sweep %s skipped: %s", name, reason)
    if not run:
        raise ConfigError(f"--data {list(data)} feeds none of the sweeps {list(sweeps)}: "
                          + "; ".join(f"{k}: {v}" for k, v in skipped.items()))  # fmt: skip
    return tuple(run), skipped


def data_tasks(words) -> dict:
    """The task of each sweep kind with data: KeywordTask over ``words``, TranscriptTask for sentences."""
    return {"keyword": tasks.KeywordTask(words), "carrier": tasks.TranscriptTask()}


def pad_pair(pair, word: str, before_s: float, after_s: float):
    """``pair`` with silence added before and after (both halves alike) so that ``before_s`` before
    the word's onset and ``after_s`` after it lie inside the clip; the pair itself if they do."""
    onset = next(s for w, s, _ in pair.words if w.lower() == word.lower())
    lead_s = max(0.0, before_s - onset)
    tail_s = max(0.0, onset + lead_s + after_s - (pair.duration_s + lead_s))
    if lead_s <= 0 and tail_s <= 0:
        return pair
    lead, tail = math.ceil(lead_s * pair.sample_rate), math.ceil(tail_s * pair.sample_rate)
    shift = lead / pair.sample_rate

    def spans(items):
        return tuple((w[0], w[1] + shift, w[2] + shift) for w in items)

    pad = (lead, tail)
    return replace(pair, clean=np.pad(pair.clean, pad), corrupt=np.pad(pair.corrupt, pad), words=spans(pair.words),
                   corrupt_words=spans(pair.corrupt_words),
                   changed_spans=[(a + shift, b + shift) for a, b in pair.changed_spans],
                   metadata={**pair.metadata, "padded_s": [round(shift, 6), round(tail / pair.sample_rate, 6)]})  # fmt: skip


def _keyword_pairs(settings, config: dict) -> list:
    """``(PairSpec, pair or None, reason or None)`` from every speech_commands spec."""
    out = []
    for spec in (s for s in settings.data if _kind(s) == "speech_commands"):
        data = open_data(spec)
        words = [w for w in settings.words if w in data.reader.words_available()]
        n = settings.pairs - len(out)
        if n <= 0:
            break
        found = data.pairs(words)
        order = np.random.default_rng(settings.seed).permutation(len(found))[:n]  # the order of speaker_pairs
        if config["kind"] == "word_swap" and not config.get("word"):
            made = [(p, None) for p in speaker_pairs(spec, words, n, settings.seed)]
        else:
            corruption, made = corruptions.from_dict(dict(config)), []
            for k, i in enumerate(order):
                first = found[int(i)].first
                try:
                    made.append((corruption.pair(first, seed=settings.seed + k, target=first.word), None))
                except _PAIR_ERRORS as exc:
                    made.append((None, f"no pair: {exc}"))
        for k, (pair, reason) in enumerate(made):
            p = found[int(order[k])]
            pspec = sw.PairSpec(len(out), p.first.word, sw.slug(p.speaker), settings.seed + k)
            out.append((pspec, pair, reason))
    return out


def _sentence_pairs(settings, config: dict, clips: list) -> list:
    config = dict(config)
    out = []
    for k, (clip, pair, reason) in enumerate(word_pairs(clips, config, n=settings.pairs, seed=settings.seed)):
        word = pair.metadata["word"] if pair is not None else "-"
        pspec = sw.PairSpec(k, word, sw.slug(clip.speaker or "unknown"), settings.seed + k)
        out.append((pspec, pair, None if pair is not None else f"no pair: {reason}"))
    return out


def data_plan(settings, sweeps, out, device=None) -> dict:
    """``{(task, corruption label): [(PairSpec, pair or None, reason or None), ...]}`` from ``settings.data``.

    Frame sweeps' pairs are padded (:func:`pad_pair`) so the onset-aligned span fits; the first
    ``audio_examples`` pairs of each are saved into ``out/pairs`` for the report's players.
    """
    before_s = settings.before_ms / 1000.0
    after_s = (settings.after_ms + settings.window_ms) / 1000.0 + 0.1
    sentence_specs = [s for s in settings.data if _kind(s) != "speech_commands"]
    task_names = list(dict.fromkeys(sw.SWEEPS[s].task for s in sweeps))
    clips = []
    if "carrier" in task_names:
        clips = data_clips(sentence_specs, settings.max_clips, lazy_aligner(settings.models[0], device), need_text=True)
    plan = {}
    for task_name in task_names:
        for config in settings.corruptions:
            label = sw.corruption_label(config)
            built = _keyword_pairs(settings, config) if task_name == "keyword" else _sentence_pairs(settings, config, clips)
            padded = []
            for pspec, pair, reason in built:
                if pair is not None:
                    pair = pad_pair(pair, pspec.word, before_s, after_s)
                padded.append((pspec, pair, reason))
            for pspec, pair, _ in [b for b in padded if b[1] is not None][: settings.audio_examples]:
                folder = out / "pairs" / task_name / label / pspec.id
                if not (folder / "pair.json").is_file():
                    pair.save(folder)
            if not any(b[1] is not None for b in padded):
                logger.info("%s / %s: no pair could be built from the data (%s)", task_name, label,
                            padded[0][2] if padded else "no clip")  # fmt: skip
            plan[task_name, label] = padded
    return plan
