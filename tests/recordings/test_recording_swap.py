"""Word swap on recordings: the same speaker's recording spliced in (corruptions/recording_swap.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import corruptions
import tasks
from conftest import SENTENCES, write_clip
from corruptions import functional as F
from corruptions.word_swap import PartnerNotFoundError
from tasks.errors import ConfigError


@pytest.fixture(scope="module")
def data(bank, tmp_path_factory):
    """A manifest of both speakers with word spans; alice's second sentence is 10 dB quieter."""
    root = tmp_path_factory.mktemp("rec")
    rows = []
    for speaker in ("alice", "bob"):
        for n, text in enumerate(SENTENCES[:2]):
            utt = bank[speaker, text]
            if speaker == "alice" and n == 1:
                utt = tasks.Utterance(utt.audio * 10 ** (-10 / 20), words=utt.words, text=utt.text)
            write_clip(root / f"{speaker}{n}.wav", utt)
            rows.append({"path": f"{speaker}{n}.wav", "text": text, "speaker": speaker,
                         "words": [list(w) for w in utt.words]})  # fmt: skip
    (root / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return tasks.open_dataset(f"manifest:{root / 'm.jsonl'}")


def test_splices_the_same_speakers_word_loudness_matched(data):
    clip = data[0]  # alice: "turn the lights off"
    pair = corruptions.get("recording_swap", word="on").pair(clip, target="off", seed=0)
    p = pair.params
    assert p["via"] == "dataset" and p["partner_path"].endswith("alice1.wav") and p["partner_id"] == "alice1.wav"
    assert abs(p["gain_db"] - 10.0) < 1.0  # the quieter recording is brought back up
    assert pair.clean_answer == "off" and pair.corrupt_answer == "on"
    assert p["splice"] == "in_place" and p["slot_start_s"] <= clip.word_span("off").start_s
    a, b = int(round(p["slot_start_s"] * 16000)), int(round(p["slot_end_s"] * 16000))
    assert np.array_equal(pair.corrupt[:a], pair.clean[:a]) and np.array_equal(pair.corrupt[b:], pair.clean[b:])
    assert pair.corrupt_words[3] == ("on", *clip.word_span("off")[1:]) and pair.corrupt_words[:3] == clip.words[:3]
    off = clip.word_span("off")
    wa, wb = int(off.start_s * 16000) + 160, int(off.end_s * 16000) - 160
    assert abs(20 * np.log10(F.rms(pair.corrupt[wa:wb]) / F.rms(pair.clean[wa:wb]))) < 3.0
    rebuilt = corruptions.from_dict(pair.corruption).apply(clip, p)
    assert np.array_equal(rebuilt, pair.corrupt)


def test_a_synthesised_word_when_asked(data):
    pair = corruptions.get("recording_swap", word="on", via="tts", voice="en-gb-x-rp").pair(data[0], target="off", seed=0)
    assert pair.params["via"] == "tts" and pair.params["voice"] == "en-gb-x-rp" and "partner_path" not in pair.params
    assert pair.corrupt_answer == "on" and not np.array_equal(pair.corrupt, pair.clean)


def test_missing_partners_and_sources_without_a_dataset(data, bank):
    with pytest.raises(PartnerNotFoundError, match="'banana' by speaker 'alice'"):
        corruptions.get("recording_swap", word="banana").pair(data[0], target="off", seed=0)
    bare = tasks.Utterance(bank["alice", SENTENCES[0]].audio, words=bank["alice", SENTENCES[0]].words)
    with pytest.raises(ConfigError, match="via='tts'"):
        corruptions.get("recording_swap", word="on").pair(bare, target="off", seed=0)
