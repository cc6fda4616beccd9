"""LibriSpeech in its distributed layout (also Multilingual LibriSpeech-style copies as FLAC or WAV).

::

    root/                       a split folder (dev-clean/) or the folder holding several
      84/                       speaker
        121123/                 chapter
          84-121123.trans.txt   one line per utterance: "84-121123-0000 GO DO YOU HEAR"
          84-121123-0000.flac   16 kHz FLAC (a .wav of the same name works too)
          84-121123-0000.TextGrid  optional: word spans (Montreal Forced Aligner output)

Transcripts are all capitals, as distributed; aligners and the transcript task re-case them.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from tasks.datasets.audio_files import SUPPORTED_EXTENSIONS, read_audio
from tasks.datasets.base import Dataset, Entry
from tasks.datasets.words import textgrid_beside
from tasks.errors import DatasetError

__all__ = ["LibriSpeech", "open_librispeech"]

logger = logging.getLogger(__name__)


class LibriSpeech(Dataset):
    """A LibriSpeech folder (see the module notes); clips carry ``speaker`` and ``split``."""

    kind = "librispeech"


def _audio_of(chapter: Path, utt_id: str) -> Path:
    for ext in (".flac", ".wav") + SUPPORTED_EXTENSIONS:
        path = chapter / f"{utt_id}{ext}"
        if path.is_file():
            return path
    return chapter / f"{utt_id}.flac"  # reading it raises AudioError naming the file


def _read_transcripts(path: Path) -> list[tuple[str, str]]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read transcript file '{path}': {exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        utt_id, _, text = line.strip().partition(" ")
        if not text.strip():
            raise DatasetError(f"'{path}' line {n}: expected '<utterance id> <TRANSCRIPT>', got {line.strip()!r:.80}")
        out.append((utt_id, text.strip()))
    return out


def open_librispeech(root, aligner=None, spec: str | None = None) -> LibriSpeech:
    """Open a LibriSpeech folder.

    Raises
    ------
    DatasetError
        ``root`` is missing or holds no speaker/chapter folders with audio, a chapter folder
        has audio but no ``<speaker>-<chapter>.trans.txt`` (the message names the file
        expected), or a transcript line is malformed.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"LibriSpeech root '{root}' does not exist or is not a folder")
    chapters = sorted({p.parent for ext in (".flac", ".wav") for p in root.rglob(f"*{ext}")})
    if not chapters:
        raise DatasetError(
            f"'{root}' holds no LibriSpeech audio: expected <speaker>/<chapter>/<speaker>-<chapter>-<n>.flac "
            "with <speaker>-<chapter>.trans.txt beside them"
        )
    entries = []
    for chapter in chapters:
        speaker, chapter_id = chapter.parent.name, chapter.name
        trans = chapter / f"{speaker}-{chapter_id}.trans.txt"
        if not trans.is_file():
            found = sorted(chapter.glob("*.trans.txt"))
            if len(found) == 1:
                trans = found[0]
            else:
                raise DatasetError(
                    f"missing transcript file '{trans}': chapter folder '{chapter}' has audio but no "
                    f"{speaker}-{chapter_id}.trans.txt"
                )
        split = chapter.parent.parent.name if chapter.parent.parent != root.parent else None
        for utt_id, text in _read_transcripts(trans):
            path = _audio_of(chapter, utt_id)
            entries.append(Entry(id=utt_id, text=text, speaker=utt_id.split("-")[0] if "-" in utt_id else speaker,
                                 path=path, load=partial(read_audio, path), words=textgrid_beside(path),
                                 split=split))  # fmt: skip
    logger.info("LibriSpeech '%s': %d utterances in %d chapters", root, len(entries), len(chapters))
    return LibriSpeech(spec or f"librispeech:{root}", root, entries, aligner)
