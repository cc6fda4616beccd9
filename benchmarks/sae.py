"""Sparse autoencoders on whisper-tiny.en: trained, then measured with several numbers, not one.

1. An activation store of one site (default ``encoder.3.block_output``) over a synthetic corpus
   (espeak voices x rates x pitches x sentences and command words, plus noise and silence), or
   over recordings with ``--data SPEC`` (plus the noise and silence clips); its extraction speed
   (frames/s) is reported.
2. Clips are split into training and held-out clips (whole clips, seeded).
3. TopK vs ReLU at matched L0: a ReLU SAE's L0 depends on its L1 coefficient, so the
   coefficient is calibrated first (short ReLU trainings on the training frames, a bracketing
   search in log-log space, :mod:`benchmarks.saebench.matched`) until its L0 is close to ``k``;
   the ReLU SAEs are trained with it (and again, at most twice, with a coefficient corrected along
   the measured slope when the full-length training lands more than 15% off). ``--no-match-l0`` trains them with ``--l1``.
4. For each kind (TopK, BatchTopK, ReLU+L1) and width, an SAE per seed is trained on the
   training frames (``intervene.train_sae``).
5. Per SAE, on held-out clips: ``explained_variance``, ``mse``, ``l0``, ``dead_fraction`` (never
   active), ``dense_fraction`` (active on > 10% of frames), ``downstream`` (keyword accuracy and
   WER with the site replaced by the reconstruction on the audio frames), ``probe`` (single-feature
   accuracy for keyword, voice gender and speech vs non-speech; a label the clips lack is
   reported as not available), ``stability`` (share of features with a cosine > 0.7 match in the
   other seed's SAE; AudioSAE reports over 50%).
6. A steering demo: the best keyword-probe feature of the first SAE, steered over a word's frames
   (a held-out recording's word under ``--data``, from its spans or the aligner).

Calibration runs, trainings and evaluations are units of work kept in ``<out>/work`` (a rerun
resumes) and run where ``--executor`` says (``local``, or Ray actors: the same numbers).

Writes ``<out>/results.json`` (``saes``: name -> those keys; ``matched_l0``: per width, the TopK
and the calibrated ReLU SAE side by side), ``<out>/index.html``; the store is kept in
``<out>/store`` and the SAEs in ``<out>/saes/<name>/seed<s>`` (SAELens format).

Examples (from the repository root)::

    python -m benchmarks.sae                     # 3072-wide TopK and ReLU (matched L0), 2 seeds each
    python -m benchmarks.sae --quick --out /tmp/sae
    python -m benchmarks.sae --site encoder.2.block_output --widths 1536 3072 --k 32
    python -m benchmarks.sae --data speech_commands:/data/sc --max-clips 200 --executor ray
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
    command_line,
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
WORK_FORMAT = "sae/2"
CORRECT_ABOVE = 0.15
"""A calibrated ReLU SAE whose full-length L0 (on training frames) is further than this share from
``k`` is trained again with a corrected coefficient (at most :data:`MAX_CORRECTIONS` times)."""
MAX_CORRECTIONS = 2
QUICK_PRESET = {"n_speech": 12, "n_noise": 3, "n_silence": 2, "widths": (64,), "k": 8, "steps": 60,
                "batch_size": 128, "calibration_steps": 60, "calibration_tries": 6, "kinds": ("topk", "relu"),
                "seeds": (0, 1), "downstream_clips": 3, "max_clips": 12}
"""What ``--quick`` sets: 17 clips, 64-wide SAEs, 60 steps, a calibration of up to 6 tries, downstream on 3
held-out clips: every measurement once. Measured: 46 s of CPU time (one torch thread; 176 s wall on the
shared 2-core machine at load average 16), against 9.5 min wall for the previous preset at load 9.
Too short to calibrate well: its ReLU SAE usually lands off the TopK L0 (the report says so)."""


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
    match_l0: bool = True
    calibration_steps: int = 0
    calibration_tries: int = 5
    steps: int = 1000
    batch_size: int = 512
    lr: float = 1e-3
    seeds: tuple = (0, 1)
    n_speech: int = 400
    n_noise: int = 24
    n_silence: int = 12
    test: float = 0.2
    downstream_clips: int = 40
    data: tuple = ()
    max_clips: int = 400

    def __post_init__(self):
        from benchmarks.common.data import check_data

        def put(name, value):
            object.__setattr__(self, name, value)

        put("kinds", names("kinds", self.kinds))
        for k in self.kinds:
            if k not in KINDS:
                raise ConfigError(f"kinds: {k!r} is not one of {', '.join(KINDS)}")
        put("widths", whole_numbers("widths", self.widths, 1))
        put("seeds", whole_numbers("seeds", self.seeds, 0))
        for name in ("k", "steps", "batch_size", "n_speech", "downstream_clips", "calibration_tries", "max_clips"):
            put(name, whole(name, getattr(self, name), 1))
        for name in ("n_noise", "n_silence", "calibration_steps"):
            put(name, whole(name, getattr(self, name), 0))
        put("l1", number("l1", self.l1, 0.0, low_open=True))
        put("lr", number("lr", self.lr, 0.0, low_open=True))
        put("test", number("test", self.test, 0.0, 0.9, low_open=True))
        if not isinstance(self.match_l0, bool):
            raise ConfigError(f"match_l0 ({self.match_l0!r}) must be true or false")
        put("data", check_data("data", self.data))
        if any(self.k > w for w in self.widths):
            raise ConfigError(f"k ({self.k}) must be at most every width ({list(self.widths)})")


def add_arguments(parser) -> None:
    from benchmarks.common.data import add_data_arguments

    g = parser.add_argument_group("sae")
    g.add_argument("--model", help="model name (default whisper-tiny.en)")
    g.add_argument("--site", help="site the SAEs read (default encoder.3.block_output)")
    g.add_argument("--kinds", nargs="+", metavar="KIND", help="topk, batch_topk, relu (default: topk relu)")
    g.add_argument("--widths", nargs="+", type=int, metavar="N", help="SAE widths (default 3072)")
    g.add_argument("--k", type=int, help="active features per frame for topk / batch_topk (32)")
    g.add_argument("--l1", type=float, help="ReLU SAEs' L1 coefficient: the calibration's start, or the "
                   "coefficient itself with --no-match-l0 (0.05)")
    g.add_argument("--no-match-l0", dest="match_l0", action="store_const", const=False,
                   help="train ReLU SAEs with --l1 instead of calibrating it to L0 = k")
    g.add_argument("--calibration-steps", dest="calibration_steps", type=int, metavar="N",
                   help="steps of each calibration training (default: steps / 5)")
    g.add_argument("--steps", type=int, help="training steps (1000)")
    g.add_argument("--seeds", nargs="+", type=int, metavar="S", help="seeds, the first two give stability (0 1)")
    g.add_argument("--n-speech", dest="n_speech", type=int, metavar="N", help="synthesized speech clips (400)")
    add_data_arguments(g, what="the corpus", max_clips_default=400)


def work_settings(s: SAESettings) -> dict:
    """What changes a unit's result (kinds, widths, seeds and coefficients are in the units' keys)."""
    skip = {"kinds", "widths", "seeds", "match_l0", "calibration_tries", "l1"}
    return {"format": WORK_FORMAT, **{k: v for k, v in s.to_dict().items() if k not in skip and k != "kind"}}


def _calibrate(executor, model, s, width, shared, store, progress) -> dict:
    """The L1 coefficient whose ReLU SAE has L0 close to ``k`` (short trainings, kept in the store)."""
    from benchmarks.common.units import run_stored
    from benchmarks.saebench.matched import calibrate_l1
    from benchmarks.saebench.units import calibration_unit
    from intervene.workstore import make_key

    steps = s.calibration_steps or max(s.steps // 5, 1)

    def measure(l1):
        key = make_key("calibrate", f"w{width}", f"l1{l1:.6g}", f"steps{steps}", f"seed{s.seeds[0]}")
        (got,) = run_stored(executor, model, calibration_unit, [(key, (width, l1, steps, s.seeds[0]))], store,
                            shared=shared, progress=False)  # fmt: skip
        echo(f"calibration w{width}: l1 {l1:.4g} -> L0 {got['l0']:.1f} (target {s.k})")
        return got["l0"]

    found = calibrate_l1(measure, float(s.k), start_l1=s.l1, max_tries=s.calibration_tries)
    return {**found, "steps": steps}


def _train_all(executor, model, s, shared, store, out, progress) -> tuple[dict, dict]:
    """``({(kind, width): [SAE per seed]}, {width: calibration})``."""
    from benchmarks.saebench.matched import corrected_l1, log_slope, within
    from benchmarks.saebench.units import train_saes
    from intervene.features.evaluate import evaluate

    calib, l1s = {}, {}
    for width in s.widths:
        l1s[width] = s.l1
        if "relu" in s.kinds and s.match_l0:
            calib[width] = c = _calibrate(executor, model, s, width, shared, store, progress)
            l1, full = c["l1"], {}
            for attempt in range(MAX_CORRECTIONS + 1):  # full-length trainings of seed 0, corrected along the slope
                (first,) = train_saes(executor, model, [("relu", width, s.seeds[0], l1)], store, out, shared, progress)
                full[l1] = evaluate(first, shared["x_check"])["l0"]
                if within(full[l1], s.k, CORRECT_ABOVE) or attempt == MAX_CORRECTIONS:
                    break
                slope = log_slope(full, s.k) if len(full) > 1 else c["slope"]
                echo(f"calibration w{width}: full-length L0 {full[l1]:.1f} at l1 {l1:.4g}; corrected l1 -> "
                     f"{corrected_l1(l1, full[l1], s.k, slope):.4g}")
                l1 = corrected_l1(l1, full[l1], s.k, slope)
            l1s[width] = l1
            c.update({"full_l0": full[l1], "final_l1": l1, "full_tries": [{"l1": a, "l0": b} for a, b in full.items()]})
    specs = [(kind, width, seed, l1s[width] if kind == "relu" else 0.0)
             for kind in s.kinds for width in s.widths for seed in s.seeds]  # fmt: skip
    saes = train_saes(executor, model, specs, store, out, shared, progress)
    grouped: dict = {}
    for (kind, width, _, _), sae in zip(specs, saes):
        grouped.setdefault((kind, width), []).append(sae)
    return grouped, {w: {**c, "l1": l1s[w]} for w, c in calib.items()}


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark (``argv``: command-line arguments; None reads ``sys.argv``)."""
    import torch

    import intervene
    from benchmarks.common.data import data_record, lazy_aligner
    from benchmarks.common.units import run_stored
    from benchmarks.saebench.corpus import build_corpus, labels, steering_utterance
    from benchmarks.saebench.matched import (
        MATCH_WITHIN,
        MATCHED_COLUMNS,
        matched_rows,
        within,
    )
    from benchmarks.saebench.measure import downstream_base, steering_demo
    from benchmarks.saebench.units import evaluate_unit, sae_name
    from intervene.features import extract
    from intervene.workstore import make_key

    setup_logging()
    run, s = parse_settings(argv, SAESettings, script=SCRIPT, description=__doc__, add_arguments=add_arguments,
                            quick_preset=QUICK_PRESET, scaleout=True)  # fmt: skip
    with run_folder(run, s, work=work_settings(s)) as store, run.scaleout.open(run.device) as executor:
        out = run.out
        model = intervene.load_model(s.model, device=run.device)
        corpus, data_clips = build_corpus(s, lazy_aligner(s.model, run.device) if s.data else None)
        astore = extract(model, s.site, corpus, out / "store", clips_per_shard=32, progress=run.progress)
        x, clip, _ = astore.arrays()
        train, test = astore.split(s.test, seed=0)
        is_train = torch.isin(clip, torch.as_tensor(train))
        x_train, x_test = x[is_train], x[~is_train]
        check = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(0))[:20_000]
        echo(f"store: {astore.n_frames} frames of {len(corpus)} clips, {astore.frames_per_s:.0f} frames/s; "
             f"{x_train.shape[0]} training frames, {x_test.shape[0]} held-out")
        shared = {"settings": s.to_dict(), "x_train": x_train, "x_check": x_train[check], "x_test": x_test, "x": x,
                  "clip": clip, "n_clips": len(corpus), "train": train, "test": test, "labels": labels(corpus),
                  "held_out": _held_out(corpus, test, s.downstream_clips), "data": bool(s.data)}  # fmt: skip
        results = {"settings": s.to_dict(), "settings_digest": s.digest(), "command": command_line(SCRIPT, argv),
                   "data": data_record(s.data, data_clips),
                   "store": {"frames": astore.n_frames, "clips": len(corpus), "frames_per_s": astore.frames_per_s,
                             "train_frames": int(x_train.shape[0]), "test_frames": int(x_test.shape[0])},
                   "executor": executor.describe(), "saes": {}}  # fmt: skip
        grouped, calib = _train_all(executor, model, s, shared, store, out, run.progress)
        shared["downstream_base"] = store.get_or_compute(make_key("downstream-base"),
                                                         lambda: downstream_base(model, shared["held_out"]))
        names_ = {key: sae_name(key[0], key[1], s.k, calib.get(key[1], {}).get("l1", s.l1)) for key in grouped}
        items = [(make_key("evaluate", names_[key], *[sae.digest() for sae in saes[:2]]),
                  (saes[0], saes[1] if len(saes) > 1 else None)) for key, saes in grouped.items()]  # fmt: skip
        rows = []
        for key, r in zip(grouped, run_stored(executor, model, evaluate_unit, items, store, shared=shared,
                                              progress=run.progress, desc="evaluating SAEs", unit_name="sae")):
            name = names_[key]
            results["saes"][name] = r
            d, p = r["downstream"], r["probe"]
            rows.append([name, r["explained_variance"], r["mse"], r["l0"], r["dead_fraction"], r["dense_fraction"],
                         r["stability"], d["keyword_accuracy_change"], d["wer_change"], p["keyword"]["test_accuracy"],
                         p["voice_gender"]["test_accuracy"], p["speech"]["test_accuracy"]])
            echo(f"{name}: EV {r['explained_variance']:.3f}  L0 {r['l0']:.1f}  dead {r['dead_fraction']:.2f}  "
                 f"stability {r['stability']}")
        matched = {}
        for width in s.widths:
            if ("topk", width) in grouped and ("relu", width) in grouped:
                t, u = names_[("topk", width)], names_[("relu", width)]
                rt, ru = results["saes"][t], results["saes"][u]
                matched[f"w{width}"] = {"k": s.k, "topk_name": t, "relu_name": u, "topk": rt, "relu": ru,
                                        "relu_l1": calib.get(width, {}).get("l1", s.l1),
                                        "l0_ratio": ru["l0"] / rt["l0"] if rt["l0"] else None,
                                        "matched": within(ru["l0"], rt["l0"], MATCH_WITHIN) if rt["l0"] else False,
                                        "calibration": calib.get(width)}  # fmt: skip
        results["matched_l0"] = matched
        first = next(iter(grouped.values()))[0]
        feature = results["saes"][names_[next(iter(grouped))]]["probe"]["keyword"]["feature"] or 0
        utt, word_index, where = steering_utterance(data_clips, test)
        results["steering"] = {**steering_demo(model, first, feature, utt, word_index=word_index), "clip": where}
        write_report(out, "Sparse autoencoders on Whisper", _sections(s, results, rows, matched, matched_rows,
                                                                       MATCHED_COLUMNS), results)  # fmt: skip
        st = results["steering"]
        echo(f"steering feature {st['feature']}: '{st['before']}' -> '{st['after']}'")
        echo(f"report: {out / 'index.html'}")
    return results


