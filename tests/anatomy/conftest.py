"""Fixtures of the anatomy tests: prepared pairs on the tiny random Whisper (``tiny_whisper``)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture()
def ctx(tiny_whisper, yes_no_pair):
    """A fresh prepared keyword pair on the tiny model (noising: the clean clip is the base run)."""
    import tasks
    from intervene.context import PairContext

    return PairContext.build(tiny_whisper, tasks.KeywordTask(), yes_no_pair[1], "noise")


@pytest.fixture(scope="session")
def vec16():
    """A random direction of the tiny model's width (16)."""
    return np.random.default_rng(0).standard_normal(16).astype(np.float32)


@pytest.fixture(scope="session")
def vec8():
    """A random direction of the tiny model's head width (8)."""
    return np.random.default_rng(1).standard_normal(8).astype(np.float32)
