"""The ``speechlens`` command.

    speechlens demo [--quick] [--out DIR]
    speechlens pair --word yes --swap no --out pairs/yes-no           (make and save a minimal pair)
    speechlens patch --pair pairs/yes-no [--pair another ...] ...     (patch saved pairs)
    speechlens patch --word cat --swap dog --text "the {word} sat on the mat"
    speechlens corruptions [KIND] ; speechlens methods ; speechlens models ; speechlens sites ;
    speechlens voices ; speechlens transcribe FILE.wav ...

Parsing imports nothing heavy (``speechlens --help`` answers at once); a command imports torch
and the model only when it runs. Errors a user can cause end with a one-line message naming
the argument, the value and the rule, and exit status 2, without a traceback; they are found
before a model is loaded or anything is computed, output folder included.
"""

from __future__ import annotations

import argparse
import logging
import sys

from intervene.app import helptext as H
from intervene.app.cli_args import map_span, number, os_error_message, template, whole
from intervene.app.commands import COMMANDS, echo

__all__ = ["main", "build_parser", "echo"]

_MAX_RATE, _MIN_RATE, _MAX_PITCH = 450, 80, 99  # tasks.tts limits, without importing the synthesizer


def _add_common(p, out_default: str) -> None:
    p.add_argument("--model", default="whisper-tiny.en", help="bundled model name (`speechlens models`) or a model "
                   "folder (default: whisper-tiny.en)")  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if available, else cpu)")
    p.add_argument("--out", default=out_default, help=f"output folder, created if needed (default: {out_default})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_pair_args(p) -> None:
    g = p.add_argument_group(
        "the minimal pair (synthesized offline)",
        "  A clean clip of --word and a corrupted copy of it. `speechlens corruptions` lists every\n"
        "  corruption kind with its parameters, defaults and ranges.",
    )
    g.add_argument("--word", default="yes", help="the clean word (default: yes)")
    g.add_argument("--swap", metavar="WORD", help="make a word swap: the corrupt clip says WORD instead of --word")
    g.add_argument("--corruption", metavar="KIND", default=None,
                   help="corruption kind (default: word_swap with --swap, else noise); see `speechlens corruptions`")
    g.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a corruption parameter, repeatable, e.g. --param snr_db=-5 --param span=word "
                   "(the corruption's span= says where it acts; --map-span says what the map covers)")
    g.add_argument("--text", type=template, metavar="SENTENCE",
                   help='say --word inside this sentence, e.g. "the {word} sat on the mat" ({word} once); '
                   "a word swap then changes only the word")
    g.add_argument("--voice", default="en-us", help="espeak-ng voice (default: en-us; see `speechlens voices`)")
    g.add_argument("--rate", type=whole("--rate", _MIN_RATE, _MAX_RATE, "words per minute"), default=175,
                   help=f"speaking rate, {_MIN_RATE}-{_MAX_RATE} words per minute (default: 175)")
    g.add_argument("--pitch", type=whole("--pitch", 0, _MAX_PITCH), default=50,
                   help=f"voice pitch, 0-{_MAX_PITCH} (default: 50)")
    g.add_argument("--task", choices=("keyword", "carrier"), default=None,
                   help="keyword: the word alone (default); carrier: inside 'please say the word WORD now' "
                   "(--text gives your own sentence)")
    g.add_argument("--duration", type=number("--duration", 0.0, 30.0, low_open=True, unit="s"), default=1.0,
                   help="keyword clips are padded with silence to this length, up to 30 s (default: 1.0)")
    g.add_argument("--seed", type=whole("--seed", 0), default=0, help="seed of the corruption's random draws (default: 0)")


