"""Speech Commands (Warden 2018) in its official folder layout, recorded or synthesized.

The layout (v0.01 and v0.02)::

    root/
      yes/0a7c2a8d_nohash_0.wav      one folder per word; <speaker>_nohash_<n>.wav, 16 kHz mono
      no/...
      validation_list.txt            'word/file.wav' lines; the testing list likewise;
      testing_list.txt               every other clip is in 'train'
      _background_noise_/*.wav       long noise clips
      synthesis.json                 only in sets made by synthesize_speech_commands

:class:`SpeechCommands` reads that layout; :func:`synthesize_speech_commands` writes a
synthetic set in it, so one reader serves both.

Word spans: a synthetic clip's span comes from its synthesis record (``synthesis.json``). A
recorded clip's span is estimated from energy, like ``librosa.effects.trim``: from the first
to the end of the last 5 ms frame within :data:`SPAN_TOP_DB` dB of the clip's loudest frame.
Noise bursts louder than that count as speech; a silent clip's span is the whole clip.
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from tasks._energy import active_range
from tasks.audio import SAMPLE_RATE, read_wav
from tasks.errors import ConfigError, DatasetError, close_names, unknown_name
from tasks.utterance import Utterance, WordSpan, find_word

__all__ = [
    "SpeechCommands",
    "SpeechCommandsExample",
    "SPLITS",
    "SIDECAR_NAME",
    "BACKGROUND_NOISE_DIR",
    "SPAN_TOP_DB",
    "estimate_word_span",
    "LIST_FILES",
]

SPLITS = ("train", "validation", "testing")
"""The split names, as the official list files call them."""
SIDECAR_NAME = "synthesis.json"
"""The synthesis record of a synthetic set: each speaker's voice and each clip's word span."""
SIDECAR_FORMAT = "speechlens.synthetic_speech_commands"
BACKGROUND_NOISE_DIR = "_background_noise_"
SPAN_TOP_DB = 30.0
"""Frames quieter than this many dB below a recorded clip's loudest frame are not speech."""

_FILE_RE = re.compile(r"^(?P<speaker>[^_]+)_nohash_(?P<n>\d+)\.wav$")
LIST_FILES = {"validation": "validation_list.txt", "testing": "testing_list.txt"}
"""The list file of each listed split; clips in neither list are in 'train'."""


def estimate_word_span(audio: np.ndarray, word: str, sample_rate: int = SAMPLE_RATE) -> WordSpan:
    """Estimate where the single word of a recorded clip is, from short-time energy.

    Parameters
    ----------
    audio : np.ndarray, float32 (samples,)
    word : str
    sample_rate : int

    Returns
    -------
    WordSpan
        From the first to the end of the last 5 ms frame within :data:`SPAN_TOP_DB` dB of the
        loudest frame; the whole clip when the clip is silent.

    Examples
    --------
    >>> import numpy as np
    >>> audio = np.zeros(16000, dtype=np.float32); audio[4000:8000] = 0.5
    >>> estimate_word_span(audio, "yes")
    WordSpan(word='yes', start_s=0.25, end_s=0.5)
    """
    bounds = active_range(audio, sample_rate, SPAN_TOP_DB)
    if bounds is None:
        return WordSpan(word, 0.0, audio.shape[0] / sample_rate)
    return WordSpan(word, bounds[0] / sample_rate, bounds[1] / sample_rate)


