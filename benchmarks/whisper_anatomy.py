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

Examples (from the repository root)::

    python benchmarks/whisper_anatomy.py                                  # tiny.en, 3 voices
    python benchmarks/whisper_anatomy.py --quick --out /tmp/anatomy       # one short clip, about a minute
    python benchmarks/whisper_anatomy.py --models whisper-tiny.en whisper-base
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import tasks
from benchmarks.anatomy import claims
from benchmarks.anatomy import measure as ms
from benchmarks.anatomy.data import speech_clips
from benchmarks.anatomy.report import build_sections, summary_table
from benchmarks.common import (
    BenchmarkSettings,
    command_line,
    echo,
    make_key,
    names,
    number,
    parse_settings,
    progress,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    whole_numbers,
    write_report,
)
from tasks.errors import ConfigError
from tasks.tts import canonical_voice

__all__ = ["QUICK_PRESET", "WhisperAnatomySettings", "main"]

logger = logging.getLogger("whisper_anatomy")

SCRIPT = "whisper_anatomy"
WORK_FORMAT = "whisper_anatomy/1"
NONSPEECH = ("white_noise", "pink_noise", "tone_440hz", "tone_1khz", "chirp", "silence")
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
        put("head_clips", whole("head_clips", self.head_clips, 0, len(self.voices)))
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


def work_settings(settings: WhisperAnatomySettings) -> dict:
    """What changes a unit's result (everything else only selects units, and is part of their keys)."""
    keep = ("rate", "lead_s", "sentences_per_clip", "nonspeech_s")
    return {"format": WORK_FORMAT, **{k: getattr(settings, k) for k in keep}}


class _Model:
    """The model, loaded the first time a unit needs it (a resumed run loads nothing)."""

    def __init__(self, name: str, device):
        self.name, self.device, self._model, self.load_s = name, device, None, None

    def __call__(self):
        if self._model is None:
            import intervene

            t = time.perf_counter()
            self._model = intervene.load_model(self.name, device=self.device)
            self.load_s = time.perf_counter() - t
        return self._model


def shape_of(model) -> dict:
    """Layer and head counts (kept in the work store, so a resumed run needs no model)."""
    return {"encoder_layers": model.num_layers("encoder"), "decoder_layers": model.num_layers("decoder"),
            "heads": int(model.config.encoder_attention_heads)}  # fmt: skip


def plan_units(name: str, settings, clips: list, shape: dict, nonspeech: dict) -> dict:
    """``{section: {unit id: (key, compute(model) -> JSON)}}`` for one model, in report order."""
    last = shape["encoder_layers"] - 1
    splice_layer = last if settings.splice_layer is None else settings.splice_layer
    head_layers = settings.head_layers if settings.head_layers is not None else tuple(range(shape["encoder_layers"]))
    steer_layer = last if settings.steer_layer is None else settings.steer_layer
    for layer in (*head_layers, splice_layer, steer_layer):
        if layer > last:
            raise ConfigError(f"encoder layer {layer} is out of range for {name} (layers 0-{last})")
    plan: dict = {s: {} for s in ("base", "window", "heads", "splice", "encoder_lens", "alignment", "logit_lens",
                                  "direction", "nonspeech", "steer")}  # fmt: skip
    steer_site = f"encoder.{steer_layer}.block_output"
    ctx: dict = {}  # the steering direction, once its unit has run (units run in plan order)
    for c in clips:
        u = c.utterance
        plan["base"][c.key] = (make_key(name, "base", c.key), lambda m, u=u: ms.transcript_unit(m, u, [], u))
        for k in ("all", *settings.ks):
            plan["window"][k, c.key] = (make_key(name, "window", c.key, f"k{k}"),
                                        lambda m, u=u, k=k: ms.transcript_unit(m, u, [ms.window(m, k)], u))
        plan["encoder_lens"][c.key] = (make_key(name, "encoder_lens", c.key), lambda m, c=c: ms.encoder_lens_unit(m, c))
        plan["alignment"][c.key] = (make_key(name, "alignment", c.key), lambda m, c=c: ms.alignment_unit(m, c))
        for i in ms.splice_targets(u, settings.splice_words):
            plan["splice"][c.key, i] = (make_key(name, "splice", c.key, f"L{splice_layer}", f"w{i}"),
                                        lambda m, c=c, i=i: ms.splice_unit(m, c, i, splice_layer))
    for c in clips[: settings.head_clips]:
        for layer in head_layers:
            for head in range(shape["heads"]):
                plan["heads"][f"{layer}.{head}", c.key] = (
                    make_key(name, "head", c.key, f"k{settings.head_k}", f"{layer}.{head}"),
                    lambda m, u=c.utterance, l=layer, h=head: ms.transcript_unit(m, u, [ms.head_window(settings.head_k, l, h)], u))  # fmt: skip
    for word in settings.keywords:
        for voice in settings.keyword_voices:
            for carrier in (False, True) if settings.carrier else (False,):
                context = "carrier" if carrier else "alone"
                plan["logit_lens"][word, voice, context] = (
                    make_key(name, "logit_lens", word, voice, context),
                    lambda m, w=word, v=voice, cr=carrier: ms.logit_lens_unit(m, w, v, cr))
    plan["direction"]["vector"] = (make_key(name, "direction", steer_site, *nonspeech["fit"]),
                                   lambda m: ms.steering_direction(m, steer_site, nonspeech["fit"]))
    for alpha in settings.alphas:
        for clip_name, audio in nonspeech["eval"].items():
            plan["nonspeech"][alpha, clip_name] = (
                make_key(name, "nonspeech", steer_site, f"a{alpha:g}", clip_name),
                lambda m, a=alpha, x=audio: ms.transcript_unit(m, x, ms.steered(steer_site, ctx['vector'], a))["text"])
        if alpha != 0:
            for c in clips:
                plan["steer"][alpha, c.key] = (
                    make_key(name, "steer", steer_site, f"a{alpha:g}", c.key),
                    lambda m, a=alpha, u=c.utterance: ms.transcript_unit(m, u, ms.steered(steer_site, ctx['vector'], a), u))
    plan["meta"] = {"splice_layer": splice_layer, "steer_site": steer_site, "ctx": ctx}
    return plan


