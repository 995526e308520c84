"""Processors: the message-passing core shared by every algorithm.

Every processor is an ``nn.Module`` with one interface::

    hidden, edge_msgs = processor(node_fts, edge_fts, graph_fts, adj, hidden)

    node_fts  (B, N, H)     encoded node features of this step
    edge_fts  (B, N, N, H)  encoded edge features: a tensor, or, if the
                            class sets ``affine_edges = True``, the same in
                            factored form (:class:`~.features.AffineFeatures`,
                            read through :func:`~.features.project`)
    graph_fts (B, H)        encoded graph features
    adj       (B, N, N)     nonzero where nodes i and j are adjacent (the
                            model passes it symmetric, with self-loops); full
                            processors ignore it
    hidden    (B, N, H)     node states of the previous step
    ->
    hidden    (B, N, H)     the next node states
    edge_msgs (B, N, N, H) or None: triplet edge messages, which the model
              decodes edge hints and outputs from (None for processors
              without triplets)

Processors are built by name with :func:`make_processor`; the names are the
published package's (``mpnn``, ``triplet_gmpnn``, ...). Register a new one
with ``@register("name")`` on a factory ``(hidden_size, **options) -> Processor``.

Options. Every registered factory takes the three options of the published
``get_processor_factory`` with the published training script's defaults,
``use_ln=True``, ``nb_triplet_fts=8`` and ``nb_heads=1``, and, like it, uses
only those that apply to its kind (the MemNet kinds ignore even ``use_ln``:
the published factory never passes it on), so a model can pass all three to
any kind. Other keywords go to the class (``activation``, ``reduction``,
``mid_size``, ...), whose own defaults are the published classes'.

Direction. The processors keep the published indexing: the MPNN/PGN family
reduces messages over the first node axis of ``adj[b, i, j]`` (node j gathers
from the nodes i), the GAT family attends along the last (node i attends to
the nodes j). On the symmetric adjacency the model builds the two agree.

Decoding. ``processor.inf_bias`` and ``processor.inf_bias_edge`` say whether
the model's pointer and mask decoders should push non-edges to a large
negative logit, as the published ``*_mask`` kinds ask.

Initialisation follows Haiku's (see :class:`Linear`), so an untrained model
starts from the same distribution as the published one.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .features import Features, project, self_edges

PROCESSORS: dict[str, Callable[..., "Processor"]] = {}


def register(name: str):
    def wrap(factory):
        if name in PROCESSORS:
            raise ValueError(f"processor {name!r} is already registered")
        PROCESSORS[name] = factory
        return factory
    return wrap


class Processor(nn.Module):
    """Base class; subclasses implement :meth:`forward` as documented above."""

    # Whether decoders should mask non-edges out of pointer / edge-mask logits.
    inf_bias: bool = False
    inf_bias_edge: bool = False
    # Whether forward takes edge_fts in factored form (see the module docstring).
    affine_edges: bool = False

    def forward(self, node_fts: torch.Tensor, edge_fts: torch.Tensor,
                graph_fts: torch.Tensor, adj: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


def make_processor(name: str, hidden_size: int, **options) -> Processor:
    """Build a registered processor by name."""
    if name not in PROCESSORS:
        import difflib

        close = difflib.get_close_matches(name, PROCESSORS, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown processor {name!r}{hint} (known: {', '.join(PROCESSORS)})")
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
    return PROCESSORS[name](hidden_size, **options)


# --------------------------------------------------------------------------
# Building blocks

# Masking constants of the published code. Max aggregation fills non-edges
# with -BIG_NUMBER (not -inf, so an isolated node still gets a finite, if
# meaningless, message); attention adds -ATTENTION_BIAS to non-edge logits.
BIG_NUMBER = 1e6
# On the CPU, a masked max computes messages on the edges alone
# (PGN._max_over_edges) when at most this fraction of node pairs are edges.
SPARSE_MAX_DENSITY = 0.75
ATTENTION_BIAS = 1e9

Activation = Callable[[torch.Tensor], torch.Tensor]


def _activation(fn: Activation | str | None) -> Activation | None:
    """Accept a callable, a name in ``torch.nn.functional`` or None (identity)."""
    if fn is None or callable(fn):
        return fn
    if isinstance(fn, str) and callable(getattr(F, fn, None)):
        return getattr(F, fn)
    raise ValueError(f"unknown activation {fn!r}")


def _haiku_init_(weight: torch.Tensor, fan_in: int) -> None:
    std = 1.0 / math.sqrt(fan_in)
    nn.init.trunc_normal_(weight, std=std, a=-2.0 * std, b=2.0 * std)


class Linear(nn.Linear):
    """``nn.Linear`` initialised as Haiku's ``hk.Linear``.

    Weights are drawn from a normal of std ``1/sqrt(in_features)`` truncated at
    two standard deviations, biases are constant (``bias_init``, zero unless
    asked): PyTorch's default (Kaiming-uniform weights, uniform biases) would
    change where training starts from, and the gated processors rely on a
    constant bias. ``reset_parameters`` re-applies the same scheme.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0, **factory_kwargs):
        self.bias_init = float(bias_init)  # read by reset_parameters below
        super().__init__(in_features, out_features, bias=bias, **factory_kwargs)

    def reset_parameters(self) -> None:
        _haiku_init_(self.weight, self.in_features)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and not autocasting(x):
            if self.out_features == 1:
                return _LinearToOne.apply(x, self.weight[0],
                                          self.bias if self.bias is not None else None)
            if self.in_features <= NARROW_INPUT:
                return _LinearFromNarrow.apply(x, self.weight, self.bias)
        return super().forward(x)

    def extra_repr(self) -> str:
        extra = f", bias_init={self.bias_init}" if self.bias is not None and self.bias_init else ""
        return super().extra_repr() + extra


