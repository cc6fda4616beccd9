"""Whisper anatomy, reproduced: six published findings checked on SpeechLens's interventions.

1. Attention window (Reid 2023): WER with encoder self-attention held to +-k frames, k in
   {all, 100, 75, 50, 20, 10}; per head, which heads can be held to +-10 without harm.
2. Silence splice (Reid 2023): the last encoder layer's frames of one word replaced by a
   silent input's: is that word deleted and are the others kept?
3. Encoder lens (DecoderLens): WER of the decoder reading each encoder layer.
4. Alignment heads: the cross-attention heads whose DTW word boundaries are closest to the
   synthesizer's spans, against the heads openai-whisper publishes.
5. Logit lens: the decoder layer where a keyword becomes the top token.
6. Non-speech steering (AudioSAE follow-up): hallucination rate on non-speech clips and WER
   on speech, with and without steering along the speech vs non-speech direction.

Each section states the claim and its source, this run's figure and whether they agree (a
disagreement is a finding, reported with its numbers). Speech: one multi-sentence clip per
voice (``sentences_per_clip`` sentences, about 10 s for 3), synthesized offline so every word's
span is known. Every unit (a transcript under an intervention, a lens, a clip's alignment) is
kept in ``<out>/work`` as it finishes: run the same command again to resume. Writes
``<out>/index.html``, figures, and ``<out>/results.json`` (last).

``--data SPEC [SPEC ...]`` (``--max-clips N`` per spec, default 3): the scored speech (sections
1, 2, 3, 4 and the WER side of 6) is the datasets' recordings with transcripts (the references of
WER) instead of synthesis; ``--voices`` is then unused. Word spans (per-word kept / deleted /
substituted, the splice targets) are the dataset's own, else the model's alignment of the
transcript; section 4 grades heads only on clips with spans of their own (dataset or
synthesizer), else says "not available for this data". Synthetic in every case: the logit
lens's keyword clips (5), the non-speech clips (noise, tones, silence) and the speech of the
steering direction (6). results.json records the data (``"data"``) and each clip's span source.

``--executor ray`` runs the units (one per clip x condition: a transcript under a window, head
window, splice or steering; a lens table; a clip's alignment) on Ray actors that each load the
model; the steering direction is its own stored unit, computed once and handed to every steering
unit. The numbers are those of a local run, and either executor resumes the other's folder.

Examples (from the repository root)::

    python benchmarks/whisper_anatomy.py                                  # tiny.en, 3 voices
    python benchmarks/whisper_anatomy.py --quick --out /tmp/anatomy       # one short clip, about a minute
    python benchmarks/whisper_anatomy.py --models whisper-tiny.en whisper-base
    python benchmarks/whisper_anatomy.py --data librispeech:/data/LibriSpeech/dev-clean --max-clips 5
    python benchmarks/whisper_anatomy.py --quick --executor ray --actors 2
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import tasks
from benchmarks.anatomy.data import data_speech_clips, speech_clips
from benchmarks.anatomy.report import build_sections, summary_table
from benchmarks.anatomy.units import shape_of
from benchmarks.anatomy.work import run_model
from benchmarks.common import (
    BenchmarkSettings,
    command_line,
    echo,
    names,
    number,
    parse_settings,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    whole_numbers,
    write_report,
)
from benchmarks.common.data import add_data_arguments, check_data, data_record
from tasks.errors import ConfigError
from tasks.tts import canonical_voice

__all__ = ["QUICK_PRESET", "WhisperAnatomySettings", "main", "shape_of"]

logger = logging.getLogger("whisper_anatomy")

SCRIPT = "whisper_anatomy"
WORK_FORMAT = "whisper_anatomy/1"
NONSPEECH = ("white_noise", "pink_noise", "tone_440hz", "tone_1khz", "chirp", "silence")
SYNTHETIC_WITH_DATA = ["logit_lens: the keyword clips (espeak-ng)",
                       "steering: the non-speech clips (noise, tones, silence) and the direction's speech"]
"""What stays synthetic when the scored speech comes from ``--data``."""
QUICK_PRESET = {
    "voices": ("en-us",),
    "sentences_per_clip": 1,
    "ks": (75, 50),
    "head_layers": (0,),
    "head_clips": 1,
    "splice_words": 1,
    "keywords": ("yes",),
    "carrier": False,
    "alphas": (0.0, -1.0),
    "nonspeech": ("white_noise", "silence"),
    "nonspeech_s": 1.0,
}
"""What ``--quick`` sets: one sentence in one voice, k in {all, 75, 50}, the heads of encoder layer 0,
one spliced word, one keyword, one steering strength on two 1 s non-speech clips."""


@dataclass(frozen=True)
class WhisperAnatomySettings(BenchmarkSettings):
    """What to run. ``head_layers=None``: every encoder layer; ``splice_layer`` / ``steer_layer``
    None: the last encoder layer."""

    kind: ClassVar[str] = SCRIPT
    models: tuple = ("whisper-tiny.en",)
    voices: tuple = ("en-us", "en-gb-x-rp", "en-us+f3")
    sentences_per_clip: int = 3
    rate: int = 170
    lead_s: float = 0.3
    ks: tuple = (100, 75, 50, 20, 10)
    head_k: int = 10
    head_layers: tuple | None = None
    head_clips: int = 2
    harm_wer: float = 0.05
    splice_words: int = 3
    splice_layer: int | None = None
    keywords: tuple = tasks.SPEECH_COMMANDS_CORE
    keyword_voices: tuple = ("en-us",)
    carrier: bool = True
    alphas: tuple = (0.0, -0.5, -1.0, -2.0)
    steer_layer: int | None = None
    nonspeech: tuple = NONSPEECH
    nonspeech_s: float = 3.0
    data: tuple = ()
    max_clips: int | None = 3

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("models", names("models", self.models))
        put("voices", tuple(canonical_voice(v) for v in names("voices", self.voices)))
        put("sentences_per_clip", whole("sentences_per_clip", self.sentences_per_clip, 1, 9))
        put("rate", whole("rate", self.rate, 80, 450))
        put("lead_s", number("lead_s", self.lead_s, 0.0, 2.0, unit="s"))
        put("ks", whole_numbers("ks", self.ks, 1, 1500))
        put("head_k", whole("head_k", self.head_k, 1, 1500))
        if self.head_layers is not None:
            put("head_layers", whole_numbers("head_layers", self.head_layers, 0, 63))
        put("data", check_data("data", self.data))
        if self.max_clips is not None:
            put("max_clips", whole("max_clips", self.max_clips, 1, 10_000))
        most = len(self.voices) if not self.data else 10_000
        put("head_clips", whole("head_clips", self.head_clips, 0, most))
        put("harm_wer", number("harm_wer", self.harm_wer, 0.0, 1.0))
        put("splice_words", whole("splice_words", self.splice_words, 0, 20))
        for name in ("splice_layer", "steer_layer"):
            if getattr(self, name) is not None:
                put(name, whole(name, getattr(self, name), 0, 63))
        put("keywords", names("keywords", self.keywords))
        put("keyword_voices", tuple(canonical_voice(v) for v in names("keyword_voices", self.keyword_voices)))
        if not isinstance(self.carrier, bool):
            raise ConfigError(f"carrier ({self.carrier!r}) must be true or false")
        alphas = (self.alphas,) if isinstance(self.alphas, (int, float)) else tuple(self.alphas)
        put("alphas", tuple(number("alphas", a, -100.0, 100.0) for a in alphas))
        if not self.alphas or len(set(self.alphas)) != len(self.alphas):
            raise ConfigError(f"alphas ({list(self.alphas)}) must list distinct steering strengths, e.g. 0 -1 -2")
        put("nonspeech", names("nonspeech", self.nonspeech))
        for clip in self.nonspeech:
            if clip not in NONSPEECH:
                raise ConfigError(f"nonspeech clip {clip!r} is not one of {', '.join(NONSPEECH)}")
        put("nonspeech_s", number("nonspeech_s", self.nonspeech_s, 0.2, 30.0, unit="s"))


def add_arguments(parser) -> None:
    g = parser.add_argument_group("whisper anatomy")
    g.add_argument("--models", nargs="+", metavar="NAME", help="models (default: whisper-tiny.en; add whisper-base)")
    g.add_argument("--voices", nargs="+", metavar="VOICE", help="one speech clip per voice (default: 3 voices)")
    g.add_argument("--sentences-per-clip", dest="sentences_per_clip", type=int, metavar="N", help="(default: 3)")
    g.add_argument("--ks", nargs="+", type=int, metavar="K", help="window half-widths in frames (100 75 50 20 10)")
    g.add_argument("--head-k", dest="head_k", type=int, metavar="K", help="per-head window (default: 10)")
    g.add_argument("--head-layers", dest="head_layers", nargs="+", type=int, metavar="L",
                   help="encoder layers whose heads are windowed one at a time (default: all)")
    g.add_argument("--head-clips", dest="head_clips", type=int, metavar="N", help="clips of the per-head runs (2)")
    g.add_argument("--splice-words", dest="splice_words", type=int, metavar="N", help="target words per clip (3)")
    g.add_argument("--keywords", nargs="+", metavar="WORD", help="logit lens keywords (default: the 10 core words)")
    g.add_argument("--alphas", nargs="+", type=float, metavar="A", help="steering strengths (0 -0.5 -1 -2)")
    g.add_argument("--nonspeech", nargs="+", metavar="NAME", help=f"non-speech clips ({' '.join(NONSPEECH)})")
    add_data_arguments(g, what="the scored speech (recordings with transcripts; keyword, non-speech and steering "
                               "clips stay synthetic)", max_clips_default=3)  # fmt: skip


def work_settings(settings: WhisperAnatomySettings) -> dict:
    """What changes a unit's result (everything else only selects units, and is part of their keys)."""
    keep = ("rate", "lead_s", "sentences_per_clip", "nonspeech_s")
    return {"format": WORK_FORMAT, **{k: getattr(settings, k) for k in keep}}


