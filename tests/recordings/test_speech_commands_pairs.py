"""Speech Commands with speaker-matched pairs (tasks/datasets/speech_commands.py)."""

from __future__ import annotations

import re
import shutil

import pytest

import corruptions
import tasks
from tasks.errors import DatasetError, UnknownNameError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc")
    tasks.synthesize_speech_commands(root, words=("yes", "no", "up"), voices=["en-us", "en+f2"], rates=(175,),
                                     pitches=(50,), validation_fraction=0, testing_fraction=0)  # fmt: skip
    return root


def test_pairs_are_the_same_speaker_saying_two_words(root):
    data = tasks.open_dataset(f"speech_commands:{root}")
    assert len(data) == 6 and all(c.word == c.text for c in data)
    pairs = data.pairs(["yes", "no"])
    assert len(pairs) == 2
    for p in pairs:
        assert p.first.speaker == p.second.speaker == p.speaker
        assert (p.first.word, p.second.word) == ("yes", "no")
        assert p.first.words[0].word == "yes" and p.first.words[0].start_s > 0
    assert len(data.pairs()) == 2 * 3  # 3 word pairs per speaker


def test_single_word_speakers_are_skipped_or_refused(root, tmp_path):
    copy = tmp_path / "sc"
    shutil.copytree(root, copy)
    speaker = tasks.open_dataset(f"speech_commands:{copy}").speakers()[0]
    for word in ("no", "up"):
        for f in (copy / word).glob(f"{speaker}_nohash_*.wav"):
            f.unlink()
    data = tasks.open_dataset(f"speech_commands:{copy}")
    assert {p.speaker for p in data.pairs()} == set(data.speakers()) - {speaker}
    with pytest.raises(DatasetError, match=re.escape(f"speaker '{speaker}' said 1 of the words")):
        data.pairs(speaker=speaker)
    with pytest.raises(UnknownNameError):
        data.pairs(speaker="nobody")
    for f in (copy / "yes").glob("*.wav"):
        if not f.name.startswith(speaker):
            f.unlink()
    with pytest.raises(DatasetError, match="no speaker .* said two different words"):
        tasks.open_dataset(f"speech_commands:{copy}").pairs(["yes", "no"])


def test_a_pair_becomes_a_minimal_pair_by_splicing_the_second_recording(root):
    p = tasks.open_dataset(f"speech_commands:{root}").pairs(["yes", "no"])[0]
    pair = corruptions.get("recording_swap", word=p.second.word).pair(p.first, seed=0)
    assert pair.params["via"] == "dataset" and pair.params["partner_path"] == str(p.second.path)
    assert (pair.clean_answer, pair.corrupt_answer) == ("yes", "no") and pair.metadata["speaker"] == p.speaker
