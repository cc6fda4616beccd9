"""Wav2Vec2 and HuBERT: site table and model wrapper.

Both share the transformer encoder layout (``encoder.layers[i]`` with ``attention`` and
``feed_forward``), post-LN ("base") and pre-LN ("stable layer norm", large) alike:

=================  ===================================================================
component          activation
=================  ===================================================================
block_input        residual stream entering the layer
block_output       residual stream leaving the layer
attention_output   self-attention output (``attention.out_proj`` output), before the residual add
attention_head     one head's self-attention output (``out_proj`` input, split into heads)
mlp_output         feed-forward output (``feed_forward`` output), before the residual add
=================  ===================================================================

Loaded from local transformers checkpoints only: ``*ForCTC`` (transcribes with greedy CTC),
``*ForSequenceClassification`` (keyword spotting: class logits) or the bare ``*Model``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from intervene.models.base import SpeechModel
from intervene.sites import SiteSpec, SiteTable
from tasks.audio import SAMPLE_RATE

__all__ = ["WAV2VEC2_SITES", "HUBERT_SITES", "Wav2Vec2SpeechModel"]


def _specs() -> tuple:
    layer = "encoder.layers[%s]"
    return (
        SiteSpec("encoder", "block_input", layer, "input", "hidden_size", doc="residual stream entering the layer"),
        SiteSpec("encoder", "block_output", layer, "output", "hidden_size", doc="residual stream leaving the layer"),
        SiteSpec("encoder", "attention_output", f"{layer}.attention.out_proj", "output", "hidden_size",
                 doc="self-attention output before the residual add"),
        SiteSpec("encoder", "attention_head", f"{layer}.attention.out_proj", "input", "hidden_size",
                 "num_attention_heads", doc="one head's self-attention output (out_proj input)"),
        SiteSpec("encoder", "mlp_output", f"{layer}.feed_forward", "output", "hidden_size",
                 doc="feed-forward output before the residual add"),
    )


def _table(arch: str, classes: tuple[str, ...], attr: str) -> SiteTable:
    prefixes = {classes[0]: ""} | {c: f"{attr}." for c in classes[1:]}
    return SiteTable(arch, _specs(), {"encoder": "num_hidden_layers"}, prefixes)


WAV2VEC2_SITES = _table(
    "wav2vec2", ("Wav2Vec2Model", "Wav2Vec2ForCTC", "Wav2Vec2ForSequenceClassification"), "wav2vec2"
)
HUBERT_SITES = _table("hubert", ("HubertModel", "HubertForCTC", "HubertForSequenceClassification"), "hubert")


class Wav2Vec2SpeechModel(SpeechModel):
    """A Wav2Vec2 or HuBERT checkpoint (CTC, sequence classification or bare encoder).

    Extra attributes: ``feature_extractor``, ``tokenizer`` (CTC models with a vocab.json),
    ``labels`` (classification models: id -> label).
    """

    max_duration_s = 60.0

    def __init__(self, model, name, architecture: str, folder=None, device=None):
        from transformers import Wav2Vec2FeatureExtractor

        table = WAV2VEC2_SITES if architecture == "wav2vec2" else HUBERT_SITES
        super().__init__(model, name, table, device)
        self.architecture = architecture
        folder = Path(folder) if folder is not None else None
        if folder is not None and (folder / "preprocessor_config.json").is_file():
            self.feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(folder), local_files_only=True)
        else:
            self.feature_extractor = Wav2Vec2FeatureExtractor(
                feature_size=1, sampling_rate=SAMPLE_RATE, do_normalize=True, return_attention_mask=False
            )
        self.tokenizer = None
        if folder is not None and (folder / "vocab.json").is_file():
            from transformers import Wav2Vec2CTCTokenizer

            self.tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(str(folder), local_files_only=True)
        id2label = getattr(self.config, "id2label", None) or {}
        self.labels = [id2label[i] for i in sorted(id2label)] if "ForSequenceClassification" in type(model).__name__ else []
        strides = getattr(self.config, "conv_stride", (5, 2, 2, 2, 2, 2, 2))
        self.frame_s = float(np.prod(strides)) / SAMPLE_RATE

    def inputs(self, audio, sample_rate: int = SAMPLE_RATE, decoder_input_ids=None, *, checked: bool = False) -> dict:
        audio = audio if checked else self.prepare(audio, sample_rate)
        values = self.feature_extractor(audio, sampling_rate=self.sample_rate, return_tensors="np").input_values
        return {"input_values": torch.from_numpy(np.asarray(values, dtype=np.float32)).to(self.device)}

    def logits(self, inputs: dict) -> torch.Tensor:
        """CTC logits (1, frames, vocab), class logits (1, labels), or the last hidden state."""
        out = self.model(**inputs)
        return out.logits if hasattr(out, "logits") else out.last_hidden_state

    def sequence_length(self, stream: str, inputs: dict) -> int:
        n = int(inputs["input_values"].shape[-1])
        core = getattr(self.model, self.architecture, self.model)
        return int(core._get_feat_extract_output_lengths(torch.tensor(n)).item())

    def num_frames(self, n_samples: int) -> int:
        core = getattr(self.model, self.architecture, self.model)
        return int(core._get_feat_extract_output_lengths(torch.tensor(n_samples)).item())

    def align_words(self, audio, transcript: str, *, checked: bool = False) -> list:
        """Word spans by CTC forced alignment (``ctc_alignment.py``; ``*ForCTC`` checkpoints)."""
        from intervene.models.ctc_alignment import align_ctc

        return align_ctc(self, audio if checked else self.prepare(audio), transcript)

    @torch.no_grad()
    def transcribe(self, audio, sample_rate: int = SAMPLE_RATE) -> str:
        """Greedy CTC transcript; for a classifier, the top label."""
        logits = self.logits(self.inputs(audio, sample_rate))
        if self.labels:
            return str(self.labels[int(logits[0].argmax())])
        if self.tokenizer is None:
            from tasks.errors import ConfigError

            raise ConfigError(f"model {self.name!r} has no tokenizer (vocab.json) or labels; it cannot transcribe")
        ids = logits[0].argmax(-1).tolist()
        return self.tokenizer.decode(ids).strip()

