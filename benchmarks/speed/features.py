"""Activation-store extraction speed (a row for ``benchmarks/perf.py`` and ``benchmarks/sae.py``).

:func:`store_row` extracts one site's audio frames over a few synthesized clips into a
temporary store (:func:`intervene.features.extract`: one forward per clip, cut short once the
site has been read) and reports frames per second of extraction, next to

- full forwards with a plain capture (what the store saves by stopping at the site), and
- a truncated encoder (``model.runner(context_frames)`` with only the clip's own frames, as
  whisper.cpp's ``audio_ctx``), which is several times faster on short clips but NOT exact:
  Whisper's encoder attends over the padding's positions too, so the activations at the audio
  frames change (``truncated_relative_error``: about 0.25 at encoder.3 of tiny.en). The store
  therefore runs the full 1500-position encoder; the truncated speed is reported for comparison.
"""

from __future__ import annotations

import tempfile
import time

import torch

__all__ = ["STORE_COLUMNS", "store_row", "store_rows"]

STORE_COLUMNS = ["extraction", "frames/s", "relative error vs the store", "max abs diff"]


def _truncated(model, site: str, audio) -> tuple:
    """Activations of ``site`` (an encoder block output) with only the clip's frames in context, and seconds."""
    r = model.resolve(site)
    layer = int(site.split(".")[1])
    n = model.num_frames(audio.shape[0])
    t = time.perf_counter()
    with torch.no_grad():
        feats = model.inputs(audio, checked=True)["input_features"]
        runner = model.runner(min(n, model.n_positions))
        out: list = []
        runner.blocks(runner.stem(feats), 0, out)
        x = out[layer][0, :n]
    if r.head_slice is not None:
        x = x[..., r.head_slice]
    return x.float(), time.perf_counter() - t


def store_row(model, site: str = "encoder.3.block_output", n_clips: int = 4) -> dict:
    """Extraction speed of ``site`` over ``n_clips`` synthesized clips.

    Returns
    -------
    dict
        ``site``, ``clips``, ``frames``, ``store_frames_per_s`` (the activation store),
        ``full_forward_frames_per_s`` (whole forwards with a capture), and, where the adapter
        offers a truncated context and the site is an encoder block output,
        ``truncated_frames_per_s``, ``truncated_relative_error`` (||truncated - store|| /
        ||store|| over all frames) and ``truncated_max_abs_diff``; else those are None.
    """
    from intervene import hooks
    from intervene.features import extract, synthetic_corpus

    corpus = synthetic_corpus(n_clips, words=(), n_noise=0, n_silence=0, seed=0)
    audio = [model.prepare(c.load()) for c in corpus]
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        store = extract(model, site, corpus, folder, clips_per_shard=n_clips)
        store_s = time.perf_counter() - t
        frames = store.n_frames
        x = store.arrays()[0]
    t = time.perf_counter()
    with torch.no_grad():
        for a in audio:
            with hooks.capture(model, [site]):
                model.logits(model.inputs(a, checked=True))
    full_s = time.perf_counter() - t
    row = {"site": site, "clips": n_clips, "frames": frames, "store_frames_per_s": frames / store_s,
           "full_forward_frames_per_s": frames / full_s, "truncated_frames_per_s": None,
           "truncated_relative_error": None, "truncated_max_abs_diff": None}  # fmt: skip
    key = model.site(site).key
    if model.capabilities.truncated_context and key.endswith(".block_output") and key.startswith("encoder."):
        parts, seconds = [], 0.0
        for a in audio:
            got, s = _truncated(model, key, a)
            parts.append(got)
            seconds += s
        tx = torch.cat(parts)
        diff = tx - x
        row.update({"truncated_frames_per_s": frames / seconds,
                    "truncated_relative_error": float(diff.norm() / x.norm().clamp_min(1e-12)),
                    "truncated_max_abs_diff": float(diff.abs().max())})  # fmt: skip
    return row


def store_rows(row: dict) -> list:
    """Rows for a report table (:data:`STORE_COLUMNS`)."""
    rows = [["activation store (exact: full encoder, stopped at the site)", row["store_frames_per_s"], 0.0, 0.0],
            ["full forward with a capture", row["full_forward_frames_per_s"], 0.0, 0.0]]
    if row.get("truncated_frames_per_s") is not None:
        rows.append(["truncated encoder (the clip's frames only; not exact, not used)", row["truncated_frames_per_s"],
                     row["truncated_relative_error"], row["truncated_max_abs_diff"]])  # fmt: skip
    return rows
