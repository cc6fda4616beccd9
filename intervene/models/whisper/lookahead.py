"""Lookahead attribution: the patched positions followed exactly, first order only for the rest.

Plain attribution patching (AtP) linearises the whole model around the base run: patching a
site's activations at positions P is estimated to move the metric by ``g . (a_source - a_base)``.
For an encoder cell that linearisation is poor: the patched frames' own layer norms and MLPs
see a whole word's worth of change, and every later attention's softmax moves weight towards or
away from the patched keys (the attention-saturation failure AtP*, Kramar et al. 2024, corrects
in text models). On whisper-tiny.en word-swap pairs AtP's rank correlation with exact patching
is 0.4-0.6 at the first encoder layers.

The lookahead estimator splits the patch's effect in two. The residual stream *at the patched
positions P* is carried exactly through every later encoder block: its layer norms, its new
queries, keys and values, its attention rows (over the base keys elsewhere and the new keys at
P) and its MLP. What the patch *spills onto the other positions* is the change of their
attention outputs at each block j, computed exactly (each query's softmax over the keys and
values changed at P, an O(positions) update of the base run's log-sum-exp) and then taken to
first order: ``sum over q not in P of G_j[q] . (o'_j[q] - o_j[q])`` with ``G_j`` the gradient at
block j's attention output (before out_proj). After the last block the carried rows become
encoder output rows, which change the keys and values of every decoder cross-attention; each
of those softmax changes is computed exactly with the base queries and taken to first order
the same way.

So the only approximations are first order in the spill-over (and its feedback on P is left
out). Cost: AtP's source forward, base forward and backward, plus per attention layer its
softmax normaliser and a few (positions x cells x heads) products. It applies to Whisper's
encoder sites (:data:`COMPONENTS`); other sites use plain AtP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from intervene import hooks

__all__ = ["COMPONENTS", "covers", "lookahead_scores"]

COMPONENTS = ("block_input", "block_output", "attention_output", "attention_head", "mlp_output")
_INCREMENTAL_MAX = 32  # groups up to this many positions use the O(positions) softmax update
_CHUNK_ELEMENTS = 1 << 20  # queries x cells x positions x heads per chunk of the update
_MAX_EXPONENT = 80.0  # a new key scoring e^80 times the base normaliser takes all the weight anyway


def covers(site) -> bool:
    """Whether the lookahead estimator covers ``site`` (Whisper encoder sites)."""
    return site.stream == "encoder" and site.component in COMPONENTS


def _next_block(site) -> int:
    """The encoder block whose attention first sees the patch (n_layers: the decoder)."""
    return site.layer if site.component == "block_input" else site.layer + 1


@dataclass
class _Attention:
    """One attention layer of the base run, heads split: ``(positions, heads, head_dim)``."""

    q: torch.Tensor  # queries, already scaled
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor  # attention output before out_proj
    g: torch.Tensor  # d metric / d o
    lse: torch.Tensor  # (queries, heads): log of each softmax's normaliser
    go: torch.Tensor  # (queries, heads): g . o

    @classmethod
    def build(cls, module, q, k, v, o, g) -> "_Attention":
        h = module.num_heads
        q, k, v, o, g = (_split(t, h) for t in (q * module.scaling, k, v, o, g))
        lse = torch.stack([torch.logsumexp(q[:, i] @ k[:, i].T, -1) for i in range(h)], -1)
        return cls(q, k, v, o, g, lse, (g * o).sum(-1))

    def key_effect(self, pos, mask, k_new, v_new, exclude: bool) -> torch.Tensor:
        """``sum over queries and heads of g . (o' - o)`` per cell, keys/values at ``pos`` replaced.

        ``pos``, ``mask``: (cells, k) positions (padding repeats a valid one, mask False);
        ``k_new``, ``v_new``: (cells, k, heads, head_dim). ``exclude`` leaves out the queries at
        the patched positions (self-attention: their rows are computed exactly elsewhere).
        """
        n, (c, k) = self.q.shape[0], pos.shape
        if k > _INCREMENTAL_MAX:
            return self._key_effect_full(pos, mask, k_new, v_new, exclude)
        step = max(1, _CHUNK_ELEMENTS // (n * k * self.q.shape[1]))
        return torch.cat([self._key_effect_update(pos[i:i + step], mask[i:i + step], k_new[i:i + step],
                                                  v_new[i:i + step], exclude) for i in range(0, c, step)])

    def _key_effect_update(self, pos, mask, k_new, v_new, exclude):
        # o' - o = sum_k [a_new_k (v_new_k - o) - a_old_k (v_old_k - o)] / (rest + sum_k a_new_k), with the
        # weights in units of the base normaliser; dotted with g, no large terms cancel (float32 is enough).
        ein = lambda a, b: torch.einsum("nhd,ckhd->nckh", a, b)  # noqa: E731
        lse, m, go = self.lse[:, None, None, :], mask[None, :, :, None], self.go[:, None, None, :]
        a_old = torch.exp(ein(self.q, self.k[pos]) - lse) * m  # base weights of the patched keys
        a_new = torch.exp((ein(self.q, k_new) - lse).clamp_max(_MAX_EXPONENT)) * m  # their new weights
        den = (1.0 - a_old.sum(2)).clamp_min(0.0) + a_new.sum(2)  # the unchanged keys keep 1 - sum a_old
        num = (a_new * (ein(self.g, v_new) - go)).sum(2) - (a_old * (ein(self.g, self.v[pos]) - go)).sum(2)
        effect = num / den.clamp_min(1e-30)  # (queries, cells, heads)
        if exclude:
            cells = torch.arange(pos.shape[0], device=pos.device)[:, None].expand_as(pos)
            effect[pos[mask], cells[mask]] = 0.0
        return effect.double().sum((0, 2))

    def _key_effect_full(self, pos, mask, k_new, v_new, exclude):
        """Large groups: recompute each cell's attention over every query."""
        out = []
        for c in range(pos.shape[0]):
            p = pos[c][mask[c]]
            k, v = self.k.clone(), self.v.clone()
            k[p], v[p] = k_new[c][mask[c]], v_new[c][mask[c]]
            w = torch.softmax(torch.einsum("nhd,mhd->hnm", self.q, k), -1)
            delta = torch.einsum("hnm,mhd->nhd", w, v) - self.o
            eff = (self.g * delta).sum(-1).double()
            if exclude:
                eff[p] = 0.0
            out.append(eff.sum())
        return torch.stack(out)

    def rows(self, pos, mask, q_new, k_new, v_new) -> torch.Tensor:
        """New attention outputs ``(cells, k, heads, head_dim)`` of the queries at ``pos``."""
        c, k = pos.shape
        step = max(1, 4 * _CHUNK_ELEMENTS // (k * self.k.shape[0] * self.k.shape[1]))
        if c > step:  # bound the (cells, k, heads, positions) score tensor
            return torch.cat([self.rows(pos[i:i + step], mask[i:i + step], q_new[i:i + step], k_new[i:i + step],
                                        v_new[i:i + step]) for i in range(0, c, step)])
        s = torch.einsum("ckhd,nhd->ckhn", q_new, self.k)
        s_p = torch.einsum("ckhd,cjhd->ckhj", q_new, k_new)  # against the replaced keys
        s.scatter_(-1, pos[:, None, None, :].expand(c, k, s.shape[2], k), s_p)  # padding rewrites a valid column
        w = torch.softmax(s, -1)
        w_p = torch.gather(w, -1, pos[:, None, None, :].expand(c, k, w.shape[2], k)) * mask[:, None, None, :]
        return torch.einsum("ckhn,nhd->ckhd", w, self.v) + torch.einsum("ckhj,cjhd->ckhd", w_p, v_new - self.v[pos])


def _plan(runner, sites):
    """Modules to record and tensors to differentiate for ``sites``, and the first block reached."""
    layers, n = runner.encoder.layers, runner.n_layers
    start = min(_next_block(s) for s in sites)
    rec, grads = [], []
    for j in range(start, n):
        at = layers[j].self_attn
        rec += [(f"q{j}", at.q_proj, "out"), (f"k{j}", at.k_proj, "out"), (f"v{j}", at.v_proj, "out"),
                (f"o{j}", at.out_proj, "in")]
        grads.append(f"o{j}")
    for s in sites:
        L = s.layer
        if s.component in ("attention_output", "attention_head"):
            rec += [(f"x{L}", layers[L], "in"), (f"a{L}", layers[L].self_attn.out_proj, "out")]
        elif s.component == "mlp_output":
            rec += [(f"y{L}", layers[L], "out")]
    for i, layer in enumerate(runner.core.decoder.layers):
        at = layer.encoder_attn
        rec += [(f"dq{i}", at.q_proj, "out"), (f"dk{i}", at.k_proj, "out"), (f"dv{i}", at.v_proj, "out"),
                (f"do{i}", at.out_proj, "in")]
        grads.append(f"do{i}")
    return dict((r[0], r) for r in rec).values(), grads, start


def _split(t, heads):
    """``(..., d)`` -> ``(..., heads, head_dim)``."""
    return t.reshape(*t.shape[:-1], heads, -1)


def _mlp(block, h):
    return h + block.fc2(block.activation_fn(block.fc1(block.final_layer_norm(h))))


def _padded(sets, device):
    """Position lists as ``(cells, k)`` position and mask tensors (padding repeats the first position)."""
    k = max(len(s) for s in sets)
    pos = torch.tensor([s + [s[0]] * (k - len(s)) for s in sets], dtype=torch.long, device=device)
    mask = torch.tensor([[True] * len(s) + [False] * (k - len(s)) for s in sets], device=device)
    return pos, mask


class _Lookahead:
    """The base run's recorded tensors and gradients, and the per-site estimates built from them."""

    def __init__(self, model, runner, store, grads):
        self.model, self.runner, self.n = model, runner, runner.n_layers
        self.t = {k: (v.detach()[0] if v.dim() == 3 and v.shape[0] == 1 else v.detach()) for k, v in store.items()}
        self.g = {k: (v[0] if v.dim() == 3 and v.shape[0] == 1 else v) for k, v in grads.items()}
        self._att: dict = {}

    def attention(self, j) -> list:
        """Encoder block j's self-attention, or (j = n) each decoder layer's cross-attention per decoder row."""
        if j not in self._att:
            t, g = self.t, self.g
            if j < self.n:
                mod = self.runner.encoder.layers[j].self_attn
                self._att[j] = [_Attention.build(mod, t[f"q{j}"], t[f"k{j}"], t[f"v{j}"], t[f"o{j}"], g[f"o{j}"])]
            else:  # per decoder layer, one attention per decoder row
                self._att[j] = []
                for i, layer in enumerate(self.runner.core.decoder.layers):
                    parts = [x.reshape(-1, *x.shape[-2:]) for x in (t[f"dq{i}"], t[f"dk{i}"], t[f"dv{i}"], t[f"do{i}"], g[f"do{i}"])]
                    self._att[j].append([_Attention.build(layer.encoder_attn, *(x[r] for x in parts))
                                         for r in range(parts[0].shape[0])])
        return self._att[j]

    def entry(self, site, pos, src, base):
        """The residual stream entering block ``_next_block(site)`` at ``pos``: ``(cells, k, d)``."""
        layers, t, L = self.runner.encoder.layers, self.t, site.layer
        delta = (src - base)[pos]
        if site.component in ("block_output", "block_input"):
            return src[pos]
        if site.component == "mlp_output":
            return t[f"y{L}"][pos] + delta
        if site.component == "attention_head":
            sl = hooks.head_slice(self.model, site)
            full = torch.zeros(*delta.shape[:-1], t[f"x{L}"].shape[-1], dtype=delta.dtype, device=delta.device)
            full[..., sl] = delta
            delta = torch.nn.functional.linear(full, layers[L].self_attn.out_proj.weight)
        return _mlp(layers[L], t[f"x{L}"][pos] + t[f"a{L}"][pos] + delta)

    def estimate(self, sites, pos, mask, entries) -> torch.Tensor:
        """Estimated metric change ``(sites, cells)`` from each site's residual rows entering its next block.

        All sites' cells go through each block together (cells stacked site after site); the
        carried rows end as encoder output rows, seen by every decoder cross-attention.
        """
        c, first = pos.shape[0], [_next_block(s) for s in sites]
        total = torch.zeros(len(sites), c, dtype=torch.float64, device=pos.device)
        active, rows = [], []  # indices of the sites being carried, and their rows
        for j in range(min(first), self.n + 1):
            joining = [i for i, f in enumerate(first) if f == j]
            active, rows = active + joining, rows + [entries[i] for i in joining]
            x_new = torch.cat(rows)
            pos_a, mask_a = pos.repeat(len(active), 1), mask.repeat(len(active), 1)
            if j == self.n:
                total[active] += self._decoder_effect(pos_a, mask_a, x_new).reshape(len(active), c)
            else:
                spill, x_new = self._block_step(j, pos_a, mask_a, x_new)
                total[active] += spill.reshape(len(active), c)
                rows = [x_new]
        return total

    def _block_step(self, j, pos, mask, x_new):
        """Encoder block j: first-order effect of the spill-over, and the carried rows leaving the block."""
        block, att = self.runner.encoder.layers[j], self.attention(j)[0]
        sa, h = block.self_attn, block.self_attn.num_heads
        u = block.self_attn_layer_norm(x_new)
        q_new, k_new, v_new = _split(sa.q_proj(u) * sa.scaling, h), _split(sa.k_proj(u), h), _split(sa.v_proj(u), h)
        spill = att.key_effect(pos, mask, k_new, v_new, exclude=True)
        o_rows = att.rows(pos, mask, q_new, k_new, v_new)
        return spill, _mlp(block, x_new + sa.out_proj(o_rows.reshape(*o_rows.shape[:2], -1)))

    def _decoder_effect(self, pos, mask, x_new):
        """First-order effect of the carried encoder output rows through every decoder cross-attention."""
        enc = self.runner.final(x_new)
        total = 0.0
        for layer, per_row in zip(self.runner.core.decoder.layers, self.attention(self.n)):
            at = layer.encoder_attn
            k_new, v_new = _split(at.k_proj(enc), at.num_heads), _split(at.v_proj(enc), at.num_heads)
            for att in per_row:
                total = total + att.key_effect(pos, mask, k_new, v_new, exclude=False)
        return total


def lookahead_scores(ctx, sites, groups, runner):
    """Estimated metric change of every (site, group) cell: ``(array (sites, groups), base, source)``.

    ``sites`` must all be :func:`covers` ed; ``groups`` are position lists (None: every position);
    ``runner`` is the model's :class:`~intervene.models.whisper.runner.WhisperRunner`.
    """
    model, readout = ctx.model, ctx.readout
    ids = readout.decoder_input_ids
    with torch.no_grad(), hooks.capture(model, sites) as src_acts:
        source_metric = float(readout.metric(runner.logits(ctx.source_inputs["input_features"], ids)).reshape(-1)[0])
    recorded, grad_names, start = _plan(runner, sites)
    with hooks.record(recorded) as store, hooks.capture(model, sites) as base_acts:
        with torch.no_grad():  # blocks before the first one a patch reaches need no graph
            x = runner.stem(ctx.base_inputs["input_features"])
            for layer in runner.encoder.layers[:start]:
                x = layer(x, None)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            metric = readout.metric(runner.decode(runner.final(runner.blocks(x, start)), ids)).sum()
            grads = dict(zip(grad_names, torch.autograd.grad(metric, [store[k] for k in grad_names], allow_unused=True)))
        grads = {k: torch.zeros_like(store[k]) if v is None else v for k, v in grads.items()}
        base_metric = float(metric.detach())
    look = _Lookahead(model, runner, store, grads)
    sets = [list(range(runner.context_frames)) if g is None else [int(p) for p in g] for g in groups]
    small = [i for i, g in enumerate(sets) if len(g) <= _INCREMENTAL_MAX]
    batches = [b for b in (small, [i for i in range(len(sets)) if i not in set(small)]) if b]
    out = np.full((len(sites), len(groups)), np.nan)
    with torch.no_grad():
        for cols in batches:  # small groups share the O(positions) update; large ones recompute attention
            pos, mask = _padded([sets[i] for i in cols], model.device)
            entries = [look.entry(s, pos, src_acts[s][0], base_acts[s][0]) for s in sites]
            out[:, cols] = look.estimate(sites, pos, mask, entries).cpu().numpy()
    return out, base_metric, source_metric