def autocasting(x: torch.Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (the hand-written backward
    passes below are for uniform dtypes; under autocast, autograd's own)."""
    return torch.is_autocast_enabled(x.device.type)


class _LinearToOne(torch.autograd.Function):
    """A linear layer to one output (the decoders' score heads over every
    edge). Same values as ``F.linear``; its backward forms the input's
    gradient as a broadcast product, where ``F.linear``'s takes a rank-one
    matrix product that CPU BLAS runs an order of magnitude slower."""

    @staticmethod
    def forward(ctx, x, w, bias):
        ctx.save_for_backward(x, w)
        ctx.has_bias = bias is not None
        out = x @ w
        return (out if bias is None else out + bias).unsqueeze(-1)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad = grad.squeeze(-1)
        grad_x = grad.unsqueeze(-1) * w if ctx.needs_input_grad[0] else None
        grad_w = x.reshape(-1, x.shape[-1]).T @ grad.reshape(-1)
        grad_b = grad.sum().reshape(1) if ctx.has_bias else None
        return grad_x, grad_w, grad_b


NARROW_INPUT = 16


class _LinearFromNarrow(torch.autograd.Function):
    """A linear layer from few input features (the triplet messages' ``o3``
    from 8). Same values as ``F.linear``; its backward forms both gradients
    as transposes of products with the long axis inner, which CPU BLAS runs
    several times faster than ``F.linear``'s for such thin matrices."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows, g = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (weight.T @ g.T).T.contiguous().view(x.shape)
        grad_w = (rows.T @ g).T
        grad_b = g.sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b


def _mlp(in_size: int, sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them but not after the last (``hk.nets.MLP``)."""
    layers: list[nn.Module] = []
    for k, size in enumerate(sizes):
        if k:
            layers.append(nn.ReLU())
        layers.append(Linear(in_size, size))
        in_size = size
    return nn.Sequential(*layers)


class _MaxOverI(torch.autograd.Function):
    """``out[b, j, k] = max_i (a[b, i, j] + c[b, i, k])`` (per feature) for
    ``a`` (B, I, J, F) and ``c`` (B, I, K, F). Keeps only a, c and the result
    for the backward pass, which recomputes the (B, I, J, K, F) sums; the
    gradient is split equally between tied maxima, as ``jnp.max``'s is.

    Works feature-major, on (B, F, I, J) copies of the (small) operands: with
    the few features innermost, every broadcast pass over the N^3 sums would
    run in strides of F = 8, two to three times slower on the CPU. Where all
    the sums would take more than ``BLOCK`` elements (past n = 16 at batch
    32), they are formed one i at a time instead, which keeps the passes in
    cache (ten times faster at n = 64) and memory at O(N^2)."""

    BLOCK = 1 << 20

    @staticmethod
    def _at_once(a: torch.Tensor, c: torch.Tensor) -> bool:
        return a.numel() * c.shape[-1] <= _MaxOverI.BLOCK

    @staticmethod
    def forward(ctx, a, c):
        a, c = _feature_major(a), _feature_major(c)
        if _MaxOverI._at_once(a, c):
            out = (a[..., None] + c[..., None, :]).amax(dim=2)          # (B, F, J, K)
        else:
            out = a[:, :, 0, :, None] + c[:, :, 0, None, :]
            for i in range(1, a.shape[2]):
                torch.maximum(out, a[:, :, i, :, None] + c[:, :, i, None, :], out=out)
        ctx.save_for_backward(a, c, out)
        return out.permute(0, 2, 3, 1)

    @staticmethod
    def backward(ctx, grad):
        a, c, out = ctx.saved_tensors
        grad = _feature_major(grad)
        if _MaxOverI._at_once(a, c):
            sums = a[..., None] + c[..., None, :]                      # (B, F, I, J, K)
            share = _tie_shares(sums, out, grad, dim=2, scratch=sums)
            grad_a, grad_c = share.sum(dim=4), share.sum(dim=3)
        else:
            def wins(i):  # where i reaches the max, (B, F, J, K)
                sums = a[:, :, i, :, None] + c[:, :, i, None, :]
                return torch.eq(sums, out, out=sums)

            ties = wins(0)
            for i in range(1, a.shape[2]):
                ties += wins(i)
            per_win = grad / ties
            grad_a, grad_c = torch.empty_like(a), torch.empty_like(c)
            for i in range(a.shape[2]):
                share = wins(i).mul_(per_win)
                torch.sum(share, dim=3, out=grad_a[:, :, i])
                torch.sum(share, dim=2, out=grad_c[:, :, i])
        return grad_a.permute(0, 2, 3, 1), grad_c.permute(0, 2, 3, 1)


def _feature_major(x: torch.Tensor) -> torch.Tensor:
    """(B, I, J, F) -> a contiguous (B, F, I, J)."""
    return x.permute(0, 3, 1, 2).contiguous()


def _tie_shares(x: torch.Tensor, out: torch.Tensor, grad: torch.Tensor, dim: int = 1,
                scratch: torch.Tensor | None = None) -> torch.Tensor:
    """The gradient of ``out = x.amax(dim)`` with respect to x: ``grad``
    split equally between the maxima. As autograd's, without its casts of the
    tie mask to int64 and back; written into ``scratch`` (x's shape) if given."""
    wins = torch.eq(x, out.unsqueeze(dim),
                    out=torch.empty_like(x) if scratch is None else scratch)
    return wins.mul_((grad / wins.sum(dim=dim)).unsqueeze(dim))


class _Amax1(torch.autograd.Function):
    """``x.amax(dim=1)``, with the backward pass of :func:`_tie_shares`."""

    @staticmethod
    def forward(ctx, x):
        out = x.amax(dim=1)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return _tie_shares(x, out, grad)


def amax1(x: torch.Tensor) -> torch.Tensor:
    """``x.amax(dim=1)``, faster to differentiate on the CPU."""
    return x.amax(dim=1) if autocasting(x) else _Amax1.apply(x)


def _max_over_i(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    # Under torch.compile the compiler fuses the plain expression itself (and
    # the eager kernel's choice by size would not trace with symbolic shapes).
    if autocasting(a) or torch.compiler.is_compiling():
        return (a[:, :, :, None] + c[:, :, None, :]).amax(dim=1)
    return _MaxOverI.apply(a, c)


class TripletMessages(nn.Module):
    """Edge messages from node triplets (Dudzik and Veličković, 2022).

    Each triplet (i, j, k) scores ``nb_fts`` features as a sum of seven linear
    projections: the three nodes, the three edges among them and the graph.
    The max over i is the message of edge (j, k), shape (B, N, N, nb_fts).

    Only the three terms that depend on i are summed at (B, N, N, N) size; the
    other four are added after the max, since max(x + c) = max(x) + c. The
    N^3 sums are not kept for the backward pass (see :class:`_MaxOverI`).
    """

    def __init__(self, node_size: int, edge_size: int, graph_size: int, nb_fts: int):
        super().__init__()
        self.t_1 = Linear(node_size, nb_fts)
        self.t_2 = Linear(node_size, nb_fts)
        self.t_3 = Linear(node_size, nb_fts)
        self.t_e_1 = Linear(edge_size, nb_fts)
        self.t_e_2 = Linear(edge_size, nb_fts)
        self.t_e_3 = Linear(edge_size, nb_fts)
        self.t_g = Linear(graph_size, nb_fts)

    def forward(self, z: torch.Tensor, edge_fts: Features,
                graph_fts: torch.Tensor) -> torch.Tensor:
        best = _max_over_i(self.t_1(z)[:, :, None]                  # node i
                           + project(self.t_e_1, edge_fts),          # edge (i, j)
                           project(self.t_e_2, edge_fts))            # edge (i, k)
        return (best
                + self.t_2(z)[:, :, None]                        # node j
                + self.t_3(z)[:, None, :]                        # node k
                + project(self.t_e_3, edge_fts)                  # edge (j, k)
                + self.t_g(graph_fts)[:, None, None])            # graph


# --------------------------------------------------------------------------
# MPNN / PGN family

class PGN(Processor):
    """Pointer Graph Network (Veličković et al., NeurIPS 2020).

    The base of the MPNN family. With ``z = [node_fts, hidden]`` (2H wide),
    the message from node i to node j is ``m_1(z_j) + m_2(z_i) + m_e(e_ij) +
    m_g(g)``, passed through ``relu`` and the MLP ``msgs_mlp_sizes`` when
    given, then ``mid_act``; node j reduces its messages over the nodes i with
    ``adj[b, i, j]`` set (``reduction``: "max", "mean" or "sum"), and its new
    state is ``activation(o1(z_j) + o2(msg_j))``, layer-normalised if
    ``use_ln``.

    ``use_triplets`` adds :class:`TripletMessages` (``nb_triplet_fts`` wide)
    projected to H by ``o3`` and activated: returned as the edge messages for
    the decoders, they do not enter the node update (as published).
    ``gated`` blends the new state with the old through a learned gate whose
    last bias starts at -3, so the processor starts out mostly keeping its
    state (sigmoid(-3) ≈ 0.047 of the update).
    """

    affine_edges = True

    def __init__(self, hidden_size: int, *, mid_size: int | None = None,
                 mid_act: Activation | str | None = None,
                 activation: Activation | str | None = F.relu,
                 reduction: str = "max",
                 msgs_mlp_sizes: Sequence[int] | None = None,
                 use_ln: bool = False, use_triplets: bool = False,
                 nb_triplet_fts: int = 8, gated: bool = False):
        super().__init__()
        if reduction not in ("max", "mean", "sum"):
            raise ValueError(f"reduction must be 'max', 'mean' or 'sum', got {reduction!r}")
        h = hidden_size
        mid = h if mid_size is None else mid_size
        z_size = 2 * h
        self.hidden_size = h
        self.reduction = reduction
        self.mid_act = _activation(mid_act)
        self.activation = _activation(activation)

        self.m_1 = Linear(z_size, mid)
        self.m_2 = Linear(z_size, mid)
        self.m_e = Linear(h, mid)
        self.m_g = Linear(h, mid)
        self.o1 = Linear(z_size, h)
        msg_size = mid if msgs_mlp_sizes is None else ([mid, *msgs_mlp_sizes][-1])
        self.o2 = Linear(msg_size, h)
        if use_triplets:
            self.triplets = TripletMessages(z_size, h, h, nb_triplet_fts)
            self.o3 = Linear(nb_triplet_fts, h)
        else:
            self.triplets = self.o3 = None
        # An empty size list still applies the ReLU, as published.
        self.msgs_mlp = None if msgs_mlp_sizes is None else _mlp(mid, msgs_mlp_sizes)
        self.ln = nn.LayerNorm(h) if use_ln else None
        if gated:
            self.gate1 = Linear(z_size, h)
            self.gate2 = Linear(msg_size, h)
            self.gate3 = Linear(h, h, bias_init=-3.0)
        else:
            self.gate1 = self.gate2 = self.gate3 = None

    def _adjacency(self, adj: torch.Tensor) -> torch.Tensor | None:
        """The mask to aggregate over; None means every pair of nodes."""
        return adj

    def _postprocess(self, msgs: torch.Tensor) -> torch.Tensor:
        if self.msgs_mlp is not None:
            msgs = self.msgs_mlp(F.relu(msgs))
        if self.mid_act is not None:
            msgs = self.mid_act(msgs)
        return msgs

    def _aggregate(self, z: torch.Tensor, edge_fts: Features,
                   graph_fts: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Each node's reduced incoming messages, (B, N, msg_size)."""
        mask = self._adjacency(adj)
        # On the CPU only: elsewhere counting the edges would wait for the
        # device, and dense products are what accelerators do best.
        if (mask is not None and self.reduction == "max" and mask.device.type == "cpu"
                and not torch.compiler.is_compiling()):
            edges = mask != 0
            if int(edges.sum()) <= SPARSE_MAX_DENSITY * edges.numel():
                return self._max_over_edges(z, edge_fts, graph_fts, edges)
        receivers = self.m_1(z) + self.m_g(graph_fts)[:, None]    # receiver j, graph
        msgs = self._postprocess(project(self.m_e, edge_fts,         # edge (i, j)
                                         add=receivers[:, None] + self.m_2(z)[:, :, None]))
        if mask is None:
            if self.reduction == "max":
                return amax1(msgs)
            if self.reduction == "mean":
                return msgs.sum(dim=1) / msgs.shape[1]
            return msgs.sum(dim=1)
        if self.reduction == "max":
            fill = max(-BIG_NUMBER, torch.finfo(msgs.dtype).min)
            return amax1(torch.where((mask != 0)[..., None], msgs, fill))
        weights = mask.to(msgs.dtype)
        total = (msgs * weights[..., None]).sum(dim=1)
        if self.reduction == "mean":
            # The published code divides by the row sums of adj although it
            # sums messages over columns; equal for the symmetric adjacency.
            return total / weights.sum(dim=-1, keepdim=True)
        return total

    def _max_over_edges(self, z: torch.Tensor, edge_fts: Features, graph_fts: torch.Tensor,
                        edges: torch.Tensor) -> torch.Tensor:
        """The masked max of :meth:`_aggregate` with messages computed on the
        edges alone (``edges[b, i, j]``, sender i, receiver j), not on every
        pair: the same result (non-edges only ever lose to the -BIG_NUMBER
        fill, and get no gradient), for a fraction of the message MLP's work
        on sparse graphs. Ties split the gradient equally, as ``amax``."""
        bsz, n = z.shape[:2]
        b, i, j = edges.nonzero(as_tuple=True)
        receivers = self.m_1(z) + self.m_g(graph_fts)[:, None]
        msgs = self._postprocess(receivers[b, j] + self.m_2(z)[b, i]
                                 + project(self.m_e, edge_fts[b, i, j]))
        fill = max(-BIG_NUMBER, torch.finfo(msgs.dtype).min)
        out = msgs.new_full((bsz * n, msgs.shape[-1]), fill)
        where = (b * n + j)[:, None].expand_as(msgs)
        return out.scatter_reduce(0, where, msgs, "amax", include_self=True).view(bsz, n, -1)

    def forward(self, node_fts, edge_fts, graph_fts, adj, hidden):
        z = torch.cat([node_fts, hidden], dim=-1)
        tri_msgs = None
        if self.triplets is not None:
            tri_msgs = self.o3(self.triplets(z, edge_fts, graph_fts))
            if self.activation is not None:
                tri_msgs = self.activation(tri_msgs)

        msgs = self._aggregate(z, edge_fts, graph_fts, adj)
        ret = self.o1(z) + self.o2(msgs)
        if self.activation is not None:
            ret = self.activation(ret)
        if self.ln is not None:
            ret = self.ln(ret)
        if self.gate3 is not None:
            gate = torch.sigmoid(self.gate3(F.relu(self.gate1(z) + self.gate2(msgs))))
            ret = ret * gate + hidden * (1 - gate)
        return ret, tri_msgs


class MPNN(PGN):
    """Message-Passing Neural Network (Gilmer et al., ICML 2017): a PGN on the
    complete graph, whatever ``adj`` says."""

    def _adjacency(self, adj):
        return None


class PGNMask(PGN):
    """PGN whose decoders also mask non-edges out of pointer and edge-mask
    predictions (``inf_bias``); the processor itself is a PGN."""

    inf_bias = True
    inf_bias_edge = True


class DeepSets(PGN):
    """Deep Sets (Zaheer et al., NeurIPS 2017): a PGN on self-loops only, so
    each node sees itself (and edge (j, j)) and the graph, never another node.

    Only the N self-messages are computed instead of N^2 mostly masked ones;
    the result is the published one, whose masked max bounds a message below
    by -BIG_NUMBER.
    """

    def _aggregate(self, z, edge_fts, graph_fts, adj):
        n = z.shape[1]
        msgs = self._postprocess(project(self.m_e, self_edges(edge_fts),
                                         add=self.m_1(z) + self.m_2(z)
                                         + self.m_g(graph_fts)[:, None]))
        if self.reduction == "max" and n > 1:
            msgs = msgs.clamp_min(max(-BIG_NUMBER, torch.finfo(msgs.dtype).min))
        return msgs


# --------------------------------------------------------------------------
# Attention

def _attention_bias(adj: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | float:
    """Additive logit bias, (B, 1, N, N): 0 on edges, -ATTENTION_BIAS off them."""
    if adj is None:
        return 0.0
    return ((adj != 0).to(dtype) - 1.0)[:, None] * ATTENTION_BIAS


class _Attention(Processor):
    """What GAT and GATv2 share: masked softmax attention of each node i over
    the nodes j with ``adj[b, i, j]`` set, on values ``m(z_j)`` split across
    ``nb_heads`` (``z = [node_fts, hidden]``); the heads are concatenated, a
    linear ``skip(z_i)`` is added if ``residual``, then ``activation`` and the
    optional LayerNorm. Subclasses score the logits."""

    affine_edges = True

    def __init__(self, hidden_size: int, nb_heads: int, activation, residual: bool,
                 use_ln: bool):
        super().__init__()
        if nb_heads < 1 or hidden_size % nb_heads:
            raise ValueError(f"nb_heads={nb_heads} must divide hidden_size={hidden_size}")
        self.hidden_size = hidden_size
        self.nb_heads = nb_heads
        self.activation = _activation(activation)
        self.m = Linear(2 * hidden_size, hidden_size)
        self.skip = Linear(2 * hidden_size, hidden_size) if residual else None
        self.ln = nn.LayerNorm(hidden_size) if use_ln else None

    def _adjacency(self, adj: torch.Tensor) -> torch.Tensor | None:
        """The mask to attend over; None means every node."""
        return adj

    def _logits(self, z, edge_fts, graph_fts) -> torch.Tensor:
        """Unmasked attention logits, (B, heads, N_i, N_j)."""
        raise NotImplementedError

    def forward(self, node_fts, edge_fts, graph_fts, adj, hidden):
        b, n, _ = node_fts.shape
        z = torch.cat([node_fts, hidden], dim=-1)
        values = self.m(z).view(b, n, self.nb_heads, -1).transpose(1, 2)  # (B, heads, N, F)
        logits = self._logits(z, edge_fts, graph_fts)
        coefs = torch.softmax(logits + _attention_bias(self._adjacency(adj), logits.dtype), dim=-1)
        ret = (coefs @ values).transpose(1, 2).reshape(b, n, self.hidden_size)
        if self.skip is not None:
            ret = ret + self.skip(z)
        if self.activation is not None:
            ret = self.activation(ret)
        if self.ln is not None:
            ret = self.ln(ret)
        return ret, None


class GAT(_Attention):
    """Graph Attention Network (Veličković et al., ICLR 2018).

    The logit of node i for node j, per head, is ``leaky_relu(a_1(z_i) +
    a_2(z_j) + a_e(e_ij) + a_g(g))``; the rest is :class:`_Attention`.
    """

    def __init__(self, hidden_size: int, *, nb_heads: int = 1,
                 activation: Activation | str | None = F.relu,
                 residual: bool = True, use_ln: bool = False):
        super().__init__(hidden_size, nb_heads, activation, residual, use_ln)
        self.a_1 = Linear(2 * hidden_size, nb_heads)
        self.a_2 = Linear(2 * hidden_size, nb_heads)
        self.a_e = Linear(hidden_size, nb_heads)
        self.a_g = Linear(hidden_size, nb_heads)

    def _logits(self, z, edge_fts, graph_fts):
        return F.leaky_relu(self.a_1(z).transpose(1, 2)[..., :, None]
                            + self.a_2(z).transpose(1, 2)[..., None, :]
                            + project(self.a_e, edge_fts).permute(0, 3, 1, 2)
                            + self.a_g(graph_fts)[:, :, None, None])


class GATFull(GAT):
    """GAT attending over every node, whatever ``adj`` says."""

    def _adjacency(self, adj):
        return None


class GATv2(_Attention):
    """Graph Attention Network v2 (Brody et al., ICLR 2022).

    The logit of node i for node j, in head h, is scored after the
    nonlinearity: ``att_h . leaky_relu(w_1(z_j) + w_2(z_i) + w_e(e_ij) +
    w_g(g))[h] + b_h``, on a ``mid_size``-wide pre-attention split across the
    heads; the rest is :class:`_Attention`. The per-head scorers (published:
    one ``Linear(1)`` per head) are one (heads, mid/heads) weight and one bias
    per head, applied to all heads at once.
    """

    def __init__(self, hidden_size: int, *, nb_heads: int = 1, mid_size: int | None = None,
                 activation: Activation | str | None = F.relu,
                 residual: bool = True, use_ln: bool = False):
        super().__init__(hidden_size, nb_heads, activation, residual, use_ln)
        h = hidden_size
        mid = h if mid_size is None else mid_size
        if mid % nb_heads:
            raise ValueError(f"nb_heads={nb_heads} must divide mid_size={mid}")
        self.w_1 = Linear(2 * h, mid)
        self.w_2 = Linear(2 * h, mid)
        self.w_e = Linear(h, mid)
        self.w_g = Linear(h, mid)
        self.att_weight = nn.Parameter(torch.empty(nb_heads, mid // nb_heads))
        self.att_bias = nn.Parameter(torch.zeros(nb_heads))
        with torch.no_grad():
            _haiku_init_(self.att_weight, mid // nb_heads)

    def _logits(self, z, edge_fts, graph_fts):
        b, n, _ = z.shape
        pre = (self.w_1(z)[:, None]               # attended node j
               + self.w_2(z)[:, :, None]          # attending node i
               + project(self.w_e, edge_fts)
               + self.w_g(graph_fts)[:, None, None])
        pre = F.leaky_relu(pre).view(b, n, n, self.nb_heads, -1)
        return (torch.einsum("bijhf,hf->bhij", pre, self.att_weight)
                + self.att_bias[:, None, None])


class GATv2Full(GATv2):
    """GATv2 attending over every node, whatever ``adj`` says."""

    def _adjacency(self, adj):
        return None


# --------------------------------------------------------------------------
# Memory networks

def _position_encoding(sentence_size: int, embedding_size: int) -> torch.Tensor:
    """Position encoding of Sukhbaatar et al. (2015), section 4.1: (S, E)."""
    s = torch.arange(1, sentence_size + 1, dtype=torch.float64)[:, None] - sentence_size / 2
    e = torch.arange(1, embedding_size + 1, dtype=torch.float64)[None, :] - embedding_size / 2
    return (1 + 4 * s * e / (embedding_size * sentence_size)).to(torch.float32)


class MemNetMasked(Processor):
    """End-to-end memory network (Sukhbaatar et al., NeurIPS 2015) as the
    published package fits it to graphs.

    Node i asks a query made of its features, over the memories given by
    row i of the edge features (non-edges zeroed), plus one padding memory;
    the graph features ask one more query, over empty memories, whose answer
    is added to every node. ``hidden`` is not used. The vocabulary, sentence
    and output sizes, tied to the hidden size by the published factory, are
    all ``hidden_size``; ``memory_size`` bounds the number of nodes at
    ``memory_size - 1``.

    Faithful to the published adaptation, features are read as *word ids*:
    truncated to integers, negative ones counting back from the end of the
    vocabulary, ones outside [-vocabulary, vocabulary) giving NaN. The output
    is thus piecewise constant in the features and passes no gradient back to
    them. A word's embedding is a row of a bias table (the last row, the nil
    word, fixed at zero) weighted by the position encoding of its slot.

    The tables start at zero, as published. The output is then identically
    zero and, the ReLU before the last layer sitting at exactly 0, so is every
    gradient: a MemNet initialised as published does not learn (the Haiku
    module gives the same zeros). Kept for parity; perturb the tables to get
    a MemNet that trains.
    """

    def __init__(self, hidden_size: int, *, embedding_size: int = 16,
                 memory_size: int = 128, num_hops: int = 1,
                 nonlin: Activation | str | None = F.relu, use_ln: bool = False):
        super().__init__()
        if num_hops < 1:
            raise ValueError(f"num_hops must be at least 1, got {num_hops}")
        vocab = sentence = out = hidden_size
        e = embedding_size
        self.vocab_size = vocab
        self.memory_size = memory_size
        self.num_hops = num_hops
        self.nonlin = _activation(nonlin)
        self.query_biases = nn.Parameter(torch.zeros(vocab - 1, e))
        self.stories_biases = nn.Parameter(torch.zeros(vocab - 1, e))
        self.memory_contents = nn.Parameter(torch.zeros(memory_size, e))
        self.output_biases = nn.Parameter(torch.zeros(vocab - 1, e))
        self.intermediate_linear = Linear(e, e, bias=False) if num_hops > 1 else None
        self.output_linear = Linear(e, out, bias=False)
        self.answer = Linear(out, vocab, bias=False)   # "W" of the paper
        self.ln = nn.LayerNorm(vocab) if use_ln else None
        self.register_buffer("encoding", _position_encoding(sentence, e), persistent=False)

    def _adjacency(self, adj: torch.Tensor) -> torch.Tensor | None:
        return adj

    def _words(self, fts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Word ids (..., S) and, per sentence (...), whether any is out of range."""
        v = self.vocab_size
        ids = fts.detach().trunc()
        bad = ~((ids >= -v) & (ids < v))          # NaN is out of range too
        ids = torch.where(bad, 0.0, ids).long() % v
        return ids, bad.any(dim=-1)

    def _embed(self, ids: torch.Tensor, bad: torch.Tensor,
               *tables: torch.Tensor) -> list[torch.Tensor]:
        """For each table, the sum over slots s of ``table[ids[..., s]] *
        encoding[s]``, (..., E).

        The tables share one lookup, and a table of (word, slot) products with
        an ``embedding_bag`` sum avoids materialising (..., S, E) per sentence.
        """
        e = tables[0].shape[1]
        table = torch.cat(tables, dim=1)
        table = torch.cat([table, table.new_zeros(1, table.shape[1])])   # nil word last
        encoding = self.encoding.to(table.dtype).repeat(1, len(tables))
        slots = encoding.shape[0]
        products = (table[:, None, :] * encoding).reshape(-1, table.shape[1])
        flat = ids.reshape(-1, slots) * slots + torch.arange(slots, device=ids.device)
        out = F.embedding_bag(flat, products, mode="sum").view(*ids.shape[:-1], -1)
        return list(out.masked_fill(bad[..., None], math.nan).split(e, dim=-1))

    def forward(self, node_fts, edge_fts, graph_fts, adj, hidden):
        n = node_fts.shape[1]
        used = n + 1
        if used > self.memory_size:
            raise ValueError(f"MemNet with memory_size={self.memory_size} takes at most "
                             f"{self.memory_size - 1} nodes, got {n}")
        mask = self._adjacency(adj)
        if mask is not None:
            edge_fts = edge_fts * mask.to(edge_fts.dtype)[..., None]
        queries = torch.cat([node_fts, graph_fts[:, None]], dim=1)       # (B, Q, S)
        stories = F.pad(edge_fts, (0, 0, 0, 1, 0, 1))                    # (B, Q, M, S)

        q_ids, q_bad = self._words(queries)
        s_ids, s_bad = self._words(stories)
        u, = self._embed(q_ids, q_bad, self.query_biases)                  # (B, Q, E)
        memory, output = self._embed(s_ids, s_bad, self.stories_biases,
                                     self.output_biases)                  # (B, Q, M, E)
        memory = memory + self.memory_contents[:used]
        spare = self.memory_contents[used:]   # slots beyond the graph: a bias, no words

        for hop in range(self.num_hops):
            logits = torch.cat([(memory * u[:, :, None]).sum(-1), u @ spare.T], dim=-1)
            probs = torch.softmax(logits, dim=-1)[..., :used]    # spare slots output 0
            o = (probs[..., None] * output).sum(dim=-2)
            last = hop == self.num_hops - 1
            u = (self.output_linear if last else self.intermediate_linear)(u + o)
        ret = self.answer(self.nonlin(u) if self.nonlin is not None else u)
        if self.ln is not None:
            ret = self.ln(ret)
        return ret[:, :-1] + ret[:, -1:], None


class MemNetFull(MemNetMasked):
    """MemNet whose memories are every node's edge features, whatever ``adj`` says."""

    def _adjacency(self, adj):
        return None


# --------------------------------------------------------------------------
# The published kinds

def _register_pgn(name: str, cls: type[PGN], *, triplets: bool, gated: bool) -> None:
    def factory(hidden_size: int, *, use_ln: bool = True, nb_triplet_fts: int = 8,
                nb_heads: int = 1, **options) -> PGN:
        options.setdefault("msgs_mlp_sizes", [hidden_size, hidden_size])
        return cls(hidden_size, use_ln=use_ln, use_triplets=triplets,
                   nb_triplet_fts=nb_triplet_fts, gated=gated, **options)
    factory.__doc__ = (f"{cls.__name__}{' with triplets' if triplets else ''}"
                       f"{', gated' if gated else ''}; messages through a 2-layer MLP.")
    register(name)(factory)


def _register_gat(name: str, cls: type[_Attention]) -> None:
    def factory(hidden_size: int, *, use_ln: bool = True, nb_triplet_fts: int = 8,
                nb_heads: int = 1, **options) -> _Attention:
        return cls(hidden_size, nb_heads=nb_heads, use_ln=use_ln, **options)
    factory.__doc__ = f"{cls.__name__} with ``nb_heads`` heads."
    register(name)(factory)


def _register_memnet(name: str, cls: type[MemNetMasked]) -> None:
    def factory(hidden_size: int, *, use_ln: bool = True, nb_triplet_fts: int = 8,
                nb_heads: int = 1, **options) -> MemNetMasked:
        # use_ln is ignored on purpose: the published factory builds MemNets
        # without LayerNorm whatever it is asked (MemNetMasked(use_ln=True)
        # gives one).
        return cls(hidden_size, **options)
    factory.__doc__ = f"{cls.__name__}; ignores use_ln, as published."
    register(name)(factory)


_register_pgn("deepsets", DeepSets, triplets=False, gated=False)
_register_gat("gat", GAT)
_register_gat("gat_full", GATFull)
_register_gat("gatv2", GATv2)
_register_gat("gatv2_full", GATv2Full)
_register_memnet("memnet_full", MemNetFull)
_register_memnet("memnet_masked", MemNetMasked)
for _name, _cls, _triplets, _gated in [
    ("mpnn", MPNN, False, False),
    ("pgn", PGN, False, False),
    ("pgn_mask", PGNMask, False, False),
    ("triplet_mpnn", MPNN, True, False),
    ("triplet_pgn", PGN, True, False),
    ("triplet_pgn_mask", PGNMask, True, False),
    ("gpgn", PGN, False, True),
    ("gpgn_mask", PGNMask, False, True),
    ("gmpnn", MPNN, False, True),
    ("triplet_gpgn", PGN, True, True),
    ("triplet_gpgn_mask", PGNMask, True, True),
    ("triplet_gmpnn", MPNN, True, True),
]:
    _register_pgn(_name, _cls, triplets=_triplets, gated=_gated)
del _name, _cls, _triplets, _gated
