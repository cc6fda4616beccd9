"""The model work of ``whisper_anatomy.py``: every unit through the run's executor and work store.

Per model, in phases (each a :func:`~benchmarks.common.units.run_stored` call per section):

1. ``shape`` (layer and head counts; the plan needs them);
2. ``align``: word spans of ``--data`` clips that bring none (the model's alignment of the
   transcript), and ``direction``: the steering direction (speech minus non-speech), computed
   once as its own stored unit and then handed to every steering unit in ``shared``;
3. every section's units (transcripts under a window / head window / splice / steering, lens
   tables, cross-attention timings), the scored clips going to each worker once in ``shared``.

Keys are those of the in-process version of the script, so an older run folder resumes. With a
remote executor the model's *name* goes to the workers (they load it); locally the model is
loaded here, and only when some unit of a phase is not stored yet.
"""

from __future__ import annotations

import logging
import time

from benchmarks.anatomy import claims
from benchmarks.anatomy import measure as ms
from benchmarks.anatomy.data import with_spans
from benchmarks.anatomy.units import run_unit
from benchmarks.common import make_key
from benchmarks.common.units import run_stored
from tasks.errors import ConfigError

__all__ = ["ModelRun", "run_model"]

logger = logging.getLogger("whisper_anatomy")

SECTION_ORDER = ("base", "window", "heads", "splice", "encoder_lens", "alignment", "logit_lens", "nonspeech", "steer")


class ModelRun:
    """One model's units on ``executor``, kept in ``store``; counts what it computed."""

    def __init__(self, name: str, run, store, executor):
        self.name, self.run, self.store, self.executor = name, run, store, executor
        self._model, self.load_s, self.computed, self.total = None, None, 0, 0
        self.section_s: dict = {}

    def model_for(self, keys) -> object:
        """The model argument of a phase: its name for remote workers or when every key is stored
        (then nothing runs), else the model loaded here (once)."""
        if self.executor.name != "local" or all(k in self.store for k in keys):
            return self.name
        if self._model is None:
            import intervene

            t = time.perf_counter()
            self._model = intervene.load_model(self.name, device=self.run.device)
            self.load_s = round(time.perf_counter() - t, 3)
        return self._model

    def units(self, section: str, items: list, shared=None) -> list:
        """Values of ``items`` (``(key, (kind, *args))``), computed or read back, in order."""
        if not items:
            return []
        keys = [k for k, _ in items]
        todo = sum(k not in self.store for k in keys)
        t = time.perf_counter()
        values = list(run_stored(self.executor, self.model_for(keys), run_unit, items, self.store, shared=shared,
                                 progress=self.run.progress, desc=f"{self.name} {section}"))  # fmt: skip
        self.section_s[section] = round(self.section_s.get(section, 0.0) + time.perf_counter() - t, 2)
        self.computed += todo
        self.total += len(items)
        return values


def plan_units(name: str, settings, clips: list, shape: dict, nonspeech: dict, steer_site: str,
               splice_layer: int, head_layers) -> dict:  # fmt: skip
    """``{section: {unit id: (key, (kind, *args))}}`` of phase 3, in report order."""
    plan: dict = {s: {} for s in SECTION_ORDER}
    for c in clips:
        plan["base"][c.key] = (make_key(name, "base", c.key), ("base", c.key))
        for k in ("all", *settings.ks):
            plan["window"][k, c.key] = (make_key(name, "window", c.key, f"k{k}"), ("window", c.key, k))
        plan["encoder_lens"][c.key] = (make_key(name, "encoder_lens", c.key), ("encoder_lens", c.key))
        if c.spans in ("synthesizer", "dataset"):  # the model's own spans would grade it against itself
            plan["alignment"][c.key] = (make_key(name, "alignment", c.key), ("alignment", c.key))
        for i in ms.splice_targets(c.utterance, settings.splice_words):
            plan["splice"][c.key, i] = (make_key(name, "splice", c.key, f"L{splice_layer}", f"w{i}"),
                                        ("splice", c.key, i, splice_layer))  # fmt: skip
    for c in clips[: settings.head_clips]:
        for layer in head_layers:
            for head in range(shape["heads"]):
                plan["heads"][f"{layer}.{head}", c.key] = (
                    make_key(name, "head", c.key, f"k{settings.head_k}", f"{layer}.{head}"),
                    ("heads", c.key, settings.head_k, layer, head))  # fmt: skip
    for word in settings.keywords:
        for voice in settings.keyword_voices:
            for carrier in (False, True) if settings.carrier else (False,):
                context = "carrier" if carrier else "alone"
                plan["logit_lens"][word, voice, context] = (make_key(name, "logit_lens", word, voice, context),
                                                            ("logit_lens", word, voice, carrier))  # fmt: skip
    for alpha in settings.alphas:
        for clip_name, audio in nonspeech["eval"].items():
            plan["nonspeech"][alpha, clip_name] = (make_key(name, "nonspeech", steer_site, f"a{alpha:g}", clip_name),
                                                   ("nonspeech", steer_site, alpha, audio))  # fmt: skip
        if alpha != 0:
            for c in clips:
                plan["steer"][alpha, c.key] = (make_key(name, "steer", steer_site, f"a{alpha:g}", c.key),
                                               ("steer", steer_site, alpha, c.key))  # fmt: skip
    return plan


