"""A minimal pair on disk: ``clean.wav``, ``corrupt.wav`` and ``pair.json``, read back verified whole.

``pair.json`` (format ``"speechlens.minimal_pair/2"``) holds the pair's fields, the SHA-256 of
each half's float32 samples (``clean_sha256``, ``corrupt_sha256``) and a ``checksum`` of its
own canonical content (:func:`tasks.verify.content_digest`), so the one checksum covers the
whole folder: an edited answer, span or parameter in the JSON is refused like an edited WAV.

:func:`load_pair` raises :class:`~tasks.errors.PairError` naming the file and the field for
anything that is missing, unreadable, truncated, changed, or of the wrong type or range; no
``JSONDecodeError``, ``KeyError``, ``TypeError`` or ``LibsndfileError`` gets through.

Older files (format ``"speechlens.minimal_pair/1"``) have no checksum of the JSON: they load if
their WAV checksums match (edited audio is refused) and every field passes its type and range
checks (spans inside the clip, answers strings, ...); an edit to the JSON that keeps it valid
(another answer word, shifted spans still inside the clip, other parameters) cannot be
detected in that format. A ``pair.json`` without the WAV checksums is refused in any format.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from tasks.audio import wav_truncation
from tasks.errors import ConfigError, PairError
from tasks.verify import CHECKSUM_FIELD, FieldReader, content_digest, read_json_object

__all__ = ["FORMAT", "LEGACY_FORMATS", "audio_sha256", "read_pair_folder"]

FORMAT = "speechlens.minimal_pair/2"
LEGACY_FORMATS = ("speechlens.minimal_pair/1",)
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_SAMPLE_RATE = 768_000


def audio_sha256(audio: np.ndarray) -> str:
    """SHA-256 of the samples as little-endian float32 (what pair.json records per half)."""
    return hashlib.sha256(np.ascontiguousarray(audio, dtype="<f4").tobytes()).hexdigest()


def _read_wav(path: Path, rate_expected: int, n_expected: int, digest: str, folder: Path) -> np.ndarray:
    import soundfile as sf

    if not path.is_file():
        raise PairError(f"'{path}' is missing; the pair folder '{folder}' is incomplete")
    cut = wav_truncation(path)
    if cut is not None:
        raise PairError(f"'{path}' is truncated: its header declares {cut[0]} bytes of audio, {cut[1]} are present")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, sf.SoundFileError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise PairError(f"'{path}' is not a readable WAV file ({exc})") from exc
    if rate != rate_expected or data.shape != (n_expected,):
        raise PairError(
            f"'{path}' has {data.shape[0] if data.ndim else 0} samples (shape {data.shape}) at {rate} Hz; pair.json "
            f"says {n_expected} at {rate_expected} Hz"
        )
    if audio_sha256(data) != digest:
        raise PairError(f"'{path}' does not match the checksum in pair.json; the file was changed")
    return data


def read_pair_folder(folder) -> dict:
    """The keyword arguments of a :class:`~corruptions.pair.MinimalPair` saved in ``folder``, verified.

    Raises
    ------
    PairError
        Naming the file and field (see the module notes).
    """
    folder = Path(folder)
    json_path = folder / "pair.json"
    if not json_path.is_file():
        raise PairError(f"'{folder}' has no pair.json: it is not a saved MinimalPair, or its save was interrupted")
    doc = read_json_object(json_path, PairError, "minimal pair")
    r = FieldReader(json_path, PairError)
    fmt = doc.get("format")
    if fmt != FORMAT and fmt not in LEGACY_FORMATS:
        raise PairError(f"'{json_path}' is not a SpeechLens minimal pair (field 'format' is {fmt!r}; "
                        f"expected {FORMAT!r})")
    if fmt == FORMAT:
        seal = r.mapping(r.get(doc, CHECKSUM_FIELD), CHECKSUM_FIELD)
        if seal.get("sha256") != content_digest(doc):
            raise PairError(f"'{json_path}' was changed after it was written: its content does not match its "
                            "checksum (field 'checksum'); save the pair again rather than editing it")
    digests = {}
    for name in ("clean", "corrupt"):
        field = f"{name}_sha256"
        if field not in doc:
            raise PairError(f"'{json_path}' lacks the field {field!r}: without the checksums of its WAV files an "
                            "edited or swapped clip would load unnoticed; save the pair again")
        value = doc[field]
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            r.fail(field, value, "must be a SHA-256 hex digest (64 characters 0-9a-f)")
        digests[name] = value
    rate = r.integer(r.get(doc, "sample_rate"), "sample_rate", low=1, high=MAX_SAMPLE_RATE)
    n = r.integer(r.get(doc, "n_samples"), "n_samples", low=1)
    duration = n / rate
    fields = {
        "sample_rate": rate,
        "clean_answer": r.string(doc.get("clean_answer"), "clean_answer", allow_none=True),
        "corrupt_answer": r.string(doc.get("corrupt_answer"), "corrupt_answer", allow_none=True),
        "changed_spans": [r.span(s, f"changed_spans[{i}]", duration_s=duration)
                          for i, s in enumerate(r.sequence(doc.get("changed_spans", []), "changed_spans"))],
        "corruption": r.mapping(doc.get("corruption", {}), "corruption"),
        "params": r.mapping(doc.get("params", {}), "params"),
        "seed": r.integer(doc.get("seed"), "seed", low=0, allow_none=True),
        "words": r.word_spans(doc.get("words", []), "words", duration_s=duration),
        "corrupt_words": r.word_spans(doc.get("corrupt_words", []), "corrupt_words", duration_s=duration),
        "metadata": r.mapping(doc.get("metadata", {}), "metadata"),
    }
    kind = fields["corruption"].get("kind")
    if fields["corruption"] and not isinstance(kind, str):
        r.fail("corruption.kind", kind, "must name the corruption (a string such as 'word_swap')")
    for name in ("clean", "corrupt"):
        fields[name] = _read_wav(folder / f"{name}.wav", rate, n, digests[name], folder)
    return fields


def build_checked(cls, folder, fields: dict):
    """``cls(**fields)``, its own checks turned into a PairError naming the folder."""
    try:
        return cls(**fields)
    except (ConfigError, PairError, TypeError, ValueError) as exc:
        raise PairError(f"the pair saved in '{folder}' is not valid: {exc}") from exc
