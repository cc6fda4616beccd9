"""Speech Commands as a dataset of clips, with speaker-matched pairs.

Reads the official layout through :class:`tasks.SpeechCommands` (recorded v0.01/v0.02 or a
synthetic set). Every clip is one word; its span comes from the synthesis record, else from
the ``aligner`` when one is given, else from the clip's energy
(:func:`tasks.speech_commands.estimate_word_span`).

:meth:`SpeechCommandsDataset.pairs` gives natural interchange pairs: the same speaker saying
two different words, no synthesis involved. Turn one into a minimal pair with a word swap
that splices the second recording over the first's word (``corruptions.get("recording_swap",
word=p.second.word).pair(p.first)``), which finds it through ``clip.dataset.find``.
"""

from __future__ import annotations

import itertools
import logging
from functools import partial
from typing import NamedTuple

from tasks.datasets.base import Dataset, Entry
from tasks.datasets.clip import Clip
from tasks.errors import DatasetError, unknown_name
from tasks.speech_commands import SpeechCommands

__all__ = ["SpeechCommandsDataset", "SpeakerPair", "open_speech_commands"]

logger = logging.getLogger(__name__)


class SpeakerPair(NamedTuple):
    """Two recordings of one speaker saying different words."""

    speaker: str
    first: Clip
    second: Clip


class SpeechCommandsDataset(Dataset):
    """A Speech Commands folder as clips (``word`` is the label, ``text`` the same word)."""

    kind = "speech_commands"

    def __init__(self, spec, root, entries, aligner, reader: SpeechCommands, every: dict):
        super().__init__(spec, root, entries, aligner)
        self.reader = reader
        self._every = every  # every clip of the folder by id, whatever the split filter

    def find(self, word: str, speaker: str, exclude: str | None = None) -> Clip | None:
        """The speaker's (lowest-numbered) recording of ``word``, or None."""
        example = self.reader.find(word, speaker)
        if example is None or example.relative_path == exclude:
            return None
        return self._clip(self._every[example.relative_path])

    def pairs(self, words=None, speaker: str | None = None) -> list[SpeakerPair]:
        """Every pair of different words one speaker said (first recording of each word).

        Parameters
        ----------
        words : sequence of str, optional
            Only these words (default: every word folder).
        speaker : str, optional
            Only this speaker.

        Returns
        -------
        list of SpeakerPair
            For each speaker, each unordered pair of the words they said, in word order
            (``first`` is the earlier word); speakers who said one word are skipped.

        Raises
        ------
        DatasetError
            ``speaker`` said fewer than two of the words, or no speaker said two of them.
        UnknownNameError
            ``speaker`` or a word is not in the dataset.
        """
        available = self.reader.words_available()
        words = available if words is None else [words] if isinstance(words, str) else list(words)
        for w in words:
            if w not in available:
                raise unknown_name("word", w, available)
        speakers = self.speakers()
        if speaker is not None and speaker not in speakers:
            raise unknown_name("speaker", speaker, speakers)
        out, single = [], []
        for spk in [speaker] if speaker is not None else speakers:
            said = [w for w in words if self.reader.find(w, spk) is not None]
            if len(said) < 2:
                if speaker is not None:
                    raise DatasetError(
                        f"speaker {spk!r} said {len(said)} of the words {words} in '{self.root}' ({said}); "
                        "a speaker-matched pair needs two different words by one speaker"
                    )
                single.append(spk)
                continue
            for a, b in itertools.combinations(said, 2):
                out.append(SpeakerPair(spk, self.find(a, spk), self.find(b, spk)))
        if single:
            logger.info("%d of %d speakers said only one of the words and give no pair", len(single), len(speakers))
        if not out:
            raise DatasetError(
                f"no speaker in '{self.root}' said two different words among {words}: each of the "
                f"{len(speakers)} speakers said one word, so there is no speaker-matched pair"
            )
        return out


def open_speech_commands(root, aligner=None, spec: str | None = None,
                         split: str | None = None) -> SpeechCommandsDataset:  # fmt: skip
    """Open a Speech Commands folder (every split unless ``split`` is given).

    Raises
    ------
    DatasetError
        Not in the Speech Commands layout (see :class:`tasks.SpeechCommands`).
    """
    reader = SpeechCommands(root)
    every = {}
    for example in reader:
        synthetic = example.recorded_span is not None
        words = partial(lambda ex: ex.words, example) if synthetic or aligner is None else None
        every[example.relative_path] = Entry(
            id=example.relative_path, text=example.word, word=example.word, speaker=example.speaker, path=example.path,
            load=partial(lambda ex: ex.audio, example), words=words, split=example.split)  # fmt: skip
    entries = [e for e in every.values() if split is None or e["split"] == split]
    if not entries:
        raise DatasetError(f"'{reader.root}' has no clips in split {split!r}")
    return SpeechCommandsDataset(spec or f"speech_commands:{root}", reader.root, entries, aligner, reader, every)
