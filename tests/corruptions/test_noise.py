"""Noise: measured SNR, placement, real clips, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

import corruptions
from corruptions import functional as F
from tasks.audio import SAMPLE_RATE, write_wav
from tasks.errors import AudioError, ConfigError, UnknownNameError


def _span(pair):
    a = int(round(pair.params["start_s"] * SAMPLE_RATE))
    b = int(round(pair.params["end_s"] * SAMPLE_RATE))
    return a, b


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 12.5])
def test_whole_clip_snr_within_half_a_db(yes_utterance, color, snr_db):
    pair = corruptions.get("noise", snr_db=snr_db, color=color).pair(yes_utterance, seed=0)
    assert pair.params["color"] == color
    assert F.snr_db(pair.clean, pair.corrupt) == pytest.approx(snr_db, abs=0.5)
    assert pair.changed_spans[0][0] == 0.0 and pair.changed_spans[-1][1] == pytest.approx(pair.duration_s)


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_word_span_snr_and_untouched_outside(sentence, color):
    pair = corruptions.get("noise", snr_db=3.0, color=color, span="word").pair(sentence, seed=1, target="it")
    a, b = _span(pair)
    assert (pair.params["start_s"], pair.params["end_s"]) == (0.45, 0.6)
    assert F.snr_db(pair.clean[a:b], pair.corrupt[a:b]) == pytest.approx(3.0, abs=0.5)
    assert np.array_equal(pair.clean[:a], pair.corrupt[:a]) and np.array_equal(pair.clean[b:], pair.corrupt[b:])
    assert pair.changed_spans == [(a / SAMPLE_RATE, b / SAMPLE_RATE)]


def test_given_times_and_a_drawn_snr(word_clip):
    noise = corruptions.get("noise", snr_db=(5.0, 15.0), start_s=0.35, duration_s=0.2)
    assert noise.span == "times"
    pair = noise.pair(word_clip, seed=2)
    a, b = _span(pair)
    assert (a, b) == (5600, 8800)
    assert 5.0 <= pair.params["snr_db"] <= 15.0
    assert F.snr_db(pair.clean[a:b], pair.corrupt[a:b]) == pytest.approx(pair.params["snr_db"], abs=0.5)
    assert np.array_equal(pair.clean[b:], pair.corrupt[b:])


def test_colored_noise_spectral_slopes():
    from scipy.signal import welch

    for color, slope in (("white", 0.0), ("pink", -1.0), ("brown", -2.0)):
        noise = F.colored_noise(np.random.default_rng(0), 2**17, color)
        assert F.rms(noise) == pytest.approx(1.0, rel=1e-5)
        freqs, psd = welch(noise, fs=SAMPLE_RATE, nperseg=4096)
        keep = (freqs > 50) & (freqs < 5000)
        fitted = np.polyfit(np.log10(freqs[keep]), np.log10(psd[keep]), 1)[0]
        assert fitted == pytest.approx(slope, abs=0.1), color


def test_noise_clips_from_a_folder_whole_and_span(tmp_path, word_clip, rng):
    hum = (0.1 * np.sin(2 * np.pi * 50 * np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    babble = (0.05 * rng.standard_normal(2 * SAMPLE_RATE)).astype(np.float32)
    write_wav(tmp_path / "hum.wav", hum)
    write_wav(tmp_path / "babble.wav", babble)
    for span in ({}, {"span": "word"}):
        noise = corruptions.get("noise", snr_db=6.0, clips=str(tmp_path), **span)
        assert noise.color == "clip"
        pair = noise.pair(word_clip, seed=4)
        a, b = _span(pair)
        assert pair.params["clip"] in ("hum.wav", "babble.wav")
        assert F.snr_db(pair.clean[a:b], pair.corrupt[a:b]) == pytest.approx(6.0, abs=0.5)
        added = pair.corrupt[a:b].astype(np.float64) - pair.clean[a:b]
        offset = int(round(pair.params["offset_s"] * SAMPLE_RATE))
        source = hum if pair.params["clip"] == "hum.wav" else babble
        expected = F.tile_to_length(source, b - a, offset)
        assert abs(np.corrcoef(added, expected)[0, 1]) > 0.999  # the clip itself, scaled
        assert corruptions.from_dict(noise.to_dict()) == noise


def test_short_clips_loop(word_clip):
    short = np.linspace(-0.1, 0.1, 1000).astype(np.float32)
    noise = corruptions.get("noise", snr_db=0.0, clips=[short])
    pair = noise.pair(word_clip, seed=0)
    assert pair.params["offset_s"] == 0.0
    added = pair.corrupt.astype(np.float64) - pair.clean
    assert np.allclose(added[:1000], added[1000:2000], atol=1e-6)
    assert F.snr_db(pair.clean, pair.corrupt) == pytest.approx(0.0, abs=0.5)


def test_array_clips_are_not_stored_in_configs(word_clip, rng):
    clips = [("fan", (0.01 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32))]
    noise = corruptions.get("noise", snr_db=5.0, clips=clips)
    pair = noise.pair(word_clip, seed=1)
    assert pair.corruption["clips"][0]["name"] == "fan" and "sha256" in pair.corruption["clips"][0]
    with pytest.raises(ConfigError, match="pass clips= the same arrays again"):
        corruptions.from_dict(pair.corruption)
    assert np.array_equal(pair.rebuild(word_clip, corruption=noise), pair.corrupt)
    assert "<1 arrays>" in repr(noise)


def test_dataset_background_noise(speech_commands):
    example = next(e for e in speech_commands if e.word == "yes")
    pair = corruptions.get("noise", snr_db=10.0, clips="dataset").pair(example, seed=0)
    assert pair.params["clip"] in {name for name, _ in speech_commands.background_noise()}
    assert F.snr_db(pair.clean, pair.corrupt) == pytest.approx(10.0, abs=0.5)
    assert pair.metadata["speaker"] == example.speaker and pair.metadata["path"] == str(example.path)


def test_dataset_clips_need_a_dataset(word_clip):
    with pytest.raises(ConfigError, match="clips='dataset'"):
        corruptions.get("noise", clips="dataset").pair(word_clip, seed=0)


def test_refusals(sentence, word_clip, tmp_path):
    with pytest.raises(ConfigError, match="color"):
        corruptions.get("noise", color="pink", clips=[np.ones(10, np.float32)])
    with pytest.raises(ConfigError, match="needs clips="):
        corruptions.get("noise", color="clip")
    with pytest.raises(ConfigError, match="does not exist"):
        corruptions.get("noise", clips=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="only used with span='times'"):
        corruptions.get("noise", span="word", start_s=0.1, duration_s=0.1)
    with pytest.raises(ConfigError, match="pass target="):
        corruptions.get("noise", span="word").pair(sentence, seed=0)
    with pytest.raises(UnknownNameError, match="did you mean 'turn'"):
        corruptions.get("noise", span="word").pair(sentence, seed=0, target="turm")
    with pytest.raises(AudioError, match="digital silence"):
        corruptions.get("noise", start_s=0.0, duration_s=0.1).pair(word_clip, seed=0)
    with pytest.raises(ConfigError, match="before the end"):
        corruptions.get("noise", start_s=5.0, duration_s=0.1).pair(word_clip, seed=0)
