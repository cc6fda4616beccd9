"""Hugging Face datasets with an Audio column, from local files (tasks/datasets/hf.py)."""

from __future__ import annotations

import pytest

import tasks
from conftest import SENTENCES, write_clip
from tasks.errors import DatasetError, UnknownNameError


@pytest.fixture(scope="module")
def saved(bank, tmp_path_factory):
    import datasets

    root = tmp_path_factory.mktemp("hf")
    paths, texts, speakers = [], [], []
    for speaker in ("alice", "bob"):
        for n, text in enumerate(SENTENCES):
            path = root / "wav" / f"{speaker}{n}.wav"
            write_clip(path, bank[speaker, text])
            paths.append(str(path))
            texts.append(text.upper())
            speakers.append(speaker)
    table = datasets.Dataset.from_dict({"audio": paths, "sentence": texts, "client_id": speakers})
    table = table.cast_column("audio", datasets.Audio(sampling_rate=16000))
    dd = datasets.DatasetDict({"train": table.select(range(4)), "test": table.select(range(4, 6))})
    dd.save_to_disk(str(root / "saved"))
    return root


def test_saved_dataset_dict_reads_every_split(saved, bank):
    data = tasks.open_dataset(f"hf:{saved / 'saved'}")
    assert len(data) == 6 and [c.split for c in data] == ["train"] * 4 + ["test"] * 2
    clip = data[4]
    assert (clip.text, clip.speaker) == (SENTENCES[1].upper(), "bob")
    assert clip.audio.shape == bank["bob", SENTENCES[1]].audio.shape


def test_one_split_and_unknown_splits(saved):
    assert len(tasks.open_dataset(f"hf:{saved / 'saved'}", split="test")) == 2
    with pytest.raises(UnknownNameError, match="train"):
        tasks.open_dataset(f"hf:{saved / 'saved'}", split="validation")


def test_a_name_not_in_the_local_cache_is_a_dataset_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    with pytest.raises(DatasetError, match="speechlens-test/no-such-dataset"):
        tasks.open_dataset("hf:speechlens-test/no-such-dataset")


def test_a_dataset_without_audio_is_refused(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["a"]}).save_to_disk(str(tmp_path / "t"))
    with pytest.raises(DatasetError, match="no Audio column"):
        tasks.open_dataset(f"hf:{tmp_path / 't'}")
