"""SpeechModel: a loaded speech model, and the adapter protocol every architecture follows.

One subclass per architecture (``whisper/``, ``wav2vec2.py``) is its *adapter*: it supplies
feature extraction, the forward call, transcription, the site table and what the
architecture offers beyond the generic paths (:class:`Capabilities`): a fast exact runner
that re-runs only what a patch changes, the lookahead attribution estimator, a truncated
encoder context. Generic code asks ``model.capabilities``; it never checks an architecture
name. This base class holds what adapters share: site resolution, device handling, input
checks, and :class:`Runner`, the plain forward pass every method can fall back to.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from intervene.sites import ResolvedSite, Site, SiteSpec, SiteTable, get_module
from tasks.audio import SAMPLE_RATE, prepare_audio
from tasks.errors import CapabilityError, ConfigError

__all__ = ["SpeechModel", "Capabilities", "Runner", "default_device"]

logger = logging.getLogger(__name__)


def default_device(device=None) -> torch.device:
    """``device`` if given, else CUDA when available, else the CPU.

    Raises
    ------
    ConfigError
        Not a device name, or a device this machine does not have (``"cuda"`` without a GPU,
        ``"cuda:3"`` with two GPUs, ``"mps"`` off Apple silicon): the message says which exist.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise ConfigError(f"device ({device!r}) must be a device name such as 'cpu' or 'cuda:0'")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(f"device ({device!r}) is not a torch device such as 'cpu' or 'cuda:0'") from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device ({device!r}) needs a CUDA GPU, and torch finds none on this machine; "
                              "use device='cpu' (or leave device unset)")
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device ({device!r}): this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device ({device!r}) needs Apple's MPS backend, which is not available here; use 'cpu'")
    elif dev.type not in ("cpu", "meta"):
        raise ConfigError(f"device ({device!r}): SpeechLens runs on 'cpu', 'cuda[:N]' or 'mps'")
    return dev


@dataclass(frozen=True)
class Capabilities:
    """What an architecture's adapter offers beyond the generic paths.

    Attributes
    ----------
    fast_exact : bool
        :meth:`SpeechModel.exact_runner` returns a runner that re-runs only what a patch
        changes (otherwise exact patching runs the whole base forward per cell batch).
    lookahead : bool
        :meth:`SpeechModel.lookahead` estimates attribution cells with the lookahead
        estimator (otherwise attribution uses plain AtP).
    truncated_context : bool
        :meth:`SpeechModel.runner` accepts ``context_frames`` (fewer encoder positions).
    """

    fast_exact: bool = False
    lookahead: bool = False
    truncated_context: bool = False


class Runner:
    """The forward pass of a model, as the engine's methods use it.

    This generic runner runs the whole model every time. An adapter with a faster split
    subclasses it (Whisper: stem, blocks from layer L, final norm, decoder).

    Attributes
    ----------
    context_frames : int or None
        Encoder positions run (None: all of them).
    truncated : bool
        Whether this runner approximates the model (fewer positions than it was trained on).
    """

    context_frames = None
    truncated = False

    def __init__(self, model, context_frames: int | None = None):
        if context_frames is not None:
            raise CapabilityError(
                f"context_frames ({context_frames!r}): {model.architecture or type(model).__name__} models offer no "
                "truncated encoder context; drop context_frames (every position is run)"
            )
        self.model = model

    def reference_logits(self, inputs: dict) -> torch.Tensor:
        """Logits of an ordinary forward pass (the guards' independent reference)."""
        return self.model.logits(inputs)

    def encoded(self, inputs: dict):
        """What a patch that touches only the decoder can reuse of the base run (None: nothing)."""
        return None

    def logits_from_encoded(self, encoded, inputs: dict) -> torch.Tensor:
        raise NotImplementedError

    def start(self, inputs: dict) -> torch.Tensor:
        """Where attribution's path from the base to the source input begins: the input values."""
        return inputs[self.model.input_key]

    def logits_from_start(self, x: torch.Tensor, inputs: dict) -> torch.Tensor:
        """Logits with the path point ``x`` (from :meth:`start`) in place of the input."""
        return self.model.logits(dict(inputs, **{self.model.input_key: x}))


