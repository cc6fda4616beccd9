"""A sweep on a two-node local Ray cluster (ray.cluster_utils.Cluster) survives a killed worker.

Slow (two raylets, actors on each node, a worker process killed mid-run and restarted): run
with ``python -m pytest -m slow tests/scaleout/test_ray_cluster.py``.
"""

from __future__ import annotations

import logging
import os
import signal

import numpy as np
import pytest
from counting import Counting

import corruptions
import intervene
import tasks

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

SITES = ["encoder.2.block_output"]
KW = {"window_ms": 200, "span": "clip"}
WORDS = (("yes", "en-us"), ("stop", "en-gb-x-rp"), ("go", "en-us+f3"), ("left", "en"))


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1)
        c.wait_for_nodes()
        ray.init(address=c.address, logging_level=logging.WARNING, log_to_driver=False)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from tiny_models import save_tiny_whisper, tiny_whisper

    return str(save_tiny_whisper(tiny_whisper(), tmp_path_factory.mktemp("tiny") / "model"))


def test_two_nodes_a_killed_worker_is_restarted_and_the_numbers_stay(cluster, model_folder, tmp_path):
    import torch

    from intervene.executors import RayExecutor

    task = tasks.KeywordTask()
    pairs = [corruptions.get("word_swap").pair(tasks.speak(w, voice=v).padded(1.0, 0.3), seed=0) for w, v in WORDS]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = intervene.sweep(model_folder, task, pairs, SITES, **KW)
    finally:
        torch.set_num_threads(threads)

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    with RayExecutor(actors=2, threads_per_actor=1) as ex:  # one actor per node (1 CPU each)
        ex.pool(model_folder)
        workers = ex.describe()["workers"]
        assert len({w["pid"] for w in workers}) == 2
        victim = workers[0]["pid"]
        killed = []

        def lazily():  # the driver pulls pairs as workers free up; kill a worker once two are in flight
            for i, pair in enumerate(pairs):
                if i == 2 and not killed:
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                yield pair

        counting = Counting(ex)
        remote = intervene.sweep(model_folder, task, lazily(), SITES, executor=counting, total=len(pairs),
                                 checkpoint_dir=tmp_path, per_pair=False, **KW)  # fmt: skip
        after = {w["pid"] for w in ray.get([a.ensure.remote(model_folder) for a in ex.pool(model_folder)])}
    assert killed and victim not in after and len(after) == 2  # Ray restarted the killed actor (a new process)
    assert sorted(counting.keys) == sorted(set(counting.keys)) and len(counting.keys) == len(pairs)  # none twice
    np.testing.assert_array_equal(remote.values, local.values)
    np.testing.assert_allclose(remote.values_std, np.nanstd(local.per_pair, axis=0), rtol=1e-12, atol=1e-15)
    assert len(list(tmp_path.glob("pair*.map.npz"))) == len(pairs)
