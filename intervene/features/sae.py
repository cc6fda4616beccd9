"""Sparse autoencoders over one site's activations: TopK, BatchTopK and ReLU (+L1).

An SAE reads a site's activation ``x`` (one frame, ``d_in`` values) and writes it as a sparse
combination of ``width`` learned directions (its features)::

    pre = (x - b_dec) @ W_enc + b_enc             (width,)
    f   = activation(pre)                         sparse, >= 0
    x^  = f @ W_dec + b_dec                       each row of W_dec has unit norm

========================  =============================================================
``kind="topk"``           the ``k`` largest pre-activations of each frame (then ReLU)
``kind="batch_topk"``     trained with the ``k * frames`` largest over a batch; at inference
                          a JumpReLU: ``pre`` where ``pre > threshold`` (one learned value,
                          stored per feature as SAELens does)
``kind="relu"``           ReLU, trained with an L1 penalty on ``f``
========================  =============================================================

Saved in SAELens's format (a folder with ``cfg.json`` and ``sae_weights.safetensors`` holding
``W_enc (d_in, width)``, ``W_dec (width, d_in)``, ``b_enc``, ``b_dec`` and, for BatchTopK,
``threshold``; architectures "topk", "jumprelu" and "standard"), so SAELens's
``SAE.load_from_disk`` reads our SAEs; :meth:`SAE.load` also reads SAELens's own folders of
those architectures. SpeechLens's own fields (kind, site, model, training record, a checksum
of the weights) live under ``cfg.json``'s ``"speechlens"`` key, which SAELens ignores.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tasks.atomic import atomic_path, write_json
from tasks.checks import check_int, check_real
from tasks.errors import ConfigError, DatasetError, unknown_name
from tasks.jsonio import to_jsonable

__all__ = ["FORMAT", "KINDS", "SAE", "SAEConfig"]

logger = logging.getLogger(__name__)

KINDS = ("topk", "batch_topk", "relu")
FORMAT = "speechlens.sae/1"
CFG_NAME, WEIGHTS_NAME = "cfg.json", "sae_weights.safetensors"
_ARCHITECTURE = {"topk": "topk", "batch_topk": "jumprelu", "relu": "standard"}
_FROM_ARCHITECTURE = {"topk": "topk", "jumprelu": "batch_topk", "standard": "relu"}


@dataclass(frozen=True)
class SAEConfig:
    """What an SAE is: its kind and shape, and the site and model it reads.

    Parameters
    ----------
    kind : {"topk", "batch_topk", "relu"}
    d_in : int
        Values per frame of the site (tiny.en's block outputs: 384).
    width : int
        Number of features.
    k : int, optional
        Active features per frame (topk, batch_topk: required, 1 <= k <= width; relu: None).
    site : str, optional
        The site key it was trained on, e.g. ``"encoder.3.block_output"``.
    model : str, optional
        The model's name.
    training : dict
        How it was trained (the trainer's record).

    Raises
    ------
    ConfigError, UnknownNameError
        An unknown kind, a non-positive size, ``k`` missing, larger than ``width`` or given to relu.
    """

    kind: str
    d_in: int
    width: int
    k: int | None = None
    site: str | None = None
    model: str | None = None
    training: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise unknown_name("SAE kind", self.kind, KINDS)
        object.__setattr__(self, "d_in", check_int("d_in", self.d_in, low=1))
        object.__setattr__(self, "width", check_int("width", self.width, low=1))
        if self.kind == "relu":
            if self.k is not None:
                raise ConfigError(f"k ({self.k!r}) applies to kind 'topk' or 'batch_topk', not 'relu' (its sparsity "
                                  "comes from the L1 penalty); drop k")
        else:
            if self.k is None:
                raise ConfigError(f"kind {self.kind!r} needs k, the number of active features per frame")
            k = check_int("k", self.k, low=1)
            if k > self.width:
                raise ConfigError(f"k ({k}) must be at most width ({self.width}): a frame cannot use more features "
                                  "than the SAE has")
            object.__setattr__(self, "k", k)

    def to_dict(self) -> dict:
        return to_jsonable(asdict(self))


class SAE(torch.nn.Module):
    """A sparse autoencoder (see the module notes).

    Parameters
    ----------
    config : SAEConfig
    seed : int
        Initial weights: random unit decoder rows, the encoder their transpose.

    Examples
    --------
    >>> sae = SAE(SAEConfig("topk", d_in=8, width=32, k=4))
    >>> f = sae.encode(torch.randn(5, 8))
    >>> f.shape, int((f > 0).sum(-1).max()) <= 4
    (torch.Size([5, 32]), True)
    """

    def __init__(self, config: SAEConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, SAEConfig):
            raise ConfigError(f"config ({type(config).__name__}) must be an SAEConfig")
        self.config = config
        gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
        w_dec = torch.randn(config.width, config.d_in, generator=gen)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(w_dec)
        self.W_enc = torch.nn.Parameter(w_dec.t().clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(config.width))
        self.b_dec = torch.nn.Parameter(torch.zeros(config.d_in))
        self.register_buffer("threshold", torch.zeros(config.width))

    # ------------------------------------------------------------ properties
    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def width(self) -> int:
        return self.config.width

    @property
    def d_in(self) -> int:
        return self.config.d_in

    @property
    def k(self) -> int | None:
        return self.config.k

    @property
    def site(self) -> str | None:
        return self.config.site

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k is not None else ""
        return f"SAE(kind={self.kind!r}, d_in={self.d_in}, width={self.width}{k}, site={self.site!r})"

    def digest(self) -> str:
        """16 hex digits of SHA-256 over the weights: which SAE this is (caches and sites key on it)."""
        h = hashlib.sha256(self.kind.encode())
        for name in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold"):
            h.update(np.ascontiguousarray(getattr(self, name).detach().cpu().numpy(), dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------ the maps
    def check_input(self, x: torch.Tensor, name: str = "activations") -> torch.Tensor:
        """``x`` if its last dimension is ``d_in`` (typed error naming both sizes otherwise)."""
        if not isinstance(x, torch.Tensor):
            raise ConfigError(f"{name} ({type(x).__name__}) must be a torch tensor (..., {self.d_in})")
        if x.ndim == 0 or x.shape[-1] != self.d_in:
            where = f" of site {self.site}" if self.site else ""
            raise ConfigError(f"{name} have {x.shape[-1] if x.ndim else 0} values per frame but this SAE{where} "
                              f"reads {self.d_in} (d_in); use an SAE trained on this site")
        return x

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``(..., width)``."""
        x = self.check_input(x)
        return (x.to(self.W_enc.dtype) - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Feature activations from pre-activations (inference rule of the kind)."""
        if self.kind == "relu":
            return torch.relu(pre)
        if self.kind == "topk":
            values, index = torch.topk(pre, self.k, dim=-1)
            return torch.zeros_like(pre).scatter_(-1, index, torch.relu(values))
        return torch.where(pre > self.threshold, torch.relu(pre), torch.zeros_like(pre))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations ``(..., width)`` of activations ``x (..., d_in)``."""
        return self.activate(self.pre(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(..., d_in)`` from feature activations ``f (..., width)``."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every decoder row to unit norm (the trainer does it after each step)."""
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)

    # ---------------------------------------------------------- features as sites
    def feature_sites(self, model, features=None, error: bool = False) -> list:
        """This SAE's features as intervention sites of ``model`` (see :mod:`intervene.features.sites`);
        what ``model.sites(sae=self)`` returns."""
        from intervene.features.sites import feature_sites

        return feature_sites(model, self, features, error)

    # ---------------------------------------------------------------- files
    def saelens_config(self) -> dict:
        """``cfg.json`` in SAELens's (v6) format, with SpeechLens's fields under ``"speechlens"``."""
        cfg = {
            "architecture": _ARCHITECTURE[self.kind], "d_in": self.d_in, "d_sae": self.width, "dtype": "float32",
            "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": "none",
            "reshape_activations": "none",
            "metadata": {"sae_lens_version": "6.0.0", "sae_lens_training_version": None,
                         "model_name": self.config.model, "hook_name": self.site, "hook_head_index": None,
                         "prepend_bos": False, "context_size": None},
        }
        if self.kind == "topk":
            cfg["k"] = self.k
        cfg["speechlens"] = {"format": FORMAT, **self.config.to_dict(), "sha256": self.digest()}
        return cfg

    def save(self, path) -> Path:
        """Write the SAE to the folder ``path`` (SAELens format); returns the folder."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {n: getattr(self, n).detach().cpu().float().contiguous() for n in ("W_enc", "W_dec", "b_enc", "b_dec")}
        if self.kind == "batch_topk":
            tensors["threshold"] = self.threshold.detach().cpu().float().contiguous()
        with atomic_path(folder / WEIGHTS_NAME) as tmp:
            save_file(tensors, str(tmp))
        write_json(folder / CFG_NAME, self.saelens_config())  # last: its presence means the folder is complete
        return folder

    @classmethod
    def load(cls, path) -> SAE:
        """Read an SAE folder written by :meth:`save`, or SAELens's ("standard", "topk", "jumprelu").

        Raises
        ------
        DatasetError
            The folder, ``cfg.json`` or the weights are missing or unreadable, tensors have the
            wrong shapes, or the weights do not match the checksum ``cfg.json`` records.
        ConfigError
            A SAELens architecture or input normalisation SpeechLens does not run.
        """
        folder = Path(path).expanduser()
        cfg_path, weights = folder / CFG_NAME, folder / WEIGHTS_NAME
        if not folder.is_dir():
            raise DatasetError(f"SAE folder '{folder}' does not exist (SAE.save writes {CFG_NAME} and {WEIGHTS_NAME})")
        for p in (cfg_path, weights):
            if not p.is_file():
                raise DatasetError(f"SAE folder '{folder}' has no {p.name}; it is not a complete SAE")
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot read '{cfg_path}': {exc}") from exc
        if not isinstance(cfg, dict):
            raise DatasetError(f"'{cfg_path}' must hold a JSON object")
        config, digest = _config_from(cfg, cfg_path)
        tensors = _read_weights(weights)
        sae = cls(config)
        expected = {"W_enc": (config.d_in, config.width), "W_dec": (config.width, config.d_in),
                    "b_enc": (config.width,), "b_dec": (config.d_in,)}
        if config.kind == "batch_topk":
            expected["threshold"] = (config.width,)
        for name, shape in expected.items():
            t = tensors.get(name)
            if t is None or tuple(t.shape) != shape:
                got = None if t is None else tuple(t.shape)
                raise DatasetError(f"'{weights}': tensor {name} has shape {got}, expected {shape} from {CFG_NAME}")
            getattr(sae, name).data.copy_(t.float())
        if digest is not None and sae.digest() != digest:
            raise DatasetError(f"'{weights}' does not match the checksum in '{cfg_path}' (sha256 {digest}); the "
                               "weights were changed or damaged: save the SAE again")
        return sae


def _config_from(cfg: dict, where: Path) -> tuple[SAEConfig, str | None]:
    """The SAEConfig (and recorded weights checksum) of a ``cfg.json``."""
    own = cfg.get("speechlens")
    if isinstance(own, dict):
        if own.get("format") != FORMAT:
            raise DatasetError(f"'{where}': speechlens.format is {own.get('format')!r}, expected {FORMAT!r}")
        try:
            config = SAEConfig(kind=own["kind"], d_in=own["d_in"], width=own["width"], k=own.get("k"),
                               site=own.get("site"), model=own.get("model"), training=own.get("training") or {})
        except KeyError as exc:
            raise DatasetError(f"'{where}': speechlens block lacks {exc}") from None
        return config, own.get("sha256")
    arch = cfg.get("architecture", "standard")
    if arch not in _FROM_ARCHITECTURE:
        raise ConfigError(f"'{where}': SAELens architecture {arch!r} is not one SpeechLens runs "
                          f"({', '.join(_FROM_ARCHITECTURE)})")
    if cfg.get("normalize_activations", "none") != "none" or not cfg.get("apply_b_dec_to_input", True):
        raise ConfigError(f"'{where}': SpeechLens runs SAEs with normalize_activations 'none' and "
                          "apply_b_dec_to_input true")
    meta = cfg.get("metadata") or {}
    try:
        config = SAEConfig(kind=_FROM_ARCHITECTURE[arch], d_in=cfg["d_in"], width=cfg["d_sae"],
                           k=cfg.get("k") if arch == "topk" else None, site=meta.get("hook_name"),
                           model=meta.get("model_name"))
    except KeyError as exc:
        raise DatasetError(f"'{where}' lacks {exc}") from None
    return config, None


def _read_weights(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (OSError, SafetensorError, ValueError, RuntimeError) as exc:
        raise DatasetError(f"cannot read SAE weights '{path}': {exc}") from exc


def check_width(value, name: str = "width") -> int:
    return check_int(name, value, low=1)


def check_coefficient(value, name: str) -> float:
    return check_real(name, value, low=0.0)
