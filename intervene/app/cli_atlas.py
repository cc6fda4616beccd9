"""The ``speechlens atlas`` command: a static HTML atlas of a layer's MLP neurons or an SAE's features.

    speechlens atlas --model whisper-tiny.en --site encoder.3.mlp_hidden --out atlas-l3
    speechlens atlas --site encoder.3.block_output --sae runs/sae-l3 --out atlas-sae [--clips 200]
    speechlens atlas --site encoder.3.mlp_hidden --data folder:recordings/ --out atlas-rec

Prints a one-line summary per written folder; view it with ``python -m http.server -d DIR``.
Parsing imports nothing heavy; :func:`add_commands` is called by
:func:`intervene.app.cli.build_parser`.
"""

from __future__ import annotations

import sys

from intervene.app.cli_args import whole

__all__ = ["add_commands"]

DEFAULT_CLIPS = 120  # intervene.app.atlas.build.DEFAULT_CLIPS, without importing torch here
DEFAULT_TOP = 5


def _cmd_atlas(args) -> int:
    from pathlib import Path

    from intervene.app.cli_args import check_device, prepare_out

    check_device(args.device)
    if args.sae is not None and not Path(args.sae).is_dir():
        from tasks.errors import ConfigError

        raise ConfigError(f"--sae ('{args.sae}') is not a folder; give the folder SAE.save / train_sae(out=...) wrote")
    out = prepare_out(args.out)
    import intervene
    from intervene.app.atlas import build_atlas

    model = intervene.load_model(args.model, device=args.device)
    result = build_atlas(model, args.site, sae=args.sae, clips=args.clips, out=out, units=args.units, top=args.top,
                         data=args.data, align=not args.no_align, progress=not args.no_progress)
    idx = result.index
    sys.stdout.write(f"wrote {out / 'index.html'}: {idx['n_units']} {idx['unit_kind']}s of {idx['site']} over "
                     f"{idx['n_clips']} clips ({idx['n_frames']} frames) in {sum(result.seconds.values()):.1f} s; "
                     f"view with: python -m http.server -d {out}\n")
    return 0


def add_commands(sub) -> None:
    """Add ``atlas`` to the ``speechlens`` subparsers."""
    p = sub.add_parser("atlas", help="a static HTML atlas of a layer's MLP neurons or an SAE's features",
                       description="Per unit: top activating clips with audio, the activation under the spectrogram "
                       "with word and phoneme marks, associated words and phonemes, density; a search box.")
    p.add_argument("--model", default="whisper-tiny.en", help="bundled model name or model folder (default: "
                   "whisper-tiny.en)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if available, else cpu)")
    p.add_argument("--site", required=True, help="an encoder site: encoder.3.mlp_hidden (the layer's MLP neurons), "
                   "or with --sae the site the SAE reads, e.g. encoder.3.block_output (see `speechlens sites`)")
    p.add_argument("--sae", metavar="PATH", default=None, help="an SAE folder (train_sae / SAE.save): its features "
                   "are the units")
    p.add_argument("--out", required=True, help="atlas folder to write (an earlier atlas there is replaced)")
    p.add_argument("--clips", type=whole("--clips", 1), default=None,
                   help=f"corpus size (default: {DEFAULT_CLIPS} synthesized clips; with --data: every recording)")
    p.add_argument("--units", type=whole("--units", 1), default=None, help="the first N units (default: all)")
    p.add_argument("--top", type=whole("--top", 1, 100), default=DEFAULT_TOP,
                   help=f"top clips per unit (default: {DEFAULT_TOP})")
    p.add_argument("--data", metavar="SPEC", default=None, help="recordings instead of synthesized speech: a "
                   "tasks.open_dataset spec such as folder:recordings/ (words aligned with intervene.align)")
    p.add_argument("--no-align", action="store_true", help="--data: no word/phoneme marks (skip the alignment)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_atlas)
