"""The GAT family: GAT and GATv2, attending over the graph or every node."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..features import project
from ..layers import Activation, Linear, activation as _activation, haiku_init_
from .base import COMPLETE, Processor

# Attention adds -ATTENTION_BIAS to the logits of non-edges (published value).
ATTENTION_BIAS = 1e9


def attention_bias(adj: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | float:
    """Additive logit bias, (B, 1, N, N): 0 on edges, -ATTENTION_BIAS off them."""
    if adj is None:
        return 0.0
    return ((adj != 0).to(dtype) - 1.0)[:, None] * ATTENTION_BIAS


class Attention(Processor):
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

    def logits(self, z, edge_fts, graph_fts) -> torch.Tensor:
        """Unmasked attention logits, (B, heads, N_i, N_j)."""
        raise NotImplementedError

    def forward(self, node_fts, edge_fts, graph_fts, adj, hidden):
        b, n, _ = node_fts.shape
        z = torch.cat([node_fts, hidden], dim=-1)
        values = self.m(z).view(b, n, self.nb_heads, -1).transpose(1, 2)  # (B, heads, N, F)
        logits = self.logits(z, edge_fts, graph_fts)
        coefs = torch.softmax(logits + attention_bias(self.mask(adj), logits.dtype), dim=-1)
        ret = (coefs @ values).transpose(1, 2).reshape(b, n, self.hidden_size)
        if self.skip is not None:
            ret = ret + self.skip(z)
        if self.activation is not None:
            ret = self.activation(ret)
        if self.ln is not None:
            ret = self.ln(ret)
        return ret, None


class GAT(Attention):
    """Graph Attention Network (Veličković et al., ICLR 2018).

    The logit of node i for node j, per head, is ``leaky_relu(a_1(z_i) +
    a_2(z_j) + a_e(e_ij) + a_g(g))``; the rest is :class:`Attention`.
    """

    def __init__(self, hidden_size: int, *, nb_heads: int = 1,
                 activation: Activation | str | None = F.relu,
                 residual: bool = True, use_ln: bool = False):
        super().__init__(hidden_size, nb_heads, activation, residual, use_ln)
        self.a_1 = Linear(2 * hidden_size, nb_heads)
        self.a_2 = Linear(2 * hidden_size, nb_heads)
        self.a_e = Linear(hidden_size, nb_heads)
        self.a_g = Linear(hidden_size, nb_heads)

    def logits(self, z, edge_fts, graph_fts):
        return F.leaky_relu(self.a_1(z).transpose(1, 2)[..., :, None]
                            + self.a_2(z).transpose(1, 2)[..., None, :]
                            + project(self.a_e, edge_fts).permute(0, 3, 1, 2)
                            + self.a_g(graph_fts)[:, :, None, None])


class GATFull(GAT):
    """GAT attending over every node, whatever ``adj`` says."""

    adjacency = COMPLETE


class GATv2(Attention):
    """Graph Attention Network v2 (Brody et al., ICLR 2022).

    The logit of node i for node j, in head h, is scored after the
    nonlinearity: ``att_h . leaky_relu(w_1(z_j) + w_2(z_i) + w_e(e_ij) +
    w_g(g))[h] + b_h``, on a ``mid_size``-wide pre-attention split across the
    heads; the rest is :class:`Attention`. The per-head scorers (published:
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
            haiku_init_(self.att_weight, mid // nb_heads)

    def logits(self, z, edge_fts, graph_fts):
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

    adjacency = COMPLETE
