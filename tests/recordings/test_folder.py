"""A plain folder of audio files (tasks/datasets/folder.py)."""

from __future__ import annotations

import tasks
from conftest import write_clip
from tasks.textgrid import write_textgrid


def test_folder_with_sidecars_and_speaker_subfolders(bank, tmp_path):
    utt = bank["alice", "turn the lights off"]
    write_clip(tmp_path / "alice" / "one.wav", utt)
    (tmp_path / "alice" / "one.lab").write_text("turn the lights off\n")
    write_textgrid(tmp_path / "alice" / "one.TextGrid", utt.words, utt.duration_s)
    write_clip(tmp_path / "loose.flac", bank["bob", "open the red door"])
    (tmp_path / "notes.md").write_text("not audio")
    data = tasks.open_dataset(f"folder:{tmp_path}")
    assert [c.id for c in data] == ["alice/one.wav", "loose.flac"]
    one, loose = data
    assert one.speaker == "alice" and one.text == "turn the lights off"
    assert [w.word for w in one.words] == [w.word for w in utt.words]
    assert abs(one.words[0].start_s - utt.words[0].start_s) < 1e-6
    assert loose.speaker is None and loose.text is None and loose.words == ()
    assert data.speakers() == ["alice"] and one.duration_s == utt.duration_s
