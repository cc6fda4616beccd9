"""SpeechModel: a loaded speech model with everything the engine needs.

One subclass per architecture (``whisper.py``, ``wav2vec2.py``) supplies feature extraction,
the forward call, transcription and the site table; this base class holds what they share:
site lookup, device handling and input checks.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from intervene.sites import Site, SiteSpec, SiteTable, get_module
from tasks.audio import SAMPLE_RATE, prepare_audio
from tasks.errors import ConfigError

__all__ = ["SpeechModel", "default_device"]

logger = logging.getLogger(__name__)


def default_device(device=None) -> torch.device:
    """``device`` if given, else CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device ({device!r}) is not a torch device such as 'cpu' or 'cuda:0'") from exc


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

    def __init__(self, model: torch.nn.Module, name: str, table: SiteTable, device=None):
        self.device = default_device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.name = name
        self.table = table

    @property
    def config(self):
        return self.model.config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={str(self.device)!r}, sites={len(self.sites())})"

    # ----------------------------------------------------------------- sites
    def sites(self, stream: str | None = None, component: str | None = None, layers=None) -> list[Site]:
        """Sites of this model, optionally filtered; per-head components expand to every head.

        Examples
        --------
        >>> m.sites("encoder", "block_output")  # doctest: +SKIP
        [Site('encoder', 0, 'block_output'), ..., Site('encoder', 3, 'block_output')]
        """
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

    def site(self, site) -> Site:
        """Validate a Site or key against this model and return the Site (typed errors otherwise)."""
        return self.table.check(self.config, site)[0]

    def spec(self, site) -> SiteSpec:
        return self.table.check(self.config, site)[1]

    def module_for(self, site) -> torch.nn.Module:
        """The module whose input or output (``spec.hook``) is the site's activation."""
        site, spec = self.table.check(self.config, site)
        return get_module(self.model, self.table.module_path(self.model, spec, site.layer))

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

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Start time in seconds of each of the first ``n_frames`` encoder frames."""
        return np.arange(n_frames) * self.frame_s

    # ----------------------------------------------------- architecture API
    def inputs(self, audio, sample_rate: int = SAMPLE_RATE, decoder_input_ids=None) -> dict:
        """Model keyword arguments for one clip (batch of 1), on the model's device."""
        raise NotImplementedError

    def logits(self, inputs: dict) -> torch.Tensor:
        """Run the model on ``inputs`` and return its output logits."""
        raise NotImplementedError

    def sequence_length(self, stream: str, inputs: dict) -> int:
        """Number of positions of ``stream``'s activations for these inputs."""
        raise NotImplementedError

    def transcribe(self, audio, sample_rate: int = SAMPLE_RATE) -> str:
        raise NotImplementedError

    def log_mel(self, audio, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Log-mel spectrogram (80 bands, 10 ms hop) in dB, for pictures: (n_mels, frames)."""
        import librosa

        audio = self.prepare(audio, sample_rate)
        mel = librosa.feature.melspectrogram(
            y=audio, sr=self.sample_rate, n_fft=400, hop_length=160, n_mels=80, fmax=8000
        )
        return librosa.power_to_db(mel, ref=1.0, top_db=80.0).astype(np.float32)
