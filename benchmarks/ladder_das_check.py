"""DAS on whisper-tiny.en, measured as the method ladder trains it: IIA, exact patching beside it, time.

Builds word-swap pairs (couples of ``--words`` x voices x ``--rates``), trains
:func:`intervene.das` at each ``--layers`` x ``--dims`` over each pair's changed span on the
design voices (early stopping on some of them), and prints, per (layer, dim), the held-out IIA
on the report voices with its 95% interval, the full-interchange IIA on the same examples (the
reference: swapping the whole site over those frames), the validation IIA, the epochs run and the
seconds spent (preparing, training, testing). One JSON line per (layer, dim) goes to ``--out``.

Usage::

    python benchmarks/ladder_das_check.py --layers 3 --dims 1 4 16 --out /tmp/das_check.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from benchmarks.common.cli import echo

DESIGN_VOICES = ("en-us", "en", "en-029", "en-gb-scotland", "en-us+m3", "en+f2", "en+m7", "en-gb-x-rp+f1",
                 "en-029+f5", "en-gb-x-gbclan+m5")  # fmt: skip
REPORT_VOICES = ("en-gb-x-rp", "en-us+f3", "en-gb-scotland+f4", "en-us-nyc+m1")


def make_pairs(words, voices, rates, onset_s=0.3, pitch=50):
    """Word-swap pairs: each word said by each voice at each rate, swapped for its partner."""
    import tasks
    from corruptions.word_swap import CORE_PARTNERS, WordSwap
    from tasks.errors import PairError

    pairs, skipped = [], 0
    couples = [(w, CORE_PARTNERS[w]) for i, w in enumerate(words) if CORE_PARTNERS.get(w) in words[i + 1 :]]
    for voice in voices:
        for rate in rates:
            for k, (word, partner) in enumerate(couples):
                src = tasks.speak(word, voice=voice, rate=int(rate), pitch=pitch).padded(1.0, onset_s=onset_s)
                try:
                    pairs.append(WordSwap(word=partner).pair(src, seed=k, target=word))
                except PairError:
                    skipped += 1
    return pairs, skipped


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", nargs="+", type=int, default=[3])
    ap.add_argument("--dims", nargs="+", type=int, default=[1, 4, 16])
    ap.add_argument("--words", nargs="+", default=["yes", "no", "up", "down"])
    ap.add_argument("--rates", nargs="+", type=int, default=[150, 200])
    ap.add_argument("--design-voices", nargs="+", default=list(DESIGN_VOICES))
    ap.add_argument("--report-voices", nargs="+", default=list(REPORT_VOICES))
    ap.add_argument("--kind", default="rotated")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--validation", type=float, default=0.2)
    ap.add_argument("--train-context-frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    import intervene
    import tasks

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = intervene.load_model("whisper-tiny.en")
    task = tasks.KeywordTask(a.words)
    pairs, skipped = make_pairs(a.words, a.design_voices + a.report_voices, a.rates)
    echo(f"{len(pairs)} pairs ({skipped} skipped) in {time.perf_counter() - t0:.1f} s")
    rows = []
    for layer in a.layers:
        for dim in a.dims:
            t1 = time.perf_counter()
            r = intervene.das(model, task, pairs, f"encoder.{layer}.block_output", dim=dim, kind=a.kind,
                              test=sorted(a.report_voices), validation=a.validation, batch_size=a.batch_size,
                              lr=a.lr, max_epochs=a.epochs, patience=a.patience,
                              train_context_frames=a.train_context_frames)  # fmt: skip
            rec = r.record
            row = {"layer": layer, "dim": dim, "iia": r.iia, "iia_ci": list(r.iia_ci), "n_test": r.n_test,
                   "full_interchange_iia": rec["full_interchange_iia"],
                   "full_interchange_iia_ci": rec["full_interchange_iia_ci"], "iia_validation": r.iia_validation,
                   "examples": rec["examples"], "dropped_wrong": rec["dropped_wrong"], "epochs_run": rec["epochs_run"],
                   "best_epoch": rec["best_epoch"], "history": rec["history"], "timings": rec["timings"],
                   "wall_s": round(time.perf_counter() - t1, 1),
                   "settings": {k: getattr(a, k) for k in ("kind", "epochs", "patience", "lr", "batch_size",
                                                           "train_context_frames", "rates", "words")}}  # fmt: skip
            rows.append(row)
            lo, hi = r.iia_ci
            echo(f"layer {layer} dim {dim}: IIA {r.iia:.3f} [{lo:.3f}, {hi:.3f}] on {r.n_test}; full interchange "
                  f"{rec['full_interchange_iia']:.3f}; validation IIA {r.iia_validation:.3f}; epochs "
                  f"{rec['epochs_run']} (best {rec['best_epoch']}); train {rec['timings']['train_s']:.0f} s, test "
                  f"{rec['timings']['test_s']:.0f} s, wall {row['wall_s']:.0f} s")  # fmt: skip
            if a.out:
                with open(a.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    main()
