"""Model names through the Hugging Face cache (intervene/models/hub.py), offline.

The cache is built here from the bundled weights: the converted tiny.en saved with
``save_pretrained`` into ``models--openai--whisper-tiny.en/snapshots/<hash>/`` with ``refs/main``.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import intervene
import tasks
from intervene.models.hub import is_hub_id
from tasks.errors import ModelLoadError, UnknownNameError

REVISION = "0123456789abcdef0123456789abcdef01234567"


def cache_repo(cache, repo_id: str):
    """The snapshot folder of ``repo_id`` in a hub cache layout (created, with refs/main)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, tiny_en):
    from tiny_models import tokenizer_json

    cache = tmp_path_factory.mktemp("hf_cache")
    snapshot = cache_repo(cache, "openai/whisper-tiny.en")
    tiny_en.model.save_pretrained(snapshot)
    shutil.copy(tokenizer_json(), snapshot / "tokenizer.json")
    bert = cache_repo(cache, "google-bert/bert-base-uncased")
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    return cache


@pytest.fixture
def offline(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub_cache


def test_a_cached_hub_id_loads_offline_and_matches_the_bundled_model(offline, tiny_en):
    model = intervene.load_model("openai/whisper-tiny.en", device="cpu")
    assert model.name == "openai/whisper-tiny.en" and model.architecture == "whisper"
    utt = tasks.speak("turn the lights off")
    assert model.transcribe(utt.audio) == tiny_en.transcribe(utt.audio)
    ids = model.inputs(utt.audio)
    assert np.allclose(model.logits(ids).numpy(), tiny_en.logits(tiny_en.inputs(utt.audio)).numpy(), atol=1e-4)
    from intervene.models.whisper.sizes import alignment_heads

    assert alignment_heads(model)[1] == "table:tiny.en"


def test_an_uncached_id_names_the_id_the_cache_and_offline_mode(offline):
    with pytest.raises(ModelLoadError) as info:
        intervene.load_model("openai/whisper-small", device="cpu")
    message = str(info.value)
    assert "openai/whisper-small" in message and str(offline) in message and "HF_HUB_OFFLINE" in message


def test_a_snapshot_cached_without_weights_is_not_loaded_offline(offline):
    snapshot = cache_repo(offline, "openai/whisper-base")
    (snapshot / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(ModelLoadError, match=r"'openai/whisper-base': the weights .*HF_HUB_OFFLINE"):
        intervene.load_model("openai/whisper-base", device="cpu")


def test_a_hub_id_that_is_not_a_speech_model_is_refused(offline):
    with pytest.raises(ModelLoadError, match=r"'google-bert/bert-base-uncased' is a 'bert' model, not a speech model"):
        intervene.load_model("google-bert/bert-base-uncased", device="cpu")


def test_what_counts_as_a_hub_id(tmp_path):
    assert is_hub_id("openai/whisper-large-v3") and is_hub_id("facebook/wav2vec2-base-960h")
    assert not is_hub_id("whisper-tiny.en") and not is_hub_id("a/b/c") and not is_hub_id(str(tmp_path))
    with pytest.raises(UnknownNameError, match="whisper-tiny.en"):
        intervene.load_model("whisper-tiny.english", device="cpu")
