"""tasks.open_dataset: spec strings, audio formats, lazy clips and aligners (tasks/datasets/)."""

from __future__ import annotations

import numpy as np
import pytest

import tasks
from conftest import write_clip
from tasks.datasets import SUPPORTED_EXTENSIONS, parse_spec, read_audio
from tasks.errors import AudioError, ConfigError, DatasetError, UnknownNameError


def test_spec_strings():
    assert parse_spec("librispeech:~/LS/dev-clean") == ("librispeech", "~/LS/dev-clean")
    assert parse_spec("hf:openslr/librispeech_asr") == ("hf", "openslr/librispeech_asr")
    with pytest.raises(UnknownNameError, match="did you mean 'librispeech'"):
        parse_spec("librispech:/x")
    with pytest.raises(ConfigError, match="kind:PATH"):
        parse_spec("/just/a/path")
    with pytest.raises(ConfigError, match="no path"):
        parse_spec("folder:")
    with pytest.raises(ConfigError, match="split"):
        tasks.open_dataset("folder:/tmp", split="train")


def test_formats_are_read_and_unsupported_ones_named(bank, tmp_path):
    utt = bank["alice", "turn the lights off"]
    for suffix, rate in ((".flac", 16000), (".ogg", 22050), (".wav", 44100)):
        write_clip(tmp_path / f"a{suffix}", utt, rate)
        audio = read_audio(tmp_path / f"a{suffix}")
        assert audio.dtype == np.float32 and abs(audio.shape[0] - utt.audio.shape[0]) <= 2
    (tmp_path / "b.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    with pytest.raises(AudioError, match=r"b\.m4a.*unsupported.*flac"):
        read_audio(tmp_path / "b.m4a")
    with pytest.raises(AudioError, match="b.m4a"):
        tasks.open_dataset(f"folder:{tmp_path}")
    (tmp_path / "b.m4a").unlink()
    (tmp_path / "c.wav").write_bytes(b"RIFF garbage")
    data = tasks.open_dataset(f"folder:{tmp_path}")
    clip = next(c for c in data if c.id == "c.wav")
    with pytest.raises(AudioError, match=r"c\.wav.*supported formats"):
        clip.audio
    assert ".mp3" in SUPPORTED_EXTENSIONS and ".opus" in SUPPORTED_EXTENSIONS


def test_aligner_runs_once_per_clip_on_first_use(bank, tmp_path):
    calls = []

    def aligner(audio, transcript=None, sample_rate=16000):
        calls.append(transcript)
        return [tasks.WordSpan(w, 0.1 * i, 0.1 * i + 0.05) for i, w in enumerate(transcript.split())]

    for i, text in enumerate(["turn the lights off", "open the red door"]):
        write_clip(tmp_path / f"{i}.wav", bank["bob", text])
        (tmp_path / f"{i}.txt").write_text(text)
    data = tasks.open_dataset(f"folder:{tmp_path}", aligner=aligner)
    assert calls == [] and len(data) == 2
    clip = data[1]
    assert [w.word for w in clip.words] == ["open", "the", "red", "door"] and calls == ["open the red door"]
    assert data[1].words == clip.words and calls == ["open the red door"]
    with pytest.raises(ConfigError, match="callable"):
        tasks.open_dataset(f"folder:{tmp_path}", aligner="whisper")


def test_missing_folders_are_dataset_errors(tmp_path):
    for kind in ("librispeech", "folder", "speech_commands", "manifest"):
        with pytest.raises(DatasetError, match="nowhere"):
            tasks.open_dataset(f"{kind}:{tmp_path / 'nowhere'}")
