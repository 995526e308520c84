"""Decoders: per-probe read-outs of the processed state, chosen by spec.

A decoder sees the node state ``h`` (``(B, N, 3H)``: the step's encoded node
features, the previous and the new hidden state side by side), the edge
state ``e``, a pair (encoded edge features, possibly factored; the
processor's triplet messages or None) that it reads as one ``(B, N, N, E)``
tensor of the two side by side, the graph features ``g`` and the adjacency,
and returns *logits* (raw predictions) of the probe's shape:

============  ==================  =========================================
location      type                prediction
============  ==================  =========================================
node          scalar/mask/        ``(B, N)``
              mask_one
node          categorical         ``(B, N, C)``
node          pointer             ``(B, N, N)``: row i scores i's target
node          permutation_pointer ``(B, N, N)``: log of a doubly stochastic
                                  matrix (Sinkhorn, below)
edge          scalar/mask/...     ``(B, N, N)`` (``(B, N, N, C)`` categorical)
edge          pointer             ``(B, N, N, N)``: edge (i, j) scores node k
graph         scalar/mask/...     ``(B,)`` (``(B, C)`` categorical)
graph         pointer             ``(B, N)``
============  ==================  =========================================

Pointer logits take, per feature, the max of a "from" and a "to" term before
the last projection: a learned, asymmetric pairwise score, as published.

:func:`postprocess` turns logits into the dense form the encoders read
(probabilities when *soft*, one-hots and thresholded masks when *hard*);
it is how predicted hints are fed back and how predictions are scored.

Each decoder keeps its linear maps in ``linears``, in the published creation
order, so that weights map one to one onto the published parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..specs import Location, Type
from .features import Features, project
from .processors import Linear, autocasting

GUMBEL_EPS = 1e-12
ZERO_DIAGONAL_PENALTY = 1e6


def log_sinkhorn(logits: torch.Tensor, steps: int, temperature: float,
                 zero_diagonal: bool = True, noise: bool = False) -> torch.Tensor:
    """Log of a doubly stochastic matrix from square logits ``(..., N, N)``.

    Alternately normalises rows and columns in log space; the lower the
    temperature, the closer the result is to a permutation matrix. With
    ``noise`` standard Gumbel noise is added first (training only), which
    makes the result a sample of a relaxed random permutation (Mena et al.,
    2018) and keeps the model from committing to one too early.
    ``zero_diagonal`` forbids self-pointers, since the cyclic permutations
    the model predicts never map a node to itself.
    """
    if logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"Sinkhorn needs square matrices, got {tuple(logits.shape)}")
    x = logits
    if noise:
        u = torch.rand_like(x)
        x = x - torch.log(-torch.log(u + GUMBEL_EPS) + GUMBEL_EPS)
    x = x / temperature
    if zero_diagonal:
        x = x - ZERO_DIAGONAL_PENALTY * torch.eye(x.shape[-1], device=x.device, dtype=x.dtype)
    for _ in range(steps):
        x = torch.log_softmax(x, dim=-1)
        x = torch.log_softmax(x, dim=-2)
    return x


def _mask_non_edges(preds: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """Replace logits of non-edges by something below every edge logit.

    Used when the processor asks for it (the ``*_mask`` kinds): the logit
    becomes min(-1, smallest logit of the sample - 1), finite, so softmaxes
    and losses stay finite too.
    """
    floor = preds.flatten(1).min(dim=1).values - 1.0
    floor = torch.clamp(floor, max=-1.0).view(-1, *([1] * (preds.dim() - 1)))
    return torch.where(adj > 0.5, preds, floor)


class _MaxScore(torch.autograd.Function):
    """``out[b, r, k] = max(a[b, r], t[b, k]) . w + bias`` (max elementwise
    over the hidden axis) without the (B, R, K, H) intermediate that autograd
    would keep: the edge pointer decoder's scores of N^2 edges against N
    target nodes. Both passes work on blocks small enough to stay in cache
    and recompute the max in backward. Ties split the gradient equally
    between both sides, as ``torch.maximum`` and ``jnp.maximum`` do."""

    BLOCK = 1 << 20  # elements of one (rows, K, H) block

    @staticmethod
    def _blocks(a: torch.Tensor, k: int):
        rows = max(1, _MaxScore.BLOCK // (k * a.shape[-1]))
        for b in range(a.shape[0]):
            for start in range(0, a.shape[1], rows):
                yield b, slice(start, start + rows)

    @staticmethod
    def forward(ctx, a, t, w, bias):
        out = a.new_empty(a.shape[0], a.shape[1], t.shape[1])
        for b, rows in _MaxScore._blocks(a, t.shape[1]):
            out[b, rows] = torch.maximum(a[b, rows, None], t[b, None]) @ w
        ctx.save_for_backward(a, t, w)
        return out + bias

    @staticmethod
    def backward(ctx, grad):
        a, t, w = ctx.saved_tensors
        grad = grad.contiguous()
        grad_a, grad_t = torch.empty_like(a), torch.zeros_like(t)
        grad_w = torch.zeros_like(w)
        for b, rows in _MaxScore._blocks(a, t.shape[1]):
            x, y, g = a[b, rows, None], t[b, None], grad[b, rows, :, None]
            wins = (x > y).to(a.dtype) + 0.5 * (x == y).to(a.dtype)   # (R, K, H)
            to_a = g * wins
            grad_a[b, rows] = to_a.sum(1) * w
            grad_t[b] += (g - to_a).sum(0) * w
            grad_w += torch.maximum(x, y).flatten(0, 1).T @ grad[b, rows].flatten()
        return grad_a, grad_t, grad_w, grad.sum().reshape(1)


class _RowMaxScore(torch.autograd.Function):
    """``out[b, j, i] = max(s[b, i], x[b, j, i]) . w + bias`` (max elementwise
    over the hidden axis): the node pointer decoder's scores. The same values
    as ``torch.maximum`` then a linear layer, but a backward pass of a few
    vectorised passes over x, where autograd's (a ``where`` per operand) is
    some six times slower on the CPU. Ties split the gradient equally, as
    ``torch.maximum`` and ``jnp.maximum`` do."""

    @staticmethod
    def forward(ctx, s, x, w, bias):
        ctx.save_for_backward(s, x, w)
        return torch.maximum(s[:, None], x) @ w + bias

    @staticmethod
    def backward(ctx, grad):
        s, x, w = ctx.saved_tensors
        # x's share of each gradient: 1 where x wins, 0 where s wins, 1/2 on
        # ties; s gets the rest, per element (summing first would cancel).
        # In place, to keep passes over (B, J, I, H) few.
        to_both = grad[..., None] * w
        grad_x = (x - s[:, None]).sign_().add_(1.0).mul_(0.5).mul_(to_both)
        grad_s = to_both.sub_(grad_x).sum(1)
        winners = torch.maximum(s[:, None], x)
        grad_w = winners.reshape(-1, w.shape[0]).T @ grad.reshape(-1)
        return grad_s, grad_x, grad_w, grad.sum().reshape(1)


def pointer_scores(source: torch.Tensor, to_j: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(max(source[:, :, None], to_j.transpose(1, 2)))[..., 0]`` for
    ``source`` (B, N, H), ``to_j`` (B, N_j, N_i, H) and a linear layer to one
    output: (B, N_i, N_j)."""
    if autocasting(source):
        return linear(torch.maximum(source[:, :, None], to_j.transpose(1, 2))).squeeze(-1)
    return _RowMaxScore.apply(source, to_j, linear.weight[0], linear.bias).transpose(1, 2)


