"""What every anatomy intervention shares: the run it acts on, its site and positions, clips.

An intervention (:class:`~intervene.anatomy.ablation.Ablation`, ...) is a small frozen object
saying *what* to do. Installed on a model for one run (:func:`intervene.anatomy.apply.applied`)
it becomes hooks that stay on for every forward inside the block: every decoding step of a
transcription, every cell of a map. :class:`RunEnv` is what it needs to know about that run.

A ``site=None`` intervention is a *template*: ``intervene.patch(..., method="ablation",
intervention=Ablation(None, kind="mean", reference=clips))`` fills in each cell's site and
positions (:meth:`Kind.at`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from intervene.sites import Site
from tasks.errors import CapabilityError, ConfigError, InterventionError

__all__ = ["RunEnv", "Kind", "Clip", "as_clip", "as_clips", "check_times", "PER_HEAD"]

PER_HEAD = ("attention_head", "cross_attention_head")
"""Components whose sites are one attention head's output (the ``out_proj`` input slice)."""


@dataclass(frozen=True, eq=False)
class Clip:
    """A reference clip: float32 mono audio and its rate, with a content key for caches."""

    audio: np.ndarray
    sample_rate: int

    @property
    def key(self) -> str:
        h = hashlib.sha1(np.ascontiguousarray(self.audio, dtype=np.float32).tobytes())
        h.update(str(self.sample_rate).encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Clip({self.key}, {self.audio.shape[0]} samples at {self.sample_rate} Hz)"


def as_clip(x, name: str, sample_rate: int = 16000) -> Clip:
    """A :class:`Clip` from an array (at ``sample_rate``) or an object with ``.audio``/``.sample_rate``."""
    if isinstance(x, Clip):
        return x
    rate = sample_rate
    if hasattr(x, "audio"):
        rate = int(getattr(x, "sample_rate", sample_rate))
        x = x.audio
    try:
        audio = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} ({type(x).__name__}) must be audio: a float array (samples,) or an Utterance") from exc
    if audio.ndim != 1 or audio.size == 0:
        raise ConfigError(f"{name} must be mono audio (samples,) with at least one sample, got shape {audio.shape}")
    return Clip(audio, rate)


def as_clips(x, name: str) -> tuple:
    """A tuple of clips from one clip or a sequence of them.

    Raises
    ------
    ConfigError
        Zero clips (the message names ``name``), or something that is not audio.
    """
    if x is None:
        raise ConfigError(f"{name} is None; give one clip or a list of clips")
    one = isinstance(x, (Clip, np.ndarray)) or hasattr(x, "audio")
    items = [x] if one else list(x)
    if not items:
        raise ConfigError(f"{name} is a reference set of zero clips; give at least one clip")
    return tuple(as_clip(c, f"{name}[{i}]") for i, c in enumerate(items))


def check_times(times_s, name: str = "times_s"):
    """``(start_s, end_s)`` as floats with 0 <= start < end, or None."""
    if times_s is None:
        return None
    try:
        lo, hi = (float(v) for v in times_s)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} ({times_s!r}) must be (start_s, end_s) in seconds") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi):
        raise ConfigError(f"{name} ({times_s!r}) must satisfy 0 <= start_s < end_s (seconds, finite)")
    return (lo, hi)


@dataclass
class RunEnv:
    """The run an intervention is installed on.

    Attributes
    ----------
    model : SpeechModel
    inputs : dict
        The run's model inputs (Whisper: features and, teacher-forced, ``decoder_input_ids``).
    teacher_forced : bool
        The decoder input is fixed for the whole run (maps); False while decoding, where each
        step feeds new positions (then decoder-site values that depend on the decoder input,
        such as a mean ablation, cannot be defined).
    source : Clip, optional
        Maps: the pair's source half (the default reference of a resample ablation).
    base : Clip, optional
        The run's own audio (maps: the base half; what the guards' identity ablation uses).
    """

    model: object
    inputs: dict
    teacher_forced: bool = True
    source: Clip | None = None
    base: Clip | None = None

    @property
    def decoder_ids(self):
        return self.inputs.get("decoder_input_ids") if self.teacher_forced else None

    def seq_len(self, stream: str) -> int | None:
        if stream == "decoder" and not self.teacher_forced:
            return None
        return int(self.model.sequence_length(stream, self.inputs))


class Kind:
    """Mixin of the intervention dataclasses (fields ``site`` and ``positions``)."""

    name = ""

    def at(self, site, positions=None):
        """This intervention on ``site`` at ``positions`` (a map's cell)."""
        return dataclasses.replace(self, site=site, positions=None if positions is None else tuple(positions))

    def resolved_site(self, model) -> Site:
        if self.site is None:
            raise ConfigError(
                f"{type(self).__name__}.site is None; give a site such as 'encoder.3.block_output' "
                "(site=None is a template that intervene.patch fills in)"
            )
        try:
            return model.site(self.site)
        except ConfigError as exc:
            raise type(exc)(f"{type(self).__name__}(site={self.site!r}): {exc}") from None

    def positions_for(self, model, site: Site, env: RunEnv) -> tuple | None:
        """The positions acted on (None: every position), from ``positions`` or ``times_s``."""
        times = getattr(self, "times_s", None)
        n = env.seq_len(site.stream)
        if self.positions is not None:
            pos = tuple(int(p) for p in self.positions)
            if n is None:
                raise CapabilityError(
                    f"{type(self).__name__} at decoder positions {list(pos)[:5]} cannot be held on while decoding "
                    "(each step feeds new positions); act on every position (positions=None)"
                )
            bad = [p for p in pos if not 0 <= p < n]
            if bad or not pos:
                raise InterventionError(f"positions {bad or list(pos)} are outside {site.key}'s 0..{n - 1}")
            return pos
        if times is None:
            return None
        if site.stream != "encoder":
            raise ConfigError(f"times_s selects encoder frames; {site.key} is a {site.stream} site (drop times_s)")
        lo, hi = times
        first, last = int(math.floor(lo / model.frame_s + 1e-9)), int(math.ceil(hi / model.frame_s - 1e-9))
        if not (0 <= first < last <= n):
            raise InterventionError(f"times_s {times} lies outside the encoder's {n * model.frame_s:g} s")
        return tuple(range(first, last))

    def encoder_start(self, model):
        """Where in the encoder this intervention first changes the run: ``(layer, stage)``, or
        None when it changes only the decoder. Stage 1: at the layer's attention heads or
        attention output (the queries, keys and values of the layer are not changed); stage 0:
        anywhere else in the layer. Cached runners re-run from there."""
        site = self.resolved_site(model)
        if site.stream != "encoder":
            return None
        return (site.layer, 1 if site.component in ("attention_head", "attention_output") else 0)

    def describe(self) -> str:
        return f"{type(self).__name__}({self.site})"

    def __repr__(self) -> str:
        # Arrays appear as a digest of their content, so a repr names one intervention exactly
        # (sweeps key their resumable work on it); numpy's own repr elides long arrays.
        def show(v):
            if isinstance(v, np.ndarray):
                return f"array<{v.shape}, sha1:{hashlib.sha1(np.ascontiguousarray(v).tobytes()).hexdigest()[:12]}>"
            if isinstance(v, tuple):
                return "(" + ", ".join(show(x) for x in v) + ("," if len(v) == 1 else "") + ")"
            return repr(v)

        fields = ", ".join(f"{f.name}={show(getattr(self, f.name))}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({fields})"
