"""Word swap: the new word on the old onset, the length kept, found by voice or by speaker."""

from __future__ import annotations

import re

import numpy as np
import pytest

import corruptions
from corruptions import PartnerNotFoundError
from tasks.audio import SAMPLE_RATE
from tasks.errors import ConfigError
from tasks.utterance import Utterance


def _onset(audio: np.ndarray, top_db: float = 30.0) -> int:
    """First sample of the first 5 ms frame within ``top_db`` of the loudest frame."""
    frame = 80
    energy = np.array([np.mean(audio[i : i + frame].astype(np.float64) ** 2) for i in range(0, len(audio), frame)])
    return int(np.flatnonzero(energy > energy.max() * 10 ** (-top_db / 10))[0]) * frame


def test_single_word_swap_aligns_the_onset_and_keeps_length(yes_utterance):
    pair = corruptions.get("word_swap").pair(yes_utterance, seed=0)
    assert (pair.clean_answer, pair.corrupt_answer) == ("yes", "no")
    assert pair.params["via"] == "tts" and pair.params["voice"] == "en-us"
    assert pair.corrupt.shape == yes_utterance.audio.shape
    a = int(round(pair.params["start_s"] * SAMPLE_RATE))
    half = int(round(pair.params["crossfade_s"] * SAMPLE_RATE)) // 2
    assert np.array_equal(pair.corrupt[: a - half], pair.clean[: a - half])
    assert abs(_onset(pair.corrupt) - _onset(pair.clean)) <= 160  # 10 ms
    (new,) = pair.corrupt_words
    assert new.word == "no" and new.start_s == pair.words[0].start_s
    assert new.duration_s == pytest.approx(pair.params["partner_end_s"] - pair.params["partner_start_s"])


def test_stretch_matches_the_old_duration_and_keeps_what_follows(yes_utterance):
    pair = corruptions.get("word_swap", stretch=True).pair(yes_utterance, seed=0)
    b = int(round(pair.params["end_s"] * SAMPLE_RATE))
    half = int(round(pair.params["crossfade_s"] * SAMPLE_RATE)) // 2
    assert np.array_equal(pair.corrupt[b + half :], pair.clean[b + half :])
    assert pair.corrupt_words[0][1:] == pair.words[0][1:]


def test_sentence_splice_changes_only_the_word():
    """Inside a sentence only the word's slot changes: no later word moves (issue 12)."""
    from tasks.tts import speak

    sentence = speak("turn the light on now", voice="en-us+f3")
    pair = corruptions.get("word_swap", word="off").pair(sentence, seed=0, target="on")
    on = sentence.words[3]
    params = pair.params
    assert params["splice"] == "in_place" and params["word_cut_s"] == 0.0
    assert on.start_s - 0.04 <= params["slot_start_s"] <= on.start_s
    assert on.end_s <= params["slot_end_s"] <= on.end_s + 0.04
    a, b = (int(round(params[k] * SAMPLE_RATE)) for k in ("slot_start_s", "slot_end_s"))
    assert np.array_equal(pair.corrupt[:a], pair.clean[:a]) and np.array_equal(pair.corrupt[b:], pair.clean[b:])
    assert not np.array_equal(pair.corrupt[a:b], pair.clean[a:b])
    ((lo, hi),) = pair.changed_spans
    assert params["slot_start_s"] <= lo and hi <= params["slot_end_s"]
    assert [w.word for w in pair.corrupt_words] == ["turn", "the", "light", "off", "now"]
    assert pair.corrupt_words[:3] == sentence.words[:3] and pair.corrupt_words[4] == sentence.words[4]
    assert params["slot_start_s"] <= pair.corrupt_words[3].start_s < pair.corrupt_words[3].end_s <= params["slot_end_s"]
    assert np.array_equal(pair.rebuild(sentence), pair.corrupt)
    with pytest.raises(ConfigError, match="pass target="):
        corruptions.get("word_swap", word="off").pair(sentence, seed=0)


def test_dataset_example_uses_the_same_speakers_recording(speech_commands):
    example = next(e for e in speech_commands if e.word == "yes")
    pair = corruptions.get("word_swap").pair(example, seed=0)
    assert pair.params["via"] == "dataset"
    partner = speech_commands.find("no", example.speaker)
    assert pair.params["partner_path"] == str(partner.path)
    assert pair.corrupt.shape == example.audio.shape
    assert (pair.clean_answer, pair.corrupt_answer) == ("yes", "no")
    assert np.array_equal(corruptions.from_dict(pair.corruption).apply(example, pair.params), pair.corrupt)
    with pytest.raises(PartnerNotFoundError, match="no recording of 'down'"):
        corruptions.get("word_swap", word="down").pair(example, seed=0)


def test_refusals(word_clip):
    from tasks.tts import speak

    with pytest.raises(ConfigError, match="no default partner for 'cat'.*pass word="):
        corruptions.get("word_swap").pair(speak("cat"), seed=0)
    assert corruptions.get("word_swap", word="dog").pair(speak("cat"), seed=0).corrupt_answer == "dog"
    with pytest.raises(ConfigError, match="neither"):
        corruptions.get("word_swap").pair(word_clip, seed=0)
    with pytest.raises(ConfigError, match="via='dataset'"):
        corruptions.get("word_swap", via="dataset").pair(word_clip, seed=0)


WHISPER_CASES = [("en-us", "yes"), ("en", "no"), ("en-gb-x-rp", "stop"), ("en-029", "yes"),
                 ("en-gb-scotland", "no"), ("en-us+f3", "stop")]


def test_whisper_hears_the_new_word():
    """The model test: whisper-tiny.en transcribes the swapped-in word on most voices."""
    intervene = pytest.importorskip("intervene")
    from tasks.errors import ModelLoadError
    from tasks.tts import speak

    try:
        model = intervene.load_model("whisper-tiny.en")
    except ModelLoadError as exc:
        pytest.skip(f"whisper-tiny.en cannot be loaded here: {exc}")

    def words_of(text):
        return re.sub(r"[^a-z ]", "", text.lower()).split()

    heard = 0
    for voice, word in WHISPER_CASES:
        spoken = speak(word, voice=voice)
        pad = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
        source = Utterance(
            audio=np.concatenate([pad, spoken.audio, pad]), words=[(word, s + 0.3, e + 0.3) for _, s, e in spoken.words],
            voice=spoken.voice, rate=spoken.rate, pitch=spoken.pitch, speaker=spoken.speaker, text=word,
        )
        pair = corruptions.get("word_swap").pair(source, seed=0)
        assert pair.changed_frames(model=model).shape == (model.num_frames(pair.n_samples),)
        heard += words_of(model.transcribe(pair.corrupt, pair.sample_rate)) == [pair.corrupt_answer]
        assert pair.corrupt_answer not in words_of(model.transcribe(pair.clean, pair.sample_rate))
    assert heard >= 4, f"whisper heard the new word on {heard} of {len(WHISPER_CASES)} voices"
