"""The ``--planted`` section: every method of the ladder on models whose answer is known by construction.

:mod:`intervene.learned.planted` builds two tiny Whisper-shaped models with hand-set weights.
In the *used* one the answer depends on direction ``u`` at encoder layer 1 (:data:`LAYER`) over
the destination frames and on nothing else; the *unused* one computes the same ``u`` and never
reads it. The section runs the ladder's methods on them (synthetic voices; the last
``planted_report_voices`` voices are held out, as the real ladder's report voices are) and
checks that each recovers what was planted:

- exact patching: the first layer whose destination frames carry the effect is the planted
  one, and all of the effect of each layer lies inside the planted frames (source frames
  before the planted layer, destination frames from it on); the attention output that
  carries it is the planted layer's (exact and attribution);
- probes: ``u`` is decodable over the destination frames from the planted layer on;
- DAS (dim 1), searched layer by layer from the input up to the first layer with held-out
  IIA >= 0.9: that layer is the planted one, and its direction is ``u`` (|cosine| >= 0.99);
- LEACE: erasing the keyword there collapses the task;
- the unused model: decodable at the planted layer (probe) with no causal effect (patching
  the destination frames at any layer leaves the metric as it was).
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import make_key

__all__ = ["PLANTED_UNITS", "planted_checks", "run_planted"]

PLANTED_UNITS = ("used-patch", "used-components", "used-probe", "used-das", "used-leace", "unused-probe",
                 "unused-patch", "unused-leace")  # fmt: skip


def _share_inside(row, frames) -> float:
    mag = np.abs(np.nan_to_num(np.asarray(row, dtype=float)))
    return float(mag[frames[0] : frames[1]].sum() / max(mag.sum(), 1e-12))


class _Planted:
    def __init__(self, settings):
        from intervene.learned import planted as P

        self.P, self.s = P, settings
        n_pairs, n_report = settings.planted_pairs, settings.planted_report_voices
        self.voices = [f"planted-{i}" for i in range(n_pairs)]
        self.report = self.voices[-n_report:]
        self.models = {}

    def model(self, kind):
        if kind not in self.models:
            self.models[kind] = self.P.planted_model(kind)
        return self.models[kind]

    @property
    def task(self):
        import tasks

        return tasks.KeywordTask(["yes", "no"])

    @property
    def pairs(self):
        return self.P.planted_pairs(self.s.planted_pairs, seed=self.s.seed)

    @property
    def clips(self):
        return self.P.planted_clips(range(self.s.planted_pairs))

    def report_pairs(self):
        return [p for p in self.pairs if p.metadata["voice"] in self.report]

    # ------------------------------------------------------------------ units
    def used_patch(self) -> dict:
        import intervene

        P, m = self.P, self.model("used")
        frames, dst = [], []
        for i, pair in enumerate(self.report_pairs()):
            if i == 0:  # the frame map of one pair: where inside the clip the effect lies (150 cells)
                fmap = intervene.patch(m, self.task, pair, "encoder.block_output", unit="frame", span=(0.0, 1.0))
                frames.append(np.asarray(fmap.values, dtype=float))
            cmap = intervene.patch(m, self.task, pair, "encoder.block_output", unit="all", span=P.DST_TIMES_S)
            dst.append(np.asarray(cmap.values, dtype=float).reshape(-1))
        mean = np.mean(frames, axis=0)  # (layers, 50 frames)
        share = [_share_inside(row, P.SRC_FRAMES if layer < P.LAYER else P.DST_FRAMES) for layer, row in enumerate(mean)]
        return {"frame_effect": mean.round(6).tolist(), "share_inside_planted_frames": share,
                "destination_effect": np.mean(dst, axis=0).tolist(), "n_pairs": len(dst)}  # fmt: skip

    def used_components(self) -> dict:
        import intervene

        pair = self.report_pairs()[0]
        out = {}
        for method in ("exact", "attribution"):
            cmap = intervene.patch(self.model("used"), self.task, pair, "encoder.attention_output", unit="all",
                                   span=self.P.DST_TIMES_S, method=method)  # fmt: skip
            out[method] = np.asarray(cmap.values, dtype=float).reshape(-1).tolist()
        return out

    def _probe(self, kind: str) -> dict:
        import intervene

        r = intervene.probe(self.model(kind), "encoder.block_output", self.clips, "keyword",
                            times_s=self.P.DST_TIMES_S, test=self.report, seed=self.s.seed)  # fmt: skip
        return {"accuracy": r.accuracy_grid[:, 0].tolist(), "control_accuracy": r.control_grid[:, 0].tolist(),
                "selectivity": (r.accuracy_grid - r.control_grid)[:, 0].tolist(), "chance": r.chance_grid[:, 0].tolist()}

    def used_probe(self) -> dict:
        return self._probe("used")

    def unused_probe(self) -> dict:
        return self._probe("unused")

    def used_das(self) -> dict:
        import intervene

        P, m, out = self.P, self.model("used"), []
        for layer in range(len(m.sites("encoder", "block_output"))):
            r = intervene.das(m, self.task, self.pairs, f"encoder.{layer}.block_output", times_s=P.DST_TIMES_S, dim=1,
                              kind="rotated", test=self.report, max_epochs=self.s.planted_das_epochs, patience=5,
                              batch_size=4, lr=0.05, seed=self.s.seed, train_context_frames=64)  # fmt: skip
            out.append({"layer": layer, "iia": r.iia, "iia_ci": list(r.iia_ci), "n_test": r.n_test,
                        "cosine_u": r.direction_cosine(P.DIR["u"].numpy()),
                        "cosine_u2": r.direction_cosine(P.DIR["u2"].numpy())})  # fmt: skip
            if r.iia >= 0.9:  # searched from the input up: the first layer that carries the answer is the finding
                break
        return {"layers": out}

    def _leace(self, kind: str, layers) -> dict:
        import intervene

        out = []
        for layer in layers:
            r = intervene.erase(self.model(kind), f"encoder.{layer}.block_output", self.clips, "keyword",
                                times_s=self.P.DST_TIMES_S, task=self.task, test=self.report, seed=self.s.seed)
            out.append({"layer": layer, "probe_before": r.probe_before.accuracy, "probe_after": r.probe_after.accuracy,
                        "task_accuracy_before": r.task_accuracy_before,
                        "task_accuracy_after": r.task_accuracy_after, "n_clips": r.n_task})  # fmt: skip
        return {"layers": out}

    def used_leace(self) -> dict:
        return self._leace("used", range(len(self.model("used").sites("encoder", "block_output"))))

    def unused_leace(self) -> dict:
        return self._leace("unused", [self.P.LAYER])

    def unused_patch(self) -> dict:
        """Raw metric change (patched minus base) of patching the destination frames at each layer: the
        unused model always answers "yes", so there is no gap to normalise by."""
        import intervene

        m, out = self.model("unused"), []
        for layer in range(len(m.sites("encoder", "block_output"))):
            deltas = []
            for pair in self.report_pairs():
                r = intervene.intervene(m, self.task, pair, intervene.Intervention(f"encoder.{layer}.block_output",
                                                                                    times_s=self.P.DST_TIMES_S))
                deltas.append(float(r.metric - r.base_metric))
            out.append({"layer": layer, "metric_change": deltas, "max_abs_change": float(np.max(np.abs(deltas)))})
        return {"layers": out}


def planted_checks(units: dict, planted_layer: int) -> dict:
    """What each method recovered and whether it matches the construction (numbers, then booleans)."""
    patch, das = units["used-patch"], units["used-das"]["layers"]
    dst = patch["destination_effect"]
    found_patch = next((i for i, v in enumerate(dst) if v >= 0.5), None)
    found_das = next((d["layer"] for d in das if d["iia"] >= 0.9), None)
    das_at = next((d for d in das if d["layer"] == found_das), None)
    comp = units["used-components"]
    leace = {d["layer"]: d for d in units["used-leace"]["layers"]}
    unused_probe = units["unused-probe"]["accuracy"][planted_layer]
    unused_change = max(d["max_abs_change"] for d in units["unused-patch"]["layers"])
    unused_leace = units["unused-leace"]["layers"][0]
    recovered = {
        "patching_layer": found_patch, "components_layer_exact": int(np.argmax(np.abs(comp["exact"]))),
        "components_layer_attribution": int(np.argmax(np.abs(comp["attribution"]))), "das_layer": found_das,
        "das_cosine_u": None if das_at is None else das_at["cosine_u"],
        "das_cosine_u2": None if das_at is None else das_at["cosine_u2"],
        "min_share_inside_planted_frames": min(patch["share_inside_planted_frames"]),
        "probe_decodable_layers": [i for i, a in enumerate(units["used-probe"]["accuracy"]) if a >= 0.9],
        "leace_task_accuracy": [leace[planted_layer]["task_accuracy_before"],
                                leace[planted_layer]["task_accuracy_after"]],
        "unused_probe_accuracy": unused_probe, "unused_max_abs_metric_change": unused_change,
        "unused_leace_task_accuracy": [unused_leace["task_accuracy_before"], unused_leace["task_accuracy_after"]],
    }  # fmt: skip
    checks = {
        "patching_finds_layer": found_patch == planted_layer,
        "components_find_layer": recovered["components_layer_exact"] == planted_layer
        and recovered["components_layer_attribution"] == planted_layer,
        "effect_inside_planted_frames": recovered["min_share_inside_planted_frames"] >= 0.99,
        "probe_decodable_from_planted_layer": recovered["probe_decodable_layers"]
        == list(range(planted_layer, len(units["used-probe"]["accuracy"]))),
        "das_finds_layer": found_das == planted_layer,
        "das_direction": das_at is not None and das_at["cosine_u"] >= 0.99,
        "leace_collapses_task": leace[planted_layer]["task_accuracy_after"] <= 0.6
        < leace[planted_layer]["task_accuracy_before"],
        "unused_decodable_without_effect": unused_probe >= 0.9 and unused_change <= 1e-4,
    }
    return {"recovered": recovered, "checks": checks, "all_pass": all(checks.values())}


def run_planted(settings, store, run) -> tuple[dict, int, int]:
    """The section's figures (``results["planted"]``), and the units computed and reused."""
    p = _Planted(settings)
    units, computed, reused = {}, 0, 0
    for name in PLANTED_UNITS:
        key = make_key("planted", name)
        record = store.get(key)
        if record is None:
            record = store.put(key, getattr(p, name.replace("-", "_"))())
            computed += 1
        else:
            reused += 1
        units[name] = record
    result = {"planted_layer": p.P.LAYER, "source_frames": list(p.P.SRC_FRAMES),
              "destination_frames": list(p.P.DST_FRAMES), "destination_times_s": list(p.P.DST_TIMES_S),
              "voices": p.voices, "report_voices": p.report, "units": units,
              **planted_checks(units, p.P.LAYER)}  # fmt: skip
    return result, computed, reused