@dataclass(frozen=True, eq=False)
class SpeechCommandsExample:
    """One clip of a :class:`SpeechCommands` folder.

    Carries the fields corruptions take (``audio``, ``sample_rate``, ``words``, ``text``), like
    :class:`~tasks.utterance.Utterance`. The audio is read from disk on every access of
    ``.audio`` (nothing big is cached); ``.to_utterance()`` reads it once into an Utterance.

    Attributes
    ----------
    word : str
        The word folder ('yes').
    speaker : str
        The speaker id from the file name (synthetic sets: ``'en-us+f3-r150-p40'``).
    n : int
        The recording number of this speaker and word (``<speaker>_nohash_<n>.wav``).
    path : Path
    split : str
        'train', 'validation' or 'testing'.
    dataset : SpeechCommands
        The reader it came from.
    voice, rate, pitch :
        The synthesizer settings (synthetic sets), None for recorded speech.
    """

    word: str
    speaker: str
    n: int
    path: Path
    split: str
    dataset: SpeechCommands = field(repr=False)
    voice: str | None = None
    rate: int | None = None
    pitch: int | None = None
    recorded_span: tuple | None = field(default=None, repr=False)  # (start_s, end_s) from synthesis.json

    @property
    def audio(self) -> np.ndarray:
        """float32 (samples,) at 16 kHz, read from ``path`` (resampled if stored at another rate)."""
        return read_wav(self.path)

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def text(self) -> str:
        return self.word

    @cached_property
    def words(self) -> tuple:
        """One WordSpan for the word: from synthesis.json, or estimated (see the module notes)."""
        if self.recorded_span is not None:
            return (WordSpan(self.word, float(self.recorded_span[0]), float(self.recorded_span[1])),)
        return (estimate_word_span(self.audio, self.word),)

    def word_span(self, word: str | None = None) -> WordSpan:
        """The span of ``word`` (the clip's word when None); see :func:`tasks.utterance.find_word`."""
        return find_word(self.words, word)

    def to_utterance(self) -> Utterance:
        """The clip as an Utterance (audio read once)."""
        return Utterance(
            audio=self.audio, sample_rate=SAMPLE_RATE, text=self.word, words=self.words,
            voice=self.voice, rate=self.rate, pitch=self.pitch, speaker=self.speaker,
        )  # fmt: skip

    @property
    def relative_path(self) -> str:
        """``'word/file.wav'``, as the list files write it."""
        return f"{self.word}/{self.path.name}"


def _check_root(root) -> Path:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"Speech Commands root '{root}' does not exist")
    if not root.is_dir():
        raise DatasetError(f"Speech Commands root '{root}' is not a folder")
    return root


