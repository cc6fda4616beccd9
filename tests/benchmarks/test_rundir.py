"""The report folder of a benchmark run (issue 12): one run at a time, leftovers cleaned, stale
results retired; and the work store's pieces behind it (folder_lock, .part cleanup, arrays)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import intervene
from benchmarks import keyword_accuracy as ka
from benchmarks.common import folder_lock, results_digest, run_folder
from intervene.workstore import LOCK_NAME, WorkStore, make_key, remove_partial_files
from tasks.errors import ConfigError

FAST = ["--no-progress", "--device", "cpu", "--models", "whisper-tiny.en", "--words", "yes", "no",
        "--voices", "en-us", "--rates", "150", "--pitches", "40"]  # fmt: skip


class Killed(Exception):
    """Stands for the run dying (kill -9) in the middle of its work."""


def _die(*args, **kwargs):
    raise Killed("the run died here")


# --------------------------------------------------------------------------- folder_lock
def test_folder_lock_refuses_a_second_holder_and_frees_on_exit(tmp_path):
    with folder_lock(tmp_path / "out") as out:
        assert out == tmp_path / "out" and (out / LOCK_NAME).is_file()
        assert f"pid {os.getpid()}" in (out / LOCK_NAME).read_text()
        with pytest.raises(ConfigError, match=rf"'{out}' is in use by another run \(pid {os.getpid()}.*another folder"):
            with folder_lock(out):
                pass
    with folder_lock(tmp_path / "out"):  # released on exit, and after an exception too
        pass
    with pytest.raises(ValueError), folder_lock(tmp_path / "out"):
        raise ValueError("boom")
    with folder_lock(tmp_path / "out"):
        pass


def test_folder_lock_waits_for_the_other_run(tmp_path):
    held = threading.Event()

    def other_run():
        with folder_lock(tmp_path):
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=other_run)
    thread.start()
    held.wait(5)
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="after waiting 0.1 s"), folder_lock(tmp_path, wait_s=0.1, poll_s=0.02):
        pass
    with folder_lock(tmp_path, wait_s=10, poll_s=0.02):
        assert time.monotonic() - t0 >= 0.3  # it waited for the other run to finish
    thread.join()
    with pytest.raises(ConfigError, match="wait_s"), folder_lock(tmp_path, wait_s=float("nan")):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    """Another process holds the folder; kill -9 frees it at once (the lock dies with the process)."""
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid 4242, since today'); print('held', flush=True); "
            "time.sleep(120)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / LOCK_NAME)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=r"in use by another run \(pid 4242, since today\)"), folder_lock(tmp_path):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with folder_lock(tmp_path):
        pass


def test_folder_lock_says_why_a_folder_cannot_be_used(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"'.*file' is a file, not a folder"), folder_lock(tmp_path / "file" / "out"):
        pass
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(ConfigError, match="choose a folder you can write to"), folder_lock(tmp_path / "ro" / "x"):
            pass


def test_second_benchmark_run_on_one_folder_exits_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(intervene, "load_model", _die)
    out = tmp_path / "out"
    with folder_lock(out):
        with pytest.raises(ConfigError, match="is in use by another run"):
            ka.main([*FAST, "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing computed, nothing written


# --------------------------------------------------------------------------- stale results
def _finished_report(out, settings):
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"settings": settings.to_dict(), "settings_digest": settings.digest(),
                                                  "models": {"old": 1}}))  # fmt: skip
    (out / "index.html").write_text("<html>old report</html>")


def test_killed_rerun_with_other_settings_leaves_no_results_that_look_complete(tmp_path, monkeypatch):
    out = tmp_path / "out"
    old = ka.KeywordAccuracySettings(models=("whisper-tiny.en",), words=("yes", "no"), voices=("en-us",),
                                     rates=(150,), pitches=(60,))  # fmt: skip
    _finished_report(out, old)
    monkeypatch.setattr(ka, "evaluate_model", _die)
    with pytest.raises(Killed):
        ka.main([*FAST, "--out", str(out)])  # pitch 40, not 60: other settings
    assert not (out / "results.json").exists() and not (out / "index.html").exists()
    stale = json.loads((out / "results.stale.json").read_text())
    assert stale["models"] == {"old": 1} and (out / "index.stale.html").read_text() == "<html>old report</html>"


def test_killed_rerun_with_the_same_settings_keeps_its_finished_results(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _, settings = ka.parse_settings([*FAST, "--out", str(out)], ka.KeywordAccuracySettings, script=ka.SCRIPT,
                                    add_arguments=ka.add_arguments)  # fmt: skip
    _finished_report(out, settings)
    monkeypatch.setattr(ka, "evaluate_model", _die)
    with pytest.raises(Killed):
        ka.main([*FAST, "--out", str(out)])
    assert results_digest(out / "results.json") == settings.digest() and (out / "index.html").is_file()
    assert not list(out.glob("*.stale.*"))


def test_half_written_report_is_retired(tmp_path):
    """index.html without results.json is what a run killed between the two writes leaves."""
    from benchmarks.common import RunOptions

    (tmp_path / "index.html").write_text("half")
    settings = ka.KeywordAccuracySettings(models=("whisper-tiny.en",), words=("yes", "no"), voices=("en-us",))
    with run_folder(RunOptions(script="x", out=tmp_path), settings):
        assert not (tmp_path / "index.html").exists() and (tmp_path / "index.stale.html").read_text() == "half"


# --------------------------------------------------------------------------- leftovers
def test_run_start_removes_partial_files_of_killed_writes(tmp_path, monkeypatch):
    out = tmp_path / "out"
    leftovers = [out / "maps" / ".a.npz.k2j4l5m6.part.npz", out / "work" / "m" / ".yes.json.x1y2z3w4.part.json",
                 out / ".results.json.q9w8e7r6.part.json"]  # fmt: skip
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    (out / "maps" / "keep.npz").write_bytes(b"a finished file")
    monkeypatch.setattr(ka, "evaluate_model", _die)
    with pytest.raises(Killed):
        ka.main([*FAST, "--out", str(out)])
    assert not any(p.exists() for p in leftovers) and (out / "maps" / "keep.npz").is_file()


def test_workstore_removes_old_partial_files_when_it_opens(tmp_path):
    old, fresh = tmp_path / "m" / ".k.json.abcd1234.part.json", tmp_path / ".j.json.efgh5678.part.json"
    other = tmp_path / "m" / ".notes"  # not a temporary file of tasks.atomic
    for path in (old, fresh, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    WorkStore(tmp_path, {"x": 1})
    assert not old.exists() and fresh.exists() and other.exists()  # a fresh one may be a write in progress
    assert remove_partial_files(tmp_path) == [fresh] and other.exists()


# --------------------------------------------------------------------------- arrays in the store
def test_workstore_arrays_round_trip_and_damage_is_detected(tmp_path, caplog):
    store = WorkStore(tmp_path, {"x": 1})
    rng = np.random.default_rng(0)
    arrays = {"precision": rng.normal(size=(5, 5)), "n": np.int64(7)}
    key = make_key("reference")
    record = store.put_arrays(key, arrays, {"info": {"clips": 3}})
    assert record["info"] == {"clips": 3} and store.keys() == [key]
    back = WorkStore(tmp_path, {"x": 1}).load_arrays(store.get(key))
    assert back["precision"].tobytes() == arrays["precision"].tobytes() and back["n"] == 7  # bit for bit
    path = tmp_path / record["arrays"]
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    assert store.load_arrays(store.get(key)) is None and "SHA-256 differs" in caplog.text
    path.unlink()
    assert store.load_arrays(store.get(key)) is None and store.load_arrays(None) is None