class SpeechModel:
    """A pretrained speech model, ready for interventions.

    Attributes
    ----------
    model : torch.nn.Module
        The transformers model (in eval mode, gradients off).
    name : str
        The name or path it was loaded from.
    architecture : str
        "whisper", "wav2vec2" or "hubert".
    sample_rate : int
        16000.
    frame_s : float
        Seconds per encoder frame (0.02 for Whisper, Wav2Vec2 and HuBERT).
    table : SiteTable
        The architecture's sites.
    """

    architecture = ""
    sample_rate = SAMPLE_RATE
    frame_s = 0.02
    max_duration_s = math.inf
    has_decoder = False
    input_key = "input_values"
    capabilities = Capabilities()

    def __init__(self, model: torch.nn.Module, name: str, table: SiteTable, device=None):
        self.device = default_device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.name = name
        self.table = table
        self._resolved: dict = {}
        self._runners: dict = {}

    @property
    def config(self):
        return self.model.config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={str(self.device)!r}, sites={len(self.sites())})"

    # ----------------------------------------------------------------- sites
    def sites(self, stream: str | None = None, component: str | None = None, layers=None, *, sae=None,
              features=None) -> list[Site]:
        """Sites of this model, optionally filtered; per-head components expand to every head.

        ``sae=`` an :class:`intervene.SAE`: attach it and return its features as sites
        (``"encoder.3.block_output.sae.1234"``; ``features=`` a list of indices to keep), see
        :mod:`intervene.features.sites`.

        Examples
        --------
        >>> m.sites("encoder", "block_output")  # doctest: +SKIP
        [Site('encoder', 0, 'block_output'), ..., Site('encoder', 3, 'block_output')]
        """
        if sae is not None:
            from intervene.features.sites import feature_sites

            return feature_sites(self, sae, features)
        if stream is not None or component is not None:
            streams = {s.stream for s in self.table.specs}
            if stream is not None and stream not in streams:
                self.table.spec(stream, component or "")  # raises with close names
            if component is not None:
                for st in [stream] if stream else sorted(streams):
                    if any(s.stream == st and s.component == component for s in self.table.specs):
                        break
                else:
                    self.table.spec(stream or sorted(streams)[0], component)
        out = [
            s
            for s in self.table.all_sites(self.config)
            if (stream is None or s.stream == stream) and (component is None or s.component == component)
        ]
        if layers is not None:
            layers = set(layers)
            out = [s for s in out if s.layer in layers]
        return out

    def resolve(self, site) -> ResolvedSite:
        """Check a Site or key against this model once; its spec, module and head slice (cached).

        Raises
        ------
        UnknownNameError, ConfigError
            Unknown stream or component (with the close names); layer or head out of range.
        """
        if isinstance(site, ResolvedSite):
            return site
        named = isinstance(site, (str, Site))
        hit = self._resolved.get(site) if named else None
        if hit is not None:
            return hit
        checked, spec = self.table.check(self.config, site)
        hit = self._resolved.get(checked)
        if hit is None:
            module = get_module(self.model, self.table.module_path(self.model, spec, checked.layer))
            sl = None
            if checked.head is not None:
                dh = int(getattr(self.config, spec.size)) // self.table.num_heads(self.config, spec)
                sl = slice(checked.head * dh, (checked.head + 1) * dh)
            hit = ResolvedSite(checked, spec, module, sl)
            if checked.is_feature:  # an SAE's features: checked against the SAE attached there
                from intervene.features.sites import resolve_feature

                hit = resolve_feature(self, checked, spec, module)
            self._resolved[checked] = hit
        if named:
            self._resolved[site] = hit
        return hit

    def site(self, site) -> Site:
        """Validate a Site or key against this model and return the Site (typed errors otherwise)."""
        return self.resolve(site).site

    def spec(self, site) -> SiteSpec:
        return self.resolve(site).spec

    def module_for(self, site) -> torch.nn.Module:
        """The module whose input or output (``spec.hook``) is the site's activation."""
        return self.resolve(site).module

    def num_layers(self, stream: str) -> int:
        return self.table.num_layers(self.config, stream)

    def num_heads(self, site) -> int:
        """Head count of a per-head site's component (its head may be omitted)."""
        site = Site.parse(site)
        spec = self.table.spec(site.stream, site.component)
        if not spec.per_head:
            raise ConfigError(f"component {site.component!r} is not per head")
        return self.table.num_heads(self.config, spec)

    # ----------------------------------------------------------------- audio
    def prepare(self, audio, sample_rate: int = SAMPLE_RATE, name: str = "audio") -> np.ndarray:
        """Check and convert audio for this model (see :func:`tasks.audio.prepare_audio`)."""
        return prepare_audio(audio, sample_rate, name=name, max_duration_s=self.max_duration_s)

    def num_frames(self, n_samples: int) -> int:
        """How many encoder frames cover ``n_samples`` of 16 kHz audio."""
        return int(math.ceil(n_samples / (self.frame_s * self.sample_rate)))

    # ----------------------------------------------------- capabilities
    def runner(self, context_frames: int | None = None) -> Runner:
        """The forward pass methods run (one per ``context_frames``, built once).

        Raises
        ------
        CapabilityError
            ``context_frames`` on an architecture without :attr:`Capabilities.truncated_context`.
        """
        if context_frames not in self._runners:
            self._runners[context_frames] = self._make_runner(context_frames)
        return self._runners[context_frames]

    def _make_runner(self, context_frames):
        return Runner(self, context_frames)

    def exact_runner(self, ctx, runner: Runner):
        """A fast exact-patching runner for ``ctx`` (:attr:`Capabilities.fast_exact`), else None."""
        return None

    def lookahead(self, ctx, sites, groups, runner: Runner):
        """Lookahead attribution estimates (:attr:`Capabilities.lookahead`).

        Returns ``(deltas (sites, groups), base_metric, source_metric)``.
        """
        raise CapabilityError(
            f"{self.architecture or type(self).__name__} models offer no lookahead estimator; "
            "use estimator='atp' (or leave estimator unset: it falls back to atp and the map says so)"
        )

    def lookahead_covers(self, site) -> bool:
        """Whether :meth:`lookahead` estimates ``site`` (others fall back to AtP)."""
        return False

    def alignment_lag_s(self) -> float:
        """Seconds :meth:`align_words` subtracts from every word boundary (a calibrated lag; 0 here)."""
        return 0.0

    def align_words(self, audio, transcript: str, *, checked: bool = False) -> list:
        """Word spans of ``transcript`` in ``audio`` with a confidence each (:func:`intervene.align`).

        Raises
        ------
        CapabilityError
            The architecture's adapter offers no word alignment.
        """
        raise CapabilityError(
            f"{self.architecture or type(self).__name__} model {self.name!r} cannot align words; use Whisper or a "
            "*ForCTC checkpoint, or read word spans from a TextGrid (tasks.read_textgrid)"
        )

    def anatomy_runner(self, ctx, runner: Runner):
        """A cached runner for :mod:`intervene.anatomy` maps that re-runs only what a cell changes,
        or None (then every cell runs the whole forward); see ``whisper/anatomy.py``."""
        return None

    def lens(self):
        """What :func:`intervene.encoder_lens` and :func:`intervene.logit_lens` read inside the model
        (Whisper: ``whisper/lens.py``).

        Raises
        ------
        CapabilityError
            The architecture has no decoder to read an encoder layer or a decoder layer through.
        """
        raise CapabilityError(
            f"{self.architecture or type(self).__name__} model {self.name!r} has no decoder; the encoder and logit "
            "lenses read layers through a decoder and its unembedding (use a Whisper model)"
        )

    def attention_bias(self, biases: dict):
        """Context manager adding ``biases[layer]`` ``(1, heads or 1, n, n)`` to the encoder's
        self-attention scores (attention windows).

        Raises
        ------
        CapabilityError
            The architecture's adapter does not offer it.
        """
        raise CapabilityError(
            f"{self.architecture or type(self).__name__} models offer no attention-score masks; "
            "attention windows run on Whisper"
        )

    # ----------------------------------------------------- architecture API
    def inputs(self, audio, sample_rate: int = SAMPLE_RATE, decoder_input_ids=None, *, checked: bool = False) -> dict:
        """Model keyword arguments for one clip (batch of 1), on the model's device.

        ``checked=True``: ``audio`` is already the output of :meth:`prepare` (not checked again).
        """
        raise NotImplementedError

    def logits(self, inputs: dict) -> torch.Tensor:
        """Run the model on ``inputs`` and return its output logits."""
        raise NotImplementedError

    def sequence_length(self, stream: str, inputs: dict) -> int:
        """Number of positions of ``stream``'s activations for these inputs."""
        raise NotImplementedError

    def transcribe(self, audio, sample_rate: int = SAMPLE_RATE) -> str:
        raise NotImplementedError

    def log_mel(self, audio, sample_rate: int = SAMPLE_RATE, *, checked: bool = False) -> np.ndarray:
        """Log-mel spectrogram (80 bands, 10 ms hop) in dB, for pictures: (n_mels, frames)."""
        import librosa

        audio = audio if checked else self.prepare(audio, sample_rate)
        mel = librosa.feature.melspectrogram(
            y=audio, sr=self.sample_rate, n_fft=400, hop_length=160, n_mels=80, fmax=8000
        )
        return librosa.power_to_db(mel, ref=1.0, top_db=80.0).astype(np.float32)
