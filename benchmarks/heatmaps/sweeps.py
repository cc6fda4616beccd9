"""What ``patching_heatmaps.py`` sweeps: the sweeps it knows, the minimal pairs, keys and paths.

A *unit* is one (model, sweep, corruption, pair): :func:`intervene.sweep_pairs` measures the
pair's metrics, skips it when the clean-minus-corrupt gap is below ``min_gap`` (or when
:func:`intervene.patch` refuses it), else patches it; the unit's outcome and map are kept in
the run's :class:`~intervene.workstore.WorkStore` under :func:`unit_key` (see
:mod:`benchmarks.heatmaps.work`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import corruptions
import tasks
from intervene.workstore import make_key
from tasks.errors import ConfigError, PairError, UnknownNameError, unknown_name

__all__ = [
    "SweepSpec",
    "SWEEPS",
    "PairSpec",
    "check_sweeps",
    "pair_specs",
    "corruption_label",
    "canonical_corruption",
    "slug",
    "make_task",
    "make_source",
    "build_pair",
    "pair_digest",
    "unit_key",
    "map_path",
    "onset_span",
]


@dataclass(frozen=True)
class SweepSpec:
    """One kind of map: a task, the sites (rows) and the unit (columns)."""

    task: str  # "keyword" or "carrier"
    sites: str  # "stream.component", every layer (and head)
    unit: str  # "frame", "token" or "all"
    title: str

    @property
    def aligned(self) -> bool:
        """Frame maps are aligned to the word's onset before averaging."""
        return self.unit == "frame"


SWEEPS = {
    "keyword-encoder": SweepSpec("keyword", "encoder.block_output", "frame", "encoder block output, layer x time"),
    "keyword-decoder": SweepSpec("keyword", "decoder.block_output", "token", "decoder block output, layer x token"),
    "keyword-heads": SweepSpec("keyword", "decoder.cross_attention_head", "all", "decoder cross-attention heads"),
    "carrier-encoder": SweepSpec("carrier", "encoder.block_output", "frame", "encoder block output, layer x time"),
    "carrier-decoder": SweepSpec("carrier", "decoder.block_output", "token", "decoder block output, layer x token"),
    "carrier-heads": SweepSpec("carrier", "decoder.cross_attention_head", "all", "decoder cross-attention heads"),
}
"""The sweeps the script knows, by name."""


