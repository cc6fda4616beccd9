"""Whisper's adapter: site table, model wrapper and what it offers (every fast path).

Sites (``stream.layer.component[.head]``) and the tensors they name, for
``WhisperForConditionalGeneration`` (prefix ``model.``) and ``WhisperModel``:

=========================  =====================================================
component                  activation
=========================  =====================================================
block_input                residual stream entering the layer (layer 0: conv stem + positions)
block_output               residual stream leaving the layer
attention_output           self-attention output (``self_attn.out_proj`` output), before the residual add
attention_head             one head's self-attention output (``out_proj`` input, split into heads)
mlp_hidden                 MLP neurons: the hidden activation after the activation function (``fc2`` input,
                           width ``{stream}_ffn_dim`` = 4 x d_model)
mlp_output                 MLP output (``fc2`` output), before the residual add
cross_attention_output     decoder only: cross-attention output (``encoder_attn.out_proj``)
cross_attention_head       decoder only: one head's cross-attention output
=========================  =====================================================

Whisper always encodes 30 s: 3000 mel frames, 1500 encoder positions of 20 ms, however short
the clip; a 1 s clip occupies encoder frames 0..49.
"""

from __future__ import annotations

import functools
import inspect
import logging

import numpy as np
import torch

from intervene.models.base import Capabilities, SpeechModel
from intervene.models.whisper.anatomy import WhisperAnatomyRunner
from intervene.models.whisper.attention import encoder_bias
from intervene.models.whisper.exact import WhisperExactRunner
from intervene.models.whisper.lookahead import covers, lookahead_scores
from intervene.models.whisper.runner import WhisperRunner
from intervene.sites import SiteSpec, SiteTable
from tasks.audio import SAMPLE_RATE

