"""What each ``speechlens`` command does (the parser is in :mod:`intervene.app.cli`).

Every command checks what it was given first (:mod:`intervene.app.cli_args`), then its output
folder, and only then loads a model and computes. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from intervene.app.cli_args import check_device, check_method, load_pairs, parse_params, prepare_out
from tasks.errors import ConfigError

__all__ = ["echo", "COMMANDS"]

logger = logging.getLogger("speechlens")


def echo(*parts, file=None) -> None:
    """Write one line of command output (what the user ran the command to see) to stdout or ``file``."""
    (file or sys.stdout).write(" ".join(str(p) for p in parts) + "\n")


# ----------------------------------------------------------------------------- tasks and pairs
def _task_config(args, pairs=None) -> dict:
    """``{"kind": "keyword" | "carrier", "template": ...}``: from the flags, else from saved pairs."""
    template = getattr(args, "text", None)
    task = getattr(args, "task", None)
    if template is not None:
        if task == "keyword" and template.split("{word}")[0].strip():
            raise ConfigError(f"--task keyword reads the first word, but --text ({template!r}) puts words "
                              "before {word}; drop --task (the sentence task is used)")  # fmt: skip
        return {"kind": "carrier" if template.split("{word}")[0].strip() else "keyword", "template": template}
    if task is not None:
        return {"kind": task, "template": None}
    recorded = [p.metadata.get("task") for p in pairs or [] if isinstance(p.metadata.get("task"), dict)]
    if recorded:
        first = recorded[0]
        if any((r.get("kind"), r.get("template")) != (first.get("kind"), first.get("template")) for r in recorded):
            raise ConfigError("the --pair folders were made for different tasks (keyword / sentences); "
                              "give --task or --text to choose one")  # fmt: skip
        return {"kind": first.get("kind", "keyword"), "template": first.get("template")}
    return {"kind": "keyword", "template": None}


def _make_task(args, config: dict, pairs=()):
    import tasks

    if getattr(args, "words", None):
        words = [w.strip().lower() for w in args.words.split(",") if w.strip()]
    else:
        words = list(tasks.SPEECH_COMMANDS_CORE)
    needed = [getattr(args, "word", None), getattr(args, "swap", None)]
    needed += [a for p in pairs for a in (p.clean_answer, p.corrupt_answer)]
    for w in needed:
        if w and w.lower() not in words:
            words.append(w.lower())
    if config["kind"] == "carrier":
        kwargs = {"template": config["template"]} if config.get("template") else {}
        return tasks.CarrierTask(words, **kwargs)
    return tasks.KeywordTask(words)


def _make_pair(args, task, config: dict):
    import corruptions
    import tasks

    voice = dict(voice=args.voice, rate=args.rate, pitch=args.pitch)
    if config.get("template"):
        sentence = config["template"].replace("{word}", args.word.strip())
        utt = tasks.speak(sentence, **voice)
        utt.word_span(args.word)  # the synthesizer may merge a word with its neighbour: say so now
    elif config["kind"] == "carrier":
        utt = task.utterance(args.word, **voice)
    else:
        utt = tasks.speak(args.word, **voice).padded(args.duration)
    params = parse_params(args.param)
    kind = args.corruption or ("word_swap" if args.swap else "noise")
    if args.swap:
        if kind != "word_swap":
            raise ConfigError(f"--swap makes a word_swap pair; drop --corruption {kind} or --swap")
        params["word"] = args.swap
    pair = corruptions.get(kind, **params).pair(utt, seed=args.seed, target=args.word)
    # Record the task the pair was made for, so `patch --pair` reads it the same way.
    task_record = {"kind": config["kind"], "template": getattr(task, "template", None)}
    return dataclasses.replace(pair, metadata=dict(pair.metadata) | {"task": task_record})


def _describe(pair) -> str:
    spans = ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in pair.changed_spans) or "nothing"
    how = pair.params.get("splice")
    made = f" ({how} splice)" if how else ""
    return f"{pair.corruption.get('kind')}{made}: {pair.clean_answer!r} -> {pair.corrupt_answer!r}, changed {spans}"


# ----------------------------------------------------------------------------- commands
def cmd_patch(args) -> int:
    check_method(args.method, args.estimator)
    check_device(args.device)
    pairs = load_pairs(args.pair) if args.pair else None
    config = _task_config(args, pairs)
    out = prepare_out(args.out)
    from intervene.workstore import folder_lock

    with folder_lock(out):
        return _patch(args, out, pairs, config)


def _patch(args, out: Path, pairs, config: dict) -> int:
    import intervene
    from tasks.atomic import write_json

    t0 = time.time()
    task = _make_task(args, config, pairs or ())
    if pairs is None:
        pairs = [_make_pair(args, task, config)]
        echo(f"pair: {_describe(pairs[0])}", file=sys.stderr)
    model = intervene.load_model(args.model, device=args.device)
    sites = args.sites or (["decoder.block_output"] if args.unit == "token" else ["encoder.block_output"])
    kwargs = dict(unit=args.unit, window_ms=args.window_ms, span=args.map_span, margin_ms=args.margin_ms,
                  direction=args.direction, method=args.method, estimator=args.estimator, ig_steps=args.ig_steps,
                  context_frames=args.context_frames)  # fmt: skip
    if len(pairs) == 1:
        cmap = intervene.patch(model, task, pairs[0], sites, progress=not args.no_progress, **kwargs)
        pairs[0].save(out / "pair")
    else:
        cmap = intervene.sweep(model, task, pairs, sites, progress=not args.no_progress,
                               checkpoint_dir=out / "per_pair", **kwargs)  # fmt: skip
    cmap.save(out / "map.npz")
    cmap.plot(out / "map.png", show_std=cmap.n_pairs > 1)
    gap = cmap.clean_metric - cmap.corrupt_metric
    if gap < 1.0:
        what = "raised" if gap < 0 else "barely moved"
        logger.warning("the corruption %s the metric (clean %.2f, corrupt %.2f): the map's ratios are unreliable; "
                       "use a stronger corruption", what, cmap.clean_metric, cmap.corrupt_metric)  # fmt: skip
    summary = cmap.summary() | {"seconds": round(time.time() - t0, 2), "files": ["map.npz", "map.json", "map.png"]}
    write_json(out / "summary.json", summary)
    echo(json.dumps(summary, indent=2))
    echo(f"wrote {out / 'map.png'}, map.npz, map.json, summary.json", file=sys.stderr)
    return 0


def cmd_pair(args) -> int:
    config = _task_config(args)
    out = prepare_out(args.out)
    task = _make_task(args, config)
    pair = _make_pair(args, task, config)
    path = pair.save(out)
    echo(f"wrote {path}: {_describe(pair)}")
    return 0


def cmd_demo(args) -> int:
    check_device(args.device)
    out = prepare_out(args.out)
    from intervene.app.demo import DemoSettings, run_demo
    from intervene.workstore import folder_lock

    settings = DemoSettings.quick(args.model) if args.quick else DemoSettings(model=args.model)
    with folder_lock(out):
        run_demo(out, settings, device=args.device, progress=not args.no_progress, log=echo)
    return 0


def cmd_transcribe(args) -> int:
    check_device(args.device)
    import intervene
    from tasks.audio import read_wav

    model = intervene.load_model(args.model, device=args.device)
    for f in args.files:
        echo(f"{f}\t{model.transcribe(read_wav(f, max_duration_s=model.max_duration_s))}")
    return 0


def cmd_models(args) -> int:
    from intervene.models.loader import BUNDLED

    for name, b in BUNDLED.items():
        echo(f"{name:18s} {b.description}\n{'':18s} pip: {b.pip}; licence: {b.licence}")
    return 0


def cmd_sites(args) -> int:
    import intervene

    model = intervene.load_model(args.model, device="cpu")
    for spec in model.table.specs:
        sites = model.sites(spec.stream, spec.component)
        echo(f"{spec.stream}.{spec.component:24s} {len(sites):4d} sites  e.g. {sites[-1].key:32s} {spec.doc}")
    return 0


def cmd_voices(args) -> int:
    import tasks

    echo("\n".join(tasks.voices()))
    return 0


def cmd_corruptions(args) -> int:
    from corruptions import registry

    from intervene.app.helptext import corruption_listing

    kinds = {name: type(registry.get(name)) for name in registry.kinds()}
    if args.kind is not None and args.kind not in kinds:
        from tasks.errors import unknown_name

        raise unknown_name("corruption kind", args.kind, kinds)
    echo(corruption_listing(kinds, args.kind))
    return 0


def cmd_methods(args) -> int:
    from intervene import methods

    for name in methods.names():
        cls = methods.get(name)
        usable = "patch --method" if cls.accepts("interchange") else "own command / API"
        options = ", ".join(f"{k}={v!r}" for k, v in cls.options.items()) or "-"
        echo(f"{name:12s} {cls.summary}\n{'':12s} used by: {usable}; options: {options}")
    echo(f"\nattribution estimators: {', '.join(methods.ESTIMATORS)}")
    return 0


COMMANDS = {
    "patch": cmd_patch, "pair": cmd_pair, "demo": cmd_demo, "transcribe": cmd_transcribe, "models": cmd_models,
    "sites": cmd_sites, "voices": cmd_voices, "corruptions": cmd_corruptions, "methods": cmd_methods,
}  # fmt: skip
