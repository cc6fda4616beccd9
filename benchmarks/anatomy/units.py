"""The anatomy benchmark's units as module-level functions, so they run on any executor.

:func:`run_unit` is the one function :func:`benchmarks.common.units.run_stored` hands to the
executor (Ray workers import it by name); its first argument after ``model`` and ``shared``
names the unit kind, the rest are the unit's own arguments. What every unit of a phase needs
(the scored clips by key, the steering direction) travels once per worker in ``shared``::

    shared = {"clips": {clip key: SpeechClip}, "vector": [floats] or None}

Every function returns plain JSON values (kept in the run's work store by the driver).
"""

from __future__ import annotations

from benchmarks.anatomy import measure as ms

__all__ = ["KINDS", "run_unit", "shape_of"]


def shape_of(model) -> dict:
    """Layer and head counts (kept in the work store, so a resumed run needs no model)."""
    return {"encoder_layers": model.num_layers("encoder"), "decoder_layers": model.num_layers("decoder"),
            "heads": int(model.config.encoder_attention_heads)}  # fmt: skip


def _clip(shared, key: str):
    return shared["clips"][key]


def _shape(model, shared):
    return shape_of(model)


def _direction(model, shared, site: str, fit: dict):
    return ms.steering_direction(model, site, fit)


def _align(model, shared, key: str):
    """Word spans of a dataset clip without its own (the model's alignment of the transcript)."""
    import intervene

    c = _clip(shared, key)
    found = intervene.align(model, c.utterance.audio, c.text, sample_rate=c.utterance.sample_rate)
    return {"words": [[w.word, float(w.start_s), float(w.end_s)] for w in found],
            "low_confidence": bool(found.low_confidence)}  # fmt: skip


def _base(model, shared, key: str):
    u = _clip(shared, key).utterance
    return ms.transcript_unit(model, u, [], u)


def _window(model, shared, key: str, k):
    u = _clip(shared, key).utterance
    return ms.transcript_unit(model, u, [ms.window(model, k)], u)


def _head(model, shared, key: str, k: int, layer: int, head: int):
    u = _clip(shared, key).utterance
    return ms.transcript_unit(model, u, [ms.head_window(k, layer, head)], u)


def _encoder_lens(model, shared, key: str):
    return ms.encoder_lens_unit(model, _clip(shared, key))


def _alignment(model, shared, key: str):
    return ms.alignment_unit(model, _clip(shared, key))


def _splice(model, shared, key: str, word_index: int, layer: int):
    return ms.splice_unit(model, _clip(shared, key), word_index, layer)


def _logit_lens(model, shared, word: str, voice: str, carrier: bool):
    return ms.logit_lens_unit(model, word, voice, carrier)


def _nonspeech(model, shared, site: str, alpha: float, audio):
    return ms.transcript_unit(model, audio, ms.steered(site, shared["vector"], alpha))["text"]


def _steer(model, shared, site: str, alpha: float, key: str):
    u = _clip(shared, key).utterance
    return ms.transcript_unit(model, u, ms.steered(site, shared["vector"], alpha), u)


KINDS = {"shape": _shape, "direction": _direction, "align": _align, "base": _base, "window": _window,
         "heads": _head, "encoder_lens": _encoder_lens, "alignment": _alignment, "splice": _splice,
         "logit_lens": _logit_lens, "nonspeech": _nonspeech, "steer": _steer}  # fmt: skip
"""Unit kind -> function ``(model, shared, *args) -> JSON``."""


def run_unit(model, shared, kind: str, *args):
    """Run one unit of ``kind`` (a key of :data:`KINDS`) with its arguments."""
    return KINDS[kind](model, shared, *args)
