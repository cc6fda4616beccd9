"""tasks.tts: offline espeak-ng synthesis with word spans."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tasks.errors import ConfigError, UnknownNameError
from tasks.tts import PADDING_S, canonical_voice, speak, speaker_id, voices
from tasks.utterance import Utterance

SR = 16000


def _band_spectrum_db(audio: np.ndarray) -> np.ndarray:
    """Mean power in 32 log-spaced bands over the audible 32 ms frames, in dB."""
    n = 512
    frames = audio[: audio.shape[0] // n * n].reshape(-1, n) * np.hanning(n)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    power = power[energy > energy.max() * 1e-3]
    edges = np.unique(np.geomspace(2, 257, 33).astype(int))
    bands = np.stack([power[:, lo:hi].sum(axis=1) for lo, hi in zip(edges[:-1], edges[1:])], axis=1)
    return 10 * np.log10(bands.mean(axis=0) + 1e-12)


def _energy_fraction(audio: np.ndarray, spans, margin_s: float = 0.0) -> float:
    inside = np.zeros(audio.shape[0], dtype=bool)
    for span in spans:
        lo = max(0, int((span.start_s - margin_s) * SR))
        inside[lo : int(np.ceil((span.end_s + margin_s) * SR))] = True
    return float((audio[inside] ** 2).sum() / (audio**2).sum())


def _frame_rms(audio: np.ndarray, frame: int = 80) -> np.ndarray:
    n = audio.shape[0] // frame
    return np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1))


# --- output format ------------------------------------------------------------------------


def test_speak_returns_16k_float32_mono_utterance_with_settings():
    utt = speak("yes", voice="en-us+f3", rate=160, pitch=40)
    assert isinstance(utt, Utterance)
    assert utt.sample_rate == SR
    assert utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert 0.2 < utt.duration_s < 1.0
    assert 0.1 < np.abs(utt.audio).max() <= 1.0
    assert (utt.text, utt.voice, utt.rate, utt.pitch) == ("yes", "en-us+f3", 160, 40)
    assert utt.speaker == "en-us+f3-r160-p40"


def test_speech_is_padded_with_50_ms_of_silence_each_side():
    audio = speak("go").audio
    rms = _frame_rms(audio)  # 5 ms frames
    pad_frames = int(PADDING_S * SR / 80)
    loud = rms.max()
    assert rms[: pad_frames - 1].max() < loud * 10 ** (-50 / 20)
    assert rms[-(pad_frames - 1) :].max() < loud * 10 ** (-50 / 20)
    assert rms[pad_frames : pad_frames + 2].max() > loud * 10 ** (-50 / 20)


def test_same_arguments_give_bit_identical_audio_even_after_other_voices():
    first = speak("yes no up", voice="en-us+f3", rate=180, pitch=45)
    speak("hello there", voice="en-gb-scotland", rate=300, pitch=20)
    speak("a breathy whisper", voice="en+whisper")
    again = speak("yes no up", voice="en-us+f3", rate=180, pitch=45)
    assert np.array_equal(first.audio, again.audio)
    assert first.words == again.words


def test_rate_and_pitch_change_the_audio():
    base = speak("stop", rate=175, pitch=50)
    assert speak("stop", rate=300).duration_s < base.duration_s - 0.05
    assert not np.array_equal(speak("stop", pitch=80).audio, base.audio)


# --- word spans ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, voice",
    [
        ("please say yes or no to me now", "en-us"),
        ("the quick brown fox jumps over the lazy dog", "en-gb-x-rp+f1"),
        ("yes, no. Up! down", "en+f2"),
    ],
)
def test_word_spans_are_ordered_inside_the_clip_and_hold_the_energy(text, voice):
    utt = speak(text, voice=voice)
    spans = utt.words
    assert [s.word.lower() for s in spans] == [w.strip(",.!").lower() for w in text.split()]
    for span, following in zip(spans, spans[1:]):
        assert span.end_s <= following.start_s
    assert all(0.0 <= s.start_s < s.end_s <= utt.duration_s for s in spans)
    assert all(s.duration_s > 0.04 for s in spans)
    assert _energy_fraction(utt.audio, spans, margin_s=0.03) > 0.99
    assert _energy_fraction(utt.audio, spans) > 0.98


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3", "en-029+f5", "en-gb-scotland"])
def test_single_word_span_covers_the_audible_word_and_leaves_the_padding_out(voice):
    utt = speak("yes", voice=voice)
    (span,) = utt.words
    assert span.word == "yes"
    assert span.start_s >= PADDING_S - 0.006 and span.end_s <= utt.duration_s - PADDING_S + 0.006
    assert span.duration_s > 0.2  # 'yes' at 175 wpm, not a fragment of it
    assert _energy_fraction(utt.audio, [span]) > 0.999


def test_a_pause_after_a_comma_stays_outside_the_spans():
    utt = speak("yes, no")
    yes, no = utt.words
    assert no.start_s - yes.end_s > 0.08
    gap = utt.audio[int(yes.end_s * SR) + 80 : int(no.start_s * SR) - 80]
    assert np.sqrt(np.mean(gap**2)) < 1e-3 * np.abs(utt.audio).max()


def test_word_text_keeps_apostrophes_hyphens_and_numbers_and_drops_punctuation():
    assert [w.word for w in speak('"Hello," she said.').words] == ["Hello", "she", "said"]
    # espeak-ng reports '42' digit by digit; the two events are one word
    assert [w.word for w in speak("It's 42 well-known").words] == ["It's", "42", "well-known"]


# --- voices -------------------------------------------------------------------------------


def test_voices_lists_at_least_12_distinct_voices_in_a_stable_order():
    names = voices()
    assert len(names) >= 12 and len(set(names)) == len(names)
    assert names[:5] == ["en-us", "en", "en-gb-x-rp", "en-029", "en-gb-scotland"]
    names.append("changed")
    assert "changed" not in voices()  # a copy, not the module's list


def test_every_default_voice_sounds_different():
    text = "yes no up down left right"
    spectra = {v: _band_spectrum_db(speak(text, voice=v).audio) for v in voices()}
    distance = {
        (a, b): float(np.sqrt(np.mean((spectra[a] - spectra[b]) ** 2)))
        for a, b in itertools.combinations(spectra, 2)
    }
    # A small rate change of one voice moves this distance by < 1 dB; voices differ by more.
    same_voice = float(np.sqrt(np.mean((_band_spectrum_db(speak(text, rate=185).audio) - spectra["en-us"]) ** 2)))
    assert same_voice < 1.0
    closest = min(distance, key=distance.get)
    assert distance[closest] > 1.2, f"{closest} sound alike ({distance[closest]:.2f} dB)"


def test_a_variant_outside_the_list_is_accepted_and_canonicalised():
    utt = speak("yes", voice="EN-US+F4")
    assert utt.voice == "en-us+f4" and utt.speaker == "en-us+f4-r175-p50"
    assert not np.array_equal(utt.audio, speak("yes", voice="en-us").audio)


def test_speaker_id_has_no_underscore_and_names_the_settings():
    assert speaker_id("en-gb-x-rp+f1", 150, 40) == "en-gb-x-rp+f1-r150-p40"
    assert speaker_id("en-us+Mr serious", 150, 40) == "en-us+Mr-serious-r150-p40"
    assert all("_" not in speaker_id(v, 175, 50) for v in voices())
    assert canonical_voice(" en-GB-x-RP ") == "en-gb-x-rp"


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 20}, "rate (20) must be between 80 and 450 words per minute"),
        ({"rate": 451}, "rate (451) must be between 80 and 450 words per minute"),
        ({"rate": 175.5}, "rate (175.5) must be a whole number between 80 and 450"),
        ({"rate": "fast"}, "rate ('fast') must be a whole number"),
        ({"rate": True}, "rate (True) must be a whole number"),
        ({"pitch": -1}, "pitch (-1) must be between 0 and 99"),
        ({"pitch": 100}, "pitch (100) must be between 0 and 99"),
        ({"text": ""}, "text ('') is empty"),
        ({"text": "  \n "}, "is empty; give at least one word"),
        ({"text": None}, "text (None) must be a string"),
        ({"text": "..."}, "gave no audible speech"),
        ({"voice": 3}, "voice (3) must be a string"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_value_and_rule(kwargs, message):
    args = {"text": "yes", **kwargs}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        speak(**args)
    assert isinstance(info.value, ValueError)


def test_integral_float_rate_is_accepted():
    assert speak("go", rate=175.0).rate == 175


@pytest.mark.parametrize(
    "voice, close",
    [("en-usa", "'en-us'"), ("en-gb-x-pr", "'en-gb-x-rp'"), ("en-us+f33", "'f3'"), ("klingon", None)],
)
def test_unknown_voice_raises_unknown_name_error_with_close_names(voice, close):
    with pytest.raises(UnknownNameError) as info:
        speak("yes", voice=voice)
    assert isinstance(info.value, KeyError)
    text = str(info.value)
    assert repr(voice) in text
    if close is not None:
        assert "did you mean" in text and close in text


# --- threads ------------------------------------------------------------------------------


def test_speak_from_four_threads_gives_the_serial_results():
    jobs = [("yes no", "en-us"), ("stop go", "en+f2"), ("left right", "en-gb-scotland"), ("up down", "en-us+m3")] * 3
    expected = {job: speak(*job).audio for job in set(jobs)}
    barrier = threading.Barrier(4)

    def run(job):
        barrier.wait(timeout=30)  # four calls at once, three rounds
        return job, speak(*job).audio

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, jobs))
    assert len(results) == len(jobs)
    for job, audio in results:
        assert np.array_equal(audio, expected[job]), job
