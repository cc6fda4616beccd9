"""Measuring helpers for benchmarks/perf.py: FLOP counts, matmul throughput, peak memory.

FLOPs are counted analytically (2 per multiply-add) from the model's shapes, because torch's
FlopCounterMode does not count CPU scaled-dot-product attention; ``check_block_flops`` compares
the linear-layer part against FlopCounterMode.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["block_flops", "decoder_flops", "exact_map_flops", "matmul_gflops", "PeakMemory", "check_block_flops"]


def block_flops(n: int, d: int, ffn: int, attention: bool = True) -> float:
    """FLOPs of one Whisper encoder block on ``n`` positions (width ``d``, MLP width ``ffn``)."""
    linear = 2 * n * d * (3 * d) + 2 * n * d * d + 2 * 2 * n * d * ffn
    attn = 2 * 2 * n * n * d if attention else 0
    return float(linear + attn)


def decoder_flops(n: int, tokens: int, rows: int, d: int, ffn: int, layers: int, vocab: int) -> float:
    """FLOPs of the Whisper decoder on ``rows`` x ``tokens`` tokens over ``n`` encoder positions."""
    t = tokens * rows
    per_layer = (
        2 * t * d * 3 * d + 2 * t * d * d          # self-attention projections
        + 2 * 2 * rows * tokens * tokens * d        # self-attention scores and mix
        + 2 * t * d * d + 2 * t * d * d             # cross-attention query and output projections
        + 2 * 2 * rows * n * d * d                  # cross-attention keys and values, per row
        + 2 * 2 * t * n * d                         # cross-attention scores and mix
        + 2 * 2 * t * d * ffn                       # MLP
    )
    return float(layers * per_layer + 2 * t * d * vocab)


def exact_map_flops(model, cells_per_layer: dict, n: int, tokens: int, rows: int) -> float:
    """FLOPs the exact engine does for a map: each cell at encoder block output L re-runs the
    blocks after L and the decoder. ``cells_per_layer``: {layer: number of cells}."""
    c = model.config
    blocks = c.encoder_layers
    per_block = block_flops(n, c.d_model, c.encoder_ffn_dim)
    dec = decoder_flops(n, tokens, rows, c.d_model, c.decoder_ffn_dim, c.decoder_layers, c.vocab_size)
    total = 0.0
    for layer, count in cells_per_layer.items():
        total += count * ((blocks - 1 - layer) * per_block + dec)
    return total


def check_block_flops(model, n: int = 1500) -> tuple[float, float]:
    """(analytic linear FLOPs, FlopCounterMode FLOPs) of one encoder block: they should agree."""
    from torch.utils.flop_counter import FlopCounterMode

    c = model.config
    x = torch.randn(1, n, c.d_model, device=model.device)
    layer = model.core.encoder.layers[0]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        layer(x, None)
    return block_flops(n, c.d_model, c.encoder_ffn_dim, attention=False), float(counter.get_total_flops())


def matmul_gflops(device, shapes=((1500, 384, 1536), (2048, 2048, 2048)), repeats: int = 10) -> dict:
    """Measured float32 matmul throughput (best of ``repeats``) per shape, and the best overall."""
    out = {}
    for m, k, n in shapes:
        a = torch.randn(m, k, device=device)
        b = torch.randn(k, n, device=device)
        for _ in range(3):
            a @ b
        best = np.inf
        for _ in range(repeats):
            _sync(device)
            t = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - t)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / best / 1e9
    out["best"] = max(out.values())
    return out


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak memory during a block: CUDA allocator peak on a GPU, process RSS above the start on a CPU."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.peak_mb = float("nan")

    @contextmanager
    def measure(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
            yield self
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - base) / 2**20
            return
        start = _rss()
        peak = [start]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], _rss())
                stop.wait(0.01)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.peak_mb = (max(peak[0], _rss()) - start) / 2**20
