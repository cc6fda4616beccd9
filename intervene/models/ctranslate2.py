"""Read CTranslate2 Whisper folders (the faster-whisper layout) and convert them to transformers.

A CTranslate2 ``model.bin`` (binary version 6) is little-endian::

    uint32 version; uint16 len + spec name (NUL included); uint32 revision; uint32 n_vars;
    per variable: uint16 len + name; uint8 rank; rank x uint32 dims; uint8 dtype; uint32 n_bytes; data
    uint32 n_aliases; per alias two names

The weights map onto ``WhisperForConditionalGeneration`` as listed in ``_linear_map``; the fused
q/k/v projections are split (CTranslate2 stores k's bias as zeros; transformers has none).
Nothing here touches the network.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.errors import ModelLoadError

__all__ = ["CT2Model", "read_model_bin", "is_ct2_whisper_dir", "convert_whisper", "whisper_config"]

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


@dataclass
class CT2Model:
    """The parsed content of a CTranslate2 ``model.bin``."""

    spec: str
    revision: int
    variables: dict  # name -> np.ndarray (views into the file's bytes)

    def scalar(self, name: str, default=None):
        value = self.variables.get(name)
        return default if value is None else value.reshape(-1)[0].item()


def _read_bytes(parts: list[Path]) -> bytes:
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise ModelLoadError(f"CTranslate2 weights missing: {', '.join(missing)}")
    if len(parts) == 1:
        return Path(parts[0]).read_bytes()
    return b"".join(Path(p).read_bytes() for p in parts)


def read_model_bin(parts) -> CT2Model:
    """Parse ``model.bin`` (given as one path or a list of parts that concatenate to it).

    Raises
    ------
    ModelLoadError
        The file is not a version-6 CTranslate2 model or is truncated.
    """
    parts = [Path(parts)] if isinstance(parts, (str, Path)) else [Path(p) for p in parts]
    buf = _read_bytes(parts)
    where = str(parts[0]) if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1} parts)"
    pos = 0

    def take(fmt: str):
        nonlocal pos
        size = struct.calcsize("<" + fmt)
        if pos + size > len(buf):
            raise ModelLoadError(f"'{where}' is truncated at byte {pos}; reinstall the model package")
        out = struct.unpack_from("<" + fmt, buf, pos)
        pos += size
        return out

    def take_str() -> str:
        nonlocal pos
        (n,) = take("H")
        raw = buf[pos : pos + n]
        pos += n
        return raw.rstrip(b"\0").decode("utf-8")

    (version,) = take("I")
    if version != 6:
        raise ModelLoadError(f"'{where}' has CTranslate2 binary version {version}; only version 6 is supported")
    spec = take_str()
    (revision,) = take("I")
    (n_vars,) = take("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(n_vars):
        name = take_str()
        (rank,) = take("B")
        dims = take("I" * rank) if rank else ()
        (dtype_id,) = take("B")
        (n_bytes,) = take("I")
        if pos + n_bytes > len(buf):
            raise ModelLoadError(f"'{where}' is truncated inside variable {name!r}; reinstall the model package")
        dtype = _DTYPES.get(dtype_id)
        if dtype is None:
            raise ModelLoadError(f"'{where}': variable {name!r} has unknown dtype id {dtype_id}")
        np_dtype = np.dtype(np.uint16 if dtype == "bfloat16" else dtype)
        count = int(np.prod(dims)) if rank else 1
        if count * np_dtype.itemsize != n_bytes:
            raise ModelLoadError(f"'{where}': variable {name!r} has {n_bytes} bytes for shape {dims}")
        arr = np.frombuffer(buf, dtype=np_dtype, count=count, offset=pos)
        if dtype == "bfloat16":  # widen bf16 bit patterns to float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        variables[name] = arr.reshape(dims) if rank else arr
        pos += n_bytes
    (n_alias,) = take("I")
    for _ in range(n_alias):
        alias, target = take_str(), take_str()
        variables[alias] = variables[target]
    return CT2Model(spec=spec, revision=revision, variables=variables)


def is_ct2_whisper_dir(path) -> bool:
    """True if ``path`` looks like a CTranslate2 Whisper folder (model.bin + config.json + tokenizer.json)."""
    path = Path(path)
    return path.is_dir() and (path / "model.bin").is_file() and (path / "tokenizer.json").is_file()


def _weight(m: CT2Model, name: str) -> np.ndarray:
    """A float32 weight, de-quantized if the folder is int8/int16 quantized."""
    w = m.variables[name]
    if w.dtype.kind in "iu":
        scale = m.variables.get(name + "_scale")
        if scale is None:
            raise ModelLoadError(f"quantized weight {name!r} has no {name}_scale")
        scale = np.asarray(scale, dtype=np.float32)
        w = w.astype(np.float32) / (scale.reshape(-1, 1) if scale.ndim == 1 else scale)
    return np.ascontiguousarray(w, dtype=np.float32)


def _count_layers(m: CT2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    found = {int(g.group(1)) for name in m.variables if (g := pattern.match(name))}
    if not found:
        raise ModelLoadError(f"the model has no {stack} layers; is it a Whisper model?")
    return max(found) + 1


def whisper_config(m: CT2Model, folder_config: dict, tokenizer_json: dict):
    """A ``transformers.WhisperConfig`` for the CTranslate2 model, with Whisper's special tokens."""
    from transformers import WhisperConfig

    if m.spec != "WhisperSpec":
        raise ModelLoadError(f"model spec is {m.spec!r}, not 'WhisperSpec'")
    v = m.variables
    d_model, n_mels = v["encoder/conv1/weight"].shape[:2]
    vocab_size = v["decoder/embeddings/weight"].shape[0]
    specials = {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}
    eot = specials.get("<|endoftext|>", vocab_size - 1)
    sot = specials.get("<|startoftranscript|>")
    if sot is None:
        raise ModelLoadError("tokenizer.json has no <|startoftranscript|> token")
    multilingual = vocab_size >= 51865
    return WhisperConfig(
        vocab_size=int(vocab_size),
        num_mel_bins=int(n_mels),
        d_model=int(d_model),
        encoder_layers=_count_layers(m, "encoder"),
        decoder_layers=_count_layers(m, "decoder"),
        encoder_attention_heads=int(m.scalar("encoder/num_heads")),
        decoder_attention_heads=int(m.scalar("decoder/num_heads")),
        encoder_ffn_dim=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(v["decoder/position_encodings/encodings"].shape[0]),
        activation_function="gelu",
        scale_embedding=bool(m.scalar("decoder/scale_embeddings", 0)),
        pad_token_id=int(eot),
        bos_token_id=int(eot),
        eos_token_id=int(eot),
        decoder_start_token_id=int(sot),
        suppress_tokens=list(folder_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(folder_config.get("suppress_ids_begin", [])),
        tie_word_embeddings=True,
        is_multilingual=multilingual,
    )


def _linear_map(stack: str, i: int) -> list[tuple[str, str]]:
    """(CTranslate2 prefix, transformers prefix) for the unfused linear layers and norms of a layer."""
    ct, hf = f"{stack}/layer_{i}", f"model.{stack}.layers.{i}"
    pairs = [
        (f"{ct}/self_attention/linear_1", f"{hf}.self_attn.out_proj"),
        (f"{ct}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm"),
        (f"{ct}/ffn/linear_0", f"{hf}.fc1"),
        (f"{ct}/ffn/linear_1", f"{hf}.fc2"),
        (f"{ct}/ffn/layer_norm", f"{hf}.final_layer_norm"),
    ]
    if stack == "decoder":
        pairs += [
            (f"{ct}/attention/linear_0", f"{hf}.encoder_attn.q_proj"),
            (f"{ct}/attention/linear_2", f"{hf}.encoder_attn.out_proj"),
            (f"{ct}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm"),
        ]
    return pairs


def _split_fused(w: np.ndarray, b: np.ndarray | None, names: list[str], out: dict) -> None:
    """Split a fused projection (rows stacked as q;k;v or k;v) into transformers' separate ones."""
    n = len(names)
    ws = np.split(w, n, axis=0)
    bs = np.split(b, n) if b is not None else [None] * n
    for name, wi, bi in zip(names, ws, bs):
        out[f"{name}.weight"] = wi
        if bi is not None and not name.endswith("k_proj"):  # k_proj has no bias in Whisper
            out[f"{name}.bias"] = bi


def convert_whisper(m: CT2Model) -> dict[str, np.ndarray]:
    """Map the CTranslate2 Whisper weights onto ``WhisperForConditionalGeneration``'s state dict."""
    v = m.variables
    sd: dict[str, np.ndarray] = {}

    def put(ct_prefix: str, hf_prefix: str) -> None:
        if f"{ct_prefix}/weight" in v:
            sd[f"{hf_prefix}.weight"] = _weight(m, f"{ct_prefix}/weight")
            if f"{ct_prefix}/bias" in v:
                sd[f"{hf_prefix}.bias"] = _weight(m, f"{ct_prefix}/bias")
        else:  # layer norms
            sd[f"{hf_prefix}.weight"] = _weight(m, f"{ct_prefix}/gamma")
            sd[f"{hf_prefix}.bias"] = _weight(m, f"{ct_prefix}/beta")

    for conv in ("conv1", "conv2"):
        put(f"encoder/{conv}", f"model.encoder.{conv}")
    sd["model.encoder.embed_positions.weight"] = _weight(m, "encoder/position_encodings/encodings")
    put("encoder/layer_norm", "model.encoder.layer_norm")
    sd["model.decoder.embed_tokens.weight"] = _weight(m, "decoder/embeddings/weight")
    sd["model.decoder.embed_positions.weight"] = _weight(m, "decoder/position_encodings/encodings")
    put("decoder/layer_norm", "model.decoder.layer_norm")

    for stack in ("encoder", "decoder"):
        for i in range(_count_layers(m, stack)):
            for ct, hf in _linear_map(stack, i):
                put(ct, hf)
            hf = f"model.{stack}.layers.{i}"
            fused = f"{stack}/layer_{i}/self_attention/linear_0"
            _split_fused(
                _weight(m, f"{fused}/weight"),
                _weight(m, f"{fused}/bias") if f"{fused}/bias" in v else None,
                [f"{hf}.self_attn.q_proj", f"{hf}.self_attn.k_proj", f"{hf}.self_attn.v_proj"],
                sd,
            )
            if stack == "decoder":
                fused = f"decoder/layer_{i}/attention/linear_1"
                _split_fused(
                    _weight(m, f"{fused}/weight"),
                    _weight(m, f"{fused}/bias") if f"{fused}/bias" in v else None,
                    [f"{hf}.encoder_attn.k_proj", f"{hf}.encoder_attn.v_proj"],
                    sd,
                )
    return sd


def _json_object(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"'{path}' is not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"'{path}' holds a JSON {type(data).__name__}; it must be a JSON object")
    return data


def read_folder_json(folder: Path) -> tuple[dict, dict]:
    """The folder's config.json (may be absent) and tokenizer.json (ModelLoadError naming a bad file)."""
    folder = Path(folder)
    config = _json_object(folder / "config.json") if (folder / "config.json").is_file() else {}
    tok_path = folder / "tokenizer.json"
    if not tok_path.is_file():
        raise ModelLoadError(f"'{folder}' has no tokenizer.json; a CTranslate2 Whisper folder needs one")
    tokenizer = _json_object(tok_path)
    added = tokenizer.get("added_tokens", [])
    if not isinstance(added, list) or not all(isinstance(t, dict) and "content" in t and "id" in t for t in added):
        raise ModelLoadError(f"'{tok_path}' field 'added_tokens' must be a list of {{'content', 'id'}} objects")
    for key in ("suppress_ids", "suppress_ids_begin"):
        ids = config.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ModelLoadError(f"'{folder / 'config.json'}' field {key!r} ({ids!r:.60}) must be a list of token ids")
    return config, tokenizer
