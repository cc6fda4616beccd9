"""Class 7 of issue 12: a killed process leaves no copy of the espeak library behind.

Before: every process that synthesised speech copied libespeak-ng (650 KB) into a fresh
temporary folder removed at exit; ``kill -9`` skipped the exit, so 13 kills left 13 copies.
Now one copy per library content lives in the cache (``SPEECHLENS_CACHE``), shared by every
process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import tasks
from tasks import _espeak

SPEAK_AND_DIE = "import os, tasks; tasks.speak('yes'); os.kill(os.getpid(), 9)"


def test_killed_processes_leave_one_cached_copy(tmp_path):
    env = dict(os.environ, SPEECHLENS_CACHE=str(tmp_path / "cache"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", SPEAK_AND_DIE], env=env, capture_output=True, timeout=300)
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert not list((tmp_path / "tmp").iterdir())
    copies = [p for p in (tmp_path / "cache" / "espeak").rglob("*") if p.is_file()]
    assert len(copies) == 1 and copies[0].stat().st_size > 100_000


def test_a_damaged_cached_copy_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHLENS_CACHE", str(tmp_path))
    monkeypatch.setattr(_espeak, "_private_library", None)
    first = tasks.speak("yes")
    copy = _espeak._private_library
    assert copy is not None and tmp_path in copy.parents
    copy.write_bytes(b"damaged")
    monkeypatch.setattr(_espeak, "_private_library", None)
    again = tasks.speak("yes")
    assert _espeak._private_library == copy and copy.stat().st_size > 100_000
    assert (first.audio == again.audio).all()


def test_an_unwritable_cache_falls_back_to_a_temporary_copy(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("a file, so no folder can be made under it (even by root)")
    cache = tmp_path / "file" / "cache"
    monkeypatch.setenv("SPEECHLENS_CACHE", str(cache))
    monkeypatch.setattr(_espeak, "_private_library", None)
    assert [w.word for w in tasks.speak("yes").words] == ["yes"]
    assert cache not in _espeak._private_library.parents
