"""Sweeps on Ray (intervene.executors): the same numbers as a local run, resume, and bad input.

One Ray per module, started here (``ray.init(num_cpus=2)``, no dashboard) and shut down after;
one RayExecutor (2 single-threaded actors) shared by the tests, so the actors load the model
once. The model is a tiny random Whisper saved as a checkpoint folder: workers load it by path.
"""

from __future__ import annotations

import logging
import socket
import sys
import time

import numpy as np
import pytest
from counting import Counting

import corruptions
import intervene
import tasks
from intervene.executors import make_executor
from intervene.executors.ray_executor import probe_address
from intervene.sweeping import checkpoint_settings
from intervene.workstore import WorkStore
from tasks.errors import CapabilityError, ConfigError, ModelLoadError

ray = pytest.importorskip("ray")

SITES = ["encoder.2.block_output"]
KW = {"window_ms": 200, "span": "clip"}
WORDS = (("yes", "en-us"), ("stop", "en-gb-x-rp"), ("go", "en-us+f3"))


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from tiny_models import save_tiny_whisper, tiny_whisper

    return str(save_tiny_whisper(tiny_whisper(), tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def pairs():
    return [corruptions.get("word_swap").pair(tasks.speak(w, voice=v).padded(1.0, 0.3), seed=0) for w, v in WORDS]


@pytest.fixture(scope="module")
def task():
    return tasks.KeywordTask()


@pytest.fixture(scope="module")
def local_map(model_folder, task, pairs):
    """The reference: a local, per-pair sweep (the model loaded by path here)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the actors
    try:
        return intervene.sweep(model_folder, task, pairs, SITES, **KW)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ray_ex(ray_local):
    from intervene.executors import RayExecutor

    ex = RayExecutor(actors=2, threads_per_actor=1)
    try:
        yield ex
    finally:
        ex.close()


def test_ray_sweep_gives_the_local_numbers(ray_ex, model_folder, task, pairs, local_map):
    counting = Counting(ray_ex)
    remote = intervene.sweep(model_folder, task, pairs, SITES, executor=counting, **KW)
    assert len(counting.keys) == len(pairs) == remote.n_pairs
    assert local_map.per_pair.shape == (3, 1, 5) and not np.allclose(local_map.per_pair[0], local_map.per_pair[1])
    for name in ("values", "patched", "per_pair", "per_pair_patched", "per_pair_clean", "per_pair_corrupt"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local_map, name), err_msg=name)
    assert remote.coords == local_map.coords and remote.meta.pairs == local_map.meta.pairs
    workers = ray_ex.describe()["workers"]
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2 and all(w["threads"] == 1 for w in workers)


def test_killed_driver_resumes_computing_only_the_rest(ray_ex, model_folder, task, pairs, local_map, tmp_path):
    """A driver stopped after its first pair (the store partly filled) resumes: only the missing pairs
    run, none twice, and the streamed mean and spread are the per-pair ones."""
    store = WorkStore(tmp_path, checkpoint_settings(model_folder, task, SITES, {"window_ms": KW["window_ms"]}))
    first = Counting(ray_ex)
    outcomes = intervene.sweep_pairs(model_folder, task, pairs, SITES, store=store, executor=first, **KW)
    got = next(outcomes)
    outcomes.close()  # the driver stops here: units in flight are dropped, not stored
    stored = set(store.keys())
    assert got.key in stored and 1 <= len(stored) <= len(pairs)  # usually 1 or 2: what had finished
    assert stored <= set(first.keys)

    again = Counting(ray_ex)
    streamed = intervene.sweep(model_folder, task, pairs, SITES, checkpoint_dir=tmp_path, executor=again,
                               per_pair=False, **KW)  # fmt: skip
    every = set(store.keys())
    assert len(every) == len(pairs) and sorted(again.keys) == sorted(every - stored)  # the rest, each once
    assert streamed.per_pair is None and streamed.n_pairs == len(pairs)
    np.testing.assert_array_equal(streamed.values, local_map.values)  # the same sums in the same order
    np.testing.assert_array_equal(streamed.patched, local_map.patched)
    np.testing.assert_allclose(streamed.values_std, np.nanstd(local_map.per_pair, axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(streamed.pair_counts, np.full(local_map.values.shape, len(pairs)))
    np.testing.assert_array_equal(streamed.per_pair_clean, local_map.per_pair_clean)

    third = Counting(ray_ex)
    done = intervene.sweep(model_folder, task, pairs, SITES, checkpoint_dir=tmp_path, executor=third, **KW)
    assert third.keys == [] and np.array_equal(done.values, local_map.values)


def test_a_resume_with_every_unit_stored_never_starts_ray(ray_ex, model_folder, task, pairs, local_map, tmp_path):
    from intervene.executors import RayExecutor

    intervene.sweep(model_folder, task, pairs, SITES, checkpoint_dir=tmp_path, executor=ray_ex, **KW)
    fresh = RayExecutor(actors=1)

    def start():
        raise AssertionError("a resume with nothing to compute must not join or start Ray")

    fresh.start = start
    done = intervene.sweep(model_folder, task, pairs, SITES, checkpoint_dir=tmp_path, executor=fresh, **KW)
    assert not fresh.started and fresh.describe()["started"] is False
    np.testing.assert_array_equal(done.values, local_map.values)
    fresh.close()


def test_a_stalled_unit_ends_the_wait_with_a_clear_error(ray_ex, model_folder):
    from intervene.executors import WorkUnit, run_units
    from tasks.errors import InterventionError

    def slow(model, shared, seconds):
        time.sleep(seconds)
        return seconds

    ray_ex.pool(model_folder)
    before, ray_ex.wait_timeout_s = ray_ex.wait_timeout_s, 0.5
    try:
        t0 = time.monotonic()
        with pytest.raises(InterventionError, match=r"no unit finished within wait_timeout_s=0.5 s.*'stalled'"):
            list(run_units(ray_ex, model_folder, slow, [WorkUnit("stalled", 0, (3.0,))]))
        assert time.monotonic() - t0 < 2.5
    finally:
        ray_ex.wait_timeout_s = before
    assert [r.value for r in run_units(ray_ex, model_folder, slow, [WorkUnit("quick", 0, (0.0,))])] == [0.0]


def test_store_of_other_settings_is_refused(ray_ex, model_folder, task, pairs, tmp_path):
    WorkStore(tmp_path, checkpoint_settings(model_folder, task, SITES, {"window_ms": 100}))
    counting = Counting(ray_ex)
    with pytest.raises(ConfigError, match="other settings.*window_ms"):
        intervene.sweep(model_folder, task, pairs, SITES, checkpoint_dir=tmp_path, executor=counting, **KW)
    assert counting.keys == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_fails_within_seconds(ray_local):
    from intervene.executors import RayExecutor

    port = _closed_port()
    for address in (f"127.0.0.1:{port}", f"ray://localhost:{port}"):
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match="cannot be reached"):
            RayExecutor(address=address, connect_timeout_s=2.0)  # Ray is running here: still checked
        assert time.monotonic() - t0 < 5
    with pytest.raises(ConfigError, match="HOST:PORT"):
        probe_address("headnode", 1.0)
    with pytest.raises(ConfigError, match="ray_address"):
        RayExecutor(address="  ")


def test_without_ray_the_error_names_the_extra(monkeypatch, model_folder, task, pairs):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(CapabilityError, match=r'pip install "speechlens\[ray\]"'):
        make_executor("ray")
    with pytest.raises(CapabilityError, match=r"speechlens\[ray\]"):
        intervene.sweep(model_folder, task, pairs[:1], SITES, executor="ray", **KW)
    with pytest.raises(ConfigError, match="executor"):
        make_executor("dask")


def test_actor_that_cannot_load_the_model_raises_the_workers_error(ray_ex, task, pairs, tmp_path):
    """Runs last with the shared executor: its actors are replaced by ones that fail to load."""
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    t0 = time.monotonic()
    with pytest.raises(ModelLoadError, match="neither a CTranslate2") as info:
        intervene.sweep(str(empty), task, pairs[:1], SITES, executor=ray_ex, **KW)
    assert time.monotonic() - t0 < 120  # the load error itself, not ready_timeout_s (600 s)
    assert any("Ray worker" in note for note in getattr(info.value, "__notes__", []))
