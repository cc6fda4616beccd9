"""Clips to read activations from: the project's own synthesis, or a folder of recordings.

A corpus is a list of :class:`CorpusClip` (an id, a kind, labels and a ``load()`` giving
float32 audio at 16 kHz). Ids are stable, so a store built from a corpus can check on a rerun
that it is reading the same clips (:mod:`intervene.features.store`).

:func:`synthetic_corpus` crosses espeak voices, rates and pitches with a built-in list of
sentences and the Speech Commands words, and adds noise and silence clips (so that features
for non-speech exist and can be probed); :func:`dataset_corpus` wraps
:func:`tasks.open_dataset`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tasks.checks import check_int
from tasks.errors import ConfigError

__all__ = ["SENTENCES", "CorpusClip", "as_corpus", "corpus_digest", "dataset_corpus", "synthetic_corpus"]

SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "please turn the lights off in the kitchen",
    "she sells sea shells by the sea shore",
    "open the door and go left at the stairs",
    "we will meet at seven in the morning",
    "stop the music and turn the volume up",
    "my phone number has nine digits",
    "the weather today is cold and windy",
    "can you hear the birds singing outside",
    "put the red book on the top shelf",
    "go right after the bridge then stop",
    "yes I think that is a good idea",
    "no we should not leave before noon",
    "turn on the radio and sit down",
    "a large ship sailed across the bay",
    "the children played football in the park",
)
"""Built-in sentences for the synthetic corpus (every phoneme class of English occurs)."""

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The ten core Speech Commands words (as :data:`tasks.keyword.SPEECH_COMMANDS_CORE`)."""

VOICES = ("en-us", "en-us+f3", "en-gb-x-rp", "en+m3", "en-029+f2", "en-gb-scotland")
RATES = (140, 175, 220)
PITCHES = (35, 50, 70)


@dataclass(frozen=True)
class CorpusClip:
    """One clip of a corpus.

    Attributes
    ----------
    id : str
        Stable identifier (the same clip always has the same id).
    kind : {"speech", "noise", "silence"}
    load : callable
        ``load() -> float32 (samples,)`` at 16 kHz.
    text : str
        What is said ("" for noise and silence).
    voice, rate, pitch : optional
        Synthesis settings (None for recordings).
    speaker : str, optional
    """

    id: str
    kind: str
    load: Callable[[], np.ndarray] = field(repr=False, compare=False)
    text: str = ""
    voice: str | None = None
    rate: int | None = None
    pitch: int | None = None
    speaker: str | None = None

    @property
    def audio(self) -> np.ndarray:
        return self.load()

    @property
    def sample_rate(self) -> int:
        return 16000

    def labels(self) -> dict:
        """JSON-ready labels stored in an activation store's index."""
        return {"id": self.id, "kind": self.kind, "text": self.text, "voice": self.voice, "rate": self.rate,
                "pitch": self.pitch, "speaker": self.speaker}


def _speech(text: str, voice: str, rate: int, pitch: int) -> Callable[[], np.ndarray]:
    def load():
        import tasks

        return tasks.speak(text, voice=voice, rate=rate, pitch=pitch).audio

    return load


def _noise(seed: int, duration_s: float, level: float, colour: str) -> Callable[[], np.ndarray]:
    def load():
        rng = np.random.default_rng(seed)
        n = int(round(duration_s * 16000))
        x = rng.standard_normal(n)
        if colour == "pink":  # 1/f power: scale the spectrum by 1/sqrt(f)
            spec = np.fft.rfft(x)
            f = np.arange(spec.shape[0], dtype=np.float64)
            spec /= np.sqrt(np.maximum(f, 1.0))
            x = np.fft.irfft(spec, n)
        x = x / (np.abs(x).max() + 1e-12) * level
        return x.astype(np.float32)

    return load


def _silence(duration_s: float) -> Callable[[], np.ndarray]:
    return lambda: np.zeros(int(round(duration_s * 16000)), dtype=np.float32)


