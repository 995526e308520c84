"""Aggregations: how a node reduces the messages it receives (a part of the
MPNN/PGN family, chosen by the ``reduction`` option).

An aggregation gets the step's messages as a :class:`Messages` (which
computes them for every pair of nodes, for chosen pairs, or for self-loops
only, as asked) and the mask of pairs that talk (``mask[b, i, j]``: sender
i, receiver j; None for every pair), and returns each receiver's reduction,
(B, N, F). Masking follows the published code: a masked max fills non-edges
with -BIG_NUMBER (not -inf, so an isolated node still gets a finite, if
meaningless, message); a masked mean divides by the row sums of the mask.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from ..kernels import amax1
from ..segments import segment_max, segment_sum

BIG_NUMBER = 1e6
# On the CPU, a masked max computes messages on the edges alone
# (MaxAggregation.over_edges) when at most this fraction of node pairs are edges.
SPARSE_MAX_DENSITY = 0.75


class Messages(Protocol):
    """The messages of one step, computed on demand."""

    def every_pair(self) -> torch.Tensor:
        """(B, N_i, N_j, F): the message from node i to node j."""

    def on_pairs(self, b: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """(E, F): the messages of the pairs (b, i, j) only."""

    def self_loops(self) -> torch.Tensor:
        """(B, N, F): the message of each node to itself."""


def _fill(dtype: torch.dtype) -> float:
    return max(-BIG_NUMBER, torch.finfo(dtype).min)


class Aggregation(nn.Module):
    """Base class: ``forward(messages, mask)`` reduces over the senders i of
    each receiver j; :meth:`over_self` is the same when each node's only
    neighbour is itself (computing only the N self-messages)."""

    name: str

    def forward(self, messages: Messages, mask: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def over_self(self, messages: Messages) -> torch.Tensor:
        # One message per receiver: its sum and mean are itself.
        return messages.self_loops()

    def over_edge_list(self, msgs: torch.Tensor, senders: torch.Tensor,
                       receivers: torch.Tensor, num_nodes: int) -> torch.Tensor:
        """The same reduction on an edge list: ``msgs`` (E, F) of the edges
        ``senders[k] -> receivers[k]``, reduced per receiver, (num_nodes, F)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return self.name


class MaxAggregation(Aggregation):
    """The elementwise max over senders (the published default)."""

    name = "max"

    def forward(self, messages, mask):
        if mask is None:
            return amax1(messages.every_pair())
        # On the CPU only: elsewhere counting the edges would wait for the
        # device, and dense products are what accelerators do best.
        if mask.device.type == "cpu" and not torch.compiler.is_compiling():
            edges = mask != 0
            if int(edges.sum()) <= SPARSE_MAX_DENSITY * edges.numel():
                return self.over_edges(messages, edges)
        msgs = messages.every_pair()
        return amax1(torch.where((mask != 0)[..., None], msgs, _fill(msgs.dtype)))

    @staticmethod
    def over_edges(messages: Messages, edges: torch.Tensor) -> torch.Tensor:
        """The masked max with messages computed on the edges alone
        (``edges[b, i, j]``, sender i, receiver j), not on every pair: the
        same result (non-edges only ever lose to the -BIG_NUMBER fill, and get
        no gradient), for a fraction of the message MLP's work on sparse
        graphs. Ties split the gradient equally, as ``amax``."""
        bsz, n = edges.shape[:2]
        b, i, j = edges.nonzero(as_tuple=True)
        msgs = messages.on_pairs(b, i, j)
        out = msgs.new_full((bsz * n, msgs.shape[-1]), _fill(msgs.dtype))
        where = (b * n + j)[:, None].expand_as(msgs)
        return out.scatter_reduce(0, where, msgs, "amax", include_self=True).view(bsz, n, -1)

    def over_edge_list(self, msgs, senders, receivers, num_nodes):
        # As over_edges: a receiver's max is bounded below by the fill.
        return segment_max(msgs, receivers, num_nodes, fill=-BIG_NUMBER)

    def over_self(self, messages):
        # As the published masked max on self-loops: the other nodes' -BIG_NUMBER
        # fill bounds each message below.
        msgs = messages.self_loops()
        if msgs.shape[1] > 1:
            msgs = msgs.clamp_min(_fill(msgs.dtype))
        return msgs


class SumAggregation(Aggregation):
    """The sum over senders."""

    name = "sum"

    def forward(self, messages, mask):
        msgs = messages.every_pair()
        if mask is None:
            return msgs.sum(dim=1)
        return (msgs * mask.to(msgs.dtype)[..., None]).sum(dim=1)

    def over_edge_list(self, msgs, senders, receivers, num_nodes):
        return segment_sum(msgs, receivers, num_nodes)


class MeanAggregation(Aggregation):
    """The mean over senders."""

    name = "mean"

    def forward(self, messages, mask):
        msgs = messages.every_pair()
        if mask is None:
            return msgs.sum(dim=1) / msgs.shape[1]
        weights = mask.to(msgs.dtype)
        # The published code divides by the row sums of adj although it sums
        # messages over columns; equal for the symmetric adjacency.
        return (msgs * weights[..., None]).sum(dim=1) / weights.sum(dim=-1, keepdim=True)

    def over_edge_list(self, msgs, senders, receivers, num_nodes):
        # Divided by the out-degree, as the dense row sums above.
        count = torch.bincount(senders, minlength=num_nodes).to(msgs.dtype)
        return segment_sum(msgs, receivers, num_nodes) / count[:, None]


AGGREGATIONS: dict[str, type[Aggregation]] = {
    cls.name: cls for cls in (MaxAggregation, MeanAggregation, SumAggregation)}


def make_aggregation(reduction: str) -> Aggregation:
    if reduction not in AGGREGATIONS:
        raise ValueError(f"reduction must be 'max', 'mean' or 'sum', got {reduction!r}")
    return AGGREGATIONS[reduction]()
