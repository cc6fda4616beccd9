"""Saved-artifact probes: causal maps, minimal pairs and sweep checkpoints, edited or damaged.

Every probe copies a good artifact into a fresh folder first: a map written by the current
code (format 2), the committed maps of the older format (``tests/intervene/data/map_v0_*``,
format 1) or a saved pair, then edits or damages the copy and loads it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from benchmarks.badinputs import probe

LEGACY = Path(__file__).resolve().parents[2] / "tests" / "intervene" / "data"
LEGACY_MAPS = ("map_v0_attribution", "map_v0_sweep")


def _edit(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc, indent=1))


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(doc):
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value(doc[keys[-1]]) if callable(value) else value
    return edit


def _load_edited_map(source):
    def run(env, edit):
        import intervene

        npz = env.copy_map(source(env))
        _edit(npz.with_suffix(".json"), edit)
        return intervene.CausalMap.load(npz)
    return run


MAP_EDITS = [
    ("frame coordinate +1", _set("coords", "frame", lambda f: [f[0] + 1] + f[1:])),
    ("layer coordinate", _set("coords", "layer", lambda v: [x + 1 for x in v])),
    ("clean metric x10", _set("clean_metric", lambda x: x * 10)),
    ("corrupt metric +1", _set("corrupt_metric", lambda x: x + 1)),
    ("span_s shifted", _set("meta", "span_s", lambda s: [s[0] + 0.02, s[1]])),
    ("span_s past the clip", _set("meta", "span_s", [0.0, 9.0])),
    ("word span past the clip", _set("meta", "words", [["yes", 0.3, 5.0]])),
    ("direction flipped", _set("meta", "direction", "noise")),
    ("unit", _set("meta", "unit", "token")),
]
NEW_ONLY_EDITS = [
    ("word span shifted", _set("meta", "words", lambda w: [[w[0][0], w[0][1] + 0.01, w[0][2]]])),
    ("model name", _set("meta", "model", "whisper-base")),
    ("guard records", _set("meta", "guards", [{"guard": "patch nothing", "ok": True}])),
    ("changed span", _set("meta", "changed_spans", lambda s: [[s[0][0] + 0.01, s[0][1]]])),
    ("timings", _set("meta", "timings", {"cells_s": 0.0})),
]
WRONG_FIELDS = [
    ("dims a string", _set("dims", "layer")),
    ("unknown dim", _set("dims", ["layer", "time"])),
    ("coords missing", lambda d: d.pop("coords")),
    ("coords too short", lambda d: d["coords"]["frame"].pop()),
    ("layer label a string", _set("coords", "layer", lambda v: ["0"] + v[1:])),
    ("clean metric a string", _set("clean_metric", "7.6")),
    ("clean metric null", _set("clean_metric", None)),
    ("clean metric NaN", _set("clean_metric", math.nan)),
    ("frame_s 0", _set("meta", "frame_s", 0)),
    ("direction bogus", _set("meta", "direction", "sideways")),
    ("arrays a list", _set("arrays", [])),
    ("array names bogus", _set("arrays", "names", ["values", "nonsense"])),
    ("array checksum a number", _set("arrays", "sha256", 5)),
    ("meta a list", _set("meta", [])),
    ("words malformed", _set("meta", "words", [["yes", 0.3]])),
    ("timings negative", _set("meta", "timings", {"cells_s": -1.0})),
    ("sites not strings", _set("meta", "sites", [5])),
    ("format bogus", _set("format", "speechlens.causal_map/9")),
    ("format missing", lambda d: d.pop("format")),
    ("extra a list", _set("meta", "extra", [1])),
]


def _map_probes() -> None:
    import intervene

    new = _load_edited_map(lambda env: env.saved_map)
    for label, edit in MAP_EDITS + NEW_ONLY_EDITS:
        probe(f"artifact/map/format 2/edited {label}", lambda env, e=edit: new(env, e))
    for name in LEGACY_MAPS:
        old = _load_edited_map(lambda env, n=name: LEGACY / f"{n}.npz")
        probe(f"artifact/map/{name}/loads", lambda env, n=name: intervene.CausalMap.load(LEGACY / f"{n}.npz"),
              expect="accept", check=lambda m, env: None if np.isfinite(m.clean_metric) else "no clean metric")
        for label, edit in MAP_EDITS:
            if name == "map_v0_sweep" and label == "span_s shifted":
                continue  # a sweep's span_s is its first pair's: columns of every pair cannot be checked against it
            probe(f"artifact/map/{name}/edited {label}", lambda env, e=edit, o=old: o(env, e))
        probe(f"artifact/map/{name}/edited model name (not detectable in format 1)",
              lambda env, o=old: o(env, _set("meta", "model", "whisper-base")).meta.model, expect="accept",
              check=lambda model, env: None if model == "whisper-base" else "edit lost",
              note="format 1 has no checksum of its JSON; provenance edits that contradict nothing load "
                   "(documented in intervene/mapfile.py)")
    old = _load_edited_map(lambda env: LEGACY / "map_v0_attribution.npz")
    for label, edit in WRONG_FIELDS:
        probe(f"artifact/map/format 1/{label}", lambda env, e=edit: old(env, e))
    sweep = _load_edited_map(lambda env: LEGACY / "map_v0_sweep.npz")
    probe("artifact/map/map_v0_sweep/edited pair metric",
          lambda env: sweep(env, lambda d: d["meta"]["pairs"][0].__setitem__("clean_metric", 1.0)))
    probe("artifact/map/map_v0_sweep/edited per-pair count",
          lambda env: sweep(env, lambda d: d["meta"]["pairs"].pop()))
    probe("artifact/map/format 2/checksum removed", lambda env: new(env, lambda d: d.pop("checksum")))
    probe("artifact/map/format 2/checksum a string", lambda env: new(env, _set("checksum", "abc")))
    probe("artifact/map/format 2/loads", lambda env: intervene.CausalMap.load(env.saved_map), expect="accept",
          check=lambda m, env: None if m.values.shape == (2, 3) else f"shape {m.values.shape}")


def _damaged_files() -> None:
    import intervene

    def damage(env, which, how):
        npz = env.copy_map(env.saved_map)
        target = npz if which == "npz" else npz.with_suffix(".json")
        how(target)
        return intervene.CausalMap.load(npz)

    cases = [
        ("json not JSON", "json", lambda p: p.write_text("{not json")),
        ("json truncated", "json", lambda p: p.write_text(p.read_text()[:150])),
        ("json a list", "json", lambda p: p.write_text("[1, 2]")),
        ("json binary", "json", lambda p: p.write_bytes(b"\xff\xfe\x00garbage")),
        ("json empty", "json", lambda p: p.write_text("")),
        ("json missing", "json", lambda p: p.unlink()),
        ("npz truncated", "npz", lambda p: p.write_bytes(p.read_bytes()[:100])),
        ("npz garbage", "npz", lambda p: p.write_bytes(b"PK\x03\x04garbage")),
        ("npz empty", "npz", lambda p: p.write_bytes(b"")),
        ("npz missing", "npz", lambda p: p.unlink()),
        ("npz a folder", "npz", lambda p: (p.unlink(), p.mkdir())),
    ]
    for label, which, how in cases:
        probe(f"artifact/map/damaged/{label}", lambda env, w=which, h=how: damage(env, w, h))

    def crafted(env, arrays):
        """An npz of the older format whose JSON checksum matches: only the field checks stand guard."""
        import hashlib

        npz = env.copy_map(LEGACY / "map_v0_attribution.npz")
        with np.load(LEGACY / "map_v0_attribution.npz") as data:
            base = {k: data[k] for k in data.files}
        base.update(arrays(base))
        base = {k: v for k, v in base.items() if v is not None}
        np.savez(npz, **base)
        digest = hashlib.sha256(npz.read_bytes()).hexdigest()
        _edit(npz.with_suffix(".json"), lambda d: d["arrays"].update(sha256=digest, names=sorted(base)))
        return intervene.CausalMap.load(npz)

    shapes = [
        ("values of another shape", lambda a: {"values": a["values"][:, :3]}),
        ("patched of another shape", lambda a: {"patched": a["patched"][:1]}),
        ("values with inf", lambda a: {"values": np.where(np.arange(a["values"].size).reshape(a["values"].shape) == 0,
                                                          np.inf, a["values"])}),
        ("values as strings", lambda a: {"values": a["values"].astype(str)}),
        ("values as objects", lambda a: {"values": a["values"].astype(object)}),
        ("an unknown array", lambda a: {"bogus": np.zeros(3)}),
        ("values missing", lambda a: {"values": None}),
        ("times_s of another length", lambda a: {"times_s": a["times_s"][:2]}),
        ("spectrogram 1-D", lambda a: {"spectrogram_clean": np.zeros(5)}),
        ("values edited (old format)", lambda a: {"values": a["values"] + 0.1}),
    ]
    for label, change in shapes:
        probe(f"artifact/map/crafted npz/{label}", lambda env, c=change: crafted(env, c))


def _pair_probes() -> None:
    from corruptions.pair import MinimalPair

    def edited(env, edit):
        folder = env.copy_pair()
        _edit(folder / "pair.json", edit)
        return MinimalPair.load(folder)

    def old_format(doc):
        doc["format"] = "speechlens.minimal_pair/1"
        doc.pop("checksum", None)

    for label, edit in [("answer", _set("corrupt_answer", "yes")), ("changed span", _set("changed_spans", [[0.1, 0.9]])),
                        ("parameter", _set("params", "voice", "en")), ("word span", _set("words", [["yes", 0.31, 0.68]])),
                        ("seed", _set("seed", 7)), ("metadata", _set("metadata", "voice", "en")),
                        ("checksum removed", lambda d: d.pop("checksum"))]:
        probe(f"artifact/pair/format 2/edited {label}", lambda env, e=edit: edited(env, e))
    probe("artifact/pair/format 2/loads", lambda env: MinimalPair.load(env.saved_pair), expect="accept",
          check=lambda p, env: None if np.array_equal(p.corrupt, env.pair.corrupt) else "audio differs")
    probe("artifact/pair/format 1/loads", lambda env: edited(env, old_format), expect="accept",
          check=lambda p, env: None if p.clean_answer == env.pair.clean_answer else "answer differs")
    probe("artifact/pair/format 1/no WAV checksums",
          lambda env: edited(env, lambda d: (old_format(d), d.pop("clean_sha256"), d.pop("corrupt_sha256"))))

    def old_then(edit):
        return lambda d: (old_format(d), edit(d))

    for label, edit in [("span past the clip", lambda d: d["changed_spans"].append([0.5, 9.0])),
                        ("word span past the clip", lambda d: d["words"][0].__setitem__(2, 3.0)),
                        ("n_samples a string", _set("n_samples", "16000")), ("sample_rate missing", lambda d: d.pop("sample_rate")),
                        ("sample_rate 0", _set("sample_rate", 0)), ("answer a number", _set("clean_answer", 5)),
                        ("seed negative", _set("seed", -1)), ("corruption a list", _set("corruption", [])),
                        ("words a string", _set("words", "yes")), ("checksum not hex", _set("clean_sha256", "xyz")),
                        ("format bogus", _set("format", "other/1")), ("n_samples off by one", _set("n_samples", lambda n: n + 1))]:
        probe(f"artifact/pair/format 1/{label}", lambda env, e=edit: edited(env, old_then(e)))

    def wav(env, name, how):
        folder = env.copy_pair()
        how(folder / name)
        return MinimalPair.load(folder)

    def rewrite(audio_of, rate=16000, subtype="FLOAT"):
        def how(path):
            import soundfile as sf

            data, _ = sf.read(str(path), dtype="float32")
            sf.write(str(path), audio_of(data), rate, subtype=subtype)
        return how

    for name in ("clean.wav", "corrupt.wav"):
        for label, how in [("truncated", lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])),
                           ("garbage", lambda p: p.write_bytes(b"not a wav file")), ("missing", lambda p: p.unlink()),
                           ("empty", lambda p: p.write_bytes(b"")), ("stereo", rewrite(lambda d: np.stack([d, d], 1))),
                           ("another rate", rewrite(lambda d: d, rate=8000)), ("16-bit", rewrite(lambda d: d, subtype="PCM_16")),
                           ("one sample changed", rewrite(lambda d: np.concatenate([d[:1] + 1e-3, d[1:]])))]:
            probe(f"artifact/pair/{name} {label}", lambda env, n=name, h=how: wav(env, n, h))
    for label, text in [("not JSON", "{broken"), ("a list", "[]"), ("empty", ""), ("binary", "\udcff")]:
        probe(f"artifact/pair/pair.json {label}",
              lambda env, t=text: (lambda f: ((f / "pair.json").write_bytes(t.encode("utf-8", "surrogateescape")),
                                              MinimalPair.load(f))[1])(env.copy_pair()))
    probe("artifact/pair/folder missing", lambda env: MinimalPair.load(env.scratch() / "nothing"))


def _checkpoint_probes() -> None:
    import intervene
    from intervene.workstore import WorkStore

    def store_with_map(env):
        store = WorkStore(env.scratch() / "work", {"format": "bad-inputs"})
        cmap = intervene.CausalMap.load(env.saved_map)
        return store, store.put_map("pair0000-x", cmap, {"status": "used"})

    def reload(env, damage):
        store, record = store_with_map(env)
        damage(store.root.parent / record["map"], record)
        return store.load_map(record)

    redone = {"expect": "accept", "check": lambda m, env: None if m is None else "a damaged checkpoint map was used"}
    for label, damage in [("map json edited", lambda p, r: _edit(p.with_suffix(".json"), _set("clean_metric", 64.08))),
                          ("map npz truncated", lambda p, r: p.write_bytes(p.read_bytes()[:50])),
                          ("map json missing", lambda p, r: p.with_suffix(".json").unlink()),
                          ("map json a list", lambda p, r: p.with_suffix(".json").write_text("[]"))]:
        probe(f"artifact/checkpoint/{label} (unit redone)", lambda env, d=damage: reload(env, d), **redone)
    for label, record in [("map path a number", {"status": "used", "map": 5}),
                          ("map path a list", {"status": "used", "map": ["x"]})]:
        probe(f"artifact/checkpoint/record {label} (unit redone)",
              lambda env, r=record: store_with_map(env)[0].load_map(r), **redone)

    def sweep_twice(env):
        """The issue's case: a sweep checkpoint's map edited to move the mean clean metric; the rerun must not use it."""
        folder = env.scratch() / "sweep"
        kwargs = dict(window_ms=200.0, guards=False, checkpoint_dir=folder)
        first = intervene.sweep(env.model, env.task, [env.pair], "encoder.0.block_output", **kwargs)
        for js in folder.rglob("*.map.json"):
            _edit(js, _set("clean_metric", lambda x: x + 57.44))
        second = intervene.sweep(env.model, env.task, [env.pair], "encoder.0.block_output", **kwargs)
        return first.clean_metric, second.clean_metric

    probe("artifact/checkpoint/sweep rerun after an edited map", sweep_twice, expect="accept", heavy=True,
          check=lambda r, env: None if abs(r[0] - r[1]) < 1e-9 else f"mean clean metric moved from {r[0]:.2f} to {r[1]:.2f}")


def register() -> None:
    _map_probes()
    _damaged_files()
    _pair_probes()
    _checkpoint_probes()
