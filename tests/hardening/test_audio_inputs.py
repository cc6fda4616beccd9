"""Class 3 of issue 12: audio is read as what it is, or refused with a reason.

Before: uint8 (offset-binary) PCM kept a DC level of 0.5; ``speak("yes\\x00no")`` said "yes"
but labelled the word 'yes\\x00no'; ``speak("\\ud800")`` raised UnicodeEncodeError; a truncated
WAV file was read (shorter) without a word.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tasks
from tasks.audio import AudioWarning, prepare_audio, read_wav, wav_truncation, write_wav
from tasks.errors import AudioError, ConfigError


def test_unsigned_pcm_is_centred():
    silence = prepare_audio(np.full(1600, 128, np.uint8), 16000)
    assert np.abs(silence).max() == 0.0
    ramp = prepare_audio(np.array([0, 128, 255], np.uint8), 16000, target_rate=16000)
    np.testing.assert_allclose(ramp, [-1.0, 0.0, 127 / 128])
    wide = prepare_audio(np.full(10, 32768, np.uint16), 16000)
    assert np.abs(wide).max() == 0.0


def test_signed_pcm_scales_like_soundfile():
    out = prepare_audio(np.array([-32768, 0, 16384], np.int16), 16000)
    np.testing.assert_allclose(out, [-1.0, 0.0, 0.5])


@pytest.mark.parametrize("text", ["yes\x00no", "\ud800", "yes\u200bno", "a\x07b", "\ue000"])
def test_unspeakable_text_is_a_typed_error(text):
    with pytest.raises(ConfigError, match="U\\+"):
        tasks.speak(text)


def test_whitespace_controls_are_still_speech():
    utt = tasks.speak("yes\nno")
    assert [w.word for w in utt.words] == ["yes", "no"]


def _truncated(tmp_path, keep: float = 0.5):
    path = tmp_path / "clip.wav"
    write_wav(path, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32))
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: int(len(data) * keep)])
    return path, cut


def test_truncated_wav_is_detected_with_its_name(tmp_path):
    whole, cut = _truncated(tmp_path)
    assert wav_truncation(whole) is None
    declared, present = wav_truncation(cut)
    assert declared == 64000 and present < declared
    with pytest.warns(AudioWarning, match="cut.wav.*truncated"):
        audio = read_wav(cut)
    assert audio.shape[0] < 16000
    with pytest.raises(AudioError, match="cut.wav.*truncated"):
        read_wav(cut, truncated="error")


def test_whole_wav_reads_without_warning(tmp_path):
    whole, _ = _truncated(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_wav(whole).shape == (16000,)


def test_unreadable_audio_file_is_an_audio_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioError, match="bad.wav"):
        read_wav(bad)