def _add_patch_args(p) -> None:
    g = p.add_argument_group("the map")
    g.add_argument("--pair", action="append", metavar="DIR",
                   help="a pair folder saved by `speechlens pair` (repeatable: a sweep averages the maps)")
    g.add_argument("--words", help="candidate words, comma-separated (default: the 10 Speech Commands words, "
                   "plus --word and --swap)")  # fmt: skip
    g.add_argument("--sites", nargs="+", metavar="SITE",
                   help="site keys (encoder.3.block_output) or stream.component for every layer "
                   "(default: encoder.block_output; see `speechlens sites`)")
    g.add_argument("--unit", choices=tuple(H.UNIT_NOTES), default=None,
                   help=H.choices_help(H.UNIT_NOTES, "map columns:"))
    g.add_argument("--window-ms", type=number("--window-ms", 0.0, low_open=True, unit="ms"), default=None,
                   help="width of a time column, a multiple of the model's 20 ms frame (default: 20 ms, one frame)")
    g.add_argument("--map-span", dest="map_span", type=map_span, default="changed", metavar="SPAN",
                   help=H.choices_help(H.MAP_SPAN_NOTES, "which stretch of the clip the map's time columns cover "
                                       "(not the corruption's --param span=):"))
    g.add_argument("--span", dest="map_span", type=map_span, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    g.add_argument("--margin-ms", type=number("--margin-ms", 0.0, unit="ms"), default=100.0,
                   help="--map-span changed/word: widen by this on each side (default: 100)")
    g.add_argument("--direction", choices=tuple(H.DIRECTION_NOTES), default="denoise",
                   help=H.choices_help(H.DIRECTION_NOTES))
    g.add_argument("--method", default=None, metavar="METHOD",
                   help=H.choices_help(H.METHOD_NOTES, "how cells are computed:") + " (`speechlens methods` lists "
                   "every registered method)")
    g.add_argument("--estimator", default=None, metavar="NAME",
                   help=H.choices_help(H.ESTIMATOR_NOTES, "--method attribution only:"))
    g.add_argument("--ig-steps", type=whole("--ig-steps", 0), default=0,
                   help="integrated-gradient steps (with --estimator ig; default: 0)")
    g.add_argument("--context-frames", type=whole("--context-frames", 1), default=None,
                   help="Whisper: run only this many encoder positions (faster, approximate; default: all 1500)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (cheap: builds no model and imports no torch)."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="speechlens", formatter_class=fmt, epilog=H.MAIN_EPILOG,
        description="Causal interventions on speech models: where in Whisper does the answer come from?",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (and tracebacks)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="the built-in job: maps for several corruption designs + an HTML page",
                       description=H.DEMO_EPILOG, formatter_class=fmt)  # fmt: skip
    _add_common(p, "speechlens-demo")
    p.add_argument("--quick", action="store_true", help="one word, two corruptions, coarse windows (about a minute)")

    p = sub.add_parser("patch", help="patch one pair (or average saved pairs) and write the map",
                       description="Activation patching between the two clips of a minimal pair.",
                       epilog=H.PATCH_EPILOG, formatter_class=fmt)  # fmt: skip
    _add_common(p, "speechlens-patch")
    _add_pair_args(p)
    _add_patch_args(p)

    p = sub.add_parser("pair", help="make and save a minimal pair (for `patch --pair`)", epilog=H.PAIR_EPILOG,
                       formatter_class=fmt)  # fmt: skip
    p.add_argument("--out", required=True, help="pair folder to write")
    _add_pair_args(p)
    p.add_argument("--words", help=argparse.SUPPRESS)

    p = sub.add_parser("corruptions", help="list the corruption kinds with their parameters, defaults and ranges")
    p.add_argument("kind", nargs="?", help="one kind, with its whole description")

    sub.add_parser("methods", help="list the intervention methods (for patch --method)")

    p = sub.add_parser("transcribe", help="transcribe audio files")
    p.add_argument("files", nargs="+")
    p.add_argument("--model", default="whisper-tiny.en")
    p.add_argument("--device", default=None)

    sub.add_parser("models", help="list the bundled models")
    p = sub.add_parser("sites", help="list a model's intervention sites")
    p.add_argument("--model", default="whisper-tiny.en")
    sub.add_parser("voices", help="list the default synthesizer voices")
    for name, func in COMMANDS.items():
        sub.choices[name].set_defaults(func=func)

    from intervene.app.cli_anatomy import add_commands  # ablate, window, heads, steer, lens (issue 13)

    add_commands(sub)
    from intervene.app.cli_atlas import add_commands as add_atlas  # atlas (issue 16)

    add_atlas(sub)
    return parser


def main(argv=None) -> int:
    """Run ``speechlens`` with ``argv`` (default: the command line); returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")  # fmt: skip
    from tasks.errors import SpeechLensError

    try:
        return args.func(args)
    except SpeechLensError as exc:
        echo(f"speechlens {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk or a folder that turned read-only mid-run: say so in words
        if args.verbose:
            logging.getLogger("speechlens").exception("while running %s", args.command)
        echo(f"speechlens {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        echo(f"speechlens {args.command}: interrupted; run it again with the same --out to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
