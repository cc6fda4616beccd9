"""benchmarks/common (settings, checks, cli, report, stats, and intervene.workstore re-exported):
settings layers, value checks, resumable work, atomic reports, tables, figures."""

from __future__ import annotations

import json
import math
import pathlib
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import intervene.workstore
from benchmarks import common
from benchmarks.common import (
    REPO_ROOT,
    BenchmarkSettings,
    Section,
    Table,
    WorkStore,
    checks,
    cli,
    heatmap,
    load_config,
    make_key,
    parse_settings,
    progress,
    run_cli,
    rundir,
    save_figure,
    stats,
    to_jsonable,
    wilson_interval,
    write_report,
)
from benchmarks.common import report as bench_report
from benchmarks.common import settings as bench_settings
from intervene.app import report
from tasks.audio import write_wav
from tasks.errors import ConfigError


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DemoSettings(BenchmarkSettings):
    kind: ClassVar[str] = "demo"
    n: int = 1
    name: str = "default"
    items: tuple = (1, 2)

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"n ({self.n!r}) must be a whole number of at least 1")


def _demo_flags(parser):
    parser.add_argument("--n", type=int)
    parser.add_argument("--name")
    parser.add_argument("--items", nargs="+", type=int)


def _parse(argv):
    return parse_settings(argv, DemoSettings, script="demo", add_arguments=_demo_flags,
                          quick_preset={"n": 3, "name": "quick"})  # fmt: skip


def test_settings_layers_defaults_config_quick_flags(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"n": 5, "name": "file", "items": [7, 8], "device": "cpu", "progress": False}))
    out = ["--out", str(tmp_path / "o")]

    run, s = _parse(out)
    assert s == DemoSettings(n=1, name="default", items=(1, 2))
    assert run.out == tmp_path / "o" and run.device is None and run.progress and not run.quick

    run, s = _parse(out + ["--config", str(cfg)])
    assert s == DemoSettings(n=5, name="file", items=(7, 8))  # lists become tuples
    assert run.device == "cpu" and run.progress is False and run.config == cfg

    run, s = _parse(out + ["--config", str(cfg), "--quick"])
    assert (s.n, s.name, s.items) == (3, "quick", (7, 8)) and run.quick  # preset beats the file

    run, s = _parse(out + ["--config", str(cfg), "--quick", "--n", "9", "--device", "cuda:1"])
    assert (s.n, s.name) == (9, "quick") and run.device == "cuda:1"  # flags beat everything


def test_yaml_config_and_default_out(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: yaml\nitems: [4, 5, 6]\nquick: true\n")
    run, s = _parse(["--config", str(cfg)])
    # quick: true in the file applies the preset, which sits above the file's own values
    assert (s.n, s.name, s.items) == (3, "quick", (4, 5, 6)) and run.quick
    assert run.out == REPO_ROOT / "runs" / "demo"


def test_relative_out_becomes_absolute(tmp_path, monkeypatch):
    # report files are built as out / name and checked against out: both must be absolute
    monkeypatch.chdir(tmp_path)
    run, _ = _parse(["--out", "runs/x"])
    assert run.out.is_absolute() and run.out == tmp_path / "runs" / "x"


def test_unknown_config_key_names_close_keys(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("nmae: x\n")
    with pytest.raises(ConfigError, match=r"unknown key 'nmae'.*did you mean 'name'") as info:
        _parse(["--config", str(cfg)])
    assert "Known keys: device, items, n, name, out, progress, quick" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.yaml", "- 1\n- 2\n", "must hold a mapping"),
        ("c.yaml", "a: [1, 2\n", "not valid YAML"),
        ("c.json", "{'n': 1}", "not valid JSON"),
        ("c.toml", "n = 1", "must end in .yaml"),
    ],
)
def test_bad_config_files(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / name)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_bad_values_and_kind_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"n \(0\) must be"):
        _parse(["--n", "0"])
    cfg = tmp_path / "c.json"
    cfg.write_text('{"progress": "no"}')
    with pytest.raises(ConfigError, match=r"progress \('no'\) in config file .* must be true or false"):
        _parse(["--config", str(cfg)])
    with pytest.raises(ConfigError, match="kind 'other'"):
        DemoSettings.from_dict({"kind": "other"})
    assert DemoSettings.from_dict(DemoSettings(n=4).to_dict()) == DemoSettings(n=4)


