"""MinimalPair: validation, atomic save/load, changed frames, rebuild."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import corruptions
from corruptions import MinimalPair
from tasks.errors import ConfigError, PairError


def _clips(n=16000):
    clean = (0.1 * np.sin(np.arange(n) * 0.2)).astype(np.float32)
    corrupt = clean.copy()
    corrupt[8000:9600] = 0.0
    return clean, corrupt


def test_validation_names_what_to_change():
    clean, corrupt = _clips()
    with pytest.raises(PairError, match="clean has 16000 samples but corrupt has 15999"):
        MinimalPair(clean, corrupt[:-1])
    with pytest.raises(PairError, match=r"float64; pass float32"):
        MinimalPair(clean, corrupt.astype(np.float64))
    bad = corrupt.copy()
    bad[3] = np.nan
    with pytest.raises(PairError, match="corrupt has 1 NaN"):
        MinimalPair(clean, bad)
    with pytest.raises(PairError, match="sample_rate"):
        MinimalPair(clean, corrupt, sample_rate=0)
    with pytest.raises(PairError, match="shape"):
        MinimalPair(clean[None, :], corrupt[None, :])
    assert issubclass(PairError, ValueError)


def test_duration_and_frames():
    clean, corrupt = _clips(16010)
    pair = MinimalPair(clean, corrupt)
    assert pair.duration_s == pytest.approx(1.000625)
    assert pair.changed_frames().shape == (51,)  # ceil(1.000625 / 0.02)
    assert pair.changed_frames(frame_s=0.04).shape == (26,)
    assert not MinimalPair(clean, clean.copy()).changed_frames().any()


def test_changed_frames_follow_the_model():
    clean, corrupt = _clips()

    class Model:
        frame_s = 0.04

    frames = MinimalPair(clean, corrupt).changed_frames(model=Model())
    assert frames.shape == (25,)
    assert set(np.flatnonzero(frames)) <= set(range(11, 17)) and {13, 14} <= set(np.flatnonzero(frames))
    with pytest.raises(ConfigError, match="disagrees"):
        MinimalPair(clean, corrupt).changed_frames(model=Model(), frame_s=0.02)
    with pytest.raises(ConfigError, match="has no .frame_s"):
        MinimalPair(clean, corrupt).changed_frames(model=object())
    with pytest.raises(ConfigError, match="threshold_db"):
        MinimalPair(clean, corrupt).changed_frames(threshold_db=-1)


def test_changed_frames_on_a_word_gap(sentence):
    pair = corruptions.get("gap").pair(sentence, seed=0, target="on")  # 0.7 - 1.0 s
    changed = np.flatnonzero(pair.changed_frames())
    assert changed.min() >= 35 - 2 and changed.max() <= 49 + 2
    assert set(range(36, 49)) <= set(changed)


def test_save_is_bit_exact_and_json_last(tmp_path, monkeypatch, word_clip):
    pair = corruptions.get("noise", snr_db=5.0, span="word").pair(word_clip, seed=9)
    folder = pair.save(tmp_path / "p")
    assert sorted(p.name for p in folder.iterdir()) == ["clean.wav", "corrupt.wav", "pair.json"]
    info = json.loads((folder / "pair.json").read_text())
    assert info["corruption"]["kind"] == "noise" and info["seed"] == 9 and info["clean_answer"] == "yes"
    loaded = MinimalPair.load(folder)
    assert np.array_equal(loaded.corrupt, pair.corrupt) and loaded.words == pair.words

    # An interrupted re-save leaves no pair.json: the folder no longer claims to be complete.
    import corruptions.pair as pair_module

    def broken_write(path, audio, sample_rate):
        raise OSError("disk full")

    monkeypatch.setattr(pair_module, "write_wav", broken_write)
    with pytest.raises(OSError):
        pair.save(folder)
    with pytest.raises(PairError, match="no pair.json"):
        MinimalPair.load(folder)


def test_load_detects_changed_audio(tmp_path, word_clip):
    from tasks.audio import write_wav

    pair = corruptions.get("gap").pair(word_clip, seed=0)
    folder = pair.save(tmp_path / "p")
    write_wav(folder / "corrupt.wav", pair.clean)
    with pytest.raises(PairError, match="checksum"):
        MinimalPair.load(folder)


def test_infinite_snr_survives_json(tmp_path, word_clip):
    pair = corruptions.get("noise", snr_db=math.inf).pair(word_clip, seed=0)
    loaded = MinimalPair.load(pair.save(tmp_path / "p"))
    assert loaded.corruption["snr_db"] == math.inf
    assert corruptions.from_dict(loaded.corruption) == corruptions.get("noise", snr_db=math.inf)


def test_seed_is_drawn_and_recorded_when_not_given(word_clip):
    noise = corruptions.get("noise")
    pair = noise.pair(word_clip)
    assert isinstance(pair.seed, int)
    assert np.array_equal(noise.pair(word_clip, seed=pair.seed).corrupt, pair.corrupt)
    with_rng = noise.pair(word_clip, rng=np.random.default_rng(0))
    assert with_rng.seed is None and np.array_equal(with_rng.rebuild(word_clip), with_rng.corrupt)
