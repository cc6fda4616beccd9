"""Shared infrastructure of the benchmark scripts: the one import they use.

Every script in ``benchmarks/`` follows one pattern::

    run, settings = parse_settings(argv, MySettings, script="my_script", description=...,
                                   add_arguments=add_my_flags, quick_preset={...})
    # lock the folder, clean leftovers, open the work store, retire results of other settings
    with run_folder(run, settings, work={...what changes a unit's result...}) as store:
        for key, item in progress(units, enabled=run.progress, desc="..."):
            value = store.get_or_compute(key, lambda: expensive(item))
        write_report(run.out, "Title", sections, results)      # index.html, then results.json

The code lives in modules with one job each, re-exported here:

- :mod:`benchmarks.common.settings`: settings dataclasses, config files, command-line parsing;
- :mod:`benchmarks.common.checks`: checks of settings values (on :mod:`corruptions.params`);
- :mod:`benchmarks.common.cli`: progress bars, logging, ``run_cli``;
- :mod:`benchmarks.common.rundir`: the report folder of a run (:func:`run_folder`);
- :mod:`benchmarks.common.scaleout`: ``--executor local|ray`` and the Ray options (``run.scaleout``);
- :mod:`benchmarks.common.report`: ``index.html`` + ``results.json`` and figures, on top of
  :mod:`intervene.app.report` (the HTML and tables ``speechlens demo`` uses too);
- :mod:`benchmarks.common.stats`: summary statistics;
- resumable units of work are :mod:`intervene.workstore`'s (``make_key``, ``WorkStore``).

Everything written goes through :mod:`tasks.atomic`, so a run killed at any moment leaves no
file under a final name that is not complete; ``results.json`` is written last of all.
"""

from __future__ import annotations

from benchmarks.common.checks import (
    FRAME_MS,
    choice,
    names,
    number,
    whole,
    whole_numbers,
)
from benchmarks.common.cli import command_line, echo, progress, run_cli, setup_logging
from benchmarks.common.report import (
    Section,
    Table,
    heatmap,
    new_figure,
    save_figure,
    write_report,
)
from benchmarks.common.rundir import results_digest, retire_stale_results, run_folder
from benchmarks.common.scaleout import SCALEOUT_KEYS, ExecutorOptions
from benchmarks.common.settings import (
    COMMON_KEYS,
    REPO_ROOT,
    BenchmarkSettings,
    RunOptions,
    build_parser,
    check_keys,
    load_config,
    parse_settings,
    settings_digest,
    to_jsonable,
)
from benchmarks.common.stats import spearman, wilson_interval
from intervene.workstore import WorkStore, folder_lock, make_key

__all__ = [
    "REPO_ROOT",
    "COMMON_KEYS",
    "BenchmarkSettings",
    "RunOptions",
    "ExecutorOptions",
    "SCALEOUT_KEYS",
    "build_parser",
    "load_config",
    "check_keys",
    "parse_settings",
    "settings_digest",
    "names",
    "number",
    "whole",
    "whole_numbers",
    "choice",
    "FRAME_MS",
    "make_key",
    "WorkStore",
    "folder_lock",
    "run_folder",
    "results_digest",
    "retire_stale_results",
    "Table",
    "Section",
    "write_report",
    "new_figure",
    "save_figure",
    "heatmap",
    "progress",
    "to_jsonable",
    "wilson_interval",
    "spearman",
    "command_line",
    "echo",
    "setup_logging",
    "run_cli",
]
