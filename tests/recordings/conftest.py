"""Shared fixtures of the recording tests: synthesised "recordings" of two speakers, written to
disk in each dataset layout by the tests that need them (no network, no real corpus).

``bank`` holds utterances made with espeak-ng, whose word spans are known, so a reader's or an
aligner's spans can be checked against them.
"""

from __future__ import annotations

import numpy as np
import pytest

import tasks

SPEAKERS = {"alice": "en-us", "bob": "en+f2"}
SENTENCES = ("turn the lights off", "switch the lights on", "open the red door")


@pytest.fixture(scope="session")
def bank():
    """``{(speaker, sentence): Utterance}``, the first word at 0.2 s and 0.3 s of room added."""
    out = {}
    for speaker, voice in SPEAKERS.items():
        for text in SENTENCES:
            utt = tasks.speak(text, voice=voice, rate=170)
            out[speaker, text] = utt.padded(utt.duration_s + 0.3, onset_s=0.2)
    return out


def write_clip(path, utt, sample_rate: int = 16000) -> None:
    """Write ``utt``'s audio (resampled to ``sample_rate``) in the format of ``path``'s suffix."""
    import soundfile as sf

    audio = utt.audio if sample_rate == 16000 else tasks.audio.resample(utt.audio, 16000, sample_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate)