# --------------------------------------------------------------------------- work store
def _loop(store, keys, calls, fail_at=None):
    results = {}
    for i, key in enumerate(keys):
        def compute(i=i, key=key):
            calls.append(key)
            if i == fail_at:
                raise KeyboardInterrupt("killed")  # the run dies mid-unit
            return {"value": i * 0.1, "arr": np.arange(i, dtype=np.float32)}

        results[key] = store.get_or_compute(key, compute)
    return results


def test_workstore_resume_after_crash_skips_finished_units(tmp_path):
    keys = [make_key("tiny", "yes", f"clip{i}") for i in range(6)]
    settings = {"words": ["yes", "no"]}
    calls = []
    with pytest.raises(KeyboardInterrupt):
        _loop(WorkStore(tmp_path / "a", settings), keys, calls, fail_at=3)
    assert calls == keys[:4]
    store = WorkStore(tmp_path / "a", settings)
    assert store.keys() == sorted(keys[:3])  # the unit that died left nothing
    calls.clear()
    resumed = _loop(store, keys, calls)
    assert calls == keys[3:] and (store.computed, store.reused) == (3, 3)

    fresh = _loop(WorkStore(tmp_path / "b", settings), keys, [])
    assert resumed == fresh  # same values whether resumed or not (both read back from JSON)
    for key in keys:
        a = (tmp_path / "a" / (key + ".json")).read_bytes()
        assert a == (tmp_path / "b" / (key + ".json")).read_bytes()
    assert fresh[keys[2]] == {"value": pytest.approx(0.2), "arr": [0.0, 1.0]}


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    store = WorkStore(tmp_path, {"x": 1})
    key = make_key("m", "k")
    real = pathlib.Path.write_bytes

    def half_then_fail(self, data):
        real(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.put(key, {"score": 1.0})
    monkeypatch.undo()
    assert key not in store and store.get(key) is None
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["settings.json"]
    with pytest.raises(ConfigError, match="cannot be written as JSON"):
        store.put(key, {"bad": object()})
    assert key not in store
    assert store.put(key, {"score": 1.0}) == {"score": 1.0} and store.get(key) == {"score": 1.0}


def test_leftover_temp_and_damaged_files_are_not_results(tmp_path, caplog):
    store = WorkStore(tmp_path, {"x": 1})
    key = make_key("m", "k")
    # What a SIGKILL during tasks.atomic leaves: a hidden temporary file beside the final name.
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / ".k.json.abc123.part.json").write_text('{"key": "m/k", "val')
    assert store.keys() == [] and key not in store
    (tmp_path / "m" / "k.json").write_text('{"key": "m/k", "val')  # damaged outside SpeechLens
    assert store.get(key) is None and "damaged" in caplog.text
    assert store.get_or_compute(key, lambda: 7) == 7 and store.computed == 1
    assert WorkStore(tmp_path, {"x": 1}).get(key) == 7


def test_settings_mismatch_raises(tmp_path):
    WorkStore(tmp_path / "w", {"words": ["yes", "no"], "seed": 0}).put(make_key("a"), 1)
    assert WorkStore(tmp_path / "w", {"seed": 0, "words": ("yes", "no")}).get(make_key("a")) == 1
    with pytest.raises(ConfigError, match=r"other settings \(seed: 0 there, 1 now\).*another --out"):
        WorkStore(tmp_path / "w", {"words": ["yes", "no"], "seed": 1})
    (tmp_path / "w" / "settings.json").unlink()
    with pytest.raises(ConfigError, match="no settings.json"):
        WorkStore(tmp_path / "w", {"words": ["yes", "no"], "seed": 0})


def test_keys_are_safe_paths(tmp_path):
    store = WorkStore(tmp_path, {})
    key = make_key("/models/my whisper", "..", "a/b")
    assert key == "%2Fmodels%2Fmy%20whisper/%2E./a%2Fb"
    assert store.path(key).parent.parent.parent == tmp_path
    store.put(key, [1, 2])
    assert store.keys() == [key] and store.get(key) == [1, 2]
    for bad in ("", "../x", "a//b", ".hidden", "settings", "a b"):
        with pytest.raises(ConfigError, match="make_key"):
            store.path(bad)


