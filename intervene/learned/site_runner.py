"""Forward passes with a function applied at one site's positions, batched over examples.

DAS trains and scores an intervention at one site on many (base, source) examples. This
runner keeps each clip's activation at the site (computed once, no autograd) and runs only
what comes after it, with the intervention applied to the chosen positions of each batch row:

- **fast path** (the adapter's runner offers ``residuals`` / ``blocks`` / ``final`` /
  ``decode``, and the site is an encoder residual stream: Whisper): the cached residual
  stream at the site enters the next block directly; a batch is one forward of the later
  blocks and the decoder;
- **generic path** (any site, any architecture): an ordinary forward per example with a
  plain torch hook (:func:`intervene.hooks.on_sites`) that applies the intervention.

Both paths compute what ``pyvene.IntervenableModel`` computes with the same intervention on
the same positions (checked by the tests and by :meth:`SiteRunner.check_against_pyvene`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch

from intervene import hooks
from tasks.errors import GuardError

__all__ = ["SiteRunner", "Clip", "SWAP", "clear_cache", "CACHE_BYTES"]


def SWAP(base, source):
    """Full interchange: the source's activation replaces the base's (what a DAS subspace as
    large as the site does, whatever its rotation)."""
    return source + 0 * base

RESIDUAL = ("block_input", "block_output")


CACHE_BYTES = 512 * 2**20
"""Prepared clips kept between calls (the ladder trains several subspace sizes at one site on the
same pairs): least recently used first out beyond this many bytes of activations."""
_CACHE: OrderedDict = OrderedDict()


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, torch.Tensor):
            p = p.detach().cpu().numpy()
        if isinstance(p, np.ndarray):
            h.update(f"{p.dtype}{p.shape}".encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()


def _readout_key(readout) -> str:
    """What a readout's word scores depend on: its words, decoder rows and the tokens it reads."""
    fields = ("decoder_input_ids", "_rows", "_pos", "_tok", "_variant", "_variant_word", "_label_index")
    return _digest(tuple(readout.words), *(getattr(readout, f, None) for f in fields))


def clear_cache() -> None:
    """Forget every prepared clip."""
    _CACHE.clear()


class Clip:
    """One clip prepared for a site: its activation there (positions, size) and the model's
    word scores without any intervention."""

    __slots__ = ("act", "inputs", "scores")

    def __init__(self, act, inputs, scores):
        self.act, self.inputs, self.scores = act, inputs, scores


class SiteRunner:
    """Runs ``model`` from ``site`` on, with an intervention at chosen positions.

    Parameters
    ----------
    model : SpeechModel
    site : Site
    readout : Readout
        Word scores of the task (one readout: the same decoder rows for every example).
    context_frames : int, optional
        Whisper: encoder positions run (None: all; fewer is an approximation, for training).
    """

    def __init__(self, model, site, readout, context_frames=None):
        self.model, self.site, self.readout = model, model.site(site), readout
        self.runner = model.runner(context_frames)
        self.context_frames = context_frames
        self.fast = (self.site.stream == "encoder" and self.site.component in RESIDUAL
                     and all(hasattr(self.runner, a) for a in ("residuals", "blocks", "final", "decode")))  # fmt: skip
        self.start = self.site.layer + (self.site.component == "block_output")

    @property
    def ids(self):
        return self.readout.decoder_input_ids

    @torch.no_grad()
    def prepare(self, audio) -> Clip:
        """Cache ``audio``'s activation at the site (and, generic path, its inputs).

        Fast path: a clip already prepared for the same model object, site, context and readout
        words is reused (:data:`CACHE_BYTES`); clips are never modified in place.
        """
        if not self.fast:
            return self._prepare(audio)
        key = (id(self.model.model), self.site.key, self.context_frames, _readout_key(self.readout),
               _digest(np.asarray(audio)))  # fmt: skip
        clip = _CACHE.get(key)
        if clip is not None and clip[0] is self.model.model:
            _CACHE.move_to_end(key)
            return clip[1]
        made = self._prepare(audio)
        _CACHE[key] = (self.model.model, made)
        while len(_CACHE) > 1 and sum(c.act.numel() * c.act.element_size() for _, c in _CACHE.values()) > CACHE_BYTES:
            _CACHE.popitem(last=False)
        return made

    def _prepare(self, audio) -> Clip:
        model = self.model
        inputs = model.inputs(audio, model.sample_rate, self.ids, checked=True)
        if self.fast:
            res = self.runner.residuals(inputs["input_features"])
            logits = self.runner.decode(self.runner.final(res[-1]), self.ids)
            return Clip(res[self.start][0], None, self.readout.word_scores(logits)[0])
        with hooks.capture(model, [self.site]) as acts:
            logits = model.logits(model.batched(inputs) if hasattr(model, "batched") else inputs)
        scores = self.readout.word_scores(logits)
        return Clip(acts[self.site][0], inputs, scores.reshape(-1, scores.shape[-1])[0])

    def _apply(self, t, fn, positions, source):
        t = t.clone()
        pos = torch.as_tensor(positions, device=t.device)
        t[:, pos] = fn(t[:, pos], source[None, pos].to(t.dtype)).to(t.dtype)
        return t

    @torch.no_grad()
    def check_guards(self, base: Clip, source: Clip, atol: float = 1e-3) -> None:
        """Patch nothing = base, patch every position = source, through this runner's path.

        Two forwards. They catch a runner that applies the intervention to the wrong rows,
        positions or layer, or whose cached activations are not the clips' own.

        Raises
        ------
        GuardError
            Either run's word scores differ from the plain run's by more than ``atol``.
        """
        every = list(range(int(base.act.shape[0])))
        got = self.scores(lambda b, s: b, [base], [source], [every])[0]
        swapped = self.scores(SWAP, [base], [source], [every])[0]
        for what, have, want in (("patching nothing", got, base.scores), ("patching every position", swapped,
                                                                          source.scores)):
            err = float((have.float() - want.float()).abs().max())
            if err > atol:
                raise GuardError(f"DAS runner at {self.site.key}: {what} changed the word scores by {err:.3g} from "
                                 f"the plain run's (tolerance {atol}); the runner does not apply interventions where "
                                 "it should")

    def scores(self, fn, bases: list, sources: list, positions: list) -> torch.Tensor:
        """Word scores (batch, words) of each base run with ``fn(base_sel, source_sel)`` applied at its positions.

        ``fn`` gets and returns (1 or rows, n_positions, size); autograd flows through it.
        """
        if self.fast:
            x = torch.stack([b.act for b in bases])
            rows = []
            for i, (s, pos) in enumerate(zip(sources, positions)):
                rows.append(self._apply(x[i : i + 1], fn, pos, s.act))
            x = torch.cat(rows)
            logits = self.runner.decode(self.runner.final(self.runner.blocks(x, self.start)), self.ids)
            return self.readout.word_scores(logits).reshape(len(bases), -1)
        out = []
        for b, s, pos in zip(bases, sources, positions):
            with hooks.on_sites(self.model, {self.site: lambda t, s=s, pos=pos: self._apply(t, fn, pos, s.act)}):
                inputs = self.model.batched(b.inputs) if hasattr(self.model, "batched") else b.inputs
                sc = self.readout.word_scores(self.model.logits(inputs))
            out.append(sc.reshape(-1, sc.shape[-1])[0])
        return torch.stack(out)
