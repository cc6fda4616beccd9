"""Recordings as datasets: ``tasks.open_dataset(spec, aligner=None)``.

One reader per layout, chosen by the spec's prefix:

=============================  =================================================================
``librispeech:PATH``           LibriSpeech (speaker/chapter/*.flac with .trans.txt)
``manifest:PATH``              a CSV or JSON-lines manifest (path, text, optional speaker, words)
``hf:NAME_OR_PATH``            a Hugging Face ``datasets`` dataset with an Audio column (local only)
``speech_commands:PATH``       Speech Commands, with speaker-matched pairs (``.pairs()``)
``folder:PATH``                a plain folder of audio files (sidecar .txt/.lab and .TextGrid)
=============================  =================================================================

Each returns a :class:`Dataset` of :class:`Clip` objects (``.audio``, ``.sample_rate``,
``.text``, ``.speaker``, ``.words``), built lazily. ``aligner`` supplies word spans for
clips the dataset gives none for; ``tasks`` never imports the engine, so pass one in::

    import functools, intervene, tasks
    model = intervene.load_model("whisper-tiny.en")
    data = tasks.open_dataset("librispeech:~/LibriSpeech/dev-clean",
                              aligner=functools.partial(intervene.align, model))
"""

from __future__ import annotations

from tasks.datasets.audio_files import SUPPORTED_EXTENSIONS, read_audio
from tasks.datasets.base import Dataset
from tasks.datasets.clip import Clip
from tasks.datasets.folder import open_folder
from tasks.datasets.hf import open_hf
from tasks.datasets.librispeech import open_librispeech
from tasks.datasets.manifest import open_manifest
from tasks.datasets.speech_commands import SpeakerPair, SpeechCommandsDataset, open_speech_commands
from tasks.errors import ConfigError, unknown_name

__all__ = ["open_dataset", "READERS", "Dataset", "Clip", "SpeakerPair", "SpeechCommandsDataset", "read_audio",
           "SUPPORTED_EXTENSIONS", "parse_spec"]

READERS = {
    "librispeech": open_librispeech,
    "manifest": open_manifest,
    "hf": open_hf,
    "speech_commands": open_speech_commands,
    "folder": open_folder,
}
"""Spec prefix -> reader function ``(path, aligner, spec, **options) -> Dataset``."""


def parse_spec(spec) -> tuple[str, str]:
    """``"librispeech:~/data"`` -> ``("librispeech", "~/data")``.

    Raises
    ------
    ConfigError
        Not a string of the form ``kind:PATH``.
    UnknownNameError
        An unknown kind (the message lists the kinds and close names).
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(
            f"dataset spec ({spec!r}) must be 'kind:PATH' with kind one of {', '.join(READERS)} "
            "(e.g. 'librispeech:~/LibriSpeech/dev-clean', 'folder:recordings/')"
        )
    kind, _, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in READERS:
        raise unknown_name("dataset kind", kind, READERS)
    if not path.strip():
        raise ConfigError(f"dataset spec ({spec!r}) names no path after '{kind}:'")
    return kind, path.strip()


def open_dataset(spec: str, aligner=None, *, split: str | None = None) -> Dataset:
    """Open a dataset of recordings from a spec string.

    Parameters
    ----------
    spec : str
        ``librispeech:PATH``, ``manifest:PATH``, ``hf:NAME_OR_PATH``, ``speech_commands:PATH``
        or ``folder:PATH``.
    aligner : callable, optional
        ``aligner(audio, transcript=text, sample_rate=16000)`` -> word spans, called once per
        clip that has no spans of its own, when its ``.words`` is first used;
        ``functools.partial(intervene.align, model)`` fits.
    split : str, optional
        ``hf``: one split of a DatasetDict; ``speech_commands``: 'train', 'validation' or 'testing'.

    Returns
    -------
    Dataset

    Raises
    ------
    ConfigError, UnknownNameError
        A malformed spec or unknown kind; ``split`` for a reader without splits; an aligner
        that is not callable.
    DatasetError
        The path is missing or not in the reader's layout (the message names the file).
    AudioError
        An audio file of an unsupported format (the message lists the supported ones).

    Examples
    --------
    >>> import tempfile, numpy as np, tasks
    >>> d = tempfile.mkdtemp()
    >>> _ = tasks.write_wav(f"{d}/hello.wav", tasks.speak("hello").audio)
    >>> _ = open(f"{d}/hello.txt", "w").write("hello")
    >>> data = tasks.open_dataset(f"folder:{d}")
    >>> len(data), data[0].text, data[0].sample_rate
    (1, 'hello', 16000)
    """
    kind, path = parse_spec(spec)
    if aligner is not None and not callable(aligner):
        raise ConfigError(
            f"aligner ({aligner!r:.60}) must be callable: aligner(audio, transcript=..., sample_rate=...)"
        )
    options = {}
    if split is not None:
        if kind not in ("hf", "speech_commands"):
            raise ConfigError(f"split ({split!r}) applies to 'hf' and 'speech_commands' datasets, not {kind!r}")
        options["split"] = split
    return READERS[kind](path, aligner=aligner, spec=spec, **options)
