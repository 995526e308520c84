"""Graphs as edge lists, and reductions over segments of them, for running
the model's processors, encoders and decoders on sparse graphs.

A :class:`SparseGraph` is a batch of graphs concatenated into one, as
PyTorch Geometric batches them (:class:`~openclrs.data.sparse.SparseBatch`):
edge ``k`` goes from ``senders[k]`` to ``receivers[k]`` (batch-wide node
indices) and ``node_graph[i]`` is the graph of node i. Everything a step
computes is ``O(N + E)`` (``O(sum_i deg(i)^2)`` for triplets): messages live
on edges and are reduced per receiver with scatter reductions.

The segment reductions (:func:`segment_max`, :func:`segment_softmax`,
:func:`segment_log_softmax`, :func:`segment_argmax`) take values ``(M, ...)``
and the segment of each row, ``(M,)`` in ``[0, size)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


@dataclass(eq=False)
class SparseGraph:
    """A batch of graphs as one edge list (see the module docstring).

    The edge set must be symmetric (every edge's reverse listed) and hold
    every self-loop, as the edges of a sparse trace always are: the model's
    processors pass messages both ways, and a node may point to itself.
    """

    senders: torch.Tensor      # (E,) int64
    receivers: torch.Tensor    # (E,) int64
    node_graph: torch.Tensor   # (N,) int64, the batch vector
    num_graphs: int

    @property
    def num_nodes(self) -> int:
        return int(self.node_graph.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.senders.shape[0])

    def first(self, num_graphs: int, num_nodes: int, num_edges: int) -> "SparseGraph":
        """The batch's first ``num_graphs`` graphs, which own its first
        ``num_nodes`` nodes and ``num_edges`` edges (graphs are contiguous,
        as a :class:`~openclrs.data.sparse.SparseBatch` lays them out): views,
        and the edge structure already computed (reverse edges, self-loops,
        triplets) kept, restricted to them; an edge's reverse and triplets
        never leave its graph."""
        if num_graphs == self.num_graphs:
            return self
        sub = SparseGraph(self.senders[:num_edges], self.receivers[:num_edges],
                          self.node_graph[:num_nodes], num_graphs)
        known = self.__dict__
        for name, rows in (("edge_graph", num_edges), ("reverse", num_edges),
                           ("self_loops", num_nodes), ("out_degree", num_nodes)):
            if name in known:
                sub.__dict__[name] = known[name][:rows]
        if "triplets" in known:
            a, b, q = known["triplets"]
            keep = a < num_edges
            sub.__dict__["triplets"] = (a[keep], b[keep], q[keep])
        return sub

    @cached_property
    def edge_graph(self) -> torch.Tensor:
        """(E,): the graph of each edge."""
        return self.node_graph[self.senders]

    def edge_ids(self, senders: torch.Tensor, receivers: torch.Tensor) -> torch.Tensor:
        """The index of edge (s, r) for each pair, -1 where there is none."""
        keys = senders * self.num_nodes + receivers
        order, sorted_keys = self._sorted_keys
        at = torch.searchsorted(sorted_keys, keys).clamp(max=max(len(sorted_keys) - 1, 0))
        found = sorted_keys[at] == keys
        return torch.where(found, order[at], torch.full_like(keys, -1))

    @cached_property
    def _sorted_keys(self) -> tuple[torch.Tensor, torch.Tensor]:
        keys = self.senders * self.num_nodes + self.receivers
        sorted_keys, order = torch.sort(keys)
        return order, sorted_keys

    @cached_property
    def reverse(self) -> torch.Tensor:
        """(E,): the index of edge (r, s) for each edge (s, r)."""
        rev = self.edge_ids(self.receivers, self.senders)
        if bool((rev < 0).any()):
            raise ValueError("a sparse model needs a symmetric edge list (each edge's reverse "
                             "listed); sparse traces always have one")
        return rev

    @cached_property
    def self_loops(self) -> torch.Tensor:
        """(N,): the index of edge (i, i) of each node."""
        nodes = torch.arange(self.num_nodes, device=self.senders.device)
        loops = self.edge_ids(nodes, nodes)
        if bool((loops < 0).any()):
            raise ValueError("a sparse model needs every self-loop in the edge list; "
                             "sparse traces always have them")
        return loops

    @cached_property
    def out_degree(self) -> torch.Tensor:
        """(N,): edges leaving each node, its self-loop included."""
        return torch.bincount(self.senders, minlength=self.num_nodes)

    @cached_property
    def triplets(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The triplets the graph allows, ``(a, b, q)`` (each ``(M,)``):
        for every node i and every two of its out-edges ``a = (i, j)`` and
        ``b = (i, k)`` such that ``q = (j, k)`` is an edge too. With
        self-loops, i = j always qualifies, so every edge has a triplet.
        There are at most ``sum_i deg(i)^2`` of them."""
        device = self.senders.device
        order = torch.argsort(self.senders, stable=True)          # out-edges grouped by sender
        deg = self.out_degree
        start = torch.cumsum(deg, 0) - deg                           # first slot of each node
        a = torch.repeat_interleave(order, deg[self.senders[order]])  # edge (i, j), once per k
        first = torch.cumsum(deg[self.senders[order]], 0) - deg[self.senders[order]]
        slot = torch.arange(a.shape[0], device=device) - torch.repeat_interleave(
            first, deg[self.senders[order]])
        b = order[start[self.senders[a]] + slot]                    # edge (i, k)
        q = self.edge_ids(self.receivers[a], self.receivers[b])     # edge (j, k)
        keep = q >= 0
        return a[keep], b[keep], q[keep]


def fill_value(dtype: torch.dtype, fill: float) -> float:
    return max(fill, torch.finfo(dtype).min)


def segment_max(values: torch.Tensor, index: torch.Tensor, size: int,
                fill: float = float("-inf")) -> torch.Tensor:
    """``out[s] = max(fill, max of values[m] with index[m] == s)``, (size, ...)."""
    out = values.new_full((size, *values.shape[1:]), fill_value(values.dtype, fill))
    where = index.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
    return out.scatter_reduce(0, where, values, "amax", include_self=True)


def segment_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    out = values.new_zeros((size, *values.shape[1:]))
    return out.index_add(0, index, values)


def segment_softmax(logits: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """The softmax of ``logits`` (M,) within each segment."""
    top = segment_max(logits, index, size)
    e = torch.exp(logits - top[index])
    return e / segment_sum(e, index, size)[index]


def segment_log_softmax(logits: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """The log-softmax of ``logits`` (M, ...) within each segment: what a
    loss reads (finite for finite logits; the shift by each segment's max
    is a constant of the result, so it carries no gradient)."""
    shifted = logits - segment_max(logits.detach(), index, size)[index]
    return shifted - torch.log(segment_sum(torch.exp(shifted), index, size))[index]


def segment_argmax(logits: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """(size,): the position m of each segment's largest logit, the first
    one on ties (as ``argmax`` on a dense row whose entries are in the same
    order), -1 for an empty segment."""
    top = segment_max(logits, index, size)
    positions = torch.arange(logits.shape[0], device=logits.device)
    candidates = torch.where(logits == top[index], positions,
                             torch.full_like(positions, logits.shape[0]))
    first = torch.full((size,), logits.shape[0], dtype=positions.dtype, device=logits.device)
    first = first.scatter_reduce(0, index, candidates, "amin", include_self=True)
    return torch.where(first == logits.shape[0], torch.full_like(first, -1), first)


def segment_one_hot(logits: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """(M,): 1 at each segment's :func:`segment_argmax`, 0 elsewhere."""
    best = segment_argmax(logits, index, size)
    out = torch.zeros_like(logits)
    best = best[best >= 0]
    out[best] = 1
    return out