def _held_out(corpus: list, test: list, n: int) -> list:
    """Up to ``n`` held-out speech clips for the downstream cost, single words and sentences alternating."""
    from tasks.keyword import SPEECH_COMMANDS_CORE

    words = [corpus[i] for i in test if corpus[i].kind == "speech" and corpus[i].text in SPEECH_COMMANDS_CORE]
    sentences = [corpus[i] for i in test if corpus[i].kind == "speech" and corpus[i].text
                 and corpus[i].text not in SPEECH_COMMANDS_CORE]  # fmt: skip
    out = []
    while len(out) < n and (words or sentences):
        for group in (words, sentences):
            if group and len(out) < n:
                out.append(group.pop(0))
    return out


def _sections(s, results, rows, matched, matched_rows, matched_columns) -> list:
    st, store = results["steering"], results["store"]
    columns = ["SAE", "EV", "MSE", "L0", "dead", "dense", "stability", "keyword acc change", "WER change",
               "probe keyword", "probe gender", "probe speech"]
    where = "recordings (" + ", ".join(s.data) + ") plus noise and silence" if s.data else "synthesized clips"
    sections = [Section("SAEs on held-out clips", f"Site {s.site} of {s.model}; {store['frames']} frames of "
                        f"{store['clips']} {where} ({store['frames_per_s']:.0f} frames/s extraction). A probe "
                        "shown as empty is not available: the clips lack that label.",
                        tables=[Table(columns, rows, digits=3)])]  # fmt: skip
    for width, m in matched.items():
        c = m["calibration"]
        tries = ", ".join("{:.3g} -> L0 {:.1f}".format(t["l1"], t["l0"]) for t in c["tries"]) if c else ""
        full = ", ".join("{:.4g} -> L0 {:.1f}".format(t["l1"], t["l0"]) for t in c["full_tries"]) if c else ""
        how = (f"L1 coefficient {m['relu_l1']:.4g}, calibrated in {len(c['tries'])} short trainings of {c['steps']} "
               f"steps ({tries}), then full-length trainings on the training frames ({full})"
               if c else f"L1 coefficient {m['relu_l1']:.4g} as given (--no-match-l0)")  # fmt: skip
        verdict = "matched" if m["matched"] else "NOT matched"
        sections.append(Section(f"TopK vs ReLU at matched L0 ({width})",
                                f"TopK with k = {s.k} against a ReLU+L1 SAE of the same width; {how}. Held-out L0 "
                                f"ratio ReLU / TopK {m['l0_ratio']:.2f}: {verdict} (within 25%).",
                                tables=[Table(matched_columns, matched_rows(m), digits=3)]))  # fmt: skip
    sections.append(Section("Steering demo", f"Feature {st['feature']} of {next(iter(results['saes']))} steered by "
                            f"alpha {st['alpha']:.2f} over '{st['word']}' ({st['times_s'][0]:.2f}-{st['times_s'][1]:.2f}"
                            f" s) of '{st['text']}' ({st['clip']}).\n\nBefore: {st['before']}\n\nAfter: {st['after']}"))
    return sections


if __name__ == "__main__":
    run_cli(main, SCRIPT)