def synthetic_corpus(n_speech: int | None = None, *, sentences=SENTENCES, words=WORDS, voices=VOICES, rates=RATES,
                     pitches=PITCHES, n_noise: int = 8, n_silence: int = 4, seed: int = 0) -> list:
    """Synthesized speech (voices x rates x pitches x texts) plus noise and silence clips.

    Parameters
    ----------
    n_speech : int, optional
        How many speech clips to draw (without replacement, seeded) from the full cross
        product; None keeps all of it (6 voices x 3 rates x 3 pitches x 26 texts = 1404).
    sentences, words : sequence of str
        Texts spoken (sentences and single command words).
    voices, rates, pitches : sequences
        espeak settings (see :func:`tasks.speak`).
    n_noise, n_silence : int
        White/pink noise clips (0.5-2 s, random level) and silent clips (0.5-1.5 s).
    seed : int

    Returns
    -------
    list of CorpusClip
        Speech first, then noise, then silence; audio is synthesized when a clip is loaded.

    Raises
    ------
    ConfigError
        Empty lists, negative counts, or ``n_speech`` larger than the cross product.
    """
    texts = [str(t) for t in list(sentences) + list(words)]
    for name, seq in (("voices", voices), ("rates", rates), ("pitches", pitches)):
        if not len(seq):
            raise ConfigError(f"{name} is empty; give at least one")
    if not texts:
        raise ConfigError("sentences and words are both empty; give at least one text")
    n_noise = check_int("n_noise", n_noise, low=0)
    n_silence = check_int("n_silence", n_silence, low=0)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    grid = [(t, v, int(r), int(p)) for t in texts for v in voices for r in rates for p in pitches]
    if n_speech is not None:
        n_speech = check_int("n_speech", n_speech, low=0)
        if n_speech > len(grid):
            raise ConfigError(f"n_speech ({n_speech}) is more than the {len(grid)} text x voice x rate x pitch "
                              "combinations; give fewer or more voices/texts")
        grid = [grid[i] for i in sorted(rng.choice(len(grid), n_speech, replace=False))]
    out = [CorpusClip(f"speech|{v}|r{r}|p{p}|{t}", "speech", _speech(t, v, r, p), text=t, voice=v, rate=r, pitch=p,
                      speaker=f"{v}-r{r}-p{p}") for t, v, r, p in grid]
    for i in range(n_noise):
        colour = ("white", "pink")[i % 2]
        dur, level = float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.02, 0.5))
        out.append(CorpusClip(f"noise|{colour}|{i}|{dur:.3f}|{level:.3f}", "noise",
                              _noise(seed * 1000 + i, dur, level, colour)))
    for i in range(n_silence):
        dur = float(rng.uniform(0.5, 1.5))
        out.append(CorpusClip(f"silence|{i}|{dur:.3f}", "silence", _silence(dur)))
    return out


def dataset_corpus(spec: str, limit: int | None = None) -> list:
    """A corpus from recordings: ``tasks.open_dataset(spec)`` (e.g. ``"folder:recordings/"``).

    Each clip keeps its dataset id, text and speaker; ``limit`` keeps the first clips only.
    """
    import tasks

    data = tasks.open_dataset(spec)
    clips = list(data)
    if limit is not None:
        clips = clips[: check_int("limit", limit, low=1)]

    def loader(clip):
        def load():
            from tasks.audio import prepare_audio

            return prepare_audio(clip.audio, clip.sample_rate, name=f"clip {clip.id}")

        return load

    return [CorpusClip(f"{spec}|{c.id}", "speech", loader(c), text=c.text or "", speaker=c.speaker) for c in clips]


def as_corpus(clips) -> list:
    """``clips`` as CorpusClips: CorpusClips pass; Utterances, dataset Clips and bare float arrays
    (16 kHz) are wrapped, with ids from their content (a hash of the samples)."""
    if isinstance(clips, (str, bytes)) or not hasattr(clips, "__iter__"):
        raise ConfigError(f"clips ({clips!r:.60}) must be a list of clips (CorpusClip, Utterance, float arrays) "
                          "or a corpus from synthetic_corpus / dataset_corpus")
    out = []
    for i, c in enumerate(clips):
        if isinstance(c, CorpusClip):
            out.append(c)
            continue
        from intervene.learned.activations import clip_audio
        from tasks.audio import prepare_audio

        audio, rate = clip_audio(c)
        audio = prepare_audio(audio, rate, name=f"clips[{i}]")
        digest = hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest()[:16]
        out.append(CorpusClip(f"clip|{digest}", "speech", (lambda a=audio: a), text=str(getattr(c, "text", "") or ""),
                              voice=getattr(c, "voice", None), rate=getattr(c, "rate", None),
                              pitch=getattr(c, "pitch", None), speaker=getattr(c, "speaker", None)))
    if not out:
        raise ConfigError("clips is empty; give at least one clip")
    return out


def corpus_digest(clips) -> str:
    """16 hex digits over the clip ids, in order (what a store checks on a rerun)."""
    h = hashlib.sha256()
    for c in clips:
        h.update(c.id.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