class _Recorded:
    """What :func:`~benchmarks.common.data.data_record` reads of a clip (its dataset's spec, its speaker)."""

    def __init__(self, clip):
        self.speaker = clip.voice
        self.dataset = type("Spec", (), {"spec": clip.spec})()


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    from intervene.readouts import nonspeech_clips

    setup_logging()
    t_start = time.perf_counter()
    run, settings = parse_settings(argv, WhisperAnatomySettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    with run_folder(run, settings, work=work_settings(settings)) as store, run.scaleout.open(run.device) as executor:
        left_out: list = []
        if settings.data:
            clips, left_out = data_speech_clips(settings.data, settings.max_clips, settings.lead_s)
            if not clips:
                raise ConfigError(f"data ({list(settings.data)}): every clip is over Whisper's 30 s: {left_out[:3]}")
        else:
            clips = speech_clips(settings.voices, settings.sentences_per_clip, settings.rate, settings.lead_s)
        nonspeech = {"eval": {n: a for n, a in nonspeech_clips(settings.nonspeech_s, seed=0).items()
                              if n in settings.nonspeech},
                     "fit": {n: a for n, a in nonspeech_clips(settings.nonspeech_s, seed=1).items()
                             if n in settings.nonspeech}}  # fmt: skip
        per_model = {name: run_model(name, settings, clips, nonspeech, store, run, executor)
                     for name in settings.models}  # fmt: skip
        command = command_line(SCRIPT, argv)
        results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(),
                   "command": command,
                   "clips": [{"key": c.key, "voice": c.voice, "text": c.text, "duration_s": round(c.duration_s, 3),
                              "words": len(c.utterance.words) or len(c.text.split())} for c in clips],
                   "data": data_record(settings.data, [_Recorded(c) for c in clips if c.spec], clips_used=len(clips), left_out=left_out,
                                       synthetic=[] if not settings.data else SYNTHETIC_WITH_DATA),
                   "executor": executor.describe(),
                   "models": per_model,
                   "timings": {"total_s": round(time.perf_counter() - t_start, 2)}}  # fmt: skip
        sections = build_sections(run.out, results)
        write_report(run.out, "Whisper anatomy: published findings reproduced", sections, results)
    echo(summary_table(results).to_text())
    echo(f"\n{time.perf_counter() - t_start:.0f} s; report: {run.out / 'index.html'}")
    return results


if __name__ == "__main__":
    run_cli(main, SCRIPT)
