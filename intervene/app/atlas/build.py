"""Build an atlas: check the inputs, stream the corpus through the model once, write the folder."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tasks.errors import ConfigError, DatasetError

__all__ = ["DEFAULT_CLIPS", "DEFAULT_TOP", "NEURON_ACTIVE_ABOVE", "AtlasResult", "build_atlas", "corpus_of"]

logger = logging.getLogger(__name__)

DEFAULT_CLIPS = 120
"""Corpus size when none is given (about two minutes for one tiny.en encoder layer on 2 CPU cores)."""
DEFAULT_TOP = 5
NEURON_ACTIVE_ABOVE = 0.5
"""A neuron (MLP hidden unit after GELU) counts as active on a frame when its output is above 0.5
(pre-activation above about 0.69); GELU output is never below -0.17, and small positive outputs are
the shoulder of the curve, not firing. SAE features count as active above 0."""


@dataclass(frozen=True)
class AtlasResult:
    """What :func:`build_atlas` wrote: ``out`` (the folder), ``index`` (the ``atlas.json`` content),
    ``seconds`` (collection and writing)."""

    out: Path
    index: dict
    seconds: dict

    @property
    def n_units(self) -> int:
        return int(self.index["n_units"])


def corpus_of(clips, data: str | None = None) -> list:
    """The corpus: ``data`` (a :func:`tasks.open_dataset` spec, first ``clips`` recordings), else
    ``clips`` itself (a list of clips), else a synthetic corpus of ``clips`` clips (about 1 in 20
    noise and 1 in 40 silence, the rest speech)."""
    from intervene.features.corpus import as_corpus, dataset_corpus, synthetic_corpus
    from tasks.checks import check_int

    if data is not None:
        return dataset_corpus(data, limit=None if clips is None else check_int("clips", clips, low=1))
    if clips is None or isinstance(clips, (int, np.integer)) and not isinstance(clips, bool):
        n = DEFAULT_CLIPS if clips is None else check_int("clips", clips, low=1)
        n_noise, n_silence = n // 20, n // 40
        return synthetic_corpus(n - n_noise - n_silence, n_noise=n_noise, n_silence=n_silence)
    return as_corpus(clips)


def _unit_ids(units, width: int) -> list:
    if units is None:
        return list(range(width))
    if isinstance(units, (int, np.integer)) and not isinstance(units, bool):
        if not 1 <= int(units) <= width:
            raise ConfigError(f"units ({units}) must be between 1 and the site's {width} units")
        return list(range(int(units)))
    ids = [int(u) for u in units]
    bad = [u for u in ids if not 0 <= u < width]
    if bad or not ids or len(set(ids)) != len(ids):
        raise ConfigError(f"units ({list(units)[:8]}) must be distinct unit ids in 0..{width - 1}, at least one")
    return ids


def _check_out(out) -> Path:
    path = Path(out).expanduser()
    for p in [path, *path.parents]:
        if p.exists():
            if not p.is_dir():
                raise ConfigError(f"out ('{path}') is a file or lies under one ('{p}'); give a folder for the atlas")
            break
    return path


def build_atlas(model, site, sae=None, clips=None, out="atlas", *, units=None, top: int = DEFAULT_TOP,
                data: str | None = None, active_above: float | None = None, align: bool = True,
                progress: bool = False) -> AtlasResult:
    """Write a static HTML atlas of a site's units (MLP neurons, or an SAE's features) to ``out``.

    One pass over the corpus (one forward per clip, stopped at the site) keeps per unit its top
    clips, density and word/phoneme associations; then ``out`` gets ``index.html``,
    ``atlas.json``, ``units/<id>.json`` and the shown clips' audio and spectrograms
    (layout: :mod:`intervene.app.atlas.write`; the page: :mod:`intervene.app.atlas.page`).

    Parameters
    ----------
    model : SpeechModel or str
        A loaded model or a name for :func:`intervene.load_model`.
    site : str or Site
        An encoder site. Its values are the units (``"encoder.3.mlp_hidden"``: the layer's MLP
        neurons), or, with ``sae``, the SAE's input (e.g. ``"encoder.3.block_output"``).
    sae : SAE or str or Path, optional
        An SAE (or its folder, :meth:`SAE.load <intervene.features.SAE.load>`) trained on ``site``:
        the units are its features.
    clips : int or list, optional
        Corpus size (a synthetic corpus; default :data:`DEFAULT_CLIPS`), a list of clips, or with
        ``data`` the number of recordings to read.
    out : str or Path
        The atlas folder (created; an earlier atlas there is replaced).
    units : int or sequence of int, optional
        The first ``units`` units, or these unit ids (default: every unit).
    top : int
        Top clips kept per unit.
    data : str, optional
        A :func:`tasks.open_dataset` spec (recordings; words aligned with :func:`intervene.align`).
    active_above : float, optional
        Activation above which a frame counts as active for the density (default: 0 for SAE
        features, :data:`NEURON_ACTIVE_ABOVE` for other sites).
    align : bool
        Align recordings for word and phoneme marks (off: recordings get no marks).
    progress : bool
        A progress bar over clips.

    Returns
    -------
    AtlasResult

    Raises
    ------
    UnknownNameError
        An unknown site.
    ConfigError
        A decoder site, an SAE whose input width or site is not ``site``'s, bad ``units`` /
        ``top`` / ``clips``, or an ``out`` that is a file.
    DatasetError
        An empty corpus or an unreadable SAE folder.

    Examples
    --------
    >>> from intervene.app.atlas import build_atlas
    >>> build_atlas("whisper-tiny.en", "encoder.3.mlp_hidden", clips=40, out="atlas-l3")  # doctest: +SKIP
    """
    import intervene
    from intervene.app.atlas.collect import UnitStats
    from intervene.app.atlas.write import write_atlas
    from intervene.features.sae import SAE
    from intervene.features.train import site_width
    from tasks.checks import check_int

    out = _check_out(out)
    top = check_int("top", top, low=1)
    if isinstance(model, (str, Path)):
        model = intervene.load_model(model)
    key = model.site(site).key
    if model.site(key).stream != "encoder":
        raise ConfigError(f"site {key!r}: the atlas reads encoder frames (time-aligned with the audio); give an "
                          "encoder site such as 'encoder.3.mlp_hidden'")
    width = site_width(model, key)
    if sae is not None:
        if isinstance(sae, (str, Path)):
            sae = SAE.load(sae)
        if not isinstance(sae, SAE):
            raise ConfigError(f"sae ({type(sae).__name__}) must be an SAE or an SAE folder")
        if sae.d_in != width:
            raise ConfigError(f"the SAE reads {sae.d_in} values per frame (d_in) but site {key} has {width}; "
                              "give the site the SAE was trained on" + (f" ({sae.site})" if sae.site else ""))
        if sae.site is not None and sae.site != key:
            raise ConfigError(f"the SAE was trained on site {sae.site!r}, not {key!r}; give --site {sae.site}")
        n_units = sae.width
    else:
        n_units = width
    ids = _unit_ids(units, n_units)
    if active_above is None:
        active_above = 0.0 if sae is not None else NEURON_ACTIVE_ABOVE
    if not math.isfinite(float(active_above)):
        raise ConfigError(f"active_above ({active_above}) must be a finite number")
    corpus = corpus_of(clips, data)
    if not corpus:
        raise DatasetError("the corpus is empty; give clips (a number or a list) or a dataset with recordings")
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    stats = UnitStats(len(ids), top, float(active_above), keep_above=0.0 if sae is not None else -np.inf)
    marks = _collect(model, key, sae, corpus, ids, stats, align, progress)
    collected = time.perf_counter()
    head = {"model": model.name, "site": key, "unit_kind": "feature" if sae is not None else "neuron",
            "sae": None if sae is None else {"kind": sae.kind, "width": sae.width, "k": sae.k, "digest": sae.digest()},
            "active_above": float(active_above), "top": top, "n_clips": stats.n_clips, "n_frames": stats.n_frames,
            "frame_s": model.frame_s,
            "marks": {s: sum(1 for m in marks if m[2] == s) for s in sorted({m[2] for m in marks})}}
    head["seconds"] = {"collect": round(collected - start, 2)}
    index = write_atlas(out, head, stats, ids, corpus, marks, model.frame_s)
    seconds = {"collect": collected - start, "write": time.perf_counter() - collected}
    logger.info("atlas of %d units in %s: collect %.1f s, write %.1f s", len(ids), out, *seconds.values())
    return AtlasResult(out, index, seconds)


@torch.no_grad()
def _collect(model, key: str, sae, corpus, ids, stats, align: bool, progress: bool) -> list:
    """Run every clip once; feed ``stats``; return each clip's ``(words, phonemes, source)``."""
    from intervene.app.atlas.marks import clip_marks
    from intervene.features.store import read_activations

    cols = torch.as_tensor(ids, dtype=torch.long)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(corpus), desc="atlas", unit="clip")
    marks = []
    try:
        for i, clip in enumerate(corpus):
            m = clip_marks(clip, model, align=align)
            audio = model.prepare(m.audio, 16000, name=f"clip {clip.id}")
            x = read_activations(model, key, audio)
            if sae is not None:
                x = sae.encode(x.to(sae.W_enc.device)).cpu()
            x = x.float()[:, cols] if len(ids) != x.shape[1] else x.float()
            stats.add(i, x.numpy(), model.frame_s, m.words, m.phonemes)
            marks.append((m.words, m.phonemes, m.source))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if stats.n_frames == 0:
        raise DatasetError("the corpus gave no audio frames; give clips with audio")
    return marks
