"""Plain torch forward hooks: the one way SpeechLens reads and replaces activations.

This is the reference every engine path is checked against, and every method's tool for
reading and patching activations. There is one registration path (:func:`_attach`); hooks
live inside context managers whose ``finally`` removes them, so an exception never leaves a
model patched.

The activation of a site is a tensor ``(batch, positions, size)``: for whole-layer
components the module's output (or first input); for per-head components the head's slice
of the attention output before ``out_proj`` (``size`` = head dim). Sites are resolved once
per model (:meth:`SpeechModel.resolve <intervene.models.SpeechModel.resolve>`).

=====================  ==============================================================
:func:`on_sites`       run ``fn(tensor) -> tensor | None`` on each site's full tensor
:func:`capture`        record site activations (head-sliced, or ``full`` with the graph)
:func:`replace`        replace site activations at positions (values or a function)
:func:`patched`        patch rows of a batch from cached sources where a mask is set
:func:`record`         record the inputs/outputs of raw modules (estimators' internals)
:func:`on_inputs`      rewrite raw modules' positional inputs (an adapter's attention masks)
=====================  ==============================================================
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from intervene.sites import ResolvedSite

__all__ = ["on_sites", "capture", "replace", "patched", "record", "on_inputs", "head_slice", "site_tensor", "position_mask"]


def site_tensor(hook_value):
    """The activation tensor inside a hook's value (outputs may be tuples)."""
    return hook_value[0] if isinstance(hook_value, tuple) else hook_value


def head_slice(model, site) -> slice | None:
    """The last-dimension slice of ``site``'s head, or None for whole-layer sites."""
    return model.resolve(site).head_slice


def _attach(module: torch.nn.Module, kind: str, fn):
    """Register ``fn(tensor) -> tensor | None`` on ``module``'s output ("output") or first input."""
    if kind == "output":

        def out_hook(_mod, _args, output):
            new = fn(site_tensor(output))
            if new is None:
                return None
            return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

        return module.register_forward_hook(out_hook)

    def pre_hook(_mod, args):
        new = fn(args[0])
        return None if new is None else (new,) + tuple(args[1:])

    return module.register_forward_pre_hook(pre_hook)


@contextmanager
def on_sites(model, fns: dict):
    """Run ``fns[site](tensor)`` on each site's full activation tensor during the forwards inside.

    ``fn`` returns a replacement tensor or None (leave it). Sites may be keys, Sites or
    :class:`~intervene.sites.ResolvedSite`; all hooks are removed on exit.
    """
    handles = []
    try:
        for site, fn in fns.items():
            r = site if isinstance(site, ResolvedSite) else model.resolve(site)
            handles.append(_attach(r.module, r.spec.hook, fn))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def capture(model, sites, detach: bool = True, full: bool = False):
    """Record the activations of ``sites`` during the forwards run inside the block.

    Yields a dict ``{Site: tensor (batch, positions, size)}`` filled by the last forward.
    ``full=True`` keeps each module's whole tensor, still in the autograd graph and keyed by
    the site without its head (per-head sites share one tensor): what gradients are taken of.

    Examples
    --------
    >>> with capture(m, m.sites("encoder", "block_output")) as acts:  # doctest: +SKIP
    ...     m.logits(m.inputs(audio))
    >>> acts[Site("encoder", 0, "block_output")].shape  # doctest: +SKIP
    torch.Size([1, 1500, 384])
    """
    store: dict = {}
    fns = {}
    for site in sites:
        r = model.resolve(site)
        if full:
            key = r.site.without_head()

            def fn(t, key=key):
                store[key] = t
                return None

        else:

            def fn(t, key=r.site, sl=r.head_slice, codec=r.codec):
                v = codec.read(t) if codec is not None else (t if sl is None else t[..., sl])
                store[key] = v.detach() if detach else v
                return None

        fns.setdefault((r.module, r.spec.hook), (r, []))[1].append(fn)  # one hook per tensor
    with on_sites(model, {r: _chain(group) for r, group in fns.values()}):
        yield store


def _chain(fns):
    """One hook body running several read-only bodies (sites sharing a module)."""
    if len(fns) == 1:
        return fns[0]

    def fn(t):
        for f in fns:
            f(t)
        return None

    return fn


