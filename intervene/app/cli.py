"""The ``speechlens`` command.

    speechlens demo [--quick] [--out DIR]
    speechlens patch --model whisper-tiny.en --word yes --swap no --voice en-us [--out DIR] ...
    speechlens patch --pair saved_pair_dir [--pair another ...] ...
    speechlens pair --word yes --corruption noise --param snr_db=0 --out DIR
    speechlens transcribe FILE.wav ... ; speechlens models ; speechlens sites [--model NAME]

Errors a user can cause end with a one-line message and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

__all__ = ["main"]


def echo(*parts, file=None) -> None:
    """Write one line of command output (what the user ran the command to see) to stdout or ``file``."""
    (file or sys.stdout).write(" ".join(str(p) for p in parts) + "\n")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(items) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            from tasks.errors import ConfigError

            raise ConfigError(f"--param {item!r} must look like name=value, e.g. snr_db=10")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def _add_pair_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the minimal pair (synthesized)")
    g.add_argument("--word", default="yes", help="the clean keyword (default: yes)")
    g.add_argument("--swap", help="word-swap corruption: the word the corrupt half says instead")
    g.add_argument("--corruption", default=None, help="corruption kind (default: word_swap with --swap, else noise)")
    g.add_argument("--param", action="append", metavar="NAME=VALUE", help="corruption parameter (repeatable)")
    g.add_argument("--voice", default="en-us", help="espeak-ng voice (see `speechlens voices`)")
    g.add_argument("--rate", type=int, default=175, help="speaking rate, words per minute")
    g.add_argument("--pitch", type=int, default=50, help="voice pitch, 0-99")
    g.add_argument("--task", choices=("keyword", "carrier"), default="keyword",
                   help="keyword: the word alone; carrier: 'please say the word WORD now'")
    g.add_argument("--duration", type=float, default=1.0, help="keyword clips are padded to this length (s)")
    g.add_argument("--seed", type=int, default=0, help="corruption seed")


def _make_task(args):
    import tasks

    words = [w.strip() for w in args.words.split(",")] if getattr(args, "words", None) else list(tasks.SPEECH_COMMANDS_CORE)
    for w in (args.word, getattr(args, "swap", None)):
        if w and w.lower() not in words:
            words.append(w.lower())
    return tasks.CarrierTask(words) if args.task == "carrier" else tasks.KeywordTask(words)


def _make_pair(args, task):
    import corruptions

    if args.task == "carrier":
        utt = task.utterance(args.word, voice=args.voice, rate=args.rate, pitch=args.pitch)
    else:
        import tasks

        utt = tasks.speak(args.word, voice=args.voice, rate=args.rate, pitch=args.pitch).padded(args.duration)
    params = _params(args.param)
    kind = args.corruption or ("word_swap" if args.swap else "noise")
    if args.swap:
        if kind != "word_swap":
            from tasks.errors import ConfigError

            raise ConfigError(f"--swap makes a word_swap pair; drop --corruption {kind} or --swap")
        params["word"] = args.swap
    return corruptions.get(kind, **params).pair(utt, seed=args.seed, target=args.word)


def _cmd_patch(args) -> int:
    import intervene
    from corruptions import MinimalPair
    from tasks.atomic import write_json

    t0 = time.time()
    model = intervene.load_model(args.model, device=args.device)
    task = _make_task(args)
    if args.pair:
        pairs = [MinimalPair.load(p) for p in args.pair]
    else:
        pairs = [_make_pair(args, task)]
    sites = args.sites or (["decoder.block_output"] if args.unit == "token" else ["encoder.block_output"])
    kwargs = dict(unit=args.unit, window_ms=args.window_ms, span=args.span, direction=args.direction,
                  method=args.method, estimator=args.estimator, ig_steps=args.ig_steps, context_frames=args.context_frames,
                  progress=not args.no_progress)
    out = Path(args.out)
    if len(pairs) == 1:
        cmap = intervene.patch(model, task, pairs[0], sites, **kwargs)
        pairs[0].save(out / "pair")
    else:
        progress = kwargs.pop("progress")
        cmap = intervene.sweep(model, task, pairs, sites, progress=progress, checkpoint_dir=out / "per_pair", **kwargs)
    cmap.save(out / "map.npz")
    cmap.plot(out / "map.png", show_std=cmap.n_pairs > 1)
    summary = cmap.summary() | {"seconds": round(time.time() - t0, 2), "files": ["map.npz", "map.json", "map.png"]}
    write_json(out / "summary.json", summary)
    echo(json.dumps(summary, indent=2))
    echo(f"wrote {out / 'map.png'}, map.npz, map.json, summary.json", file=sys.stderr)
    return 0


def _cmd_pair(args) -> int:
    task = _make_task(args)
    pair = _make_pair(args, task)
    path = pair.save(args.out)
    echo(f"wrote {path}: {pair.clean_answer} -> {pair.corrupt_answer}, changed {pair.changed_spans}")
    return 0


def _cmd_demo(args) -> int:
    from intervene.app.demo import DemoSettings, run_demo

    settings = DemoSettings.quick(args.model) if args.quick else DemoSettings(model=args.model)
    run_demo(args.out, settings, device=args.device, progress=not args.no_progress)
    return 0


def _cmd_transcribe(args) -> int:
    import intervene
    from tasks.audio import read_wav

    model = intervene.load_model(args.model, device=args.device)
    for f in args.files:
        echo(f"{f}\t{model.transcribe(read_wav(f, max_duration_s=model.max_duration_s))}")
    return 0


def _cmd_models(args) -> int:
    from intervene.models.loader import BUNDLED

    for name, b in BUNDLED.items():
        echo(f"{name:18s} {b.description}\n{'':18s} pip: {b.pip}; licence: {b.licence}")
    return 0


def _cmd_sites(args) -> int:
    import intervene

    model = intervene.load_model(args.model, device="cpu")
    for spec in model.table.specs:
        sites = model.sites(spec.stream, spec.component)
        echo(f"{spec.stream}.{spec.component:24s} {len(sites):4d} sites  e.g. {sites[-1].key:32s} {spec.doc}")
    return 0


def _cmd_voices(args) -> int:
    import tasks

    echo("\n".join(tasks.voices()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from intervene import methods

    parser = argparse.ArgumentParser(prog="speechlens", description="Causal interventions on speech models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, out_default):
        p.add_argument("--model", default="whisper-tiny.en", help="bundled name or model folder")
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if available)")
        p.add_argument("--out", default=out_default, help=f"output folder (default: {out_default})")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("demo", help="the built-in default job: maps for several corruption designs + HTML")
    common(p, "speechlens-demo")
    p.add_argument("--quick", action="store_true", help="one word, two corruptions, coarse windows (tests)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("patch", help="patch one pair (or a sweep over saved pairs) and write the map")
    common(p, "speechlens-patch")
    _add_pair_args(p)
    p.add_argument("--pair", action="append", metavar="DIR", help="a saved MinimalPair folder (repeatable)")
    p.add_argument("--words", help="candidate words, comma-separated (default: the 10 Speech Commands words)")
    p.add_argument("--sites", nargs="+", help="site keys or stream.component (default: encoder.block_output)")
    p.add_argument("--unit", choices=("frame", "token", "all"), default=None, help="map columns")
    p.add_argument("--window-ms", type=float, default=None, help="time window width (multiple of 20 ms)")
    p.add_argument("--span", default="changed", help="changed | clip | word | all | START,END (seconds)")
    p.add_argument("--direction", choices=("denoise", "noise"), default="denoise")
    p.add_argument("--method", choices=methods.names(), default=None,
                   help="; ".join(f"{n}: {methods.get(n).summary}" for n in methods.names()))
    p.add_argument("--estimator", choices=methods.ESTIMATORS, default=None,
                   help="attribution: lookahead (default), atp (gradient x difference) or ig (with --ig-steps)")
    p.add_argument("--ig-steps", type=int, default=0, help="attribution: integrated-gradient steps (estimator ig)")
    p.add_argument("--context-frames", type=int, default=None, help="Whisper: truncated encoder context")
    p.set_defaults(func=_cmd_patch)

    p = sub.add_parser("pair", help="make and save a minimal pair")
    p.add_argument("--out", required=True, help="pair folder to write")
    _add_pair_args(p)
    p.add_argument("--words", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_pair)

    p = sub.add_parser("transcribe", help="transcribe audio files")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", default="whisper-tiny.en")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_transcribe)

    sub.add_parser("models", help="list the bundled models").set_defaults(func=_cmd_models)
    p = sub.add_parser("sites", help="list a model's intervention sites")
    p.add_argument("--model", default="whisper-tiny.en")
    p.set_defaults(func=_cmd_sites)
    sub.add_parser("voices", help="list the default synthesizer voices").set_defaults(func=_cmd_voices)
    from intervene.app.cli_anatomy import add_commands  # ablate, window, heads, steer, lens (issue 13)

    add_commands(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "span", None) and "," in str(args.span):
        args.span = tuple(float(x) for x in args.span.split(","))
    from tasks.errors import SpeechLensError

    try:
        return args.func(args)
    except SpeechLensError as exc:
        echo(f"speechlens: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
