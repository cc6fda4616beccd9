"""The anatomy subcommands of ``speechlens``: ablate, window, heads, steer, lens.

    speechlens ablate [FILE.wav | --text TEXT] --site encoder.3.block_output --kind silence --word fox
    speechlens window [FILE.wav | --text TEXT] --k 100 75 50 20 10 [--layers 0 1] [--heads 2] [--map]
    speechlens heads  [FILE.wav | --text TEXT] [--sites decoder.cross_attention_head ...]
    speechlens steer  --site encoder.3.block_output --alpha -2 -1 0 [--direction v.npy]
    speechlens lens   [FILE.wav | --text TEXT] [--kind encoder|logit] [--prefix TEXT --answer WORD]

Each prints a JSON summary and writes it (and any map: ``map.npz``, ``map.json``, ``map.png``;
the lens table: ``lens.npz``, ``lens.json``, ``lens.png``) to ``--out``. Audio is a WAV file
or, by default, a sentence synthesized offline; its words (and their times, when
synthesized) are the reference transcript. :func:`add_commands` is
called by :func:`intervene.app.cli.build_parser`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["add_commands"]

DEFAULT_TEXT = "the quick brown fox jumps over the lazy dog"
KINDS = ("zero", "mean", "resample", "silence")  # intervene.anatomy.ABLATION_KINDS, without importing torch here


def _echo(*parts, file=None) -> None:
    (file or sys.stdout).write(" ".join(str(p) for p in parts) + "\n")


def _audio_args(p) -> None:
    p.add_argument("audio", nargs="?", help="a WAV file (default: synthesize --text)")
    p.add_argument("--text", default=DEFAULT_TEXT, help="sentence to synthesize (and the reference transcript)")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice for --text")
    p.add_argument("--reference", help="reference transcript of a WAV file (default: --text for synthesized audio)")
    p.add_argument("--model", default="whisper-tiny.en", help="bundled name or model folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if available)")


def _out_arg(p, default: str) -> None:
    p.add_argument("--out", default=default, help=f"output folder (default: {default})")


def _load(args):
    """(model, utterance-like audio, reference) from the common arguments."""
    import intervene
    import tasks

    model = intervene.load_model(args.model, device=args.device)
    if args.audio:
        from tasks.audio import read_wav

        audio = tasks.Utterance(read_wav(args.audio, max_duration_s=model.max_duration_s), text=args.reference or "")
        reference = args.reference
    else:
        audio = tasks.speak(args.text, voice=args.voice)
        reference = args.reference or audio
    return model, audio, reference


def _times(args, audio):
    if getattr(args, "word", None):
        span = audio.word_span(args.word)
        return (span.start_s, span.end_s)
    if getattr(args, "times", None):
        return tuple(float(x) for x in args.times.split(","))
    return None


def _write(out, summary: dict) -> None:
    from tasks.atomic import write_json

    out = Path(out)
    write_json(out / "summary.json", summary)
    _echo(json.dumps(summary, indent=2))
    _echo(f"wrote {out / 'summary.json'}", file=sys.stderr)


def _save_map(cmap, out) -> list:
    out = Path(out)
    cmap.save(out / "map.npz")
    cmap.plot(out / "map.png")
    return ["map.npz", "map.json", "map.png"]


def _transcripts(model, audio, reference, variants: dict) -> dict:
    import intervene

    return {name: intervene.transcribe(model, audio, interventions=ivs, reference=reference).to_dict()
            for name, ivs in variants.items()}


def _transcript_map(model, audio, reference, sites, method, intervention=None, **kwargs):
    from intervene import patch
    from intervene.readouts import transcript_pair
    from tasks import TranscriptTask

    text = reference if isinstance(reference, str) else audio.text
    pair = transcript_pair(audio if getattr(audio, "text", "") else _with_text(audio, text))
    return patch(model, TranscriptTask(text), pair, sites, method=method, intervention=intervention,
                 direction="noise", **kwargs)


def _with_text(audio, text):
    import dataclasses

    return dataclasses.replace(audio, text=text)


# ------------------------------------------------------------------ commands
def _cmd_ablate(args) -> int:
    import intervene

    model, audio, reference = _load(args)
    times = _times(args, audio)
    summary = {"command": "ablate", "kind": args.kind, "times_s": times}
    reference_clips = None
    if args.reference_audio:
        from tasks.audio import read_wav

        reference_clips = [read_wav(f) for f in args.reference_audio]
    if args.map:
        cmap = _transcript_map(model, audio, reference, args.map, "ablation",
                               intervene.Ablation(None, kind=args.kind, reference=reference_clips),
                               unit="frame", span="clip", window_ms=args.window_ms)
        summary["map"] = cmap.summary() | {"files": _save_map(cmap, args.out)}
    else:
        ivs = [intervene.Ablation(s, kind=args.kind, times_s=times, reference=reference_clips) for s in args.site]
        summary["transcripts"] = _transcripts(model, audio, reference, {"base": [], "ablated": ivs})
    _write(args.out, summary)
    return 0


def _cmd_window(args) -> int:
    import intervene

    windows = {k: intervene.AttentionWindow(k, layers=args.layers, heads=args.heads) for k in args.k}  # checked first
    model, audio, reference = _load(args)
    summary = {"command": "window", "ks": args.k, "layers": args.layers, "heads": args.heads}
    if args.map:
        from intervene.anatomy import window_map
        from intervene.readouts import transcript_pair
        from tasks import TranscriptTask

        text = reference if isinstance(reference, str) else audio.text
        sites = "encoder.attention_head" if args.heads else "encoder.attention_output"
        cmap = window_map(model, TranscriptTask(text), transcript_pair(_with_text(audio, text)), args.k, sites)
        summary["map"] = cmap.summary() | {"files": _save_map(cmap, args.out)}
    else:
        variants = {"all": []} | {f"k={k}": [w] for k, w in windows.items()}
        summary["transcripts"] = _transcripts(model, audio, reference, variants)
    _write(args.out, summary)
    return 0


def _cmd_heads(args) -> int:
    model, audio, reference = _load(args)
    summary = {"command": "heads", "sites": args.sites, "maps": {}}
    out = Path(args.out)
    for sites in args.sites:
        cmap = _transcript_map(model, audio, reference, sites, "head_mask", unit="all", span="all")
        cmap.save(out / f"{sites}.npz")
        cmap.plot(out / f"{sites}.png")
        summary["maps"][sites] = cmap.summary() | {"files": [f"{sites}.npz", f"{sites}.json", f"{sites}.png"]}
    _write(out, summary)
    return 0


def _cmd_steer(args) -> int:
    import numpy as np

    import intervene
    import tasks
    from intervene.anatomy.steering import check_alpha
    from intervene.readouts import nonspeech_clips, nonspeech_rate

    alphas = [check_alpha(a) for a in args.alpha]  # checked before the model loads
    model, audio, reference = _load(args)
    clips = nonspeech_clips(duration_s=args.duration)
    if args.direction:
        vector = np.load(args.direction)
        source = args.direction
    else:
        speech = [tasks.speak(t, voice=v) for t, v in (("please say the word yes now", "en-us"),
                                                       ("the weather is nice today", "en-gb-x-rp"),
                                                       ("turn left at the next corner", "en-us+f3"))]
        vector = intervene.direction(model, args.site, speech, list(clips.values()))
        source = "speech minus non-speech (3 synthesized sentences vs the non-speech clips)"
    summary = {"command": "steer", "site": args.site, "direction": source, "alphas": {}}
    for alpha in alphas:
        iv = [intervene.Steering(args.site, vector, alpha)]
        rate = nonspeech_rate(model, clips, iv)
        speech = intervene.transcribe(model, audio, interventions=iv, reference=reference)
        summary["alphas"][str(alpha)] = {"nonspeech_rate": rate.rate, "nonspeech": rate.transcripts,
                                         "speech_text": speech.text, "speech_wer": speech.wer}
    _write(args.out, summary)
    return 0


def _cmd_lens(args) -> int:
    import intervene

    model, audio, reference = _load(args)
    out = Path(args.out)
    if args.kind == "encoder":
        table = intervene.encoder_lens(model, audio, reference=reference, prefix=args.prefix, answer=args.answer,
                                       top_k=args.top_k, max_new_tokens=args.max_new_tokens)
    else:
        table = intervene.logit_lens(model, audio, prefix=args.prefix, answer=args.answer, top_k=args.top_k)
    table.save(out / "lens")
    table.plot(out / "lens.png")
    summary = {"command": "lens", "kind": args.kind, "files": ["lens.npz", "lens.json", "lens.png"],
               "table": table.to_dict()}
    _write(out, summary)
    return 0


def add_commands(sub) -> None:
    """Add ``ablate``, ``window``, ``heads``, ``steer`` and ``lens`` to the ``speechlens`` subparsers."""
    p = sub.add_parser("ablate", help="transcript (or layer x time map) with a site ablated over a span")
    _audio_args(p)
    _out_arg(p, "speechlens-ablate")
    p.add_argument("--site", action="append", default=[], help="site to ablate (repeatable), e.g. encoder.3.block_output")
    p.add_argument("--kind", choices=KINDS, default="silence", help="replacement (default: silence)")
    p.add_argument("--word", help="ablate the frames of this word of the synthesized sentence")
    p.add_argument("--times", help="START,END in seconds (instead of --word)")
    p.add_argument("--reference-audio", nargs="+", help="WAV files: the mean set (kind mean) or the resample clip")
    p.add_argument("--map", nargs="+", metavar="SITES", help="map instead: e.g. encoder.block_output (layer x time)")
    p.add_argument("--window-ms", type=float, default=100.0, help="--map: time window (default 100 ms)")
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("window", help="transcripts (or a k x layer map) with encoder attention limited to +-k frames")
    _audio_args(p)
    _out_arg(p, "speechlens-window")
    p.add_argument("--k", type=int, nargs="+", default=[100, 75, 50, 20, 10], help="half-widths in frames")
    p.add_argument("--layers", type=int, nargs="+", help="encoder layers restricted (default: all)")
    p.add_argument("--heads", type=int, nargs="+", help="heads restricted (default: all)")
    p.add_argument("--map", action="store_true", help="a k x layer map (k x layer x head with --heads) instead")
    p.set_defaults(func=_cmd_window)

    p = sub.add_parser("heads", help="layer x head maps of head masking (transcript log-probability)")
    _audio_args(p)
    _out_arg(p, "speechlens-heads")
    p.add_argument("--sites", nargs="+", default=["encoder.attention_head", "decoder.attention_head",
                                                  "decoder.cross_attention_head"], help="per-head components")
    p.set_defaults(func=_cmd_heads)

    p = sub.add_parser("steer", help="non-speech hallucination rate and speech WER under steering")
    _audio_args(p)
    _out_arg(p, "speechlens-steer")
    p.add_argument("--site", default="encoder.3.block_output", help="site to steer")
    p.add_argument("--alpha", type=float, nargs="+", default=[0.0, -1.0, -2.0], help="steering strengths")
    p.add_argument("--direction", help="a .npy vector (default: speech minus non-speech at the site)")
    p.add_argument("--duration", type=float, default=3.0, help="non-speech clip length (s)")
    p.set_defaults(func=_cmd_steer)

    p = sub.add_parser("lens", help="encoder lens or logit lens table")
    _audio_args(p)
    _out_arg(p, "speechlens-lens")
    p.add_argument("--kind", choices=("encoder", "logit"), default="encoder",
                   help="encoder: the decoder reads each encoder layer; logit: each decoder layer unembedded")
    p.add_argument("--prefix", help="teacher-forced text before the answer (default: the model's own transcript)")
    p.add_argument("--answer", help="the answer word after --prefix (default: the model's own top token)")
    p.add_argument("--top-k", type=int, default=5, help="top tokens kept per layer and column (default 5)")
    p.add_argument("--max-new-tokens", type=int, default=120, help="encoder lens: greedy length per layer")
    p.set_defaults(func=_cmd_lens)
