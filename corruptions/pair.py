"""The aligned minimal pair: a clean clip, its counterfactual, and how the second was made.

A patching map is only as meaningful as its pair, so a :class:`MinimalPair` carries the
exact corruption config and drawn parameters (enough to rebuild the corrupt clip from the
source), the answers the two clips carry, and where they differ, in seconds and in model
frames.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corruptions import functional as F
from corruptions.registry import from_dict
from tasks.atomic import write_json
from tasks.audio import SAMPLE_RATE, check_sample_rate, write_wav
from tasks.errors import ConfigError, PairError
from tasks.jsonio import to_jsonable
from tasks.verify import seal
from tasks.checks import check_real
from tasks.utterance import check_word_spans

__all__ = ["MinimalPair", "DEFAULT_FRAME_S"]

DEFAULT_FRAME_S = 0.02
"""Frame length used without a model: Whisper's encoder frame (20 ms)."""

_FORMAT = "speechlens.minimal_pair/2"  # corruptions.pairfile.FORMAT


def _check_audio(name: str, audio) -> np.ndarray:
    if not isinstance(audio, np.ndarray):
        raise PairError(f"{name} is a {type(audio).__name__}; pass a float32 numpy array (samples,)")
    if audio.dtype != np.float32:
        raise PairError(f"{name} has dtype {audio.dtype}; pass float32 ({name}.astype(np.float32))")
    if audio.ndim != 1 or audio.size == 0:
        raise PairError(f"{name} has shape {audio.shape}; pass mono audio of shape (samples,) with samples > 0")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise PairError(f"{name} has {bad} NaN or infinite samples; every sample must be finite")
    return audio


def _spans(words, duration_s: float, name: str) -> tuple:
    try:
        return check_word_spans(words or (), duration_s, name)
    except ConfigError as exc:
        raise PairError(str(exc)) from exc


def _changed(spans, duration_s: float) -> list:
    if isinstance(spans, (str, bytes)) or not hasattr(spans, "__iter__"):
        raise PairError(f"changed_spans ({spans!r:.80}) must be a list of (start_s, end_s)")
    out = []
    for i, span in enumerate(spans):
        if isinstance(span, (str, bytes)) or not hasattr(span, "__len__") or len(span) != 2:
            raise PairError(f"changed_spans[{i}] ({span!r:.80}) must be a (start_s, end_s) pair")
        try:
            start = check_real(f"changed_spans[{i}] start_s", span[0], low=0, unit="s")
            end = check_real(f"changed_spans[{i}] end_s", span[1], low=start, high=duration_s + 1e-3, unit="s")
        except ConfigError as exc:
            raise PairError(f"{exc} (the clip is {duration_s:g} s)") from exc
        out.append((start, end))
    return out


def _sha256(audio: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio, dtype="<f4").tobytes()).hexdigest()


