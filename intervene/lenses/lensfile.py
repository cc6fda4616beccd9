"""A lens table on disk: written atomically, read back verified whole.

Two files side by side, as causal maps (:mod:`intervene.mapfile`):

``NAME.npz``  (numpy): ``token_ids``, ``targets``, ``top_ids``, ``top_probs``, ``target_probs``,
              ``target_ranks`` and, for the encoder lens, ``wer``.
``NAME.json``: ``format`` ("speechlens.lens_table/1"), ``kind``, ``model``, ``layers``,
              ``tokens``, ``vocab`` (token id -> text), ``answer_position``, ``text``,
              ``prefix``, ``reference``, ``reference_source``, ``transcripts``, ``duration_s``,
              ``meta``, ``arrays`` (the npz's file name, SHA-256, names and shapes) and
              ``checksum`` (SHA-256 of the JSON's canonical content, so one checksum covers both).

The npz is written first, then the JSON (a table whose JSON exists is complete). Loading
refuses, with a :class:`~tasks.errors.ModelLoadError` naming the file and the field, a missing
or truncated file, an edited JSON (checksum), an npz that is not the one the JSON names, and
fields of the wrong type, shape or range, or that contradict each other (a target of rank 0
that is not the top token, probabilities outside [0, 1] or out of order, token ids the
vocabulary lacks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.atomic import atomic_path, write_json
from tasks.errors import ConfigError, ModelLoadError
from tasks.jsonio import to_jsonable
from tasks.verify import (
    CHECKSUM_FIELD,
    FieldReader,
    content_digest,
    file_sha256,
    read_json_object,
    read_npz_arrays,
    seal,
)

__all__ = ["FORMAT", "lens_paths", "load_lens", "save_lens"]

FORMAT = "speechlens.lens_table/1"
REQUIRED = ("token_ids", "targets", "top_ids", "top_probs", "target_probs", "target_ranks")
ARRAYS = REQUIRED + ("wer",)
_TEXT = ("reference", "reference_source", "prefix")


def lens_paths(path) -> tuple[Path, Path]:
    """The ``.npz`` and ``.json`` paths of a table given either (or the stem)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def save_lens(table, path) -> Path:
    """Write ``table`` as ``NAME.npz`` then ``NAME.json`` (sealed); returns the npz path."""
    npz, js = lens_paths(path)
    arrays = {k: np.asarray(getattr(table, k)) for k in ARRAYS if getattr(table, k) is not None}
    with atomic_path(npz) as tmp:
        np.savez_compressed(tmp, **arrays)
    doc = {
        "format": FORMAT, "kind": table.kind, "model": table.model, "layers": list(table.layers),
        "tokens": list(table.tokens), "vocab": {str(k): v for k, v in sorted(table.vocab.items())},
        "answer_position": table.answer_position, "text": table.text, "prefix": table.prefix,
        "reference": table.reference, "reference_source": table.reference_source,
        "transcripts": None if table.transcripts is None else list(table.transcripts),
        "duration_s": table.duration_s, "meta": to_jsonable(table.meta),
        "arrays": {"file": npz.name, "sha256": file_sha256(npz), "names": sorted(arrays),
                   "shapes": {k: list(a.shape) for k, a in sorted(arrays.items())}},
    }  # fmt: skip
    write_json(js, seal(doc))
    return npz


def _check_fields(r: FieldReader, doc: dict) -> dict:
    from intervene.lenses.table import KINDS

    out = {"kind": r.string(r.get(doc, "kind"), "kind", choices=KINDS)}
    out["model"] = r.string(r.get(doc, "model"), "model")
    layers = r.sequence(r.get(doc, "layers"), "layers")
    out["layers"] = [r.integer(v, f"layers[{i}]", low=-1) for i, v in enumerate(layers)]
    if not layers or out["layers"] != sorted(set(out["layers"])):
        r.fail("layers", layers, "must be a non-empty list of increasing layer labels")
    tokens = r.sequence(r.get(doc, "tokens"), "tokens")
    out["tokens"] = [r.string(t, f"tokens[{i}]") for i, t in enumerate(tokens)]
    if not tokens:
        r.fail("tokens", tokens, "must name at least one column")
    vocab = r.mapping(r.get(doc, "vocab"), "vocab")
    out["vocab"] = {}
    for k, v in vocab.items():
        if not k.isdigit():
            r.fail(f"vocab.{k}", k, "must be keyed by token ids (digits)")
        out["vocab"][int(k)] = r.string(v, f"vocab.{k}")
    out["answer_position"] = r.integer(r.get(doc, "answer_position"), "answer_position", low=0, high=len(tokens) - 1)
    out["text"] = r.string(r.get(doc, "text"), "text")
    for key in _TEXT:
        out[key] = r.string(r.get(doc, key, required=False), key, allow_none=True)
    transcripts = r.sequence(r.get(doc, "transcripts", required=False), "transcripts", allow_none=True)
    if transcripts is not None:
        if len(transcripts) != len(layers):
            r.fail("transcripts", f"{len(transcripts)} entries", f"must hold one transcript per layer ({len(layers)})")
        transcripts = [r.string(t, f"transcripts[{i}]") for i, t in enumerate(transcripts)]
    out["transcripts"] = transcripts
    out["duration_s"] = r.number(r.get(doc, "duration_s", required=False), "duration_s", low=0, allow_none=True)
    out["meta"] = r.mapping(r.get(doc, "meta"), "meta")
    return out


