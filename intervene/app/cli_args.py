"""Checking what a user typed, before any work: argument types, names, devices, output folders.

argparse ``type=`` functions (:func:`number`, :func:`whole`, :func:`map_span`, :func:`template`)
refuse a bad value while the command line is parsed, with a message naming the argument, the
value and the rule. The rest (:func:`check_method`, :func:`check_device`, :func:`load_pairs`,
:func:`prepare_out`) need a registry, torch or the file system, and run right after parsing,
still before a model is loaded or anything is computed. Each raises a
:class:`~tasks.errors.SpeechLensError` that the CLI prints as one line (exit status 2).
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from tasks.errors import ConfigError, PairError, SpeechLensError

__all__ = [
    "number",
    "whole",
    "map_span",
    "template",
    "parse_params",
    "check_method",
    "check_device",
    "load_pairs",
    "prepare_out",
    "os_error_message",
    "MIN_FREE_MB",
]

_PATCH_METHODS = ("exact", "pyvene", "attribution")

MIN_FREE_MB = 20.0
"""Free space an output folder needs before a command starts (a demo writes about 5 MB)."""


def _rule(low, high, low_open: bool, unit: str) -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g} and <= {high:g}{unit}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}{unit}"
    return f"a finite number{unit}"


def number(name: str, low: float | None = None, high: float | None = None, *, low_open: bool = False, unit: str = ""):
    """An argparse type: a finite float within bounds (NaN, inf and words refused)."""

    def parse(text: str) -> float:
        rule = _rule(low, high, low_open, unit)
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}") from None
        below = low is not None and (value < low or (low_open and value == low))
        if not math.isfinite(value) or below or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def whole(name: str, low: int | None = None, high: int | None = None, unit: str = ""):
    """An argparse type: a whole number within bounds."""

    def parse(text: str) -> int:
        unit_text = f" {unit}" if unit else ""
        bounds = f" between {low} and {high}" if low is not None and high is not None else (
            f" >= {low}" if low is not None else "")  # fmt: skip
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{bounds}{unit_text}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{bounds}{unit_text}")
        return value

    parse.__name__ = name
    return parse


MAP_SPANS = ("changed", "clip", "word", "all")


def map_span(text: str):
    """An argparse type for ``--map-span``: a keyword or ``START,END`` in seconds."""
    value = text.strip()
    if value in MAP_SPANS:
        return value
    rule = (f"is not one of {', '.join(MAP_SPANS)} or START,END in seconds with 0 <= START < END (e.g. 0.2,0.6); "
            "this is the stretch the map covers, not the corruption's --param span=")
    parts = value.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} {rule}")
    try:
        start_s, end_s = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} {rule}") from None
    if not (math.isfinite(start_s) and math.isfinite(end_s) and 0 <= start_s < end_s):
        raise argparse.ArgumentTypeError(f"{text!r} {rule}")
    return (start_s, end_s)


def template(text: str) -> str:
    """An argparse type for ``--text``: a sentence with ``{word}`` exactly once."""
    if text.count("{word}") != 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} must contain {{word}} exactly once, where --word (and --swap) go, "
            'e.g. "the {word} sat on the mat"'
        )
    return text


def parse_params(items) -> dict:
    """``--param NAME=VALUE`` items as a dict (values parsed as JSON where they are JSON)."""
    out = {}
    for item in items or []:
        name, eq, text = item.partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"--param ({item!r}) must look like NAME=VALUE, e.g. snr_db=-5 "
                              "(`speechlens corruptions` lists each kind's parameters)")  # fmt: skip
        try:
            value = json.loads(text.strip())
        except json.JSONDecodeError:
            value = text.strip()
        out[name.strip()] = value
    return out


def check_method(method: str | None, estimator: str | None) -> None:
    """Check ``--method`` and ``--estimator`` against the registries (imports them: seconds).

    Raises
    ------
    UnknownNameError
        A method that is not registered (the message lists the close names).
    ConfigError
        A method that does not patch activations between the clips, or an unknown estimator.
    """
    if method is None and estimator is None:
        return
    from intervene import methods

    if method is not None:
        cls = methods.get(method)
        problem = None if cls.accepts("interchange") else "it does not patch activations between the clips"
        template = getattr(cls, "make_template", None)  # methods that build their own intervention
        if problem is None and callable(template):
            try:
                template(None)
            except SpeechLensError as exc:
                problem = str(exc)
        if problem is not None:
            raise ConfigError(
                f"--method ({method!r}) cannot run from `speechlens patch`: {problem}. Use one of "
                f"{', '.join(n for n in methods.names() if n in _PATCH_METHODS) or 'exact'}, or its own command "
                "(`speechlens --help`)"
            )
    if estimator is not None:
        if estimator not in methods.ESTIMATORS:
            raise ConfigError(f"--estimator ({estimator!r}) must be one of {', '.join(methods.ESTIMATORS)}")
        chosen = method or methods.default_for("interchange")
        if "estimator" not in methods.get(chosen).options:
            takes = [n for n in methods.names() if "estimator" in methods.get(n).options]
            raise ConfigError(f"--estimator ({estimator!r}) needs --method {' or '.join(takes)}; "
                              f"the method here is {chosen!r}")  # fmt: skip


def check_device(device: str | None) -> None:
    """Refuse a device this machine does not have, before any model is loaded.

    Raises
    ------
    ConfigError
        Not a device name torch knows, or a CUDA / MPS device that is not there.
    """
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"--device ({device!r}) must be a device name such as cpu, cuda or cuda:1") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device ({device!r}) asks for a CUDA GPU, but torch sees none on this machine "
                "(torch.cuda.is_available() is False); use --device cpu or leave --device out"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"--device ({device!r}) names GPU {dev.index}, but this machine has {count} "
                              f"(cuda:0 to cuda:{count - 1})")  # fmt: skip
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"--device ({device!r}): MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise ConfigError(f"--device ({device!r}) must be cpu, cuda, cuda:N or mps")


def load_pairs(folders) -> list:
    """Read the ``--pair`` folders; any unreadable one is a PairError naming it.

    Raises
    ------
    PairError
        A folder that is not a complete, valid saved pair (missing, truncated or edited files).
    """
    from corruptions import MinimalPair

    pairs = []
    for folder in folders:
        try:
            pairs.append(MinimalPair.load(folder))
        except SpeechLensError as exc:
            raise PairError(f"--pair '{folder}': {exc}") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A pair.json edited or cut short by hand: whatever the reader tripped on, name the file.
            raise PairError(
                f"--pair '{folder}' is not a valid saved pair ({type(exc).__name__}: {exc}); make it again "
                f"with `speechlens pair ... --out {folder}`"
            ) from None
    return pairs


def os_error_message(exc: OSError, what: str = "") -> str:
    """One line, in words, for an OSError while writing (disk full, read-only, no permission)."""
    where = f"'{exc.filename}'" if exc.filename else (what or "the output folder")
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"no space left on the device holding {where}; free some space or choose another --out"
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only file system; choose another --out"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write {where}; choose a folder you can write to (--out)"
    if exc.errno == errno.ENOTDIR:
        return f"{where}: a file is in the way where a folder should be; choose another --out"
    return f"{where}: {exc.strerror or exc}"


def _blocking_file(path: Path) -> Path | None:
    """The first of ``path`` and its parents that exists and is not a folder."""
    for p in [path, *path.parents]:
        if p.exists():
            return None if p.is_dir() else p
    return None


def prepare_out(out, arg: str = "--out", need_mb: float = MIN_FREE_MB) -> Path:
    """Make sure ``out`` can take the command's files, before anything is computed.

    Creates the folder, writes and removes a probe file, and checks the free space.

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        A file where the folder (or one of its parents) should be, a folder that cannot be
        created or written (read-only, no permission), or a disk with less than ``need_mb``
        MB free. The message names ``arg``, the path, and what is wrong, in words.
    """
    path = Path(out)
    blocker = _blocking_file(path)
    if blocker is not None:
        what = "is a file" if blocker == path else f"is under '{blocker}', which is a file"
        raise ConfigError(f"{arg} ('{path}') {what}, not a folder; choose a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".speechlens-probe.", suffix=".part")
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        reason = os_error_message(OSError(exc.errno, exc.strerror), f"'{path}'")
        raise ConfigError(f"{arg} ('{path}') cannot be written: {reason}") from None
    free_mb = shutil.disk_usage(path).free / 2**20
    if free_mb < need_mb:
        raise ConfigError(
            f"{arg} ('{path}'): the disk holding it has {free_mb:.1f} MB free; this command needs about "
            f"{need_mb:g} MB: free some space or choose another {arg}"
        )
    return path