@dataclass(frozen=True, eq=False)
class MinimalPair:
    """A clean clip and its corrupted counterpart, aligned sample for sample.

    Attributes
    ----------
    clean, corrupt : np.ndarray, float32 (samples,)
        Equal length, at ``sample_rate``.
    sample_rate : int
    clean_answer, corrupt_answer : str or None
        What each clip says (the two words of a word swap; otherwise the same word).
    changed_spans : list of (start_s, end_s)
        Where the samples differ.
    corruption : dict
        The corruption's ``to_dict()`` (kind and parameters).
    params : dict
        The drawn parameters; ``from_dict(corruption).apply(source, params)`` rebuilds ``corrupt``.
    seed : int or None
        The seed the parameters were drawn with (None when an ``rng`` was passed).
    words, corrupt_words : tuple of WordSpan
        Word spans of the clean and the corrupt clip.
    metadata : dict
        Facts about the source: text, voice, rate, pitch, speaker, path, dataset.

    Raises
    ------
    PairError
        Clips of different lengths, not float32, not mono, empty, or not finite.
    """

    clean: np.ndarray
    corrupt: np.ndarray
    sample_rate: int = SAMPLE_RATE
    clean_answer: str | None = None
    corrupt_answer: str | None = None
    changed_spans: list = field(default_factory=list)
    corruption: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    seed: int | None = None
    words: tuple = ()
    corrupt_words: tuple = ()
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        clean = _check_audio("clean", self.clean)
        corrupt = _check_audio("corrupt", self.corrupt)
        if clean.shape != corrupt.shape:
            raise PairError(
                f"clean has {clean.shape[0]} samples but corrupt has {corrupt.shape[0]}; "
                "a minimal pair must be aligned: pad or trim corrupt to the clean length"
            )
        try:
            rate = check_sample_rate(self.sample_rate)
        except ConfigError as exc:
            raise PairError(str(exc)) from exc
        object.__setattr__(self, "sample_rate", rate)
        duration_s = clean.shape[0] / rate
        object.__setattr__(self, "words", _spans(self.words, duration_s, "words"))
        object.__setattr__(self, "corrupt_words", _spans(self.corrupt_words, duration_s, "corrupt_words"))
        object.__setattr__(self, "changed_spans", _changed(self.changed_spans, duration_s))
        for name in ("clean_answer", "corrupt_answer"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise PairError(f"{name} ({value!r}) must be the word the clip says (a string) or None")
        for name in ("corruption", "params", "metadata"):
            if not isinstance(getattr(self, name), dict):
                raise PairError(f"{name} ({getattr(self, name)!r:.80}) must be a dict")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))
                                      or self.seed < 0):
            raise PairError(f"seed ({self.seed!r}) must be a non-negative int or None")

    @property
    def n_samples(self) -> int:
        return int(self.clean.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def __repr__(self) -> str:
        return (
            f"MinimalPair(kind={self.corruption.get('kind')!r}, {self.clean_answer!r} -> {self.corrupt_answer!r}, "
            f"duration_s={self.duration_s:.3f}, changed_spans={[(round(a, 3), round(b, 3)) for a, b in self.changed_spans]})"
        )

    # -- frames ---------------------------------------------------------------------------

    def _frame_s(self, model, frame_s) -> float:
        if model is not None:
            model_frame_s = getattr(model, "frame_s", None)
            if model_frame_s is None:
                raise ConfigError(f"model ({type(model).__name__}) has no .frame_s; pass frame_s= in seconds")
            if frame_s is not None and not math.isclose(float(frame_s), float(model_frame_s)):
                raise ConfigError(
                    f"frame_s ({frame_s!r}) disagrees with model.frame_s ({model_frame_s!r}); give one of them"
                )
            frame_s = model_frame_s
        frame_s = DEFAULT_FRAME_S if frame_s is None else frame_s
        if isinstance(frame_s, bool) or not isinstance(frame_s, (int, float)) or not (0 < frame_s < math.inf):
            raise ConfigError(f"frame_s ({frame_s!r}) must be a positive number of seconds (Whisper: 0.02)")
        return float(frame_s)

    def frame_distance_db(self, model=None, frame_s: float | None = None) -> np.ndarray:
        """Per-frame mean absolute log-mel (80 mels, 25 ms window) difference in dB.

        Returns
        -------
        np.ndarray, float64 (n_frames,), n_frames = ceil(duration_s / frame_s)
        """
        frame_s = self._frame_s(model, frame_s)
        return F.frame_distance_db(self.clean, self.corrupt, self.sample_rate, frame_s)

    def changed_frames(self, model=None, frame_s: float | None = None, threshold_db: float = 2.0) -> np.ndarray:
        """Which model frames differ between the clips.

        Parameters
        ----------
        model : object, optional
            Anything with ``.frame_s`` (an intervene model; 0.02 s for Whisper).
        frame_s : float, optional
            Frame length in seconds, when no model is given (default 0.02).
        threshold_db : float
            A frame differs when its mean absolute log-mel difference exceeds this.

        Returns
        -------
        np.ndarray, bool (n_frames,), n_frames = ceil(duration_s / frame_s)

        Raises
        ------
        ConfigError
            A model without ``frame_s``, conflicting ``frame_s``, or a negative threshold.

        Examples
        --------
        >>> import numpy as np
        >>> clean = np.sin(np.arange(16000) * 0.2).astype(np.float32)
        >>> corrupt = clean.copy(); corrupt[8000:9600] = 0
        >>> np.flatnonzero(MinimalPair(clean, corrupt).changed_frames()).tolist()
        [24, 25, 26, 27, 28, 29, 30]
        """
        if isinstance(threshold_db, bool) or not isinstance(threshold_db, (int, float)) or not (
            0 <= threshold_db < math.inf
        ):
            raise ConfigError(f"threshold_db ({threshold_db!r}) must be a finite number >= 0 dB")
        return self.frame_distance_db(model, frame_s) > threshold_db

    # -- rebuilding -----------------------------------------------------------------------

    def rebuild(self, source, corruption=None) -> np.ndarray:
        """Re-run the recorded corruption on ``source`` with the recorded params.

        ``corruption`` defaults to ``corruptions.from_dict(self.corruption)``; pass the live
        object when its config cannot be rebuilt from JSON (noise clips given as arrays).
        """
        if corruption is None:
            corruption = from_dict(self.corruption)
        return corruption.apply(source, self.params)

    # -- files ----------------------------------------------------------------------------

    def _json(self) -> dict:
        return to_jsonable(strict=False, value={
            "format": _FORMAT,
            "sample_rate": self.sample_rate,
            "n_samples": self.n_samples,
            "clean_answer": self.clean_answer,
            "corrupt_answer": self.corrupt_answer,
            "changed_spans": self.changed_spans,
            "corruption": self.corruption,
            "params": self.params,
            "seed": self.seed,
            "words": [list(w) for w in self.words],
            "corrupt_words": [list(w) for w in self.corrupt_words],
            "metadata": self.metadata,
            "clean_sha256": _sha256(self.clean),
            "corrupt_sha256": _sha256(self.corrupt),
        })  # fmt: skip

    def to_json(self) -> dict:
        """What ``pair.json`` holds: the fields, the WAV checksums and the checksum of itself."""
        return seal(self._json())

    def save(self, folder) -> Path:
        """Write ``clean.wav``, ``corrupt.wav`` (32-bit float) and then ``pair.json`` into ``folder``.

        Every file is written atomically and ``pair.json`` last (an old one is removed
        first), so a folder holding ``pair.json`` holds a complete pair.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        json_path = folder / "pair.json"
        if json_path.exists():
            json_path.unlink()
        write_wav(folder / "clean.wav", self.clean, self.sample_rate)
        write_wav(folder / "corrupt.wav", self.corrupt, self.sample_rate)
        write_json(json_path, self.to_json())
        return folder

    @classmethod
    def load(cls, folder) -> MinimalPair:
        """Read a pair written by :meth:`save`, verified whole; the audio comes back bit-exact.

        Raises
        ------
        PairError
            No ``pair.json`` (not a pair, or an interrupted save), a ``pair.json`` that is not
            valid JSON, lacks the WAV checksums, was edited (its own checksum), or holds a field
            of the wrong type or range (spans outside the clip, ...), or WAV files that are
            missing, unreadable, truncated or do not match it (rate, length or checksum). The
            message names the file and the field; see :mod:`corruptions.pairfile`.
        """
        from corruptions.pairfile import build_checked, read_pair_folder

        return build_checked(cls, folder, read_pair_folder(folder))
