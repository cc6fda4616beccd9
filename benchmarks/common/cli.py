"""The small command-line helpers every benchmark script uses.

Progress bars, logging, the command line that reproduces a run, and :func:`run_cli`, which
turns a SpeechLens error into one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tasks.errors import SpeechLensError

__all__ = ["echo", "progress", "command_line", "setup_logging", "run_cli"]


def echo(*parts, file=None) -> None:
    """Write one line of command output (what the user ran the command to see) to stdout or ``file``."""
    (file or sys.stdout).write(" ".join(str(p) for p in parts) + "\n")


def progress(iterable: Iterable, *, enabled: bool = True, desc: str = "", total: int | None = None,
             unit: str = "it"):  # fmt: skip
    """A tqdm bar on stderr around ``iterable`` (a plain pass-through when not ``enabled``)."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, disable=not enabled, dynamic_ncols=True)


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces a run, for reports: ``python benchmarks/<script>.py ...``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", f"benchmarks/{script}.py", *map(str, argv)])


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr as ``LEVEL name: message`` (no-op if logging is already configured)."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run_cli(main: Callable[[Sequence[str] | None], Any], script: str) -> None:
    """Run ``main(None)`` as a command: a SpeechLens error prints one line and exits with 2."""
    try:
        main(None)
    except SpeechLensError as exc:
        sys.stderr.write(f"{script}: error: {exc}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write(f"{script}: interrupted; run the same command again to resume\n")
        raise SystemExit(130) from None
