"""LibriSpeech layout (tasks/datasets/librispeech.py)."""

from __future__ import annotations

import pytest

import tasks
from conftest import SENTENCES, write_clip
from tasks.errors import DatasetError


def make_librispeech(root, bank):
    """dev-clean/<speaker>/<chapter>/ with FLAC files and the chapter's .trans.txt (capitals)."""
    for s, speaker in enumerate(("alice", "bob")):
        chapter = root / "dev-clean" / str(100 + s) / "7"
        lines = []
        for n, text in enumerate(SENTENCES):
            utt_id = f"{100 + s}-7-{n:04d}"
            write_clip(chapter / f"{utt_id}.flac", bank[speaker, text])
            lines.append(f"{utt_id} {text.upper()}")
        (chapter / f"{100 + s}-7.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def test_reads_transcripts_speakers_and_audio(bank, tmp_path):
    data = tasks.open_dataset(f"librispeech:{make_librispeech(tmp_path / 'LibriSpeech', bank)}")
    assert len(data) == 6 and data.speakers() == ["100", "101"]
    clip = data[4]
    assert (clip.id, clip.speaker, clip.split, clip.text) == ("101-7-0001", "101", "dev-clean", "SWITCH THE LIGHTS ON")
    assert clip.audio.shape == bank["bob", SENTENCES[1]].audio.shape and clip.sample_rate == 16000
    assert clip.words == ()  # no aligner, no TextGrid


def test_missing_transcript_file_is_named(bank, tmp_path):
    root = make_librispeech(tmp_path / "LS", bank)
    (root / "dev-clean" / "100" / "7" / "100-7.trans.txt").unlink()
    with pytest.raises(DatasetError, match=r"missing transcript file .*100-7\.trans\.txt"):
        tasks.open_dataset(f"librispeech:{root}")


def test_malformed_transcript_line_and_missing_audio(bank, tmp_path):
    root = make_librispeech(tmp_path / "LS", bank)
    trans = root / "dev-clean" / "101" / "7" / "101-7.trans.txt"
    trans.write_text(trans.read_text() + "101-7-0009\n")
    with pytest.raises(DatasetError, match="line 4"):
        tasks.open_dataset(f"librispeech:{root}")
    trans.write_text(trans.read_text().replace("101-7-0009\n", "101-7-0009 A LOST CLIP\n"))
    clip = tasks.open_dataset(f"librispeech:{root}")[-1]
    with pytest.raises(tasks.AudioError, match="101-7-0009.flac"):
        clip.audio
