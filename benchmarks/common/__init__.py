"""Shared infrastructure of the benchmark scripts: the one import they use.

Every script in ``benchmarks/`` follows one pattern::

    run, settings = parse_settings(argv, MySettings, script="my_script", description=...,
                                   add_arguments=add_my_flags, quick_preset={...})
    store = WorkStore(run.out / "work", settings={...what changes a unit's result...})
    for key, item in progress(units, enabled=run.progress, desc="..."):
        value = store.get_or_compute(key, lambda: expensive(item))
    write_report(run.out, "Title", sections, results)      # index.html, then results.json

The code lives in three modules, one job each, re-exported here:

- :mod:`benchmarks._settings`: settings dataclasses, config files, command-line parsing and
  the CLI helpers (``progress``, ``run_cli``, ...);
- :mod:`benchmarks._work`: resumable units of work (``make_key``, ``WorkStore``);
- :mod:`benchmarks._report`: ``index.html`` + ``results.json``, figures, summary statistics,
  on top of :mod:`intervene.app.report` (the HTML and tables ``speechlens demo`` uses too).

Everything written goes through :mod:`tasks.atomic`, so a run killed at any moment leaves no
file under a final name that is not complete; ``results.json`` is written last of all.
"""

from __future__ import annotations

from benchmarks._report import Section, Table, heatmap, new_figure, save_figure, wilson_interval, write_report
from benchmarks._settings import (
    COMMON_KEYS,
    REPO_ROOT,
    BenchmarkSettings,
    RunOptions,
    build_parser,
    check_keys,
    command_line,
    echo,
    load_config,
    parse_settings,
    progress,
    run_cli,
    setup_logging,
    to_jsonable,
)
from intervene.workstore import WorkStore, make_key
from tasks.atomic import atomic_path, write_json, write_text  # noqa: F401  (importable from here, as before)
from tasks.errors import ConfigError, SpeechLensError  # noqa: F401  (importable from here, as before)

__all__ = [
    "REPO_ROOT",
    "COMMON_KEYS",
    "BenchmarkSettings",
    "RunOptions",
    "build_parser",
    "load_config",
    "check_keys",
    "parse_settings",
    "make_key",
    "WorkStore",
    "Table",
    "Section",
    "write_report",
    "new_figure",
    "save_figure",
    "heatmap",
    "progress",
    "to_jsonable",
    "wilson_interval",
    "command_line",
    "echo",
    "setup_logging",
    "run_cli",
]
