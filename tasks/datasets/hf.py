"""A Hugging Face ``datasets`` dataset with an Audio column, from local files only.

``hf:PATH`` opens a dataset saved with ``save_to_disk`` (``load_from_disk``) or a local
dataset folder ``datasets.load_dataset`` understands (``audiofolder`` with ``metadata.csv``,
parquet, ...); ``hf:NAME`` opens a hub dataset already in the local ``datasets`` cache, with
the hub switched off (nothing is downloaded). Audio is decoded here, with libsndfile, from
the column's stored bytes or file path (so ``torchcodec`` is not needed).

Columns: the first Audio column; the transcript from ``text``, ``sentence``,
``transcription``, ``transcript`` or ``normalized_text``; the speaker from ``speaker_id``,
``speaker``, ``client_id`` or ``spk_id``; word spans from ``words`` when present.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from tasks.datasets.audio_files import decode_audio, read_audio
from tasks.datasets.base import Dataset, Entry
from tasks.datasets.words import parse_words
from tasks.errors import DatasetError, unknown_name

__all__ = ["HFDataset", "open_hf", "TEXT_COLUMNS", "SPEAKER_COLUMNS"]

TEXT_COLUMNS = ("text", "sentence", "transcription", "transcript", "normalized_text")
SPEAKER_COLUMNS = ("speaker_id", "speaker", "client_id", "spk_id")


class HFDataset(Dataset):
    """Clips of a ``datasets`` dataset (see the module notes); ``hf`` holds the dataset itself."""

    kind = "hf"


@contextlib.contextmanager
def _offline():
    """Switch the hub off for ``datasets`` and ``huggingface_hub`` while loading by name."""
    import datasets
    import huggingface_hub.constants as hub

    saved = (datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _load(name: str):
    import datasets

    path = Path(name).expanduser()
    try:
        if path.is_dir():
            if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
                return datasets.load_from_disk(str(path))
            return datasets.load_dataset(str(path))
        with _offline():
            return datasets.load_dataset(name)
    except (FileNotFoundError, ValueError, OSError, ConnectionError) as exc:
        where = f"folder '{path}'" if path.is_dir() else f"name {name!r} (looked in the local datasets cache only)"
        raise DatasetError(f"cannot open the Hugging Face dataset {where}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # datasets raises its own DatasetNotFoundError, DataFilesNotFoundError, ...
        if type(exc).__module__.startswith(("datasets", "huggingface_hub")):
            raise DatasetError(f"cannot open the Hugging Face dataset {name!r} from local files: "
                               f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
        raise


def _loader(table, index: int, column: str, name: str):
    def load():
        value = table[index][column]
        if isinstance(value, dict) and value.get("bytes"):
            return decode_audio(value["bytes"], f"{name} row {index}")
        if isinstance(value, dict) and value.get("path"):
            return read_audio(value["path"])
        raise DatasetError(f"{name} row {index}: the audio column {column!r} holds neither bytes nor a file path")

    return load


def open_hf(name_or_path, aligner=None, spec: str | None = None, split: str | None = None) -> HFDataset:
    """Open a local Hugging Face dataset with an Audio column.

    Raises
    ------
    DatasetError
        Not found locally, no Audio column, or no rows. (Without ``split``, every split is
        read, in order, and clips carry their ``split``.)
    UnknownNameError
        ``split`` is not one of the dataset's splits.
    """
    import datasets

    name = str(name_or_path)
    loaded = _load(name)
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if split is not None and split not in splits:
            raise unknown_name(f"split of {name!r}", split, splits)
        parts = [(s, loaded[s]) for s in ([split] if split is not None else splits)]
    else:
        parts = [(split, loaded)]
    entries = []
    for part_split, table in parts:
        audio_cols = [c for c, f in table.features.items() if isinstance(f, datasets.Audio)]
        if not audio_cols:
            raise DatasetError(
                f"Hugging Face dataset {name!r} has no Audio column; its columns are {list(table.features)}"
            )
        column = audio_cols[0]
        table = table.cast_column(column, datasets.Audio(decode=False))
        text_col = next((c for c in TEXT_COLUMNS if c in table.column_names), None)
        speaker_col = next((c for c in SPEAKER_COLUMNS if c in table.column_names), None)
        meta_cols = [c for c in (text_col, speaker_col, "id", "words") if c and c in table.column_names]
        meta = table.select_columns(meta_cols) if meta_cols else None
        for i in range(len(table)):
            row = meta[i] if meta is not None else {}
            where = f"Hugging Face dataset {name!r} row {i}"
            speaker = row.get(speaker_col) if speaker_col else None
            clip_id = str(row.get("id") or f"{part_split or 'data'}/{i}")
            entries.append(Entry(id=clip_id, text=(str(row[text_col]).strip() or None) if text_col else None,
                                 speaker=None if speaker in (None, "") else str(speaker), path=None,
                                 load=_loader(table, i, column, f"Hugging Face dataset {name!r}"),
                                 words=parse_words(row.get("words"), where), split=part_split))  # fmt: skip
    if not entries:
        raise DatasetError(f"Hugging Face dataset {name!r} has no rows")
    root = Path(name).expanduser() if Path(name).expanduser().exists() else None
    ds = HFDataset(spec or f"hf:{name}", root, entries, aligner)
    ds.hf = loaded
    return ds
