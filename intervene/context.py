"""A minimal pair made ready for interventions on one model.

:class:`PairContext` turns (model, task, pair, direction) into the two runs an intervention
connects: the *base* run, which gets patched, and the *source* run, whose activations are
patched in. Denoising: source = clean, base = corrupt (clean activations restore the clean
behaviour); noising: source = corrupt, base = clean. Each half's audio is checked and turned
into model inputs once; the plain-forward metrics are computed once, when first asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tasks.errors import ConfigError, PairError

__all__ = ["PairContext", "DIRECTIONS", "check_pair", "check_task", "check_model"]

DIRECTIONS = ("denoise", "noise")


def check_task(task) -> None:
    """Refuse a task that cannot supply a metric (None, a string, a list of words, ...)."""
    if not all(callable(getattr(task, name, None)) for name in ("answers", "readout")):
        raise ConfigError(
            f"task ({task!r:.80}) must be a task with answers() and readout(), e.g. tasks.KeywordTask() or "
            "tasks.CarrierTask()"
        )


def check_model(model) -> None:
    """Refuse what is not a loaded speech model (a name string, None, a raw torch module)."""
    if not all(callable(getattr(model, name, None)) for name in ("prepare", "inputs", "logits", "site")):
        hint = " (load it first: intervene.load_model(name))" if isinstance(model, str) else ""
        raise ConfigError(f"model ({model!r:.80}) must be a SpeechModel from intervene.load_model{hint}")


def check_pair(pair, model) -> None:
    """Refuse pairs whose halves do not line up (typed errors saying what to change)."""
    for name in ("clean", "corrupt", "sample_rate", "clean_answer"):
        if not hasattr(pair, name):
            raise PairError(f"pair has no .{name}; build it with corruptions (e.g. corruptions.get('noise').pair(...))")
    clean, corrupt = np.asarray(pair.clean), np.asarray(pair.corrupt)
    if clean.shape != corrupt.shape:
        raise PairError(
            f"the halves of the pair differ in length ({clean.shape} vs {corrupt.shape}); "
            "pad or trim the corrupt audio to the clean one's length"
        )
    rate = getattr(pair, "corrupt_sample_rate", pair.sample_rate)
    if rate != pair.sample_rate:
        raise PairError(f"the halves of the pair have different sample rates ({pair.sample_rate} vs {rate})")


@dataclass
class PairContext:
    """Inputs, readout and unpatched metrics of one pair on one model.

    Attributes
    ----------
    base_inputs, source_inputs : dict
        Model keyword arguments (features of batch 1, and for Whisper the readout's decoder rows).
    clean_audio, corrupt_audio : np.ndarray
        The halves, checked and at the model's rate: float32 (samples,).
    base_metric, source_metric : float
        The task metric on the unpatched base and source runs (plain forward passes,
        computed once on first use).
    clean_metric, corrupt_metric : float
        The same two numbers named by clip rather than by role.
    n_samples : int
        Clip length in samples (16 kHz).
    clip_frames : int
        Encoder frames covering the clip.
    """

    model: object
    task: object
    pair: object
    direction: str
    readout: object
    base_inputs: dict
    source_inputs: dict
    clean_audio: np.ndarray
    corrupt_audio: np.ndarray
    n_samples: int = 0
    clip_frames: int = 0
    _metrics: tuple | None = None

    @classmethod
    def build(cls, model, task, pair, direction: str = "denoise") -> "PairContext":
        if not isinstance(direction, str) or direction not in DIRECTIONS:
            raise ConfigError(f"direction ({direction!r}) must be 'denoise' (clean into corrupt) or 'noise' (corrupt into clean)")
        check_model(model)
        check_task(task)
        check_pair(pair, model)
        clean_answer, corrupt_answer = task.answers(pair)
        readout = task.readout(model, clean_answer, corrupt_answer)
        ids = readout.decoder_input_ids
        clean_audio = model.prepare(pair.clean, pair.sample_rate, name="pair.clean")
        corrupt_audio = model.prepare(pair.corrupt, pair.sample_rate, name="pair.corrupt")
        clean = model.inputs(clean_audio, model.sample_rate, ids, checked=True)
        corrupt = model.inputs(corrupt_audio, model.sample_rate, ids, checked=True)
        base, source = (corrupt, clean) if direction == "denoise" else (clean, corrupt)
        n_samples = clean_audio.shape[0]
        return cls(
            model=model, task=task, pair=pair, direction=direction, readout=readout,
            base_inputs=base, source_inputs=source, clean_audio=clean_audio, corrupt_audio=corrupt_audio,
            n_samples=n_samples,
            clip_frames=min(model.num_frames(n_samples), getattr(model, "n_positions", 10**9)),
        )

    @torch.no_grad()
    def plain_metric(self, inputs: dict) -> float:
        """The metric from an ordinary forward pass (no hooks)."""
        return float(self.readout.metric(self.model.logits(inputs)))

    def reference_metrics(self) -> tuple[float, float]:
        """``(base, source)`` metrics of plain forward passes (computed once)."""
        if self._metrics is None:
            self._metrics = (self.plain_metric(self.base_inputs), self.plain_metric(self.source_inputs))
        return self._metrics

    @property
    def base_metric(self) -> float:
        return self.reference_metrics()[0]

    @property
    def source_metric(self) -> float:
        return self.reference_metrics()[1]

    @property
    def clean_metric(self) -> float:
        return self.source_metric if self.direction == "denoise" else self.base_metric

    @property
    def corrupt_metric(self) -> float:
        return self.base_metric if self.direction == "denoise" else self.source_metric

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.model.sample_rate

    def seq_len(self, stream: str) -> int:
        """Positions of ``stream``'s activations (encoder: 1500 for Whisper; decoder: tokens)."""
        return self.model.sequence_length(stream, self.base_inputs)