# --------------------------------------------------------------------------- tables, report
def test_table_text_and_html():
    table = Table(["word", "n", "acc"], [["yes", 10, 0.91234], ["down", 3, float("nan")]], title="T")
    assert table.to_text() == "T\nword   n    acc\n----  --  -----\nyes   10  0.912\ndown   3      -"
    html = table.to_html()
    assert "<caption>T</caption>" in html and '<td class="num">0.912</td>' in html and "<td>down</td>" in html
    shaded = Table(["a", "b"], [[0, 4]], shade=True).to_html()
    assert shaded.count("rgba(31, 119, 180, 0.600)") == 1 and shaded.count("rgba") == 1  # zero stays blank
    with pytest.raises(ConfigError, match="row 0 .* has 1 cells; it needs 2"):
        Table(["a", "b"], [[1]])


def test_write_report_files_and_order(tmp_path, monkeypatch):
    fig = heatmap(np.eye(2), ["a", "b"], ["x", "y"], title="h", annotations=[["1", "0"], ["0", "1"]])
    save_figure(fig, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_wav(tmp_path / "sounds" / "a b.wav", np.zeros(1600, dtype=np.float32))
    order = []

    def recording(real):
        def write(path, *args, **kwargs):
            order.append(pathlib.Path(path).name)
            return real(path, *args, **kwargs)

        return write

    for name in ("write_text", "write_json"):
        monkeypatch.setattr(bench_report, name, recording(getattr(bench_report, name)))
    sections = [
        Section("Results <1>", "first paragraph\n\nsecond & last", tables=[Table(["k", "v"], [["acc", 0.5]])],
                images=["fig.png"], audio=[(tmp_path / "sounds" / "a b.wav", "clip 'a'")]),
        Section("More"),
    ]  # fmt: skip
    results = {"acc": np.float32(0.5), "bad": float("nan"), "m": np.eye(2)}
    paths = write_report(tmp_path, "Report <x>", sections, results)
    assert order == ["index.html", "results.json"]  # results.json last: its presence means complete
    page = paths["html"].read_text()
    assert "<title>Report &lt;x&gt;</title>" in page and "Results &lt;1&gt;" in page
    assert '<img src="fig.png"' in page and 'src="sounds/a%20b.wav"' in page and "clip &#x27;a&#x27;" in page
    assert "second &amp; last" in page and '<td class="num">0.500</td>' in page and 'href="#s1"' in page
    assert re.search(r"<style>.*</style>", page, re.S) and "http" not in page  # self-contained
    assert json.loads(paths["results"].read_text()) == {"acc": 0.5, "bad": None, "m": [[1.0, 0.0], [0.0, 1.0]]}


def test_write_report_refuses_missing_or_outside_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(tmp_path / "out", "t", [Section("s", images=["nope.png"])], {})
    with pytest.raises(ConfigError, match="outside the report folder"):
        write_report(tmp_path / "out", "t", [Section("s", images=[tmp_path / "elsewhere.png"])], {})
    with pytest.raises(ConfigError, match="cannot be written as JSON"):
        write_report(tmp_path / "out", "t", [], {"x": object()})
    assert list((tmp_path / "out").iterdir()) == []


def test_heatmap_labels_large_axes_sparsely():
    fig = heatmap(np.zeros((4, 1500)), [f"L{i}" for i in range(4)], [f"{j * 20} ms" for j in range(1500)])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == 12 and labels[0] == "0 ms" and labels[-1] == "29980 ms"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L0", "L1", "L2", "L3"]
    with pytest.raises(ConfigError, match=r"shape \(4, 1500\) does not fit 4 x 3"):
        heatmap(np.zeros((4, 1500)), list("abcd"), list("xyz"))


def test_save_figure_failure_leaves_no_file(tmp_path):
    class Broken:
        def savefig(self, path, **kwargs):
            pathlib.Path(path).write_bytes(b"\x89PNG half")
            raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        save_figure(Broken(), tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []


def test_one_html_implementation_serves_demo_and_benchmarks(tmp_path):
    """benchmarks.common.report builds on intervene.app.report: same Table, same page, same style sheet."""
    assert Table is report.Table and common.Table is report.Table and bench_report.Table is report.Table
    r = report.Report("Demo <1>")
    r.heading("Maps", anchor="s0")
    r.contents([("s0", "Maps")])
    r.text("line one\nline two", note=True)
    r.table(["pair", "effect"], [["yes-no", 0.25], ["go-stop", None]])
    r.table(Table(["a"], [[1]], title="T"))
    r.image("maps/a b.png", caption="a <map>")
    r.audio([("clean 'yes'", "pairs/x y/clean.wav")])
    page = r.html()
    assert "<title>Demo &lt;1&gt;</title>" in page and report.CSS in page
    assert '<h2 id="s0">Maps</h2>' in page and '<a href="#s0">Maps</a>' in page
    assert '<p class="text note">line one\nline two</p>' in page
    assert '<td class="num">0.250</td>' in page and "<td>go-stop</td><td>-</td>" in page
    assert "<caption>T</caption>" in page
    assert '<img src="maps/a%20b.png" alt="a &lt;map&gt;"' in page and "<figcaption>a &lt;map&gt;</figcaption>" in page
    assert 'src="pairs/x%20y/clean.wav"' in page and "clean &#x27;yes&#x27;" in page
    text = report.format_table(["pair", "effect"], [["yes-no", 0.25]])
    assert text == "pair    effect\n------  ------\nyes-no   0.250"
    assert r.write(tmp_path).read_text() == page
    write_report(tmp_path, "Demo <1>", [Section("s")], {})
    assert report.CSS in (tmp_path / "index.html").read_text()


def test_common_reexports_every_name_it_had():
    """Scripts import only benchmarks.common; every name the old _common exported still resolves,
    and each name has exactly one home module."""
    before = ["REPO_ROOT", "COMMON_KEYS", "BenchmarkSettings", "RunOptions", "build_parser", "load_config",
              "check_keys", "parse_settings", "make_key", "WorkStore", "Table", "Section", "write_report",
              "new_figure", "save_figure", "heatmap", "progress", "to_jsonable", "wilson_interval",
              "command_line", "setup_logging", "run_cli"]  # fmt: skip
    assert set(before) <= set(common.__all__)
    from benchmarks.common import scaleout

    homes = [bench_settings, checks, cli, bench_report, rundir, stats, scaleout, intervene.workstore]
    for name in common.__all__:
        owner = [m for m in homes if name in m.__all__]
        if name in ("Table", "to_jsonable"):  # one implementation, imported from intervene.app / tasks.jsonio
            owner = owner[:1]
        assert len(owner) == 1 and getattr(common, name) is getattr(owner[0], name), name


def test_checks_name_setting_value_and_rule():
    from benchmarks.common import names, number, whole, whole_numbers

    assert names("voices", " en-us ") == ("en-us",) and whole("pairs", 3, 1) == 3
    assert number("window_ms", 40, 20, 1000, unit="ms", multiple_of=20) == 40.0
    for call, message in [
        (lambda: names("models", ("a", "a")), r"models \['a', 'a'\] lists a value twice|lists a value twice"),
        (lambda: names("models", ()), "models is empty"),
        (lambda: whole("pairs", 2.5, 1), r"pairs \(2.5\) must be a whole number"),
        (lambda: whole("pairs", True, 1), "must be a whole number"),
        (lambda: whole("pairs", 0, 1), r"pairs \(0\) must be >= 1"),
        (lambda: number("window_ms", float("nan"), 20), "window_ms.*NaN"),
        (lambda: number("window_ms", float("inf"), 20), "must be finite"),
        (lambda: number("window_ms", 30, 20, multiple_of=20, unit="ms"), r"window_ms \(30\) must be a multiple of 20 ms"),
        (lambda: number("window_ms", [20, 40], 20), "single number, not a range"),
        (lambda: whole_numbers("rates", ("fast",)), "must be one or more whole numbers"),
    ]:
        with pytest.raises(ConfigError, match=message):
            call()


# --------------------------------------------------------------------------- small helpers
def test_to_jsonable_and_wilson():
    assert to_jsonable({1: (np.int64(2), np.float64("inf")), "p": pathlib.Path("a/b")}) == {"1": [2, None], "p": "a/b"}
    low, high = wilson_interval(84, 100)
    assert (round(low, 3), round(high, 3)) == (0.756, 0.899)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_progress_can_be_switched_off(capsys):
    assert list(progress(range(3), enabled=False, desc="x")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), enabled=True, desc="bar")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert "bar" in captured.err and captured.out == ""


def test_run_cli_turns_errors_into_exit_code(capsys):
    def main(argv):
        raise ConfigError("n (0) must be at least 1")

    with pytest.raises(SystemExit) as info:
        run_cli(main, "demo")
    assert info.value.code == 2
    assert capsys.readouterr().err == "demo: error: n (0) must be at least 1\n"