__all__ = ["WHISPER_SITES", "WhisperSpeechModel"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def _cache_keyword(decoder_class: type) -> str:
    """The decoder's name for the KV cache argument: transformers 5.x renamed ``past_key_values``
    to ``cache`` (the old name still works but warns on every call); 4.x knows only the old one."""
    try:
        params = inspect.signature(decoder_class.forward).parameters
    except (TypeError, ValueError):  # an unusual wrapper: the name every version accepts
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _stack_specs(stream: str) -> list[SiteSpec]:
    layer = f"{stream}.layers[%s]"
    heads = f"{stream}_attention_heads"
    specs = [
        SiteSpec(stream, "block_input", layer, "input", "d_model", doc="residual stream entering the layer"),
        SiteSpec(stream, "block_output", layer, "output", "d_model", doc="residual stream leaving the layer"),
        SiteSpec(stream, "attention_output", f"{layer}.self_attn.out_proj", "output", "d_model",
                 doc="self-attention output before the residual add"),
        SiteSpec(stream, "attention_head", f"{layer}.self_attn.out_proj", "input", "d_model", heads,
                 doc="one head's self-attention output (out_proj input)"),
        SiteSpec(stream, "mlp_hidden", f"{layer}.fc2", "input", f"{stream}_ffn_dim",
                 doc="MLP neurons: hidden activation after the activation function (fc2 input)"),
        SiteSpec(stream, "mlp_output", f"{layer}.fc2", "output", "d_model", doc="MLP output before the residual add"),
    ]
    if stream == "decoder":
        specs += [
            SiteSpec(stream, "cross_attention_output", f"{layer}.encoder_attn.out_proj", "output", "d_model",
                     doc="cross-attention output before the residual add"),
            SiteSpec(stream, "cross_attention_head", f"{layer}.encoder_attn.out_proj", "input", "d_model", heads,
                     doc="one head's cross-attention output (out_proj input)"),
        ]
    return specs


WHISPER_SITES = SiteTable(
    architecture="whisper",
    specs=tuple(_stack_specs("encoder") + _stack_specs("decoder")),
    layers={"encoder": "encoder_layers", "decoder": "decoder_layers"},
    prefixes={"WhisperForConditionalGeneration": "model.", "WhisperModel": ""},
)


class WhisperSpeechModel(SpeechModel):
    """Whisper with its tokenizer, feature extractor and decoder prompt.

    Extra attributes: ``tokenizer`` (a ``PreTrainedTokenizerFast``), ``feature_extractor``,
    ``prompt_ids`` (the decoder prompt: start of transcript, language and task for
    multilingual models, no timestamps), ``eot_id``.
    """

    architecture = "whisper"
    frame_s = 0.02
    max_duration_s = 30.0
    has_decoder = True
    input_key = "input_features"
    capabilities = Capabilities(fast_exact=True, lookahead=True, truncated_context=True)

    def __init__(self, model, name, tokenizer, device=None):
        from transformers import WhisperFeatureExtractor

        super().__init__(model, name, WHISPER_SITES, device)
        self.tokenizer = tokenizer
        self.feature_extractor = WhisperFeatureExtractor(feature_size=self.config.num_mel_bins)
        self.n_positions = int(self.config.max_source_positions)
        vocab = tokenizer.get_vocab()

        def tok(s: str) -> int | None:
            return vocab.get(s)

        self.eot_id = tok("<|endoftext|>")
        prompt = [tok("<|startoftranscript|>")]
        if self.config.vocab_size >= 51865:  # multilingual: language and task tokens
            prompt += [tok("<|en|>"), tok("<|transcribe|>")]
        prompt.append(tok("<|notimestamps|>"))
        if any(t is None for t in prompt) or self.eot_id is None:
            from tasks.errors import ModelLoadError

            raise ModelLoadError(f"the tokenizer of {name!r} lacks Whisper's special tokens")
        self.prompt_ids = prompt
        # Everything from the first special token on is a special or timestamp token.
        self._first_special = self.eot_id + 1

    # ------------------------------------------------------- capabilities
    def _make_runner(self, context_frames):
        return WhisperRunner(self, context_frames)

    def exact_runner(self, ctx, runner):
        return WhisperExactRunner(ctx, runner)

    def lookahead(self, ctx, sites, groups, runner):
        return lookahead_scores(ctx, sites, groups, runner)

    def lookahead_covers(self, site) -> bool:
        return covers(site)

    def alignment_lag_s(self) -> float:
        """The calibrated lag of this size's DTW word boundaries (``whisper/alignment.py``)."""
        from intervene.models.whisper.alignment import lag_of

        return lag_of(self)

    def align_words(self, audio, transcript: str, *, checked: bool = False, lag_s: float | None = None) -> list:
        """Word spans by DTW over the alignment heads' cross-attention (``whisper/alignment.py``)."""
        from intervene.models.whisper.alignment import align_whisper

        return align_whisper(self, audio if checked else self.prepare(audio), transcript, lag_s=lag_s)

    def anatomy_runner(self, ctx, runner):
        return WhisperAnatomyRunner(ctx, runner) if not runner.truncated else None

    def attention_bias(self, biases: dict):
        return encoder_bias(self, biases)

    def lens(self):
        """The pieces the encoder and logit lenses read (``whisper/lens.py``), built once."""
        from intervene.models.whisper.lens import WhisperLens

        if getattr(self, "_lens", None) is None:
            self._lens = WhisperLens(self)
        return self._lens

    # ------------------------------------------------------------- inputs
    def features(self, audio, sample_rate: int = SAMPLE_RATE, *, checked: bool = False) -> torch.Tensor:
        """Log-mel features (1, n_mels, 3000) on the model's device."""
        audio = audio if checked else self.prepare(audio, sample_rate)
        feats = self.feature_extractor(audio, sampling_rate=self.sample_rate, return_tensors="np").input_features
        return torch.from_numpy(np.asarray(feats, dtype=np.float32)).to(self.device)

    def prompt_tensor(self, extra=()) -> torch.Tensor:
        return torch.tensor([self.prompt_ids + list(extra)], dtype=torch.long, device=self.device)

    def inputs(self, audio, sample_rate: int = SAMPLE_RATE, decoder_input_ids=None, *, checked: bool = False) -> dict:
        if decoder_input_ids is None:
            decoder_input_ids = self.prompt_tensor()
        ids = torch.as_tensor(decoder_input_ids, dtype=torch.long, device=self.device)
        if ids.ndim == 1:
            ids = ids[None]
        return {"input_features": self.features(audio, sample_rate, checked=checked), "decoder_input_ids": ids}

    def logits(self, inputs: dict) -> torch.Tensor:
        """Decoder logits (rows, tokens, vocab).

        One clip's features (batch 1) with several decoder rows run the encoder once and the
        decoder on every row.
        """
        feats, ids = inputs["input_features"], inputs["decoder_input_ids"]
        if feats.shape[0] == ids.shape[0]:
            return self.model(**inputs, use_cache=False).logits
        if feats.shape[0] != 1:
            from tasks.errors import ConfigError

            raise ConfigError(f"input_features batch {feats.shape[0]} does not match decoder rows {ids.shape[0]}")
        enc = self.core.encoder(feats).last_hidden_state
        return self.decode(enc, ids)

    def decode(self, enc: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Decoder logits (rows, tokens, vocab) for encoder states (1 or rows, positions, d)."""
        if enc.shape[0] != ids.shape[0]:
            enc = enc.expand(ids.shape[0], -1, -1)
        hidden = self.core.decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=False).last_hidden_state
        return self.lm_head(hidden)

    def batched(self, inputs: dict) -> dict:
        """``inputs`` with the features repeated for every decoder row (for pyvene, whose
        forward takes one batch dimension for everything)."""
        rows = inputs["decoder_input_ids"].shape[0]
        if inputs["input_features"].shape[0] == rows:
            return inputs
        return {**inputs, "input_features": inputs["input_features"].expand(rows, -1, -1)}

    @property
    def core(self):
        """The ``WhisperModel`` inside (encoder and decoder)."""
        return self.model.model if hasattr(self.model, "model") else self.model

    def sequence_length(self, stream: str, inputs: dict) -> int:
        if stream == "encoder":
            return self.n_positions
        return int(inputs["decoder_input_ids"].shape[1])

    def lm_head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Output logits from decoder states (the tied embedding matrix)."""
        if hasattr(self.model, "proj_out"):
            return self.model.proj_out(hidden)
        return hidden @ self.model.decoder.embed_tokens.weight.T

    # ---------------------------------------------------------- transcribe
    @torch.no_grad()
    def transcribe(self, audio, sample_rate: int = SAMPLE_RATE, max_new_tokens: int = 120) -> str:
        """Greedy transcript of ``audio`` (no timestamps), as a string.

        Examples
        --------
        >>> m = load_model("whisper-tiny.en")  # doctest: +SKIP
        >>> m.transcribe(tasks.speak("hello world").audio)  # doctest: +SKIP
        'Hello world.'
        """
        return self.tokenizer.decode(self.greedy_tokens(audio, sample_rate, max_new_tokens), skip_special_tokens=True).strip()

    @torch.no_grad()
    def greedy_tokens(self, audio, sample_rate: int = SAMPLE_RATE, max_new_tokens: int = 120) -> list[int]:
        """Greedy decode with a KV cache; returns the new token ids (without the prompt and end token)."""
        enc = self.core.encoder(self.features(audio, sample_rate)).last_hidden_state
        return self.greedy_from_encoder(enc, max_new_tokens)

    @torch.no_grad()
    def greedy_from_encoder(self, enc: torch.Tensor, max_new_tokens: int = 120) -> list[int]:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        core = self.core
        suppress = torch.tensor(
            [t for t in (self.config.suppress_tokens or []) if t < self.config.vocab_size], dtype=torch.long
        )
        begin_suppress = torch.tensor(list(self.config.begin_suppress_tokens or []), dtype=torch.long)
        ids = self.prompt_tensor()
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        cache_kw = {_cache_keyword(type(core.decoder)): cache}
        out: list[int] = []
        max_new_tokens = min(max_new_tokens, int(self.config.max_target_positions) - ids.shape[1])  # decoder positions
        for step in range(max_new_tokens):
            hidden = core.decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=True, **cache_kw).last_hidden_state
            logits = self.lm_head(hidden[:, -1])[0].float()
            logits[self._first_special :] = -np.inf  # special and timestamp tokens
            logits[suppress] = -np.inf
            if step == 0:
                logits[begin_suppress] = -np.inf
            token = int(torch.argmax(logits))
            if token == self.eot_id:
                break
            out.append(token)
            ids = torch.tensor([[token]], device=self.device)
        return out
