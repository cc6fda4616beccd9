"""The bad-input battery behind ``benchmarks/bad_inputs.py``: named probes and how each is judged.

A *probe* feeds SpeechLens one bad input (a wrong number, a damaged file, a killed process) or
one tricky good input, and says what must happen:

``expect="error"``   a typed error (a :class:`~tasks.errors.SpeechLensError`); for probes marked
                     ``io=True`` (file-system failures: a folder under a regular file, a full
                     disk) an ``OSError`` naming the path also counts, as Python's own
                     contract for file operations;
``expect="accept"``  a result, which ``check(result, env)`` confirms is correct (it returns
                     None, or a sentence saying what is wrong);
``expect="warn"``    a result and a warning of the given category.

Each outcome is classified as one of :data:`OUTCOMES`: ``typed`` (the typed error that was
due), ``accepted`` (a correct result), ``silent`` (a wrong result, or a bad input accepted
without a word: the worst kind) or ``raw`` (any other exception: a raw traceback). A typed
error where a result was due is reported as ``typed`` with ``unexpected: true``.

Adding probes
-------------
:data:`PROBES` is the one list. Append with :func:`probe` (or decorate a function with it)::

    probe("api/patch/batch_size=-1", lambda env: intervene.patch(..., batch_size=-1))

Names are ``area/what/detail``; the area (``api``, ``artifact``, ``fault``, ``cli``) is the first
part. Probe families live in :mod:`.api`, :mod:`.artifacts` and :mod:`.faults`; a new family is
a module with a ``register()`` function, listed in :data:`FAMILIES`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Probe", "PROBES", "OUTCOMES", "FAMILIES", "probe", "Env", "run_probe", "load_families"]

OUTCOMES = ("typed", "accepted", "silent", "raw")
FAMILIES = ("benchmarks.badinputs.api", "benchmarks.badinputs.artifacts", "benchmarks.badinputs.faults")


@dataclass
class Probe:
    """One bad (or tricky) input and what must happen (see the module notes)."""

    name: str
    run: Callable[["Env"], Any]
    expect: str = "error"
    check: Callable[[Any, "Env"], str | None] | None = None
    warns: type | None = None
    io: bool = False
    heavy: bool = False  # left out of --quick
    note: str = ""

    @property
    def area(self) -> str:
        return self.name.split("/", 1)[0]


PROBES: list[Probe] = []


def probe(name: str, run: Callable | None = None, **options):
    """Add a probe to :data:`PROBES` (``probe(name, fn, ...)``, or ``@probe(name, ...)`` on ``fn``)."""
    if any(p.name == name for p in PROBES):
        raise ValueError(f"probe {name!r} is defined twice")
    if options.get("expect", "error") not in ("error", "accept", "warn"):
        raise ValueError(f"probe {name!r}: expect must be 'error', 'accept' or 'warn'")

    def add(fn):
        PROBES.append(Probe(name, fn, **options))
        return fn

    return add if run is None else add(run)


def load_families() -> list[Probe]:
    """Import every family (each registers its probes once) and return :data:`PROBES`."""
    import importlib

    for module in FAMILIES:
        mod = importlib.import_module(module)
        if not getattr(mod, "_registered", False):
            mod.register()
            mod._registered = True
    return PROBES


class Env:
    """What probes share: the real whisper-tiny.en, a task, a pair, saved artifacts, a temp folder.

    Everything is built on first use and kept; :meth:`scratch` gives each probe a fresh folder.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict = {}
        self._n = 0

    def shared(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def scratch(self) -> Path:
        self._n += 1
        path = self.root / f"probe{self._n:04d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- shared objects -------------------------------------------------------------------
    @property
    def model(self):
        import intervene

        return self.shared("model", lambda: intervene.load_model("whisper-tiny.en", device="cpu"))

    @property
    def task(self):
        import tasks

        return self.shared("task", lambda: tasks.KeywordTask(["yes", "no"]))

    @property
    def utterance(self):
        import tasks

        return self.shared("utterance", lambda: tasks.speak("yes", voice="en-us").padded(1.0, 0.3))

    @property
    def pair(self):
        import corruptions

        return self.shared("pair", lambda: corruptions.get("word_swap", word="no").pair(self.utterance, seed=0))

    def patch(self, **kwargs):
        """``intervene.patch`` on the shared pair, layer 0's block output, unguarded unless asked."""
        import intervene

        args = dict(model=self.model, task=self.task, pair=self.pair, sites="encoder.0.block_output",
                    guards=False) | kwargs
        return intervene.patch(**args)

    @property
    def saved_map(self) -> Path:
        """A map written by the current code (format 2): a cheap 3-column patch of two layers."""
        def build():
            import intervene

            cmap = intervene.patch(self.model, self.task, self.pair, ["encoder.0.block_output", "encoder.3.block_output"],
                                   window_ms=200.0, guards=False)
            return cmap.save(self.root / "shared" / "map.npz")
        return self.shared("saved_map", build)

    @property
    def saved_pair(self) -> Path:
        return self.shared("saved_pair", lambda: self.pair.save(self.root / "shared" / "pair"))

    def copy_map(self, src: Path) -> Path:
        """A copy of a map (npz + json) in a fresh folder, named m.npz / m.json."""
        folder = self.scratch()
        shutil.copy(src, folder / "m.npz")
        shutil.copy(Path(src).with_suffix(".json"), folder / "m.json")
        return folder / "m.npz"

    def copy_pair(self, src: Path | None = None) -> Path:
        folder = self.scratch() / "pair"
        shutil.copytree(src or self.saved_pair, folder)
        return folder


def _short(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def run_probe(p: Probe, env: Env) -> dict:
    """Run one probe and classify what happened (see the module notes)."""
    from tasks.errors import SpeechLensError

    t0 = time.perf_counter()
    record = {"name": p.name, "area": p.area, "expect": p.expect}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = p.run(env)
    except SpeechLensError as exc:
        record.update(outcome="typed", error=type(exc).__name__, message=_short(exc))
        if p.expect != "error":
            record["unexpected"] = True
    except OSError as exc:
        if p.io and p.expect == "error" and (exc.filename or "/" in str(exc)):
            record.update(outcome="typed", error=type(exc).__name__, message=_short(exc))
        else:
            record.update(outcome="raw", error=type(exc).__name__, message=_short(exc),
                          where=_short(traceback.format_exc().splitlines()[-3], 200))
    except Exception as exc:  # noqa: BLE001 (classifying every other exception is this function's job)
        tb = traceback.extract_tb(exc.__traceback__)
        record.update(outcome="raw", error=type(exc).__name__, message=_short(exc),
                      where=f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "")
    else:
        record.update(_judge(p, result, env, caught))
    record["seconds"] = round(time.perf_counter() - t0, 3)
    if p.note:
        record["note"] = p.note
    return record


def _judge(p: Probe, result, env: Env, caught: list) -> dict:
    if p.expect == "error":
        return {"outcome": "silent", "message": _short(f"accepted without an error; returned {result!r}")}
    if p.expect == "warn" and not any(issubclass(w.category, p.warns) for w in caught):
        return {"outcome": "silent", "message": f"no {p.warns.__name__} was raised"}
    problem = p.check(result, env) if p.check is not None else None
    if problem:
        return {"outcome": "silent", "message": _short(problem)}
    out = {"outcome": "accepted"}
    if p.expect == "warn":
        out["message"] = _short(next(str(w.message) for w in caught if issubclass(w.category, p.warns)))
    return out


def temporary_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="speechlens-bad-inputs-"))
