"""The contract every registered corruption keeps (parametrized over the registry)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

import corruptions
from corruptions import MinimalPair
from tasks.audio import SAMPLE_RATE
from tasks.errors import ConfigError
from tasks.utterance import Utterance

# kind -> a config with random parameters, a zero-strength (identity) config or None, bad configs.
CASES = {
    "noise": {
        "random": {"snr_db": (0.0, 10.0), "color": ("white", "pink")},
        "identity": {"snr_db": math.inf},
        "bad": [{"snr_db": -100.0}, {"snr_db": "loud"}, {"color": "purple"}, {"span": "wrod"},
                {"snr_db": (10.0, 0.0)}, {"snr_db": (0.0, math.inf)}, {"margin_s": -0.1}],
    },
    "gap": {
        "random": {"fill": "noise"},
        "identity": {"start_s": 0.2, "duration_s": 0.0},
        "bad": [{"fill": "zeros"}, {"start_s": 0.1, "duration_s": -1.0}, {"crossfade_s": 1.0},
                {"level_db": 50.0}, {"start_s": 0.1}],
    },
    "pitch_shift": {
        "random": {"semitones": (-3.0, 3.0)},
        "identity": {"semitones": 0.0},
        "bad": [{"semitones": 30.0}, {"semitones": float("nan")}, {"semitones": True}],
    },
    "lowpass": {
        "random": {"cutoff_hz": (500.0, 3000.0)},
        "identity": None,
        "bad": [{"cutoff_hz": 9000.0}, {"rolloff_db": 20}, {"zero_phase": "yes"}],
    },
    "bandstop": {
        "random": {"center_hz": (500.0, 2000.0)},
        "identity": None,
        "bad": [{"bandwidth_fraction": 2.5}, {"center_hz": 7000.0, "bandwidth_fraction": 1.0}, {"rolloff_db": 0}],
    },
    "reverb": {
        "random": {},
        "identity": {"rt60_s": 0.0},
        "bad": [{"rt60_s": -1.0}, {"drr_db": 100.0}],
    },
    "word_swap": {
        "random": {"word": ("no", "up", "down", "left")},
        "identity": {"word": "yes"},
        "bad": [{"word": ""}, {"stretch": 1}, {"via": "internet"}, {"crossfade_s": 0.5}],
    },
    "recording_swap": {
        "random": {"word": ("no", "up", "down", "left")},
        "identity": {"word": "yes"},
        "bad": [{"word": ""}, {"via": "internet"}, {"crossfade_s": 0.5}, {"max_gain_db": -1.0},
                {"loudness_match": 1}, {"voice": ""}],
    },
    "on_word": {
        "random": {"corruption": {"kind": "pitch_shift", "semitones": (-3.0, 3.0)}},
        "identity": {"corruption": {"kind": "pitch_shift", "semitones": 0.0}},
        "bad": [{"corruption": {"kind": "nope"}}, {"corruption": "pitch_shift"}, {"margin_s": -1.0},
                {"crossfade_s": 1.0}, {"corruption": {"kind": "gap"}}],
    },
}
KINDS = corruptions.kinds()


def test_every_registered_kind_has_a_contract_case():
    assert sorted(CASES) == KINDS


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


def test_defaults_make_a_valid_pair(kind, yes_utterance):
    pair = corruptions.get(kind).pair(yes_utterance, seed=0)
    assert isinstance(pair, MinimalPair)
    assert pair.sample_rate == SAMPLE_RATE
    assert pair.corrupt.dtype == np.float32 and pair.corrupt.shape == yes_utterance.audio.shape
    assert np.all(np.isfinite(pair.corrupt))
    assert np.array_equal(pair.clean, yes_utterance.audio)
    assert not np.array_equal(pair.corrupt, pair.clean)
    assert pair.changed_spans, "a corruption that changes audio must report where"
    assert pair.clean_answer == "yes"
    assert pair.corruption["kind"] == kind
    json.dumps(pair.params)  # JSON-able


def test_same_seed_same_audio_and_other_seeds_differ(kind, yes_utterance):
    corruption = corruptions.get(kind, **CASES[kind]["random"])
    first = corruption.pair(yes_utterance, seed=7)
    again = corruption.pair(yes_utterance, seed=7)
    assert np.array_equal(first.corrupt, again.corrupt)
    assert first.params == again.params and first.seed == again.seed == 7
    others = [corruption.pair(yes_utterance, seed=s).corrupt for s in range(8, 12)]
    assert any(not np.array_equal(first.corrupt, other) for other in others)


def test_draw_then_apply_matches_pair(kind, yes_utterance):
    corruption = corruptions.get(kind, **CASES[kind]["random"])
    params = corruption.sample(np.random.default_rng(5), yes_utterance, target="yes")
    json.dumps(params)
    assert np.array_equal(corruption.apply(yes_utterance, params), corruption.pair(yes_utterance, seed=5).corrupt)


def test_global_random_state_is_untouched(kind, yes_utterance):
    np_state, py_state = np.random.get_state(), random.getstate()
    corruptions.get(kind, **CASES[kind]["random"]).pair(yes_utterance, seed=1)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert random.getstate() == py_state


def test_zero_strength_is_the_identity(kind, yes_utterance):
    identity = CASES[kind]["identity"]
    if identity is None:
        pytest.skip(f"{kind} has no zero-strength setting")
    pair = corruptions.get(kind, **identity).pair(yes_utterance, seed=0)
    assert np.array_equal(pair.corrupt, pair.clean)
    assert pair.changed_spans == []


def test_bad_parameters_raise_config_error(kind):
    for bad in CASES[kind]["bad"]:
        with pytest.raises(ConfigError) as info:
            corruptions.get(kind, **bad)
        assert isinstance(info.value, ValueError)
        assert any(name in str(info.value) for name in bad), str(info.value)


def test_unknown_parameter_names_the_close_one(kind):
    field = sorted(corruptions.get(kind).to_dict().keys() - {"kind"})[0]
    with pytest.raises(ConfigError, match=f"did you mean '{field}'"):
        corruptions.get(kind, **{field + "x": 1})


def test_to_dict_round_trips(kind):
    for params in ({}, CASES[kind]["random"], CASES[kind]["identity"] or {}):
        corruption = corruptions.get(kind, **params)
        config = json.loads(json.dumps(corruption.to_dict()))
        assert corruptions.from_dict(config) == corruption
        assert hash(corruptions.from_dict(config)) == hash(corruption)


def test_save_load_and_rebuild(kind, yes_utterance, tmp_path):
    pair = corruptions.get(kind, **CASES[kind]["random"]).pair(yes_utterance, seed=3)
    pair.save(tmp_path / "pair")
    loaded = MinimalPair.load(tmp_path / "pair")
    assert np.array_equal(loaded.clean, pair.clean) and np.array_equal(loaded.corrupt, pair.corrupt)
    assert loaded.corrupt.dtype == np.float32
    for name in ("clean_answer", "corrupt_answer", "corruption", "params", "seed", "words", "corrupt_words",
                 "metadata", "sample_rate"):
        assert getattr(loaded, name) == getattr(pair, name), name
    assert loaded.changed_spans == pair.changed_spans
    rebuilt = corruptions.from_dict(loaded.corruption).apply(yes_utterance, loaded.params)
    assert np.array_equal(rebuilt, pair.corrupt)
    assert np.array_equal(loaded.rebuild(yes_utterance), pair.corrupt)


def test_sources_at_other_rates_are_resampled(kind, yes_utterance):
    from tasks.audio import resample

    slow = Utterance(audio=resample(yes_utterance.audio, SAMPLE_RATE, 8000), sample_rate=8000,
                     words=yes_utterance.words, voice=yes_utterance.voice, rate=yes_utterance.rate,
                     pitch=yes_utterance.pitch, speaker=yes_utterance.speaker, text=yes_utterance.text)
    pair = corruptions.get(kind).pair(slow, seed=0)
    assert pair.sample_rate == SAMPLE_RATE
    assert pair.clean.shape == pair.corrupt.shape == (2 * slow.audio.shape[0],)
