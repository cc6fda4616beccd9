"""Model names from the Hugging Face hub: ``load_model("openai/whisper-small")``.

Any transformers id of a Whisper, Wav2Vec2 or HuBERT checkpoint loads through the Hugging
Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``):

1. the checkpoint's ``config.json`` is taken from the cache, or downloaded when the machine
   has network and ``HF_HUB_OFFLINE`` is not set; its ``model_type`` must be ``whisper``,
   ``wav2vec2`` or ``hubert`` (anything else is refused before the weights are fetched);
2. the rest of the snapshot (configs, tokenizer files, safetensors weights; PyTorch ``.bin``
   weights only when a repository has no safetensors) likewise;
3. the folder is loaded like a local transformers checkpoint, under the hub id as its name
   (so Whisper's alignment heads are found by name).

When a file is neither cached nor downloadable, :class:`~tasks.errors.ModelLoadError` names the
id, the cache folder and whether HF_HUB_OFFLINE is set.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from tasks.errors import ModelLoadError

__all__ = ["is_hub_id", "hub_cache_dir", "hub_offline", "load_hub_model", "SPEECH_MODEL_TYPES"]

logger = logging.getLogger(__name__)

SPEECH_MODEL_TYPES = ("whisper", "wav2vec2", "hubert")
ALLOW = ["*.json", "*.txt", "*.safetensors", "*.model"]
IGNORE = ["*.fp16.*", "*.msgpack", "*.h5", "*.onnx", "*onnx*", "*.ot", "flax_*", "tf_*", "*.ckpt", "*.tflite"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_TRUE = ("1", "true", "yes", "on")


def is_hub_id(name: str) -> bool:
    """Whether ``name`` looks like a hub repository id (``owner/name``) and is not a local path."""
    return bool(_ID.match(str(name))) and not Path(str(name)).expanduser().exists()


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment now (HF_HUB_CACHE, HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _fail(repo_id: str, cache: Path, what: str, exc: Exception) -> ModelLoadError:
    if hub_offline():
        how = ("HF_HUB_OFFLINE is set, so nothing is downloaded: unset it on a machine with network to download "
               "the model, or")  # fmt: skip
    else:
        how = "downloading it failed (no network, or no such repository?); on a machine with network run it once, or"
    return ModelLoadError(
        f"model {repo_id!r}: {what} could not be found in the Hugging Face cache '{cache}' nor downloaded "
        f"({type(exc).__name__}: {str(exc)[:200]}). {how} copy the cache there (or point HF_HUB_CACHE / HF_HOME "
        f"at a cache that has it)"
    )


def _has_weights(folder) -> bool:
    folder = Path(folder)
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def _fetch(fn, repo_id: str, cache: Path, what: str, complete=None, **kwargs):
    """Call a huggingface_hub download function from the cache first, then (if allowed) the network.

    ``complete(result)``: whether what the cache gave is enough (a snapshot folder can be cached
    with some of its files only); if not, the network is tried as for a miss.
    """
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    errors = (LocalEntryNotFoundError, RepositoryNotFoundError, HfHubHTTPError, OSError, ValueError)
    try:
        found = fn(repo_id=repo_id, cache_dir=str(cache), local_files_only=True, **kwargs)
        if complete is not None and not complete(found):
            raise FileNotFoundError(f"the cached snapshot '{found}' has no weights file")
        return found
    except errors as exc:
        if hub_offline():
            raise _fail(repo_id, cache, what, exc) from exc
        logger.info("%s of %s is not cached; downloading it into %s", what, repo_id, cache)
    try:
        return fn(repo_id=repo_id, cache_dir=str(cache), local_files_only=False, **kwargs)
    except Exception as exc:  # network errors come from httpx/requests/urllib3 as well as huggingface_hub
        raise _fail(repo_id, cache, what, exc) from exc


def load_hub_model(repo_id: str, device=None, revision: str | None = None):
    """Load ``repo_id`` (Whisper, Wav2Vec2 or HuBERT) through the Hugging Face cache.

    Raises
    ------
    ModelLoadError
        Not cached and not downloadable (message: the id, the cache folder, HF_HUB_OFFLINE),
        or the repository is not a speech model SpeechLens loads.
    """
    from huggingface_hub import hf_hub_download, snapshot_download

    from intervene.models.loader import _from_transformers_dir

    cache = hub_cache_dir()
    config_file = _fetch(hf_hub_download, repo_id, cache, "config.json", filename="config.json", revision=revision)
    try:
        config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"model {repo_id!r}: its config.json ('{config_file}') is not readable JSON: {exc}"
        ) from exc
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SPEECH_MODEL_TYPES:
        raise ModelLoadError(
            f"model {repo_id!r} is a {model_type!r} model, not a speech model SpeechLens loads "
            f"({', '.join(SPEECH_MODEL_TYPES)}); give the id of a Whisper, Wav2Vec2 or HuBERT checkpoint"
        )
    folder = Path(_fetch(snapshot_download, repo_id, cache, "the checkpoint", revision=revision,
                         allow_patterns=ALLOW, ignore_patterns=IGNORE))  # fmt: skip
    if not any(folder.glob("*.safetensors")):  # repositories with PyTorch .bin weights only
        folder = Path(_fetch(snapshot_download, repo_id, cache, "the weights", complete=_has_weights,
                             revision=revision, allow_patterns=["*.json", "*.txt", "*.bin", "*.model"],
                             ignore_patterns=IGNORE))  # fmt: skip
    model = _from_transformers_dir(folder, device)
    model.name = repo_id
    return model
