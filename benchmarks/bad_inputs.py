"""The bad-input battery: hundreds of wrong inputs, damaged files and faults, each classified.

    python benchmarks/bad_inputs.py [--quick] [--out runs/bad_inputs] [--only TEXT]

Every probe (:mod:`benchmarks.badinputs`: the API, saved artifacts, faults) is run and
classified as a typed error (what was due), accepted (a correct result), silently wrong (a bad
input accepted, or a wrong result) or a raw traceback. The counts are printed per area and in
total, every probe's outcome goes to ``<out>/bad_inputs.json``, and the silently wrong and raw
ones are listed. The exit status is 1 when any probe is silently wrong or raw (the target is
0 of each), else 0. ``--quick`` leaves out the probes that run patches, sweeps or model
conversions (marked heavy). Runs offline on the real whisper-tiny.en.

``--data SPEC [SPEC ...]`` runs the battery on your own dataset instead (any
``tasks.open_dataset`` spec): every clip is read as the benchmarks read it, and the clips the
readers refuse are listed with the typed error naming the file and the rule (a health report
of the data; :mod:`benchmarks.badinputs.data`). The probes test this process's own handling of
bad input, so there is no ``--executor``: nothing here is worth sending to a cluster.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.badinputs import OUTCOMES, Env, load_families, run_probe, temporary_root
from benchmarks.common.cli import echo, progress

__all__ = ["main"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: python benchmarks/bad_inputs.py --quick --out runs/bad_inputs")
    parser.add_argument("--quick", action="store_true", help="leave out the heavy probes (patches, sweeps, conversions)")
    parser.add_argument("--out", type=Path, default=Path("runs/bad_inputs"),
                        help="folder for bad_inputs.json (default: runs/bad_inputs)")
    parser.add_argument("--only", default=None, help="run only the probes whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the probes' names and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--data", nargs="+", metavar="SPEC",
                        help="check your own dataset instead (librispeech:PATH, manifest:PATH, hf:NAME_OR_PATH, "
                             "speech_commands:PATH, folder:PATH): every clip read, the refused ones listed")
    parser.add_argument("--max-clips", dest="max_clips", type=int, default=None, metavar="N",
                        help="clips read per --data spec (default: all)")
    return parser.parse_args(argv)


def _table(results: list) -> list[str]:
    areas = sorted({r["area"] for r in results})
    rows = [("area", "probes", *OUTCOMES)]
    for area in areas + ["total"]:
        these = [r for r in results if area in ("total", r["area"])]
        counts = Counter(r["outcome"] for r in these)
        rows.append((area, str(len(these)), *(str(counts.get(o, 0)) for o in OUTCOMES)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.data:
        from benchmarks.badinputs.data import data_probes
        from benchmarks.common.data import check_data

        from tasks.errors import SpeechLensError

        try:
            every = data_probes(check_data("data", args.data), args.max_clips)
        except SpeechLensError as exc:
            echo(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        every = load_families()
    probes = [p for p in every if (not args.quick or not p.heavy) and (args.only is None or args.only in p.name)]
    if args.list:
        for p in probes:
            echo(f"{p.name}  [{p.expect}{', heavy' if p.heavy else ''}]")
        return 0
    root = temporary_root()
    env = Env(root)
    t0 = time.perf_counter()
    try:
        results = [run_probe(p, env) for p in progress(probes, enabled=not args.no_progress, desc="probes", unit="probe")]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    from tasks.atomic import write_json

    counts = Counter(r["outcome"] for r in results)
    summary = {"probes": len(results), **{o: counts.get(o, 0) for o in OUTCOMES},
               "unexpected_typed": sum(1 for r in results if r.get("unexpected")), "quick": args.quick,
               "seconds": round(time.perf_counter() - t0, 1)}
    if args.data:
        summary["data"] = {"specs": list(args.data), "clips_read": summary["accepted"],
                           "clips_refused": summary["unexpected_typed"]}  # fmt: skip
    out = args.out.resolve()
    write_json(out / "bad_inputs.json", {"summary": summary, "probes": results})
    for line in _table(results):
        echo(line)
    for r in results:
        if r["outcome"] in ("silent", "raw") or r.get("unexpected"):
            flag = ("REFUSED" if r["area"] == "data" else "TYPED (result was due)") if r.get("unexpected") else \
                r["outcome"].upper()  # fmt: skip
            echo(f"{flag}: {r['name']}: {r.get('error', '')} {r.get('message', '')} {r.get('where', '')}".rstrip())
    echo(f"{summary['probes']} probes in {summary['seconds']} s: typed {summary['typed']}, accepted "
         f"{summary['accepted']}, silently wrong {summary['silent']}, raw {summary['raw']}; wrote {out / 'bad_inputs.json'}")
    return 1 if summary["silent"] or summary["raw"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
