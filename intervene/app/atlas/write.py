"""Writing an atlas folder from collected unit statistics.

Layout (every file written atomically, compact JSON)::

    DIR/index.html            the page (intervene.app.atlas.page)
    DIR/atlas.json            the index: run facts and one small entry per unit
                              {id, density, max, mean, words: [top 3], phonemes: [top 3]}
    DIR/units/<id>.json       one unit: statistics, associated words and phonemes with scores,
                              top clips with the unit's activation per encoder frame
    DIR/clips/<key>.json      one clip (shared by every unit that lists it): text, duration,
                              word and phoneme marks, spectrogram bytes (intervene.app.atlas.media)
    DIR/clips/<key>.wav       its audio, 16 kHz 16-bit mono

Unit and clip files of an earlier build in the same folder that this build does not list are
removed, so the folder always matches its index.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from intervene.app.atlas.media import spectrogram, wav_bytes
from intervene.app.atlas.page import render_page
from tasks.atomic import write_bytes, write_text

__all__ = ["FORMAT", "clip_key", "write_atlas"]

FORMAT = "speechlens.atlas/1"
INDEX_LABELS = 3  # words and phonemes per unit in atlas.json (the unit file has up to 5)


def clip_key(clip_id: str) -> str:
    """A file-name-safe key for a clip id (16 hex digits of its SHA-256)."""
    return hashlib.sha256(clip_id.encode("utf-8")).hexdigest()[:16]


def _dump(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, separators=(",", ":"), allow_nan=False))


def _r(x: float, digits: int = 4) -> float:
    x = float(x)
    return round(x, digits) if np.isfinite(x) else 0.0


def _labels(rows) -> list:
    return [{"label": label, "score": _r(score, 3), "mean": _r(mean), "spans": spans} for label, score, mean, spans in rows]


def write_atlas(out: Path, head: dict, stats, unit_ids, clips, marks, frame_s: float) -> dict:
    """Write the atlas of ``stats`` (a :class:`~intervene.app.atlas.collect.UnitStats`) to ``out``.

    Parameters
    ----------
    out : Path
        An existing folder.
    head : dict
        Run facts for ``atlas.json`` (model, site, SAE, thresholds, timings...).
    stats : UnitStats
    unit_ids : sequence of int
        The unit id of each column of ``stats`` (neuron or feature index at the site).
    clips : list of CorpusClip
        The corpus, indexed as in ``stats``.
    marks : list of (words, phonemes, source)
        Each clip's marks, from the collection pass.
    frame_s : float
        Seconds per activation frame.

    Returns
    -------
    dict
        The index written to ``atlas.json``.
    """
    out = Path(out)
    words = stats.associations("words")
    phonemes = stats.associations("phonemes")
    density, mean, std = stats.density, stats.mean, stats.std
    entries, used, unit_files = [], {}, set()
    for col, uid in enumerate(unit_ids):
        top = stats.top_clips(col)
        clip_rows = []
        for clip, peak, peak_frame, trace in top:
            key = used.setdefault(clip, clip_key(clips[clip].id))
            clip_rows.append({"clip": key, "peak": _r(peak), "peak_s": _r((peak_frame + 0.5) * frame_s, 3),
                              "acts": [_r(v, 3) for v in trace.astype(np.float32)]})
        unit = {"id": int(uid), "density": _r(density[col], 6), "max": _r(stats.max[col]), "mean": _r(mean[col]),
                "std": _r(std[col]), "words": _labels(words[col]), "phonemes": _labels(phonemes[col]),
                "clips": clip_rows}
        name = f"{int(uid)}.json"
        _dump(out / "units" / name, unit)
        unit_files.add(name)
        entries.append({"id": int(uid), "density": unit["density"], "max": unit["max"], "mean": unit["mean"],
                        "words": [r[0] for r in words[col][:INDEX_LABELS]],
                        "phonemes": [r[0] for r in phonemes[col][:INDEX_LABELS]]})
    clip_files = set()
    for i, key in used.items():
        c = clips[i]
        audio = np.asarray(c.load(), dtype=np.float32)
        w, p, source = marks[i]
        data = {"key": key, "id": c.id, "text": c.text, "kind": c.kind, "duration_s": _r(audio.shape[0] / 16000, 4),
                "frame_s": frame_s, "marks": source, "words": [[str(a), _r(b, 3), _r(e, 3)] for a, b, e in w],
                "phonemes": [[str(a), _r(b, 3), _r(e, 3)] for a, b, e in p], "spectrogram": spectrogram(audio)}
        write_bytes(out / "clips" / f"{key}.wav", wav_bytes(audio))
        _dump(out / "clips" / f"{key}.json", data)
        clip_files |= {f"{key}.wav", f"{key}.json"}
    _remove_stale(out / "units", unit_files, "*.json")
    _remove_stale(out / "clips", clip_files, "*")
    index = {"format": FORMAT, **head, "n_units": len(entries), "n_clips_shown": len(used), "units": entries}
    _dump(out / "atlas.json", index)
    title = f"SpeechLens atlas: {head.get('model')} {head.get('site')}" + (" SAE" if head.get("sae") else "")
    write_text(out / "index.html", render_page(title))
    return index


def _remove_stale(folder: Path, keep: set, pattern: str) -> None:
    if not folder.is_dir():
        return
    for p in folder.glob(pattern):
        if p.is_file() and p.name not in keep and not p.name.startswith("."):
            p.unlink()
