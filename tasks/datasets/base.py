"""The :class:`Dataset` every reader returns: an index of clips, opened lazily.

A reader lists its clips' metadata when the dataset is opened (paths, transcripts, speakers:
cheap text) and builds each :class:`~tasks.datasets.clip.Clip` when it is asked for; audio
is read when a clip's ``.audio`` is used, word spans when its ``.words`` is.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Sequence
from pathlib import Path

from tasks.datasets.clip import Clip
from tasks.transcript_text import split_words

__all__ = ["Dataset", "Entry"]

logger = logging.getLogger(__name__)


class Entry(dict):
    """One clip's metadata as a reader lists it (keys: id, text, speaker, path, load, words, word, split)."""


class Dataset(Sequence):
    """Clips of one dataset, in a fixed order.

    Attributes
    ----------
    kind : str
        The reader: "librispeech", "manifest", "hf", "speech_commands" or "folder".
    spec : str
        What was opened (``"librispeech:/data/LibriSpeech/dev-clean"``).
    root : Path or None
        The folder or file read.
    aligner : callable or None
        ``aligner(audio, transcript=text, sample_rate=16000)`` -> word spans, for clips the
        dataset gives no spans for.
    """

    kind = ""

    def __init__(self, spec: str, root, entries: list, aligner: Callable | None = None):
        self.spec = spec
        self.root = None if root is None else Path(root)
        self.aligner = aligner
        self._entries = list(entries)
        self._clips: dict = {}  # built clips, so each clip's word spans are computed once
        self._by_speaker: dict = {}
        for i, e in enumerate(self._entries):
            self._by_speaker.setdefault(e.get("speaker"), []).append(i)

    @property
    def name(self) -> str:
        return self.spec

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._clip(e) for e in self._entries[index]]
        return self._clip(self._entries[operator.index(index)])

    def __iter__(self):
        for entry in self._entries:
            yield self._clip(entry)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, clips={len(self)}, speakers={len(self.speakers())})"

    def _clip(self, e: Entry) -> Clip:
        hit = self._clips.get(e["id"])
        if hit is not None:
            return hit
        clip = Clip(id=e["id"], text=e.get("text"), speaker=e.get("speaker"), path=e.get("path"), load=e["load"],
                    dataset=self, word=e.get("word"), split=e.get("split"), given_words=e.get("words"),
                    aligner=self.aligner)  # fmt: skip
        self._clips[e["id"]] = clip
        return clip

    def speakers(self) -> list[str]:
        """Every speaker id of the dataset, sorted (clips without a speaker are left out)."""
        return sorted(s for s in self._by_speaker if s is not None)

    def clips_of(self, speaker: str) -> list[Clip]:
        """The clips of ``speaker``, in dataset order."""
        return [self._clip(self._entries[i]) for i in self._by_speaker.get(speaker, [])]

    def find(self, word: str, speaker: str, exclude: str | None = None) -> Clip | None:
        """A clip of ``speaker`` saying ``word`` whose word spans include it, or None.

        Used by word swaps on recordings: the same speaker's recording of another word.
        Only clips whose label or transcript contain the word are aligned (their ``.words``).
        ``exclude`` skips a clip id (the clip being corrupted).
        """
        target = str(word).lower()
        for i in self._by_speaker.get(speaker, []):
            e = self._entries[i]
            if exclude is not None and e["id"] == exclude:
                continue
            said = [w.label.lower() for w in split_words(e.get("text") or "")]
            if str(e.get("word") or "").lower() != target and target not in said:
                continue
            clip = self._clip(e)
            if any(str(w[0]).lower() == target for w in clip.words):
                return clip
        return None