def _scan_word_folders(root: Path) -> dict:
    """``{word: [wav file names]}`` for every folder with .wav files (not '_' or '.' folders)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    found = {}
    for folder in folders:
        with os.scandir(folder) as entries:  # no stat per file: v0.02 has 105k clips
            names = sorted(e.name for e in entries if e.name.lower().endswith(".wav") and e.is_file())
        if names:
            found[folder.name] = names
    if not found:
        if folders:
            shown = ", ".join(f"'{p.name}'" for p in folders[:5])
            raise DatasetError(
                f"'{root}' has folders ({shown}) but no .wav files in them; a Speech Commands word "
                "folder holds '<speaker>_nohash_<n>.wav' files"
            )
        raise DatasetError(
            f"'{root}' has no word folders; the Speech Commands layout has one folder per word "
            "(such as 'yes/') holding '<speaker>_nohash_<n>.wav' files"
        )
    return found


def _read_list(root: Path, split: str) -> set:
    path = root / LIST_FILES[split]
    if not path.is_file():
        raise DatasetError(
            f"'{root}' has no {LIST_FILES[split]}; the Speech Commands layout lists the {split} clips "
            "there ('word/file.wav' lines). Create an empty file to put every clip in 'train'."
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip().replace("\\", "/") for line in lines if line.strip()}


def _read_sidecar(root: Path) -> dict | None:
    path = root / SIDECAR_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read synthesis record '{path}': {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT:
        raise DatasetError(f"'{path}' is not a SpeechLens synthesis record (format {SIDECAR_FORMAT!r})")
    if not record.get("complete", False):
        raise DatasetError(
            f"'{path}' marks this synthetic set as incomplete (an interrupted "
            "synthesize_speech_commands run); run it again with the same arguments to finish it"
        )
    return record


def _check_split(split) -> str | None:
    if split is None or split in SPLITS:
        return split
    raise ConfigError(
        f"split ({split!r}) must be one of {', '.join(map(repr, SPLITS))} or None"
        f"{close_names(str(split), SPLITS)}"
    )


class SpeechCommands(Sequence):
    """A Speech Commands folder (recorded v0.01/v0.02 or synthetic), optionally filtered.

    Parameters
    ----------
    root : str or Path
        The folder holding the word folders and the list files.
    words : str or list of str, optional
        Keep only these word folders (default: all).
    split : {'train', 'validation', 'testing'}, optional
        Keep only this split (default: all).

    Attributes
    ----------
    root : Path
    words : tuple of str or None
        The word filter (None: every word folder).
    split : str or None
        The split filter (None: every split).

    Raises
    ------
    DatasetError
        ``root`` is missing, has no word folders or .wav files, a file name is not
        ``<speaker>_nohash_<n>.wav``, a list file is missing or puts a clip in two splits, or
        ``synthesis.json`` is unreadable or incomplete.
    UnknownNameError
        A word in ``words`` has no folder (the message lists close names).
    ConfigError
        ``split`` is not a split name.

    Examples
    --------
    >>> import tempfile
    >>> data = synthesize_speech_commands(
    ...     tempfile.mkdtemp(), words=("yes", "no"), voices=["en-us", "en+f2"], rates=(150,), pitches=(50,),
    ...     validation_fraction=0, testing_fraction=0)
    >>> len(data), data[0].word, data[0].speaker, data[0].audio.shape
    (4, 'no', 'en+f2-r150-p50', (16000,))
    """

    def __init__(self, root, words=None, split=None):
        self.root = _check_root(root)
        self.split = _check_split(split)
        folders = _scan_word_folders(self.root)
        self._words_available = list(folders)
        self.words = self._check_words(words)
        lists = {name: _read_list(self.root, name) for name in LIST_FILES}
        both = lists["validation"] & lists["testing"]
        if both:
            raise DatasetError(
                f"'{self.root}': {len(both)} clips are in both validation_list.txt and testing_list.txt "
                f"(such as {sorted(both)[0]!r}); a clip belongs to one split"
            )
        self._record = _read_sidecar(self.root)
        self._all = tuple(self._examples_of(folders, lists))
        self._by_speaker_word: dict = {}
        for example in self._all:
            self._by_speaker_word.setdefault((example.word, example.speaker), []).append(example)
        self._examples = tuple(
            e for e in self._all
            if (self.words is None or e.word in self.words) and (self.split is None or e.split == self.split)
        )  # fmt: skip

    def _check_words(self, words):
        if words is None:
            return None
        words = [words] if isinstance(words, str) else list(words)
        for word in words:
            if word not in self._words_available:
                raise unknown_name("word", word, self._words_available)
        return tuple(dict.fromkeys(words))

    def _examples_of(self, folders: dict, lists: dict):
        speakers = (self._record or {}).get("speakers", {})
        spans = (self._record or {}).get("files", {})
        for word, names in folders.items():
            for name in names:
                match = _FILE_RE.match(name)
                if match is None:
                    raise DatasetError(
                        f"'{self.root / word / name}' is not named '<speaker>_nohash_<n>.wav' "
                        "(speaker ids have no '_'); rename it or move it out of the word folder"
                    )
                relative = f"{word}/{name}"
                split = next((s for s, listed in lists.items() if relative in listed), "train")
                speaker = match["speaker"]
                settings = speakers.get(speaker, {})
                span = spans.get(relative)
                yield SpeechCommandsExample(
                    word=word, speaker=speaker, n=int(match["n"]), path=self.root / word / name,
                    split=split, dataset=self, voice=settings.get("voice"), rate=settings.get("rate"),
                    pitch=settings.get("pitch"),
                    recorded_span=None if span is None else (span["start_s"], span["end_s"]),
                )  # fmt: skip

    @property
    def synthetic(self) -> bool:
        """True for a set made by :func:`synthesize_speech_commands` (it has synthesis.json)."""
        return self._record is not None

    def __len__(self) -> int:
        return len(self._examples)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self._examples[index])
        return self._examples[operator.index(index)]

    def __iter__(self):
        return iter(self._examples)

    def __repr__(self) -> str:
        return (
            f"SpeechCommands(root='{self.root}', examples={len(self)}, words={self.words}, "
            f"split={self.split!r}, synthetic={self.synthetic})"
        )

    def words_available(self) -> list[str]:
        """Every word folder of ``root`` (whatever the ``words`` filter), sorted."""
        return list(self._words_available)

    def speakers(self) -> list[str]:
        """The speakers of the examples in this (filtered) view, sorted."""
        return sorted({e.speaker for e in self._examples})

    def find(self, word: str, speaker: str, n: int | None = None) -> SpeechCommandsExample | None:
        """The clip of ``speaker`` saying ``word``, or None if the folder has none.

        Searches the whole folder, not only the filtered view, so a word swap can find
        another word by the same speaker. ``n`` picks a recording number; by default the
        lowest is returned.
        """
        candidates = self._by_speaker_word.get((word, speaker), [])
        if n is not None:
            candidates = [e for e in candidates if e.n == n]
        return min(candidates, key=lambda e: e.n) if candidates else None

    def background_noise(self) -> list[tuple[str, np.ndarray]]:
        """The clips of ``_background_noise_/``: ``(name, float32 (samples,) at 16 kHz)``, by name.

        Raises
        ------
        DatasetError
            The folder is missing or holds no .wav files.
        """
        folder = self.root / BACKGROUND_NOISE_DIR
        if not folder.is_dir():
            raise DatasetError(f"'{self.root}' has no {BACKGROUND_NOISE_DIR}/ folder of noise clips")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
        if not paths:
            raise DatasetError(f"'{folder}' holds no .wav files")
        return [(p.stem, read_wav(p)) for p in paths]