def _check_arrays(r: FieldReader, a: dict, fields: dict) -> None:
    n_layers, n_tokens = len(fields["layers"]), len(fields["tokens"])
    for k, v in a.items():
        integral = k in ("token_ids", "targets", "top_ids", "target_ranks")
        if v.dtype.kind not in ("iu" if integral else "f"):
            r.fail(f"arrays.{k}", str(v.dtype), "must hold " + ("integers" if integral else "real numbers"))
    k = a["top_ids"].shape[-1] if a["top_ids"].ndim == 3 else 0
    shapes = {"token_ids": (n_tokens,), "targets": (n_tokens,), "top_ids": (n_layers, n_tokens, k),
              "top_probs": (n_layers, n_tokens, k), "target_probs": (n_layers, n_tokens),
              "target_ranks": (n_layers, n_tokens), "wer": (n_layers,)}  # fmt: skip
    for name, arr in a.items():
        if arr.shape != shapes[name] or (name == "top_ids" and k < 1):
            r.fail(f"arrays.{name}", list(arr.shape), f"must have shape {list(shapes[name])} (layers x tokens x top-k)")
    probs, top = a["target_probs"], a["top_probs"]
    if not (np.isfinite(probs).all() and np.isfinite(top).all() and probs.min() >= 0 and top.min() >= 0
            and probs.max() <= 1 + 1e-6 and top.max() <= 1 + 1e-6):
        r.fail("arrays.target_probs", "values", "must be probabilities (finite, between 0 and 1)")
    if (np.diff(top, axis=-1) > 1e-6).any():
        r.fail("arrays.top_probs", "order", "must be sorted from the most probable token down")
    ranks, targets, ids = a["target_ranks"], a["targets"], a["top_ids"]
    if ranks.min() < 0:
        r.fail("arrays.target_ranks", int(ranks.min()), "must be >= 0")
    is_top = ids[..., 0] == targets[None, :]
    if (ranks[is_top] != 0).any() or (probs > top[..., 0] + 1e-5).any():
        r.fail("arrays.target_ranks", "ranks", "contradict top_ids/top_probs: a target that is the top token must have "
                                               "rank 0 and no target may be more probable than the top token")
    if (np.abs(probs[ranks == 0] - top[..., 0][ranks == 0]) > 1e-5).any():
        r.fail("arrays.target_probs", "probs", "must equal the top probability where the target's rank is 0")
    missing = {int(i) for arr in (a["token_ids"], targets, ids) for i in np.unique(arr)} - set(fields["vocab"])
    if missing:
        r.fail("vocab", f"{len(fields['vocab'])} entries", f"lacks the text of token ids {sorted(missing)[:5]}")
    if "wer" in a and (not np.isfinite(a["wer"]).all() or a["wer"].min() < 0):
        r.fail("arrays.wer", a["wer"].tolist(), "must be finite word error rates >= 0")
    if ("wer" in a) != (fields["transcripts"] is not None):
        r.fail("transcripts", "wer", "come together: the encoder lens has both, the logit lens neither")


def load_lens(path):
    """Read a lens table written by :func:`save_lens` (give the .npz or the .json), verified whole.

    Raises
    ------
    ModelLoadError
        A file is missing, unreadable, truncated, of another format, changed after it was
        written, or holds a field of the wrong type, shape or range, or fields that contradict
        each other; the message names the file and the field.
    """
    from intervene.lenses.table import LensTable

    npz, js = lens_paths(path)
    if not js.is_file() or not npz.is_file():
        raise ModelLoadError(f"lens table '{path}' is incomplete: need both {npz.name} and {js.name}")
    doc = read_json_object(js, ModelLoadError, "lens table")
    r = FieldReader(js, ModelLoadError)
    if doc.get("format") != FORMAT:
        raise ModelLoadError(f"'{js}' is not a SpeechLens lens table (field 'format' is {doc.get('format')!r}; "
                             f"expected {FORMAT!r})")
    sealed = r.mapping(r.get(doc, CHECKSUM_FIELD), CHECKSUM_FIELD)
    if sealed.get("sha256") != content_digest(doc):
        raise ModelLoadError(f"'{js}' was changed after it was written: its content does not match its checksum "
                             "(field 'checksum'); write the table again rather than editing it")
    info = r.mapping(r.get(doc, "arrays"), "arrays")
    names = r.sequence(r.get(info, "names", "arrays.names"), "arrays.names")
    for i, n in enumerate(names):
        r.string(n, f"arrays.names[{i}]", choices=ARRAYS)
    if not set(REQUIRED) <= set(names):
        r.fail("arrays.names", names, f"must include {', '.join(REQUIRED)}")
    if file_sha256(npz) != r.string(r.get(info, "sha256", "arrays.sha256"), "arrays.sha256"):
        raise ModelLoadError(f"'{npz}' does not match '{js}' (field 'arrays.sha256': checksum); the pair of files is "
                             "inconsistent or the npz was changed or truncated")
    arrays = read_npz_arrays(npz, names, ModelLoadError)
    fields = _check_fields(r, doc)
    _check_arrays(r, arrays, fields)
    try:
        return LensTable(**fields, **arrays)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"'{js}' does not make a valid lens table: {exc}") from exc
