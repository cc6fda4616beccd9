"""perf.py rows of issue 13: a full head-mask sweep and an attention-window sweep, cached vs plain.

Head masks: every head of every layer (encoder self-attention, decoder self-attention,
cross-attention), one cell each, as a map through :func:`intervene.patch`:
``method="head_mask"`` (the cached runner: an encoder head at layer L re-runs blocks from L,
a decoder head only the decoder on cached cross-attention keys and values) against the plain
pyvene loop, ``method="pyvene", intervention="zero"`` on the same head sites (one
``IntervenableModel`` forward per cell). Same cells, same metric; the rows report the largest
difference between the two maps' raw metrics.

Windows: every encoder layer x each k (``k x layer``), through :func:`intervene.anatomy.window_map`
(cached: blocks re-run from the restricted layer) against the plain hook loop a user would
write (the mask installed, an ordinary forward per cell).

    python -m benchmarks.speed.anatomy [--quick]     # the rows alone
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

__all__ = ["measure_anatomy", "anatomy_rows", "window_bound", "KS", "QUICK_ANATOMY", "ANATOMY_TEXT"]

KS = (1499, 100, 75, 50, 20, 10)
"""The window sweep's half-widths (Reid 2023's table; 1499 covers every frame of Whisper's 1500)."""


QUICK_ANATOMY = {"ks": (1499, 10), "layers": (3,), "head_layers": (3,), "heads": (0, 1)}
"""What perf.py's ``--quick`` measures: two k on the last encoder layer; heads 0-1 of each kind in layer 3."""

ANATOMY_TEXT = (
    "Every head of every layer masked in turn (encoder self-attention, decoder self-attention, cross-attention) and "
    "attention windows at each k x encoder layer, on the run's last pair (noising: the clean clip is the base run). "
    "Cached runs re-run encoder blocks from the first layer a cell changes, and decoder-only cells only the decoder "
    "on cached cross-attention keys and values; a window at layer L must still re-run every block after L."
)


