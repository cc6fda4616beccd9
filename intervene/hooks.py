"""Plain torch forward hooks: read and replace site activations without pyvene.

This is the reference every engine path is checked against, and the engine's own tool for
reading activations. Hooks live inside context managers whose ``finally`` removes them, so
an exception never leaves a model patched.

The activation of a site is a tensor ``(batch, positions, size)``: for whole-layer
components the module's output (or first input); for per-head components the head's slice
of the attention output before ``out_proj`` (``size`` = head dim).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from intervene.sites import Site

__all__ = ["capture", "replace", "head_slice", "site_tensor"]


def head_slice(model, site: Site) -> slice | None:
    """The last-dimension slice of ``site``'s head, or None for whole-layer sites."""
    if site.head is None:
        return None
    spec = model.spec(site)
    size = int(getattr(model.config, spec.size))
    dh = size // model.table.num_heads(model.config, spec)
    return slice(site.head * dh, (site.head + 1) * dh)


def site_tensor(hook_value):
    """The activation tensor inside a hook's value (outputs may be tuples)."""
    return hook_value[0] if isinstance(hook_value, tuple) else hook_value


def _register(model, site: Site, fn):
    """Register ``fn(tensor) -> tensor | None`` on ``site``'s module; returns the handle."""
    module = model.module_for(site)
    if model.spec(site).hook == "output":

        def out_hook(_mod, _args, output):
            t = site_tensor(output)
            new = fn(t)
            if new is None:
                return None
            return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

        return module.register_forward_hook(out_hook)

    def pre_hook(_mod, args):
        new = fn(args[0])
        return None if new is None else (new,) + tuple(args[1:])

    return module.register_forward_pre_hook(pre_hook)


@contextmanager
def capture(model, sites, detach: bool = True):
    """Record the activations of ``sites`` during the forwards run inside the block.

    Yields a dict ``{Site: tensor (batch, positions, size)}`` filled by the last forward.

    Examples
    --------
    >>> with capture(m, m.sites("encoder", "block_output")) as acts:  # doctest: +SKIP
    ...     m.logits(m.inputs(audio))
    >>> acts[Site("encoder", 0, "block_output")].shape  # doctest: +SKIP
    torch.Size([1, 1500, 384])
    """
    sites = [model.site(s) for s in sites]
    store: dict[Site, torch.Tensor] = {}
    handles = []
    try:
        for site in sites:
            sl = head_slice(model, site)

            def fn(t, site=site, sl=sl):
                v = t if sl is None else t[..., sl]
                store[site] = v.detach() if detach else v
                return None

            handles.append(_register(model, site, fn))
        yield store
    finally:
        for h in handles:
            h.remove()


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
    handles = []
    try:
        for site, (positions, values) in replacements.items():
            site = model.site(site)
            sl = head_slice(model, site)

            def fn(t, positions=positions, values=values, sl=sl):
                t = t.clone()
                idx = slice(None) if positions is None else torch.as_tensor(positions, device=t.device)
                last = slice(None) if sl is None else sl
                current = t[:, idx, last]
                new = values(current) if callable(values) else values
                t[:, idx, last] = new.to(t.dtype)
                return t

            handles.append(_register(model, site, fn))
        yield
    finally:
        for h in handles:
            h.remove()