def run_model(name: str, settings, clips: list, nonspeech: dict, store, run) -> dict:
    """Every unit of one model (computed or loaded), then each section's summary."""
    model = _Model(name, run.device)
    shape = store.get_or_compute(make_key(name, "shape"), lambda: shape_of(model()))
    plan = plan_units(name, settings, clips, shape, nonspeech)
    meta = plan.pop("meta")
    done: dict = {}
    t = time.perf_counter()
    computed = 0
    units = [(section, uid, key, fn) for section, items in plan.items() for uid, (key, fn) in items.items()]
    section_s: dict = {}
    for section, uid, key, fn in progress(units, enabled=run.progress, desc=f"{name} units"):
        if key not in store:
            computed += 1
        t_unit = time.perf_counter()
        value = store.get_or_compute(key, lambda fn=fn: fn(model()))
        section_s[section] = section_s.get(section, 0.0) + time.perf_counter() - t_unit
        done.setdefault(section, {})[uid] = value
        if section == "direction":
            meta["ctx"]["vector"] = value
    compute_s = time.perf_counter() - t
    base = done["base"]
    by = _nest
    sections = {
        "window": claims.window_section(by(done["window"]), by(done.get("heads", {})), base, settings.head_k,
                                        settings.harm_wer, shape["heads"]),
        "splice": claims.splice_section(by(done.get("splice", {})), base, meta["splice_layer"]),
        "encoder_lens": claims.encoder_lens_section(done["encoder_lens"]),
        "alignment": claims.alignment_section(done["alignment"], shape["decoder_layers"], shape["heads"]),
        "logit_lens": claims.logit_lens_section(list(done.get("logit_lens", {}).values()), shape["decoder_layers"]),
        "steering": claims.steering_section(
            {str(a): {n: done["nonspeech"][a, n] for n in nonspeech["eval"]} for a in settings.alphas},
            {str(a): ({c.key: base[c.key] for c in clips} if a == 0 else {c.key: done["steer"][a, c.key] for c in clips})
             for a in settings.alphas}, base, meta["steer_site"]),
    }  # fmt: skip
    return {"shape": shape, "sections": sections, "base": base, "units_computed": computed,
            "units": len(units), "compute_s": round(compute_s, 2), "model_load_s": model.load_s,
            "section_s": {k: round(v, 2) for k, v in section_s.items()}}  # fmt: skip


def _nest(flat: dict) -> dict:
    """``{(a, b): v}`` -> ``{a: {b: v}}`` (keys as strings)."""
    out: dict = {}
    for (a, b), v in flat.items():
        out.setdefault(str(a), {})[str(b)] = v
    return out


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    from intervene.readouts import nonspeech_clips

    setup_logging()
    t_start = time.perf_counter()
    run, settings = parse_settings(argv, WhisperAnatomySettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET)  # fmt: skip
    with run_folder(run, settings, work=work_settings(settings)) as store:
        clips = speech_clips(settings.voices, settings.sentences_per_clip, settings.rate, settings.lead_s)
        nonspeech = {"eval": {n: a for n, a in nonspeech_clips(settings.nonspeech_s, seed=0).items()
                              if n in settings.nonspeech},
                     "fit": {n: a for n, a in nonspeech_clips(settings.nonspeech_s, seed=1).items()
                             if n in settings.nonspeech}}  # fmt: skip
        per_model = {name: run_model(name, settings, clips, nonspeech, store, run) for name in settings.models}
        command = command_line(SCRIPT, argv)
        results = {"benchmark": SCRIPT, "settings": settings.to_dict(), "settings_digest": settings.digest(),
                   "command": command,
                   "clips": [{"key": c.key, "voice": c.voice, "text": c.text, "duration_s": round(c.duration_s, 3),
                              "words": len(c.utterance.words)} for c in clips],
                   "models": per_model,
                   "timings": {"total_s": round(time.perf_counter() - t_start, 2)}}  # fmt: skip
        sections = build_sections(run.out, results)
        write_report(run.out, "Whisper anatomy: published findings reproduced", sections, results)
    echo(summary_table(results).to_text())
    echo(f"\n{time.perf_counter() - t_start:.0f} s; report: {run.out / 'index.html'}")
    return results


if __name__ == "__main__":
    run_cli(main, SCRIPT)