def max_score(a: torch.Tensor, t: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(max(a[:, :, None], t[:, None]))[..., 0]`` for ``a`` (B, R, H),
    ``t`` (B, K, H) and a linear layer to one output: (B, R, K)."""
    if autocasting(a):
        return linear(torch.maximum(a[:, :, None], t[:, None])).squeeze(-1)
    return _MaxScore.apply(a, t, linear.weight[0], linear.bias)


class ProbeDecoder(nn.Module):
    """Predicts one probe (see the module docstring for shapes)."""

    def __init__(self, location: str, type_: str, hidden_size: int, edge_size: int,
                 num_classes: int | None = None):
        super().__init__()
        h = hidden_size
        node = 3 * h          # [encoded node features, previous hidden, new hidden]
        if type_ == Type.CATEGORICAL:
            if not num_classes:
                raise ValueError("a categorical probe needs its number of classes")
            out = num_classes
        elif type_ in (Type.SCALAR, Type.MASK, Type.MASK_ONE):
            out = 1
        elif type_ == Type.POINTER or (type_ == Type.PERMUTATION_POINTER
                                       and location == Location.NODE):
            out = None
        else:
            raise ValueError(f"no decoder for a {location} {type_} probe")
        self.location, self.type_ = location, type_

        if location == Location.NODE:
            if out is not None:
                sizes = [(node, out)]
            else:            # from node i, to node j, edge (j, i), score
                sizes = [(node, h), (node, h), (edge_size, h), (h, 1)]
        elif location == Location.EDGE:
            if out is not None:  # endpoint i, endpoint j, edge (i, j)
                sizes = [(node, out), (node, out), (edge_size, out)]
            else:                # edge (i, j) as above, target node k, score
                sizes = [(node, h), (node, h), (edge_size, h), (node, h), (h, 1)]
        elif location == Location.GRAPH:
            # the max over nodes of the node state, the graph features
            sizes = [(node, out or 1), (h, out or 1)]
            if out is None:
                sizes.append((node, 1))  # per-node target score
        else:
            raise ValueError(f"unknown location {location!r}")
        self.linears = nn.ModuleList(Linear(i, o) for i, o in sizes)

    def forward(self, h: torch.Tensor, e: tuple[Features, torch.Tensor | None],
                g: torch.Tensor, adj: torch.Tensor,
                *, inf_bias: bool = False, inf_bias_edge: bool = False,
                sinkhorn_steps: int = 10, sinkhorn_temperature: float = 0.1,
                noise: bool = False) -> torch.Tensor:
        lin = self.linears
        t = self.type_
        if self.location == Location.NODE:
            if t == Type.CATEGORICAL:
                return lin[0](h)
            if t not in (Type.POINTER, Type.PERMUTATION_POINTER):
                return lin[0](h).squeeze(-1)
            source, target = lin[0](h), lin[1](h)
            to_j = target[:, :, None] + project(lin[2], *e)         # [b, j, i]
            preds = pointer_scores(source, to_j, lin[3])            # [b, i, j]
            if inf_bias:
                preds = _mask_non_edges(preds, adj)
            if t == Type.PERMUTATION_POINTER:
                preds = log_sinkhorn(preds, sinkhorn_steps, sinkhorn_temperature,
                                     zero_diagonal=True, noise=noise)
            return preds

        if self.location == Location.EDGE:
            pair = project(lin[2], *e, add=lin[0](h)[:, :, None] + lin[1](h)[:, None, :])
            if t == Type.CATEGORICAL:
                preds = pair
            elif t == Type.POINTER:
                target = lin[3](h)                                  # [b, k]
                b, n = pair.shape[:2]
                preds = max_score(pair.reshape(b, n * n, -1), target,
                                  lin[4]).view(b, n, n, -1)         # [b, i, j, k]
            else:
                preds = pair.squeeze(-1)
            if inf_bias_edge and t in (Type.MASK, Type.MASK_ONE):
                preds = _mask_non_edges(preds, adj)
            return preds

        pooled = lin[0](h.amax(dim=1)) + lin[1](g)                  # graph
        if t == Type.CATEGORICAL:
            return pooled
        if t == Type.POINTER:
            return pooled + lin[2](h).squeeze(-1)                   # (B, N)
        return pooled.squeeze(-1)


def postprocess(type_: str, preds: torch.Tensor, *, hard: bool,
                sinkhorn_steps: int = 25, sinkhorn_temperature: float = 0.1) -> torch.Tensor:
    """Logits -> the dense form encoders read.

    Soft: sigmoid for masks, softmax over the last axis for one-hots,
    categoricals and pointers, gradients flowing. Hard: thresholded masks,
    one-hot argmaxes, and scalars detached, so nothing is learnt through the
    fed-back value. Permutation logits get more Sinkhorn iterations (without
    noise) before either.
    """
    if type_ == Type.SCALAR:
        return preds.detach() if hard else preds
    if type_ == Type.MASK:
        return (preds > 0.0).to(preds.dtype) if hard else torch.sigmoid(preds)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL, Type.POINTER):
        if hard:
            return F.one_hot(preds.argmax(dim=-1), preds.shape[-1]).to(preds.dtype)
        return torch.softmax(preds, dim=-1)
    if type_ == Type.PERMUTATION_POINTER:
        probs = torch.exp(log_sinkhorn(preds, sinkhorn_steps, sinkhorn_temperature,
                                       zero_diagonal=True, noise=False))
        if hard:
            return F.one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
        return probs
    raise ValueError(f"cannot postprocess a {type_!r} prediction")
