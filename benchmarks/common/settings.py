"""Settings of the benchmark scripts: frozen dataclasses, config files, the command line.

Settings are merged in layers, later ones winning: the settings dataclass's defaults, the
``--config`` file (YAML or JSON), the script's ``--quick`` preset, then the flags given on the
command line. The result is turned into the script's frozen dataclass at once
(:func:`parse_settings`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.common.scaleout import SCALEOUT_KEYS, ExecutorOptions, add_scaleout_arguments
from tasks.errors import ConfigError, close_names
from tasks.jsonio import to_jsonable

__all__ = [
    "REPO_ROOT",
    "COMMON_KEYS",
    "BenchmarkSettings",
    "RunOptions",
    "build_parser",
    "load_config",
    "check_keys",
    "settings_digest",
    "parse_settings",
    "to_jsonable",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root; default report folders go under ``REPO_ROOT / "runs"``."""
COMMON_KEYS = ("out", "quick", "device", "progress")
"""Config-file keys every script accepts besides its settings fields."""


def _freeze(value: Any) -> Any:
    """Lists (from JSON/YAML/argparse) as tuples, so frozen settings stay hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class BenchmarkSettings:
    """Base class of each script's frozen settings dataclass.

    Subclasses are ``@dataclass(frozen=True)``, set the class variable ``kind`` and validate
    in ``__post_init__`` (raising ConfigError; use ``object.__setattr__`` to normalise).
    """

    kind: ClassVar[str] = "benchmark"

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict:
        """JSON-able dict with a ``kind`` field; :meth:`from_dict` reads it back."""
        return {"kind": self.kind, **{name: to_jsonable(getattr(self, name)) for name in self.field_names()}}

    def digest(self) -> str:
        """16 hex digits of SHA-256 over :meth:`to_dict`: which settings a result belongs to."""
        return settings_digest(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "settings"):
        """Build the settings from a dict (``kind`` optional but checked when present).

        Raises
        ------
        ConfigError
            Wrong ``kind``, an unknown key (the message names close keys), or a bad value.
        """
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ConfigError(f"{source} has kind {kind!r}; these settings are of kind {cls.kind!r}")
        check_keys(data, cls.field_names(), source)
        return cls(**{k: _freeze(v) for k, v in data.items()})


def settings_digest(settings: Mapping) -> str:
    """16 hex digits of SHA-256 over a settings dict in canonical JSON (sorted keys).

    Examples
    --------
    >>> settings_digest({"b": 1, "a": [1, 2]}) == settings_digest({"a": (1, 2), "b": 1})
    True
    """
    text = json.dumps(to_jsonable(dict(settings)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_keys(data: Mapping, known: Iterable[str], source: str) -> None:
    """Raise ConfigError naming the first key of ``data`` not in ``known``, with close names."""
    known = list(known)
    for key in data:
        if key not in known:
            raise ConfigError(
                f"unknown key {key!r} in {source}{close_names(str(key), known)} "
                f"Known keys: {', '.join(sorted(known))}"
            )


@dataclass(frozen=True)
class RunOptions:
    """The settings every script shares, which do not change any result.

    Attributes
    ----------
    script : str
    out : Path
        The report folder (``index.html``, ``results.json``, ``work/``, figures).
    quick : bool
        The script's small, fast preset was applied.
    device : str or None
        Torch device (None: CUDA when available, else the CPU).
    progress : bool
        Show tqdm progress bars on stderr.
    config : Path or None
        The config file read, if any.
    scaleout : ExecutorOptions
        Where sweeps run (``--executor local|ray`` and the Ray options; scripts that sweep).
    """

    script: str
    out: Path
    quick: bool = False
    device: str | None = None
    progress: bool = True
    config: Path | None = None
    scaleout: ExecutorOptions = field(default_factory=ExecutorOptions)


def build_parser(script: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the common flags (``--out --quick --config --device --no-progress``).

    Every argument defaults to *absent* (``argparse.SUPPRESS``), so :func:`parse_settings` can
    tell a flag given on the command line from a default. Scripts add their own flags with
    ``dest`` equal to a settings field name.
    """
    parser = argparse.ArgumentParser(
        prog=f"{script}.py", description=description, argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    common = parser.add_argument_group("common options")
    common.add_argument("--out", type=Path, metavar="DIR",
                        help=f"report folder (default: runs/{script} in the repository); rerun with the "
                             "same folder to resume")  # fmt: skip
    common.add_argument("--quick", action="store_true", help="small, fast preset (minutes on a 2-core CPU)")
    common.add_argument("--config", type=Path, metavar="FILE",
                        help="YAML or JSON file of settings; flags given here override it")
    common.add_argument("--device", help="torch device, e.g. cpu or cuda (default: CUDA if available)")
    common.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def load_config(path) -> dict:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) mapping of settings.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, of another type, or not a mapping.
    """
    path = Path(path)
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"config file '{path}' must end in .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ConfigError(f"config file '{path}' is not valid JSON: {exc}") from exc
    else:
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file '{path}' is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys to values, not {type(data).__name__}")
    return data


def parse_settings(
    argv: Sequence[str] | None,
    settings_cls: type,
    *,
    script: str,
    description: str = "",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    quick_preset: Mapping | None = None,
    scaleout: bool = False,
) -> tuple[RunOptions, Any]:
    """Parse the command line and merge it with the defaults, a config file and the quick preset.

    Layers, later winning: ``settings_cls`` defaults < ``--config`` file < ``quick_preset`` (when
    ``--quick`` is given, or ``quick: true`` in the file) < flags given on the command line.

    Parameters
    ----------
    argv : sequence of str or None
        The arguments (None: ``sys.argv[1:]``).
    settings_cls : type
        A frozen :class:`BenchmarkSettings` subclass.
    script : str
        The script's name; the default report folder is ``runs/<script>``.
    add_arguments : callable, optional
        Adds the script's flags to the parser (``dest`` = a settings field).
    quick_preset : mapping, optional
        Settings fields that ``--quick`` sets.
    scaleout : bool
        The script sweeps: add ``--executor local|ray`` and the Ray options
        (:mod:`benchmarks.common.scaleout`), read into ``run.scaleout``.

    Returns
    -------
    (RunOptions, settings_cls instance)

    Raises
    ------
    ConfigError
        Unknown config key (the message names close keys), bad file, or a value the settings
        dataclass rejects.
    SystemExit
        From argparse, for a bad command line.

    Examples
    --------
    >>> @dataclass(frozen=True)
    ... class Demo(BenchmarkSettings):
    ...     kind: ClassVar[str] = "demo"
    ...     n: int = 1
    >>> run, s = parse_settings(["--quick", "--out", "/tmp/demo"], Demo, script="demo", quick_preset={"n": 3})
    >>> s, run.quick, run.out
    (Demo(n=3), True, PosixPath('/tmp/demo'))
    """
    parser = build_parser(script, description)
    if add_arguments is not None:
        add_arguments(parser)
    if scaleout:
        add_scaleout_arguments(parser)
    given = vars(parser.parse_args(argv))
    config_path = given.pop("config", None)
    file_values = load_config(config_path) if config_path is not None else {}
    source = f"config file '{config_path}'"
    run_keys = list(COMMON_KEYS) + (list(SCALEOUT_KEYS) if scaleout else [])
    check_keys(file_values, run_keys + settings_cls.field_names(), source)
    common = {k: file_values.pop(k) for k in run_keys if k in file_values}
    common.update({k: given.pop(k) for k in run_keys if k in given})
    quick, show = common.get("quick", False), common.get("progress", True)
    for name, value in (("quick", quick), ("progress", show)):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} ({value!r}) in {source} must be true or false")
    merged = dict(file_values)
    if quick:
        merged.update(quick_preset or {})
    merged.update(given)
    settings = settings_cls.from_dict(merged, source="the merged settings")
    # Absolute, so that paths built under it stay valid whatever the report code resolves them against.
    out = Path(common["out"]).expanduser().absolute() if common.get("out") is not None else REPO_ROOT / "runs" / script
    device = common.get("device")
    run = RunOptions(
        script=script, out=out, quick=quick, device=None if device in (None, "", "auto") else str(device),
        progress=show, config=None if config_path is None else Path(config_path),
        scaleout=ExecutorOptions(**{k: common[k] for k in SCALEOUT_KEYS if k in common}),
    )  # fmt: skip
    return run, settings