def check_sweeps(names) -> tuple:
    """``names`` as a tuple of known sweep names (ConfigError/UnknownNameError otherwise)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ConfigError(f"sweeps is empty; give one or more of {', '.join(SWEEPS)}")
    for name in names:
        if name not in SWEEPS:
            raise unknown_name("sweep", name, SWEEPS)
    if len(set(names)) != len(names):
        raise ConfigError(f"sweeps ({list(names)!r}) lists a sweep twice; give each once")
    return names


@dataclass(frozen=True)
class PairSpec:
    """The n-th pair of a run: a word said by a voice, corrupted with seed ``seed``."""

    index: int
    word: str
    voice: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.index:02d}-{self.word}-{self.voice}"


def pair_specs(n: int, words, voices, seed: int) -> list[PairSpec]:
    """``n`` (word, voice) combinations: words in turn, voices in turn, no combination twice.

    The list for ``n`` is a prefix of the list for ``n + 1``, so asking for more pairs later
    reuses the finished ones.

    Examples
    --------
    >>> [p.id for p in pair_specs(3, ["yes", "no"], ["en-us", "en"], 0)]
    ['00-yes-en-us', '01-no-en', '02-yes-en']
    """
    words, voices = list(words), list(voices)
    out = []
    for i in range(n):
        voice = voices[(i + i // len(words)) % len(voices)]  # shift by one voice each round of words
        out.append(PairSpec(i, words[i % len(words)], voice, seed + i))
    return out


def slug(text: str) -> str:
    """``text`` as a safe file name: characters other than letters, digits and ``._=,+-`` become '-'.

    Examples
    --------
    >>> slug("models/my whisper")
    'models-my-whisper'
    """
    return re.sub(r"[^A-Za-z0-9._=,+-]", "-", str(text)).lstrip(".") or "x"


def corruption_label(config: dict) -> str:
    """A short, file-safe name of a corruption config: the kind and the parameters given.

    Examples
    --------
    >>> corruption_label({"kind": "noise", "snr_db": -5.0, "span": "word"})
    'noise_snr_db=-5.0_span=word'
    """
    parts = [str(config["kind"])]
    for key in sorted(k for k in config if k != "kind"):
        value = config[key]
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts.append(f"{key}={text}")
    return slug("_".join(parts))


def make_task(name: str, words, template: str):
    """The task object of a sweep: :class:`tasks.KeywordTask` or :class:`tasks.CarrierTask`."""
    return tasks.CarrierTask(words, template=template) if name == "carrier" else tasks.KeywordTask(words)


def make_source(task, spec: PairSpec, onset_s: float, after_s: float):
    """The clean utterance of ``spec`` for ``task``.

    Keyword: the word alone, in a 1 s clip with its onset at ``onset_s`` (Speech Commands
    style). Carrier: the sentence, padded at the end so that ``after_s`` after the word's
    onset (plus a margin) is still inside the clip.
    """
    if isinstance(task, tasks.CarrierTask):
        utt = task.utterance(spec.word, voice=spec.voice)
        need_s = utt.word_span(spec.word).start_s + after_s + 0.1
        duration = math.ceil(max(utt.duration_s, need_s) * 10.0) / 10.0
        return utt.padded(duration, onset_s=utt.words[0].start_s)
    return tasks.speak(spec.word, voice=spec.voice).padded(1.0, onset_s=onset_s)


def build_pair(task, spec: PairSpec, corruption, onset_s: float, after_s: float):
    """``(pair, None)``, or ``(None, reason)`` when this word/voice cannot make a pair."""
    try:
        source = make_source(task, spec, onset_s, after_s)
        return corruption.pair(source, seed=spec.seed, target=spec.word), None
    except (PairError, UnknownNameError) as exc:  # e.g. the synthesizer merged the word into another
        return None, f"no pair: {exc}"


def pair_digest(pair) -> str:
    """SHA-256 (16 hex digits) of both halves: a record belongs to the pair it was made from."""
    h = hashlib.sha256()
    for audio in (pair.clean, pair.corrupt):
        h.update(np.ascontiguousarray(audio, dtype="<f4").tobytes())
    return h.hexdigest()[:16]


def unit_key(model: str, sweep: str, label: str, spec: PairSpec, pair) -> str:
    """The work key of a unit; the pair's digest in it ties the stored map to the pair's audio."""
    return make_key(model, sweep, label, spec.id, pair_digest(pair))


def map_path(model: str, label: str, sweep: str, spec: PairSpec) -> Path:
    """Where a unit's map goes, relative to the report folder."""
    return Path("maps") / slug(Path(model).name) / label / sweep / "pairs" / f"{spec.id}.npz"


def onset_span(pair, word: str, frame_s: float, window_ms: float, before_ms: float, after_ms: float) -> tuple:
    """``(start_s, end_s)``: whole windows before and after the word's onset frame.

    The span starts a whole number of windows before the onset frame, so every pair's columns
    sit at the same offsets from its onset and onset-aligned maps average column by column.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> pair = SimpleNamespace(words=[("yes", 0.305, 0.6)])
    >>> [round(t, 3) for t in onset_span(pair, "yes", 0.02, 40, 200, 600)]
    [0.1, 0.9]
    """
    onset = next(s for w, s, _ in pair.words if w.lower() == word.lower())
    frame = int(math.floor(onset / frame_s + 1e-9))
    per_window = int(round(window_ms / (frame_s * 1000.0)))
    before = math.ceil(before_ms / window_ms - 1e-9) * per_window
    after = math.ceil(after_ms / window_ms - 1e-9) * per_window
    return (frame - before) * frame_s, (frame + after) * frame_s


def canonical_corruption(item) -> dict:
    """A corruption given as a kind name or a dict, checked against the registry, as a dict."""
    config = {"kind": item} if isinstance(item, str) else item
    if not isinstance(config, dict) or "kind" not in config:
        raise ConfigError(f"corruption ({item!r}) must be a kind name or a mapping with 'kind', e.g. {{'kind': 'gap'}}")
    corruptions.from_dict(dict(config))  # typed errors for unknown kinds and bad parameters
    return json.loads(json.dumps({"kind": config["kind"], **{k: config[k] for k in sorted(config) if k != "kind"}}))
