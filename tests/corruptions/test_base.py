"""The registry and the base class: explicit, duplicate-refusing, typo-answering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import corruptions
from corruptions import registry
from tasks.errors import ConfigError, UnknownNameError


def test_kinds_lists_the_builtin_registry():
    assert corruptions.kinds() == sorted(cls.kind for cls in corruptions.BUILTIN)
    assert {"noise", "gap", "pitch_shift", "lowpass", "bandstop", "reverb", "word_swap"} <= set(corruptions.kinds())


def test_unknown_kind_names_the_close_ones():
    with pytest.raises(UnknownNameError, match="did you mean 'noise'") as info:
        corruptions.get("noize")
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownNameError, match="'pitch_shift'"):
        corruptions.from_dict({"kind": "pitchshift"})


def test_from_dict_needs_a_kind():
    with pytest.raises(ConfigError, match="no 'kind'"):
        corruptions.from_dict({"snr_db": 3})
    with pytest.raises(ConfigError, match="must be a dict"):
        corruptions.from_dict("noise")


def test_register_refuses_duplicates_and_non_corruptions(monkeypatch):
    with pytest.raises(ConfigError, match="already registered"):
        corruptions.register(corruptions.Noise)
    with pytest.raises(ConfigError, match="only subclasses"):
        corruptions.register(dict)

    @dataclass(frozen=True, eq=False)
    class Nameless(corruptions.Corruption):
        pass

    with pytest.raises(ConfigError, match="kind"):
        corruptions.register(Nameless)

    @dataclass(frozen=True, eq=False)
    class Invert(corruptions.Corruption):
        kind: ClassVar[str] = "invert"
        gain: float = -1.0

        def sample(self, rng, source, target=None):
            return {"gain": self.gain}

        def apply(self, source, params):
            return (corruptions.as_source(source).audio * params["gain"]).astype(np.float32)

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    corruptions.register(Invert)
    pair = corruptions.get("invert").pair(np.ones(100, np.float32), seed=0)
    assert np.all(pair.corrupt == -1.0) and pair.corruption == {"kind": "invert", "gain": -1.0}


def test_seed_and_rng_rules(word_clip):
    with pytest.raises(ConfigError, match="not both"):
        corruptions.get("noise").pair(word_clip, seed=1, rng=np.random.default_rng(1))
    with pytest.raises(ConfigError, match="seed"):
        corruptions.get("noise").pair(word_clip, seed=-1)
    with pytest.raises(ConfigError, match="Generator"):
        corruptions.get("noise").pair(word_clip, rng=np.random.RandomState(0))


def test_configs_are_frozen_and_hashable():
    noise = corruptions.get("noise", snr_db=[0, 10])
    assert noise.snr_db == (0.0, 10.0)  # lists from JSON become tuples
    with pytest.raises(AttributeError):
        noise.snr_db = 3.0
    assert len({noise, corruptions.get("noise", snr_db=(0, 10))}) == 1
    assert noise != corruptions.get("noise", snr_db=(0, 11))


def test_apply_names_missing_params(word_clip):
    with pytest.raises(ConfigError, match="lack 'semitones'"):
        corruptions.get("pitch_shift").apply(word_clip, {})