@contextmanager
def replace(model, replacements: dict):
    """Replace site activations during the forwards run inside the block.

    Parameters
    ----------
    replacements : dict
        ``{site: (positions, values)}``: ``positions`` a list of position indices (or None
        for every position) and ``values`` a tensor ``(batch, len(positions), size)`` (or
        ``(batch, all positions, size)`` when positions is None), or a callable
        ``values(t_selected) -> tensor`` applied to the selected activations.
    """
    fns = {}
    for site, (positions, values) in replacements.items():
        r = model.resolve(site)

        def fn(t, positions=positions, values=values, sl=r.head_slice, codec=r.codec):
            t = t.clone()
            idx = slice(None) if positions is None else torch.as_tensor(positions, device=t.device)
            if codec is not None:  # an SAE feature site: values are feature values, written back
                sel = t[:, idx]
                new = values(codec.read(sel)) if callable(values) else values
                t[:, idx] = codec.write(sel, new.to(sel.dtype))
                return t
            last = slice(None) if sl is None else sl
            new = values(t[:, idx, last]) if callable(values) else values
            t[:, idx, last] = new.to(t.dtype)
            return t

        fns[r] = fn
    with on_sites(model, fns):
        yield


def position_mask(seq: int, rows: list, device) -> torch.Tensor:
    """(len(rows), seq) bool: True where each row's positions (a tuple, or None = all) are set."""
    m = torch.zeros(len(rows), seq, dtype=torch.bool, device=device)
    for i, pos in enumerate(rows):
        if pos is None:
            m[i] = True
        elif len(pos):
            m[i, torch.as_tensor(pos, device=device)] = True
    return m


def _masked_fn(mask: torch.Tensor, source: torch.Tensor, sl: slice | None, codec=None):
    """A hook body: rows of ``t`` take ``source`` where ``mask`` is set (on the head slice ``sl``;
    on an SAE feature site, its feature values through ``codec``)."""

    def fn(t: torch.Tensor) -> torch.Tensor:
        m = mask.repeat_interleave(t.shape[0] // mask.shape[0], dim=0)[..., None]
        src = source if source.shape[0] in (1, t.shape[0]) else source.repeat(t.shape[0] // source.shape[0], 1, 1)
        if codec is not None:
            return codec.replace_where(t, m, src)
        t = t.clone()
        if sl is None:
            return torch.where(m, src.to(t.dtype), t)
        t[..., sl] = torch.where(m, src.to(t.dtype), t[..., sl])
        return t

    return fn


@contextmanager
def patched(model, batch: list, sources: dict, skip=()):
    """Patch a batch of cells: row i of every forward inside takes cell i's patches.

    ``batch`` is a list of cells (each a list of :class:`~intervene.methods.base.Patch`);
    ``sources[site]`` is the site's source activation ``(1, positions, size)``; patches in
    ``skip`` are left out (a runner applied them itself). Several patches of a site in one cell
    are merged; rows of a batch repeated for several decoder rows take the same patch.
    """
    sites = {p.site for cell in batch for p in cell if p not in skip}
    fns = {}
    for site in sites:
        rows = []
        for cell in batch:
            found = [p.positions for p in cell if p.site == site and p not in skip]
            if not found:
                rows.append(())
            elif any(pos is None for pos in found):
                rows.append(None)
            else:
                rows.append(tuple(sorted(set().union(*found))))
        src = sources[site]
        r = model.resolve(site)
        fns[r] = _masked_fn(position_mask(src.shape[1], rows, src.device), src, r.head_slice, r.codec)
    with on_sites(model, fns):
        yield


@contextmanager
def record(modules):
    """Keep each module's output ("out") or first input ("in") under its name, graph attached.

    ``modules`` is a list of ``(name, module, "in" | "out")``; yields the dict being filled.
    """
    store: dict = {}
    handles = []
    try:
        for name, module, kind in modules:

            def fn(t, name=name):
                store[name] = t
                return None

            handles.append(_attach(module, "input" if kind == "in" else "output", fn))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def on_inputs(pairs):
    """Rewrite raw modules' positional inputs during the forwards inside the block.

    ``pairs`` is a list of ``(module, fn)``; ``fn(args) -> tuple | None`` receives the
    module's positional arguments and returns new ones (None: leave them). Adapters use it to
    hand a layer an argument its caller leaves out (Whisper: an encoder layer's attention
    mask, :mod:`intervene.models.whisper.attention`). Hooks are removed on exit.
    """
    handles = []
    try:
        for module, fn in pairs:
            handles.append(module.register_forward_pre_hook(lambda _mod, args, fn=fn: fn(args)))
        yield
    finally:
        for h in handles:
            h.remove()
