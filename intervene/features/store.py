"""An activation store: one site's activations over a corpus, sharded to disk, resumable.

:func:`extract` runs the model on each clip (one forward each, cut short once the site has
been read), keeps only the encoder frames that hold the clip's audio (Whisper encodes 1500
positions of 20 ms however short the clip; the padding's frames are left out) and writes
shards of ``clips_per_shard`` clips::

    STORE/index.json          format, model, model fingerprint, site, d, dtype, corpus digest,
                              clips (labels, frames, shard), shards (file, clips, frames, sha256)
    STORE/shard-00000.safetensors   activations (frames, d), clip (frames,) int32, frame (frames,) int32

Every file is written atomically and the index after each shard, so a rerun with the same
model, site and corpus skips the shards already written (an interrupted extraction resumes).
:class:`ActivationStore` reads a finished store: all frames, batches, or a clip-wise split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from intervene import hooks
from intervene.features.corpus import as_corpus, corpus_digest
from tasks.atomic import atomic_path, write_json
from tasks.checks import check_int, check_real
from tasks.errors import ConfigError, DatasetError

__all__ = ["FORMAT", "ActivationStore", "extract", "read_activations"]

logger = logging.getLogger(__name__)

FORMAT = "speechlens.activations/1"
INDEX = "index.json"
DTYPES = {"float32": torch.float32, "float16": torch.float16}


class _Captured(Exception):
    """Raised by the capture hook to stop a forward once the site has been read."""


def _fingerprint(model) -> str:
    from intervene.learned.das import fingerprint

    return fingerprint(model)


def _site(model, site):
    s = model.site(site)
    if s.stream != "encoder":
        raise ConfigError(f"site {s.key!r}: the activation store reads encoder frames (the frames that hold audio); "
                          "give an encoder site such as 'encoder.3.block_output'")
    return s


@torch.no_grad()
def read_activations(model, site, audio: np.ndarray) -> torch.Tensor:
    """``site``'s activations on one prepared clip, audio frames only: float32 (frames, size).

    The forward stops as soon as the site has been computed (the rest of the model is not run).
    """
    r = model.resolve(site)
    got = {}

    def fn(t):
        v = t if r.head_slice is None else t[..., r.head_slice]
        got["x"] = v[0].detach()
        raise _Captured

    n = model.num_frames(audio.shape[0])
    try:
        with hooks.on_sites(model, {r: fn}):
            model.logits(model.inputs(audio, model.sample_rate, checked=True))
    except _Captured:
        pass
    if "x" not in got:
        raise DatasetError(f"site {r.key} was not computed by the forward; nothing to store")
    return got["x"][:n].float().cpu()


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def extract(model, site, clips, path, *, clips_per_shard: int = 32, dtype: str = "float32",
            progress: bool = False) -> ActivationStore:
    """Store ``site``'s activations over ``clips`` in the folder ``path`` (see the module notes).

    Parameters
    ----------
    model : SpeechModel
    site : str or Site
        An encoder site, e.g. ``"encoder.3.block_output"``.
    clips : list
        A corpus (:func:`~intervene.features.corpus.synthetic_corpus`,
        :func:`~intervene.features.corpus.dataset_corpus`) or Utterances / float arrays.
    path : str or Path
        The store's folder; a rerun on the same model, site and corpus resumes there.
    clips_per_shard : int
    dtype : {"float32", "float16"}
    progress : bool
        A tqdm progress bar over clips.

    Returns
    -------
    ActivationStore

    Raises
    ------
    ConfigError
        A decoder site, a bad option, or a folder holding a store of another model, site or corpus.
    """
    site = _site(model, site)
    clips = as_corpus(clips)
    clips_per_shard = check_int("clips_per_shard", clips_per_shard, low=1)
    if dtype not in DTYPES:
        raise ConfigError(f"dtype ({dtype!r}) must be one of {', '.join(DTYPES)}")
    folder = Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    head = {"format": FORMAT, "model": model.name, "fingerprint": _fingerprint(model), "site": site.key,
            "dtype": dtype, "corpus": corpus_digest(clips), "n_clips": len(clips), "clips_per_shard": clips_per_shard,
            "frame_s": model.frame_s}
    index = _resume(folder, head)
    shards = index["shards"]
    n_shards = -(-len(clips) // clips_per_shard)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(clips), initial=min(len(shards) * clips_per_shard, len(clips)), desc="activations",
                   unit="clip")
    from safetensors.torch import save_file

    try:
        for s in range(len(shards), n_shards):
            lo, hi = s * clips_per_shard, min((s + 1) * clips_per_shard, len(clips))
            acts, clip_ix, frame_ix = [], [], []
            start = time.perf_counter()
            for i in range(lo, hi):
                c = clips[i]
                audio = model.prepare(c.load(), 16000, name=f"clip {c.id}")
                x = read_activations(model, site, audio)
                acts.append(x)
                clip_ix.append(torch.full((x.shape[0],), i, dtype=torch.int32))
                frame_ix.append(torch.arange(x.shape[0], dtype=torch.int32))
                index["clips"].append({**c.labels(), "frames": int(x.shape[0]), "shard": s,
                                       "duration_s": audio.shape[0] / model.sample_rate})
                if bar is not None:
                    bar.update(1)
            seconds = time.perf_counter() - start
            tensors = {"activations": torch.cat(acts).to(DTYPES[dtype]).contiguous(), "clip": torch.cat(clip_ix),
                       "frame": torch.cat(frame_ix)}
            file = folder / f"shard-{s:05d}.safetensors"
            with atomic_path(file) as tmp:
                save_file(tensors, str(tmp))
            shards.append({"file": file.name, "clips": [lo, hi], "frames": int(tensors["clip"].shape[0]),
                           "seconds": seconds, "sha256": _sha(file)})
            index["d"] = int(tensors["activations"].shape[1])
            index["complete"] = len(shards) == n_shards
            write_json(folder / INDEX, index)
    finally:
        if bar is not None:
            bar.close()
    if not shards:
        raise DatasetError("no clips to store")
    return ActivationStore(folder)


def _resume(folder: Path, head: dict) -> dict:
    """The index to continue: the existing one when it matches ``head`` (shards whose files are
    missing are dropped with everything after them), else a fresh one."""
    file = folder / INDEX
    if not file.is_file():
        return {**head, "d": None, "complete": False, "clips": [], "shards": []}
    try:
        index = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read '{file}': {exc}; delete the folder to extract again") from exc
    for key, value in head.items():
        if index.get(key) != value:
            raise ConfigError(f"'{folder}' holds a store with {key}={index.get(key)!r}, not {value!r}; "
                              "extract into another folder (or delete this one)")
    keep = []
    for sh in index.get("shards", []):
        if not (folder / sh["file"]).is_file():
            break
        keep.append(sh)
    index["shards"] = keep
    done = keep[-1]["clips"][1] if keep else 0
    index["clips"] = index.get("clips", [])[:done]
    if keep:
        logger.info("resuming activation store %s: %d shards (%d clips) already written", folder, len(keep), done)
    return index


class ActivationStore:
    """A finished activation store (see the module notes).

    Attributes
    ----------
    folder : Path
    site : str
        The site key.
    model : str
    d : int
        Values per frame.
    clips : list of dict
        Each clip's labels, ``frames`` and ``shard``.

    Raises
    ------
    DatasetError
        No index, an unreadable or foreign index, a store whose extraction did not finish, a
        missing shard.
    """

    def __init__(self, path):
        self.folder = Path(path).expanduser()
        file = self.folder / INDEX
        if not file.is_file():
            raise DatasetError(f"'{self.folder}' is not an activation store (no {INDEX}); build one with "
                               "intervene.features.extract")
        try:
            index = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot read '{file}': {exc}") from exc
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise DatasetError(f"'{file}' is not a {FORMAT} index")
        if not index.get("complete"):
            raise DatasetError(f"activation store '{self.folder}' is incomplete ({len(index.get('shards', []))} shards "
                               "written); rerun extract with the same arguments to finish it")
        if not index.get("shards") or not index.get("clips"):
            raise DatasetError(f"activation store '{self.folder}' is empty (no clips)")
        for sh in index["shards"]:
            if not (self.folder / sh["file"]).is_file():
                raise DatasetError(f"activation store '{self.folder}' lacks shard {sh['file']}")
        self.index = index
        self.site, self.model, self.d = index["site"], index["model"], int(index["d"])
        self.fingerprint = index["fingerprint"]
        self.clips = index["clips"]

    def __repr__(self) -> str:
        return f"ActivationStore('{self.folder}', site={self.site!r}, clips={len(self.clips)}, frames={self.n_frames})"

    @property
    def n_frames(self) -> int:
        return sum(int(s["frames"]) for s in self.index["shards"])

    @property
    def frames_per_s(self) -> float:
        """Extraction speed: stored frames per second of extraction time."""
        seconds = sum(float(s.get("seconds", 0.0)) for s in self.index["shards"])
        return self.n_frames / seconds if seconds > 0 else float("nan")

    def shard(self, i: int, verify: bool = True) -> dict:
        """Shard ``i``'s tensors (``activations`` float32, ``clip``, ``frame``).

        Raises
        ------
        DatasetError
            An unreadable shard, a checksum or shape that does not match the index.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        sh = self.index["shards"][i]
        file = self.folder / sh["file"]
        if verify and _sha(file) != sh["sha256"]:
            raise DatasetError(f"shard '{file}' does not match its checksum in {INDEX}; it is corrupt: delete it "
                               "and rerun extract to write it again")
        try:
            t = load_file(str(file))
        except (OSError, SafetensorError, ValueError, RuntimeError) as exc:
            raise DatasetError(f"cannot read shard '{file}': {exc}") from exc
        x = t.get("activations")
        if x is None or x.ndim != 2 or x.shape != (sh["frames"], self.d) or t["clip"].shape[0] != x.shape[0]:
            raise DatasetError(f"shard '{file}' has shape {None if x is None else tuple(x.shape)}, expected "
                               f"({sh['frames']}, {self.d}); it is corrupt")
        return {"activations": x.float(), "clip": t["clip"].long(), "frame": t["frame"].long()}

    def arrays(self, clips=None) -> tuple:
        """``(activations float32 (frames, d), clip (frames,), frame (frames,))`` of the chosen clips
        (indices into :attr:`clips`; None: all)."""
        parts = [self.shard(i) for i in range(len(self.index["shards"]))]
        x = torch.cat([p["activations"] for p in parts])
        c = torch.cat([p["clip"] for p in parts])
        f = torch.cat([p["frame"] for p in parts])
        if clips is not None:
            keep = torch.isin(c, torch.as_tensor(sorted(set(int(i) for i in clips)), dtype=torch.long))
            x, c, f = x[keep], c[keep], f[keep]
        return x, c, f

    def split(self, test: float = 0.2, seed: int = 0) -> tuple:
        """Clip indices ``(train, test)``: whole clips go to one side (held-out clips, not frames)."""
        test = check_real("test", test, low=0.0, high=1.0)
        rng = np.random.default_rng(check_int("seed", seed, low=0))
        order = rng.permutation(len(self.clips))
        n_test = int(round(test * len(order)))
        if len(order) > 1:
            n_test = min(max(n_test, 1 if test > 0 else 0), len(order) - 1)
        return sorted(order[n_test:].tolist()), sorted(order[:n_test].tolist())
