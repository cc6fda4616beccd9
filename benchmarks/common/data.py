"""``--data`` on every benchmark: recordings from a dataset instead of (or beside) synthesis.

Every script that consumes speech takes ``--data SPEC [SPEC ...]`` (a settings field
``data``, so it is part of the settings digest: results of other data are never mixed) and
``--max-clips N``. A spec is what :func:`tasks.open_dataset` opens:

    librispeech:PATH   manifest:PATH   hf:NAME_OR_PATH   speech_commands:PATH   folder:PATH

What a script does with the clips is its own (documented in its docstring): a corpus of audio,
sentences with reference transcripts, word spans for corruptions, or Speech Commands'
speaker-matched pairs (the same speaker saying two words: natural interchange pairs, no
synthesis). The helpers here are the shared part:

- :func:`add_data_arguments` adds the two flags; :func:`check_data` checks and normalises specs
  in a settings dataclass's ``__post_init__`` (before any model is loaded);
- :func:`open_data`, :func:`data_clips`: open specs, take the first clips of each;
- :func:`speaker_pairs`: Speech Commands pairs as minimal pairs (``recording_swap``);
- :func:`word_pairs`: a corruption confined to one aligned word of each sentence clip;
- :func:`lazy_aligner`: word spans from the model, loaded only when a clip without spans is used;
- :func:`data_record`: what ``results.json`` says about the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tasks.errors import ConfigError, DatasetError

__all__ = [
    "DATA_HELP",
    "add_data_arguments",
    "check_data",
    "open_data",
    "data_clips",
    "speaker_pairs",
    "word_pairs",
    "pick_word",
    "lazy_aligner",
    "data_record",
]

logger = logging.getLogger(__name__)

DATA_HELP = ("datasets of recordings (librispeech:PATH, manifest:PATH, hf:NAME_OR_PATH, speech_commands:PATH, "
             "folder:PATH)")  # fmt: skip

STOP_WORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been am it its this that these "
    "those i you he she we they me him her us them my your his our their not no so do did does has have had".split()
)
"""Words :func:`pick_word` avoids: too short and too predictable to carry a word-level effect."""


def add_data_arguments(parser_or_group, *, what: str = "the speech", max_clips_default: int | None = None) -> None:
    """Add ``--data SPEC [SPEC ...]`` and ``--max-clips N`` (``dest`` ``data`` and ``max_clips``)."""
    g = parser_or_group
    g.add_argument("--data", nargs="+", metavar="SPEC", help=f"{DATA_HELP} for {what} instead of synthesis")
    default = "" if max_clips_default is None else f" (default: {max_clips_default})"
    g.add_argument("--max-clips", dest="max_clips", type=int, metavar="N", help=f"clips read per --data spec{default}")


def check_data(name: str, value) -> tuple[str, ...]:
    """Specs as a tuple of ``kind:ABSOLUTE_PATH`` (``hf:`` names are kept as given).

    Raises
    ------
    ConfigError, UnknownNameError
        Not a list of ``kind:PATH`` strings, an unknown kind (close names listed), or a path
        that does not exist.
    """
    from tasks.datasets import parse_spec

    if value is None or value == ():
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    out = []
    for spec in items:
        kind, path = parse_spec(spec)
        if kind == "hf" and not Path(path).expanduser().exists():
            out.append(f"hf:{path}")  # a dataset name in the local cache
            continue
        where = Path(path).expanduser()
        if not where.exists():
            raise ConfigError(f"{name} ({spec!r}): '{where}' does not exist; give an existing {kind} "
                              f"{'file' if kind == 'manifest' else 'folder'}")  # fmt: skip
        out.append(f"{kind}:{where.resolve()}")
    if len(set(out)) != len(out):
        raise ConfigError(f"{name} ({list(items)}) names a dataset twice; give each once")
    return tuple(out)


def open_data(spec: str, aligner: Callable | None = None, **options):
    """:func:`tasks.open_dataset` (one place to add caching or logging for every script)."""
    import tasks

    data = tasks.open_dataset(spec, aligner=aligner, **options)
    logger.info("%s: %d clips", spec, len(data))
    return data


def data_clips(specs: Sequence[str], max_clips: int | None = None, aligner: Callable | None = None,
               *, need_text: bool = False) -> list:  # fmt: skip
    """The first ``max_clips`` clips of each spec (all when None), in spec order.

    ``need_text`` skips clips without a transcript (and says how many were skipped).

    Raises
    ------
    DatasetError
        A spec gives no clip (or none with a transcript when ``need_text``).
    """
    out = []
    for spec in specs:
        data = open_data(spec, aligner)
        taken, without = [], 0
        for clip in data:
            if max_clips is not None and len(taken) >= max_clips:
                break
            if need_text and not (clip.text or "").strip():
                without += 1
                continue
            taken.append(clip)
        if without:
            logger.info("%s: %d clips without a transcript skipped", spec, without)
        if not taken:
            rule = " with a transcript" if need_text else ""
            raise DatasetError(f"--data {spec!r} gives no clip{rule} ({len(data)} clips, {without} without text)")
        out += taken
    return out


def pick_word(clip, rng: np.random.Generator | None = None, min_duration_s: float = 0.15):
    """A target word of a sentence clip: the longest (or, with ``rng``, a random) content word
    of at least ``min_duration_s`` whose alignment is not flagged low-confidence; None if none."""
    words = [w for w in clip.words if (w.end_s - w.start_s) >= min_duration_s
             and w.word.lower().strip(".,!?;:'\"") not in STOP_WORDS
             and not getattr(w, "low_confidence", False)]  # fmt: skip
    if not words:
        return None
    if rng is None:
        return max(words, key=lambda w: w.end_s - w.start_s)
    return words[int(rng.integers(len(words)))]


def speaker_pairs(spec: str, words: Sequence[str] | None, n: int, seed: int = 0) -> list:
    """Up to ``n`` minimal pairs from Speech Commands' speaker-matched pairs.

    Each pair is the first recording with its word replaced by the same speaker's recording
    of the second (``recording_swap``, loudness-matched); ``pair.metadata`` gets ``speaker``,
    ``word`` and ``swap``. Pairs are drawn in a seeded order across speakers.

    Raises
    ------
    ConfigError
        ``spec`` is not a ``speech_commands:`` spec.
    DatasetError
        No speaker said two of ``words``.
    """
    import corruptions

    data = open_data(spec)
    if data.kind != "speech_commands":
        raise ConfigError(f"--data {spec!r}: speaker-matched keyword pairs need a speech_commands:PATH spec")
    found = data.pairs(words)
    order = np.random.default_rng(seed).permutation(len(found))
    out = []
    for i in order[:n]:
        p = found[int(i)]
        pair = corruptions.get("recording_swap", word=p.second.word).pair(p.first, seed=seed + len(out))
        pair.metadata.update({"speaker": p.speaker, "word": p.first.word, "swap": p.second.word, "data": spec})
        out.append(pair)
    return out


def word_pairs(clips: Sequence, corruption, n: int | None = None, seed: int = 0) -> list[tuple]:
    """``(clip, pair or None, reason or None)`` for each clip: ``corruption`` on one aligned word.

    The target is :func:`pick_word` (seeded); a corruption that takes ``span="word"`` itself
    (gap, noise) acts on it, other kinds through ``on_word``; ``recording_swap`` takes the same
    speaker's recording from the dataset. ``pair.metadata`` gets ``word``, ``speaker``, ``text``
    and ``clip``. A clip with no usable word, or one the corruption refuses, gets the reason.
    """
    import corruptions

    rng = np.random.default_rng(seed)
    out = []
    for clip in clips:
        if n is not None and sum(p is not None for _, p, _ in out) >= n:
            break
        span = pick_word(clip, rng)
        if span is None:
            out.append((clip, None, "no content word with a confident alignment"))
            continue
        c = corruption if not isinstance(corruption, dict) else corruptions.from_dict(dict(corruption))
        if c.kind not in ("gap", "noise", "word_swap", "recording_swap", "on_word"):
            c = corruptions.get("on_word", corruption=c.to_dict() if hasattr(c, "to_dict") else c)
        try:
            pair = c.pair(clip, target=span.word, seed=seed + len(out))
        except (ConfigError, DatasetError) as exc:
            out.append((clip, None, str(exc)))
            continue
        pair.metadata.update({"word": span.word, "speaker": clip.speaker, "text": clip.text, "clip": clip.id})
        out.append((clip, pair, None))
    return out


def lazy_aligner(model_name: str, device=None) -> Callable:
    """``aligner(audio, transcript=..., sample_rate=...)`` for :func:`tasks.open_dataset` that
    loads ``model_name`` on its first call only (datasets with spans never load it)."""
    state = {}

    def align(audio, transcript=None, sample_rate=16000):
        import intervene

        if "model" not in state:
            state["model"] = intervene.load_model(model_name, device=device)
        return intervene.align(state["model"], audio, transcript, sample_rate=sample_rate)

    return align


def data_record(specs: Sequence[str], clips: Sequence = (), **extra) -> dict:
    """``{"kind": "synthetic"}`` without specs, else the specs, clip counts per spec and speakers."""
    if not specs:
        return {"kind": "synthetic", **extra}
    per_spec = {}
    for clip in clips:
        spec = getattr(getattr(clip, "dataset", None), "spec", None)
        entry = per_spec.setdefault(spec, {"clips": 0, "speakers": set()})
        entry["clips"] += 1
        if clip.speaker:
            entry["speakers"].add(clip.speaker)
    return {"kind": "data", "specs": list(specs),
            "per_spec": {s: {"clips": e["clips"], "speakers": len(e["speakers"])} for s, e in per_spec.items()},
            **extra}  # fmt: skip
