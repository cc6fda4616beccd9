"""A plain folder of audio files (searched recursively), with optional sidecar files.

Beside ``clip.wav``: ``clip.txt`` or ``clip.lab`` (the transcript; ``.lab`` is what the
Montreal Forced Aligner reads) and ``clip.TextGrid`` (word spans). A clip in a sub-folder
takes the sub-folder's name (the first level under the root) as its speaker. Clips without a
transcript have ``text`` None: an aligner then transcribes them first.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tasks.datasets.audio_files import SUPPORTED_EXTENSIONS, UNSUPPORTED_EXTENSIONS, check_extension, read_audio
from tasks.datasets.base import Dataset, Entry
from tasks.datasets.words import textgrid_beside
from tasks.errors import DatasetError

__all__ = ["AudioFolder", "open_folder"]


class AudioFolder(Dataset):
    """Every audio file under a folder (see the module notes)."""

    kind = "folder"


def _transcript(audio: Path) -> str | None:
    for suffix in (".txt", ".lab"):
        side = audio.with_suffix(suffix)
        if side.is_file():
            try:
                return " ".join(side.read_text(encoding="utf-8").split()) or None
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"cannot read transcript file '{side}': {exc}") from exc
    return None


def open_folder(root, aligner=None, spec: str | None = None) -> AudioFolder:
    """Open a folder of audio files.

    Raises
    ------
    DatasetError
        ``root`` is missing or holds no audio file.
    AudioError
        A file in an audio format that cannot be read (M4A, AAC, WMA, ...); the message names
        the file and the supported formats.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"audio folder '{root}' does not exist or is not a folder")
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for p in files:
        if p.suffix.lower() in UNSUPPORTED_EXTENSIONS:
            check_extension(p)  # raises AudioError naming the file and the supported formats
    audio = [p for p in files if p.suffix.lower() in SUPPORTED_EXTENSIONS]
    if not audio:
        raise DatasetError(
            f"'{root}' holds no audio files; supported: {', '.join(e.lstrip('.') for e in SUPPORTED_EXTENSIONS)}"
        )
    entries = []
    for p in audio:
        rel = p.relative_to(root)
        speaker = rel.parts[0] if len(rel.parts) > 1 else None
        entries.append(Entry(id=rel.as_posix(), text=_transcript(p), speaker=speaker, path=p,
                             load=partial(read_audio, p), words=textgrid_beside(p)))  # fmt: skip
    return AudioFolder(spec or f"folder:{root}", root, entries, aligner)
