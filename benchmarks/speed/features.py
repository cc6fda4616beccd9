"""Activation-store extraction speed (a row for ``benchmarks/perf.py`` and ``benchmarks/sae.py``).

:func:`store_row` extracts one site's audio frames over a few synthesized clips into a
temporary store and reports frames per second of extraction (the forward is cut short once
the site has been read), next to the frames per second of full forwards with a plain capture.
"""

from __future__ import annotations

import tempfile
import time

import torch

__all__ = ["store_row"]


def store_row(model, site: str = "encoder.3.block_output", n_clips: int = 4) -> dict:
    """``{"site", "clips", "frames", "store_frames_per_s", "full_forward_frames_per_s"}`` for ``model``."""
    from intervene import hooks
    from intervene.features import extract, synthetic_corpus

    corpus = synthetic_corpus(n_clips, words=(), n_noise=0, n_silence=0, seed=0)
    audio = [model.prepare(c.load()) for c in corpus]
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        store = extract(model, site, corpus, folder, clips_per_shard=n_clips)
        store_s = time.perf_counter() - t
        frames = store.n_frames
    t = time.perf_counter()
    with torch.no_grad():
        for a in audio:
            with hooks.capture(model, [site]):
                model.logits(model.inputs(a, checked=True))
    full_s = time.perf_counter() - t
    return {"site": site, "clips": n_clips, "frames": frames, "store_frames_per_s": frames / store_s,
            "full_forward_frames_per_s": frames / full_s}