def _layers(name: str, settings, shape: dict) -> tuple[int, tuple, int]:
    last = shape["encoder_layers"] - 1
    splice_layer = last if settings.splice_layer is None else settings.splice_layer
    head_layers = settings.head_layers if settings.head_layers is not None else tuple(range(shape["encoder_layers"]))
    steer_layer = last if settings.steer_layer is None else settings.steer_layer
    for layer in (*head_layers, splice_layer, steer_layer):
        if layer > last:
            raise ConfigError(f"encoder layer {layer} is out of range for {name} (layers 0-{last})")
    return splice_layer, head_layers, steer_layer


def run_model(name: str, settings, clips: list, nonspeech: dict, store, run, executor) -> dict:
    """Every unit of one model (computed or loaded), then each section's summary."""
    work = ModelRun(name, run, store, executor)
    t = time.perf_counter()
    (shape,) = work.units("shape", [(make_key(name, "shape"), ("shape",))])
    splice_layer, head_layers, steer_layer = _layers(name, settings, shape)
    steer_site = f"encoder.{steer_layer}.block_output"
    # phase 2: spans of clips that bring none, and the steering direction
    unaligned = [c for c in clips if c.spans == "none"]
    aligned = work.units("align", [(make_key(name, "align", c.key), ("align", c.key)) for c in unaligned],
                         shared={"clips": {c.key: c for c in unaligned}})  # fmt: skip
    spans = {c.key: a for c, a in zip(unaligned, aligned)}
    clips = [with_spans(c, spans[c.key]["words"]) if c.key in spans else c for c in clips]
    (vector,) = work.units("direction", [(make_key(name, "direction", steer_site, *nonspeech["fit"]),
                                          ("direction", steer_site, nonspeech["fit"]))])  # fmt: skip
    # phase 3: every section
    plan = plan_units(name, settings, clips, shape, nonspeech, steer_site, splice_layer, head_layers)
    shared = {"clips": {c.key: c for c in clips}, "vector": vector}
    done = {}
    for section, items in plan.items():
        values = work.units(section, list(items.values()), shared=shared)
        done[section] = dict(zip(items, values))
    compute_s = time.perf_counter() - t
    base, by = done["base"], _nest
    sections = {
        "window": claims.window_section(by(done["window"]), by(done["heads"]), base, settings.head_k,
                                        settings.harm_wer, shape["heads"]),
        "splice": claims.splice_section(by(done["splice"]), base, splice_layer),
        "encoder_lens": claims.encoder_lens_section(done["encoder_lens"]),
        "alignment": claims.alignment_section(done["alignment"], shape["decoder_layers"], shape["heads"]),
        "logit_lens": claims.logit_lens_section(list(done["logit_lens"].values()), shape["decoder_layers"]),
        "steering": claims.steering_section(
            {str(a): {n: done["nonspeech"][a, n] for n in nonspeech["eval"]} for a in settings.alphas},
            {str(a): ({c.key: base[c.key] for c in clips} if a == 0 else {c.key: done["steer"][a, c.key] for c in clips})
             for a in settings.alphas}, base, steer_site),
    }  # fmt: skip
    if not done["alignment"]:
        sections["alignment"]["figure"] = ("not available for this data: no clip has word spans of its own (the "
                                           "model's alignment would grade the model against itself)")  # fmt: skip
    if spans:
        low = sorted(k for k, a in spans.items() if a["low_confidence"])
        sections["splice"]["spans"] = {"aligner": sorted(spans), "low_confidence": low}
    return {"shape": shape, "sections": sections, "base": base, "units_computed": work.computed,
            "units": work.total, "compute_s": round(compute_s, 2), "model_load_s": work.load_s,
            "section_s": work.section_s, "spans": {c.key: c.spans for c in clips}}  # fmt: skip


def _nest(flat: dict) -> dict:
    """``{(a, b): v}`` -> ``{a: {b: v}}`` (keys as strings)."""
    out: dict = {}
    for (a, b), v in flat.items():
        out.setdefault(str(a), {})[str(b)] = v
    return out
