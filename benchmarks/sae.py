"""Sparse autoencoders on whisper-tiny.en: trained, then measured with several numbers, not one.

1. An activation store of one site (default ``encoder.3.block_output``) over a synthetic corpus
   (espeak voices x rates x pitches x sentences and command words, plus noise and silence);
   its extraction speed (frames/s) is reported.
2. Clips are split into training and held-out clips (whole clips, seeded).
3. For each kind (TopK, BatchTopK, ReLU+L1) and width, an SAE per seed is trained on the
   training frames (``intervene.train_sae``, checkpoints: a rerun resumes).
4. Per SAE, on held-out clips: ``explained_variance``, ``mse``, ``l0``, ``dead_fraction`` (never
   active), ``dense_fraction`` (active on > 10% of frames), ``downstream`` (keyword accuracy and
   WER with the site replaced by the reconstruction on the audio frames), ``probe`` (single-feature
   accuracy for keyword, voice gender and speech vs non-speech), ``stability`` (share of features
   with a cosine > 0.7 match in the other seed's SAE; AudioSAE reports over 50%).
5. A steering demo: the best keyword-probe feature of the first SAE, steered over a word's frames.

Writes ``<out>/results.json`` (``saes``: name -> those keys), ``<out>/index.html``; the store is
kept in ``<out>/store`` and the SAEs in ``<out>/saes/<name>`` (SAELens format).

Examples (from the repository root)::

    python -m benchmarks.sae                     # 3072-wide TopK and ReLU, 2 seeds each
    python -m benchmarks.sae --quick --out /tmp/sae
    python -m benchmarks.sae --site encoder.2.block_output --widths 1536 3072 --k 32
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from benchmarks.common import (
    BenchmarkSettings,
    Section,
    Table,
    echo,
    names,
    number,
    parse_settings,
    run_cli,
    run_folder,
    setup_logging,
    whole,
    whole_numbers,
    write_report,
)
from tasks.errors import ConfigError

__all__ = ["QUICK_PRESET", "SAESettings", "main"]

logger = logging.getLogger("sae")

SCRIPT = "sae"
KINDS = ("topk", "batch_topk", "relu")
QUICK_PRESET = {"n_speech": 30, "n_noise": 4, "n_silence": 2, "widths": (256,), "k": 16, "steps": 150,
                "batch_size": 256, "kinds": ("topk", "relu"), "seeds": (0, 1), "downstream_clips": 6}
"""What ``--quick`` sets: 36 clips, 256-wide SAEs, 150 steps. Measured: 9.5 min on the shared 2-core
machine at load average 9 (2 min of it extraction at ~18 frames/s); a rerun in the same folder
reuses the store and the trained SAEs and recomputes only the measurements."""


@dataclass(frozen=True)
class SAESettings(BenchmarkSettings):
    """What to train and measure."""

    kind: ClassVar[str] = SCRIPT
    model: str = "whisper-tiny.en"
    site: str = "encoder.3.block_output"
    kinds: tuple = ("topk", "relu")
    widths: tuple = (3072,)
    k: int = 32
    l1: float = 0.05
    steps: int = 3000
    batch_size: int = 1024
    lr: float = 1e-3
    seeds: tuple = (0, 1)
    n_speech: int = 400
    n_noise: int = 24
    n_silence: int = 12
    test: float = 0.2
    downstream_clips: int = 40

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("kinds", names("kinds", self.kinds))
        for k in self.kinds:
            if k not in KINDS:
                raise ConfigError(f"kinds: {k!r} is not one of {', '.join(KINDS)}")
        put("widths", whole_numbers("widths", self.widths, 1))
        put("seeds", whole_numbers("seeds", self.seeds, 0))
        for name in ("k", "steps", "batch_size", "n_speech", "downstream_clips"):
            put(name, whole(name, getattr(self, name), 1))
        for name in ("n_noise", "n_silence"):
            put(name, whole(name, getattr(self, name), 0))
        put("l1", number("l1", self.l1, 0.0))
        put("lr", number("lr", self.lr, 0.0, low_open=True))
        put("test", number("test", self.test, 0.0, 0.9, low_open=True))
        if any(self.k > w for w in self.widths):
            raise ConfigError(f"k ({self.k}) must be at most every width ({list(self.widths)})")


def add_arguments(parser) -> None:
    g = parser.add_argument_group("sae")
    g.add_argument("--model", help="model name (default whisper-tiny.en)")
    g.add_argument("--site", help="site the SAEs read (default encoder.3.block_output)")
    g.add_argument("--kinds", nargs="+", metavar="KIND", help="topk, batch_topk, relu (default: topk relu)")
    g.add_argument("--widths", nargs="+", type=int, metavar="N", help="SAE widths (default 3072)")
    g.add_argument("--k", type=int, help="active features per frame for topk / batch_topk (32)")
    g.add_argument("--l1", type=float, help="ReLU SAEs' L1 coefficient (0.05)")
    g.add_argument("--steps", type=int, help="training steps (3000)")
    g.add_argument("--seeds", nargs="+", type=int, metavar="S", help="seeds, the first two give stability (0 1)")
    g.add_argument("--n-speech", dest="n_speech", type=int, metavar="N", help="speech clips (400)")


def _labels(clips: list) -> dict:
    from intervene.learned.labels import voice_gender
    from tasks.keyword import SPEECH_COMMANDS_CORE

    return {
        "speech": [c.kind == "speech" for c in clips],
        "keyword": [c.text if c.text in SPEECH_COMMANDS_CORE else None for c in clips],
        "voice_gender": [voice_gender(c.voice) if c.voice else None for c in clips],
    }


def _probes(sae, x, clip, n_clips, train, test, labels) -> dict:
    from benchmarks.saebench.measure import clip_features, single_feature_probe

    feats = clip_features(sae, x, clip, n_clips)
    out = {}
    for name, ys in labels.items():
        tr = [i for i in train if ys[i] is not None]
        te = [i for i in test if ys[i] is not None]
        out[name] = single_feature_probe(feats[tr], [ys[i] for i in tr], feats[te], [ys[i] for i in te])
    return out


def _train(model, settings, kind, width, seed, x_train, out):
    from intervene.features import SAE
    from intervene.features.train import train_sae

    folder = out / "saes" / f"{kind}-w{width}" / f"seed{seed}"
    if (folder / "cfg.json").is_file():
        return SAE.load(folder)
    return train_sae(model, settings.site, x_train, kind=kind, width=width, k=settings.k, out=folder,
                     steps=settings.steps, batch_size=settings.batch_size, lr=settings.lr, l1=settings.l1, seed=seed,
                     dead_frames=max(settings.batch_size * 20, 10_000), checkpoint_every=max(settings.steps // 5, 1))


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    import torch

    import intervene
    import tasks
    from benchmarks.saebench.measure import downstream, steering_demo
    from intervene.features import extract, synthetic_corpus
    from intervene.features.evaluate import evaluate, stability

    setup_logging()
    run, settings = parse_settings(argv, SAESettings, script=SCRIPT, description=__doc__,
                                   add_arguments=add_arguments, quick_preset=QUICK_PRESET)  # fmt: skip
    with run_folder(run, settings):
        out = run.out
        model = intervene.load_model(settings.model, device=run.device)
        corpus = synthetic_corpus(settings.n_speech, n_noise=settings.n_noise, n_silence=settings.n_silence, seed=0)
        store = extract(model, settings.site, corpus, out / "store", clips_per_shard=32, progress=run.progress)
        x, clip, _ = store.arrays()
        train, test = store.split(settings.test, seed=0)
        is_train = torch.isin(clip, torch.as_tensor(train))
        x_train, x_test = x[is_train], x[~is_train]
        echo(f"store: {store.n_frames} frames of {len(corpus)} clips, {store.frames_per_s:.0f} frames/s; "
             f"{x_train.shape[0]} training frames, {x_test.shape[0]} held-out")
        labels = _labels(corpus)
        held_out = [corpus[i] for i in test][: settings.downstream_clips]
        results = {"settings": settings.to_dict(), "store": {"frames": store.n_frames, "clips": len(corpus),
                   "frames_per_s": store.frames_per_s, "train_frames": int(x_train.shape[0]),
                   "test_frames": int(x_test.shape[0])}, "saes": {}}  # fmt: skip
        rows, first = [], None
        for kind in settings.kinds:
            for width in settings.widths:
                saes = [_train(model, settings, kind, width, s, x_train, out) for s in settings.seeds]
                name = f"{kind}-w{width}" + (f"-k{settings.k}" if kind != "relu" else f"-l1{settings.l1:g}")
                m = evaluate(saes[0], x_test)
                m.pop("frequency")
                r = {**m, "stability": stability(saes[0], saes[1]) if len(saes) > 1 else None,
                     "probe": _probes(saes[0], x, clip, len(corpus), train, test, labels),
                     "downstream": downstream(model, saes[0], held_out),
                     "train_seconds": saes[0].config.training.get("seconds")}
                results["saes"][name] = r
                first = first or (saes[0], r)
                d = r["downstream"]
                rows.append([name, r["explained_variance"], r["mse"], r["l0"], r["dead_fraction"], r["dense_fraction"],
                             r["stability"], d["keyword_accuracy_change"], d["wer_change"],
                             r["probe"]["keyword"]["test_accuracy"], r["probe"]["voice_gender"]["test_accuracy"],
                             r["probe"]["speech"]["test_accuracy"]])
                echo(f"{name}: EV {m['explained_variance']:.3f}  L0 {m['l0']:.1f}  dead {m['dead_fraction']:.2f}  "
                     f"stability {r['stability']}")
        sae, r = first
        feature = r["probe"]["keyword"]["feature"] or 0
        utt = tasks.speak("turn left now", voice="en-us").padded(2.0, 0.3)
        results["steering"] = steering_demo(model, sae, feature, utt, word_index=1)
        columns = ["SAE", "EV", "MSE", "L0", "dead", "dense", "stability", "keyword acc change", "WER change",
                   "probe keyword", "probe gender", "probe speech"]
        s = results["steering"]
        sections = [
            Section("SAEs on held-out clips", f"Site {settings.site} of {settings.model}; {store.n_frames} frames of "
                    f"{len(corpus)} clips ({store.frames_per_s:.0f} frames/s extraction).",
                    tables=[Table(columns, rows, digits=3)]),
            Section("Steering demo", f"Feature {s['feature']} of {list(results['saes'])[0]} steered by alpha "
                    f"{s['alpha']:.2f} over '{s['word']}' ({s['times_s'][0]:.2f}-{s['times_s'][1]:.2f} s) of "
                    f"'{s['text']}'.\n\nBefore: {s['before']}\n\nAfter: {s['after']}"),
        ]
        write_report(out, "Sparse autoencoders on Whisper", sections, results)
        echo(f"steering feature {s['feature']}: '{s['before']}' -> '{s['after']}'")
        echo(f"report: {out / 'index.html'}")
    return results


if __name__ == "__main__":
    run_cli(main, SCRIPT)
