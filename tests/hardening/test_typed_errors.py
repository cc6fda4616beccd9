"""Class 6 of issue 12: raw tracebacks that must be typed errors naming argument, value and rule.

Before: ``load_model`` on a folder with an invalid config.json raised JSONDecodeError,
``device="cuda"`` without a GPU a RuntimeError from torch, ``patch(sites=None)`` a TypeError,
``patch(task=None)`` an AttributeError, ``context_frames`` shorter than the clip an IndexError.
(Saved files: ``test_saved_artifacts.py``.)
"""

from __future__ import annotations

import pytest
import torch

import intervene
import tasks
from tasks.errors import ConfigError, ModelLoadError, PairError, SpeechLensError


@pytest.mark.parametrize("config, match", [
    ("{not json", "not a readable JSON"),
    ("[1, 2]", "JSON list"),
    ('{"model_type": 5}', "model_type"),
    ('{"model_type": "whisper", "architectures": "Whisper"}', "architectures"),
    ('{"model_type": "whisper"}', "cannot load"),
    ('{"model_type": "bert"}', "'bert' checkpoint"),
])
def test_load_model_on_a_bad_transformers_folder(tmp_path, config, match):
    (tmp_path / "config.json").write_text(config)
    with pytest.raises(ModelLoadError, match=match):
        intervene.load_model(tmp_path, device="cpu")


@pytest.mark.parametrize("files, match", [
    ({"model.bin": b"\x06\x00\x00\x00garbage", "tokenizer.json": b"{}"}, "model.bin|CTranslate2"),
    ({"model.bin": b"", "tokenizer.json": b"{broken"}, "tokenizer.json"),
    ({"model.bin": b"", "tokenizer.json": b"{}", "config.json": b"[]"}, "config.json"),
    ({"model.bin": b"", "tokenizer.json": b'{"added_tokens": 3}'}, "added_tokens"),
])
def test_load_model_on_a_bad_ctranslate2_folder(tmp_path, files, match):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ModelLoadError, match=match):
        intervene.load_model(tmp_path, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_a_gpu_is_a_config_error(device):
    with pytest.raises(ConfigError, match="CUDA GPU.*device='cpu'"):
        intervene.load_model("whisper-tiny.en", device=device)


@pytest.mark.parametrize("device", ["gpu", "tpu:0", 3, ["cpu"]])
def test_unknown_devices_are_config_errors(device):
    with pytest.raises(ConfigError, match="device"):
        intervene.load_model("whisper-tiny.en", device=device)


def test_load_model_refuses_a_non_name():
    with pytest.raises(ConfigError, match="name_or_path"):
        intervene.load_model(None)


@pytest.mark.parametrize("change, error, match", [
    ({"sites": None}, ConfigError, "sites"),
    ({"sites": [None]}, ConfigError, "sites"),
    ({"sites": 3}, ConfigError, "sites"),
    ({"task": None}, ConfigError, "task"),
    ({"task": "keyword"}, ConfigError, "task"),
    ({"model": "whisper-tiny.en"}, ConfigError, "load_model"),
    ({"pair": None}, PairError, "pair"),
    ({"direction": None}, ConfigError, "direction"),
    ({"context_frames": 10}, ConfigError, "shorter than the clip"),
])
def test_patch_arguments_are_typed_errors(tiny_whisper, yes_no_pair, change, error, match):
    _, pair = yes_no_pair
    args = {"model": tiny_whisper, "task": tasks.KeywordTask(["yes", "no"]), "pair": pair,
            "sites": "encoder.0.block_output"} | change
    with pytest.raises(error, match=match):
        intervene.patch(**args, guards=False)


@pytest.mark.parametrize("method", ["exact", "attribution"])
def test_context_shorter_than_the_clip_in_each_method(tiny_whisper, yes_no_pair, method):
    _, pair = yes_no_pair
    with pytest.raises(ConfigError, match=r"context_frames \(10\) is shorter than the clip \(50"):
        intervene.patch(tiny_whisper, tasks.KeywordTask(["yes", "no"]), pair, "encoder.0.block_output",
                        method=method, context_frames=10)


@pytest.mark.parametrize("interventions", [None, "encoder.0.block_output", [None], []])
def test_intervene_arguments_are_typed_errors(tiny_whisper, yes_no_pair, interventions):
    _, pair = yes_no_pair
    with pytest.raises(ConfigError, match="interventions|Intervention"):
        intervene.intervene(tiny_whisper, tasks.KeywordTask(["yes", "no"]), pair, interventions)


def test_every_error_here_is_in_the_family():
    for cls in (ConfigError, ModelLoadError, PairError):
        assert issubclass(cls, SpeechLensError)


def test_sweep_and_combine_arguments_are_typed_errors(tiny_whisper, yes_no_pair):
    from pathlib import Path

    cmap = intervene.CausalMap.load(Path(__file__).parent.parent / "intervene" / "data" / "map_v0_sweep.npz")
    with pytest.raises(ConfigError, match="align"):
        intervene.combine_maps([cmap], align="bogus")
    with pytest.raises(ConfigError, match=r"maps\[0\]"):
        intervene.combine_maps([None])
    _, pair = yes_no_pair
    task = tasks.KeywordTask(["yes", "no"])
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        intervene.sweep(tiny_whisper, task, [pair], "encoder.0.block_output", checkpoint_dir=5)
    with pytest.raises(ConfigError, match="keys"):
        list(intervene.sweep_pairs(tiny_whisper, task, [pair], "encoder.0.block_output", keys=["a", "b"]))
