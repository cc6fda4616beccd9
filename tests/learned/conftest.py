"""Fixtures of the learned-intervention tests: the planted models and their data (built once).

The fixture names start with ``tiny_`` so the tests run single-threaded (``tests/conftest.py``).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_planted():
    """The planted model whose answer reads ``u`` at encoder layer 1 over the destination frames."""
    from intervene.learned.planted import planted_model

    return planted_model("used")


@pytest.fixture(scope="session")
def tiny_planted_unused():
    """The planted model that computes ``u`` but never reads it."""
    from intervene.learned.planted import planted_model

    return planted_model("unused")


@pytest.fixture(scope="session")
def planted_task():
    import tasks

    return tasks.KeywordTask(["yes", "no"])


@pytest.fixture(scope="session")
def planted_pairs():
    from intervene.learned.planted import planted_pairs

    return planted_pairs(10)


@pytest.fixture(scope="session")
def planted_clips():
    from intervene.learned.planted import planted_clips

    return planted_clips(range(12))


@pytest.fixture(scope="session")
def planted_acts(tiny_planted, planted_clips):
    """Every encoder block output of the used model on the planted clips."""
    from intervene.learned.activations import collect

    return collect(tiny_planted, tiny_planted.sites("encoder", "block_output"), planted_clips)


@pytest.fixture(scope="session")
def planted_das(tiny_planted, planted_task, planted_pairs):
    """A rotated dim-1 DAS at the planted layer over the destination frames."""
    import intervene
    from intervene.learned.planted import DST_TIMES_S

    return intervene.das(tiny_planted, planted_task, planted_pairs, "encoder.1.block_output", times_s=DST_TIMES_S,
                         dim=1, kind="rotated", max_epochs=15, patience=5, batch_size=4, lr=0.05,
                         train_context_frames=64)