def _timed(fn, device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def _plain_window_loop(model, ctx, ks, layers) -> np.ndarray:
    """Metric of each (k, layer) cell by an ordinary forward with the mask installed (the hook loop)."""
    from intervene.anatomy import AttentionWindow, RunEnv, applied

    env = RunEnv(model, ctx.base_inputs)
    out = np.empty((len(ks), len(layers)))
    with torch.no_grad():
        for i, k in enumerate(ks):
            for j, layer in enumerate(layers):
                with applied(model, AttentionWindow(k, layers=[layer]), env):
                    out[i, j] = float(ctx.readout.metric(model.logits(ctx.base_inputs)).reshape(-1)[0])
    return out


def measure_anatomy(model, task, pair, ks=KS, layers=None, head_sites=None, head_layers=None, heads=None,
                    device=None) -> dict:
    """Time the head-mask and window sweeps both ways on one pair; compare their numbers.

    Returns a record with ``head_plain_s``, ``head_cached_s``, ``head_speedup``,
    ``head_max_abs_diff``, ``head_cells`` and the same ``window_*`` fields.
    """
    import intervene
    from intervene.anatomy import window_map
    from intervene.context import PairContext

    device = device or model.device
    layers = list(range(model.num_layers("encoder"))) if layers is None else list(layers)
    ks = [int(k) for k in ks]
    if head_sites is None:
        head_sites = [s for stream, comp in (("encoder", "attention_head"), ("decoder", "attention_head"),
                                             ("decoder", "cross_attention_head"))
                      for s in model.sites(stream, comp, layers=head_layers) if heads is None or s.head in heads]
    kw = dict(unit="all", span="all", direction="noise", guards=False)
    rec: dict = {"model": model.name, "head_cells": len(head_sites), "window_cells": len(ks) * len(layers),
                 "ks": ks, "layers": layers}
    plain, rec["head_plain_s"] = _timed(
        lambda: intervene.patch(model, task, pair, head_sites, method="pyvene", intervention="zero", **kw), device)
    cached, rec["head_cached_s"] = _timed(
        lambda: intervene.patch(model, task, pair, head_sites, method="head_mask", **kw), device)
    rec["head_max_abs_diff"] = float(np.max(np.abs(plain.patched - cached.patched)))
    rec["head_speedup"] = rec["head_plain_s"] / rec["head_cached_s"]
    rec["head_runner"] = cached.meta.runner

    ctx = PairContext.build(model, task, pair, "noise")
    wplain, rec["window_plain_s"] = _timed(lambda: _plain_window_loop(model, ctx, ks, layers), device)
    sites = [f"encoder.{layer}.attention_output" for layer in layers]
    wcached, rec["window_cached_s"] = _timed(
        lambda: window_map(model, task, pair, ks, sites, guards=False), device)
    rec["window_max_abs_diff"] = float(np.max(np.abs(wplain - wcached.patched)))
    rec["window_speedup"] = rec["window_plain_s"] / rec["window_cached_s"]
    rec["window_runner"] = wcached.meta.runner
    rec.update(window_bound(model, ctx, layers, device))
    if rec["window_bound"] is not None:  # the same bound against this loop's own (masked) cells
        rec["window_bound_loop"] = (rec["window_plain_s"] / rec["window_cells"]) / float(
            np.mean(rec["window_bound_tail_s"]))
    rec["threads"] = torch.get_num_threads()
    return rec


def window_bound(model, ctx, layers, device, repeats: int = 3) -> dict:
    """The most any exact cached engine can gain on a window sweep, measured.

    A window at layer L changes the output of L's attention at every frame, so everything from
    there on must be recomputed: layer L's ``out_proj`` and MLP, every later block, the final norm,
    the decoder's cross-attention keys and values and the decoder. Nothing before it (stem, earlier
    blocks, layer L's queries, keys, values) needs to be, and the attention itself of a narrow
    window could be nearly free. So no exact engine's cell costs less than the cached runner's
    head-mask cell at layer L with no hooks installed (``start=(L, 1)``: cached heads through
    ``out_proj`` onwards), and a plain cell costs at least the plain forward without a mask. Their
    ratio, averaged over the swept layers, is the bound: ``window_bound`` (None where the adapter
    has no cached runner). :func:`measure_anatomy` adds ``window_bound_loop``, the same tail against
    the hook loop's own cells (with the mask's cost, the more generous of the two).
    """
    runner = model.anatomy_runner(ctx, model.runner())
    if runner is None:
        return {"window_bound": None}
    runner.prepare()

    def best(fn):
        return min(_timed(fn, device)[1] for _ in range(repeats))

    with torch.no_grad():
        full = best(lambda: model.logits(ctx.base_inputs))
        tails = [best(lambda layer=layer: runner.logits((layer, 1))) for layer in layers]
    return {"window_bound": full * len(tails) / sum(tails), "window_bound_full_s": full,
            "window_bound_tail_s": tails}


def anatomy_rows(rec: dict) -> list:
    """Rows for perf.py's table: [what, seconds, speed-up, max abs diff, agreement, peak MB (None)]."""
    return [
        [f"head masks, plain pyvene loop ({rec['head_cells']} heads)", rec["head_plain_s"], 1.0, 0.0, "-", None],
        ["head masks, method='head_mask' (cached)", rec["head_cached_s"], rec["head_speedup"],
         rec["head_max_abs_diff"], "same numbers" if rec["head_max_abs_diff"] <= 1e-5 else "differ", None],
        [f"windows, plain hook loop ({len(rec['ks'])} k x {len(rec['layers'])} layers)", rec["window_plain_s"], 1.0,
         0.0, "-", None],
        ["windows, method='window' (cached)", rec["window_cached_s"], rec["window_speedup"],
         rec["window_max_abs_diff"], "same numbers" if rec["window_max_abs_diff"] <= 1e-5 else "differ", None],
    ] + ([["windows, bound of any exact cached engine vs the hook loop (window_bound)", None,
           rec["window_bound_loop"], None, "upper bound", None]] if rec.get("window_bound") else [])


def main(argv=None) -> dict:
    import corruptions
    import intervene
    import tasks
    from benchmarks.common import echo

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="whisper-tiny.en")
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true", help="two ks, one layer, a few heads (a correctness run)")
    p.add_argument("--out", help="write the record as JSON here")
    args = p.parse_args(argv)
    model = intervene.load_model(args.model, device=args.device)
    utt = tasks.speak("yes", voice="en-us").padded(1.0, 0.3)
    pair = corruptions.get("word_swap", word="no").pair(utt, seed=0)
    rec = measure_anatomy(model, tasks.KeywordTask(), pair, **(QUICK_ANATOMY if args.quick else {}))
    for row in anatomy_rows(rec):
        secs = "" if row[1] is None else f"{row[1]:8.2f} s"
        diff = "" if row[3] is None else f"max|diff| {row[3]:.2e}"
        echo(f"{row[0]:60s} {secs:>10s}  {row[2]:5.2f}x  {diff:18s} {row[4]}")
    if args.out:
        from tasks.atomic import write_json

        write_json(args.out, rec)
    echo(json.dumps({k: v for k, v in rec.items() if not isinstance(v, list)}, indent=1))
    return rec


if __name__ == "__main__":
    main()
