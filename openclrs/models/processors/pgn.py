"""The MPNN/PGN family: PGN, MPNN, Deep Sets and their gated and triplet
kinds, one class assembled from parts (an aggregation, optional triplet
messages, an optional gate); the kinds differ in which nodes talk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..features import Features, project, self_edges
from ..layers import Activation, Linear, activation as _activation, mlp
from ..segments import SparseGraph
from .aggregation import make_aggregation
from .base import COMPLETE, SELF, Processor
from .gating import Gate
from .triplets import TripletMessages


class PGN(Processor):
    """Pointer Graph Network (Veličković et al., NeurIPS 2020), the base of
    the MPNN family.

    With ``z = [node_fts, hidden]`` (2H wide), the message from node i to node
    j is ``m_1(z_j) + m_2(z_i) + m_e(e_ij) + m_g(g)``, passed through ``relu``
    and the MLP ``msgs_mlp_sizes`` when given, then ``mid_act``. Node j
    reduces its messages over the nodes i with ``adj[b, i, j]`` set (the
    aggregation part, by ``reduction``: "max", "mean" or "sum"; the class's
    ``adjacency`` says which pairs count), and its new state is
    ``activation(o1(z_j) + o2(msg_j))``, layer-normalised if ``use_ln``.

    Parts: ``nb_triplet_fts`` adds :class:`~.triplets.TripletMessages` (that
    many features, projected to H): returned as the edge messages for the
    decoders, they do not enter the node update (as published). ``gated``
    adds a :class:`~.gating.Gate` between the new state and the old.
    """

    affine_edges = True

    def __init__(self, hidden_size: int, *, reduction: str = "max",
                 mid_size: int | None = None, mid_act: Activation | str | None = None,
                 activation: Activation | str | None = F.relu,
                 msgs_mlp_sizes: Sequence[int] | None = None, use_ln: bool = False,
                 nb_triplet_fts: int | None = None, gated: bool = False):
        super().__init__()
        h = hidden_size
        mid = h if mid_size is None else mid_size
        z_size = 2 * h
        self.hidden_size = h
        self.aggregation = make_aggregation(reduction)
        self.mid_act = _activation(mid_act)
        self.activation = _activation(activation)

        # In the published creation order (parameters map one to one).
        self.m_1 = Linear(z_size, mid)
        self.m_2 = Linear(z_size, mid)
        self.m_e = Linear(h, mid)
        self.m_g = Linear(h, mid)
        self.o1 = Linear(z_size, h)
        msg_size = mid if msgs_mlp_sizes is None else ([mid, *msgs_mlp_sizes][-1])
        self.o2 = Linear(msg_size, h)
        self.triplets = (None if nb_triplet_fts is None else
                         TripletMessages(z_size, h, h, nb_triplet_fts, h, self.activation))
        # An empty size list still applies the ReLU, as published.
        self.msgs_mlp = None if msgs_mlp_sizes is None else mlp(mid, msgs_mlp_sizes)
        self.ln = nn.LayerNorm(h) if use_ln else None
        self.gate = Gate(z_size, msg_size, h) if gated else None
        self.edge_message_size = 0 if self.triplets is None else self.triplets.out_size

    def transform(self, msgs: torch.Tensor) -> torch.Tensor:
        """What every raw message goes through before the reduction."""
        if self.msgs_mlp is not None:
            msgs = self.msgs_mlp(F.relu(msgs))
        if self.mid_act is not None:
            msgs = self.mid_act(msgs)
        return msgs

    def forward(self, node_fts, edge_fts, graph_fts, adj, hidden):
        z = torch.cat([node_fts, hidden], dim=-1)
        tri_msgs = None if self.triplets is None else self.triplets(z, edge_fts, graph_fts)

        messages = _Messages(self, z, edge_fts, graph_fts)
        if self.adjacency == SELF:
            msgs = self.aggregation.over_self(messages)
        else:
            msgs = self.aggregation(messages, self.mask(adj))
        return self.update(z, hidden, msgs), tri_msgs

    def update(self, z: torch.Tensor, hidden: torch.Tensor, msgs: torch.Tensor) -> torch.Tensor:
        """The new node states from ``z``, the old states and the reduced messages."""
        ret = self.o1(z) + self.o2(msgs)
        if self.activation is not None:
            ret = self.activation(ret)
        if self.ln is not None:
            ret = self.ln(ret)
        if self.gate is not None:
            ret = self.gate(ret, hidden, z, msgs)
        return ret

    def forward_sparse(self, node_fts: torch.Tensor, edge_fts: Features,
                       graph_fts: torch.Tensor, graph: SparseGraph,
                       hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` on an edge list, with the same weights: node
        features (N, H), edge features (E, H) (or factored), graph features
        (G, H), ``graph`` a :class:`~..segments.SparseGraph`, states (N, H);
        returns states (N, H) and triplet edge messages (E, H) or None.

        The message of edge (i, j) is the dense one; node j reduces the
        messages of its in-edges (its self-loop included), in O(E) memory.
        Where the graph allows messages: the edges (the complete graph of
        :class:`MPNN` becomes the graph's edges, as in SALSA-CLRS); Deep Sets
        the self-loops. Triplets: see :meth:`~.triplets.TripletMessages.sparse`.
        """
        z = torch.cat([node_fts, hidden], dim=-1)
        tri_msgs = (None if self.triplets is None
                    else self.triplets.sparse(z, edge_fts, graph_fts, graph))
        senders, receivers = graph.senders, graph.receivers
        if self.adjacency == SELF:
            loops = graph.self_loops
            edge_fts, senders, receivers = edge_fts[loops], senders[loops], receivers[loops]
        to_receiver = self.m_1(z) + self.m_g(graph_fts).index_select(0, graph.node_graph)
        # (E, H) gathers by index_select (x[index] is several times slower on
        # the CPU), summed in place: the same numbers, one (E, H) block fewer.
        pre = to_receiver.index_select(0, receivers).add_(self.m_2(z).index_select(0, senders))
        msgs = self.transform(project(self.m_e, edge_fts, add=pre))
        msgs = self.aggregation.over_edge_list(msgs, senders, receivers, graph.num_nodes)
        return self.update(z, hidden, msgs), tri_msgs


@dataclass
class _Messages:
    """A PGN's messages at one step, for the pairs its aggregation asks for
    (see :class:`~.aggregation.Messages`)."""

    pgn: PGN
    z: torch.Tensor
    edge_fts: Features
    graph_fts: torch.Tensor

    def _receivers(self) -> torch.Tensor:
        p = self.pgn
        return p.m_1(self.z) + p.m_g(self.graph_fts)[:, None]     # receiver j, graph

    def every_pair(self):
        p = self.pgn
        return p.transform(project(p.m_e, self.edge_fts,            # edge (i, j)
                                   add=self._receivers()[:, None] + p.m_2(self.z)[:, :, None]))

    def on_pairs(self, b, i, j):
        p = self.pgn
        return p.transform(self._receivers()[b, j] + p.m_2(self.z)[b, i]
                           + project(p.m_e, self.edge_fts[b, i, j]))

    def self_loops(self):
        p = self.pgn
        return p.transform(project(p.m_e, self_edges(self.edge_fts),
                                   add=p.m_1(self.z) + p.m_2(self.z)
                                   + p.m_g(self.graph_fts)[:, None]))


class MPNN(PGN):
    """Message-Passing Neural Network (Gilmer et al., ICML 2017): a PGN on the
    complete graph, whatever ``adj`` says."""

    adjacency = COMPLETE


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

    adjacency = SELF

