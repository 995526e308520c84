"""Triplet messages (Dudzik and Veličković, 2022): a part of the MPNN/PGN
family that gives the decoders edge messages built from node triplets."""

from __future__ import annotations

import torch
from torch import nn

from ..features import Features, project
from ..kernels import max_over_i
from ..layers import Activation, Linear
from ..segments import SparseGraph, segment_max


class TripletMessages(nn.Module):
    """Edge messages from node triplets, (B, N, N, out_size).

    Each triplet (i, j, k) scores ``nb_fts`` features as a sum of seven linear
    projections: the three nodes, the three edges among them and the graph.
    The max over i scores edge (j, k); ``o3`` projects it to ``out_size``,
    then ``activation`` (the processor's).

    Only the three terms that depend on i are summed at (B, N, N, N) size; the
    other four are added after the max, since max(x + c) = max(x) + c. The
    N^3 sums are not kept for the backward pass (see ``kernels.MaxOverI``).
    """

    def __init__(self, node_size: int, edge_size: int, graph_size: int, nb_fts: int,
                 out_size: int, activation: Activation | None):
        super().__init__()
        self.t_1 = Linear(node_size, nb_fts)
        self.t_2 = Linear(node_size, nb_fts)
        self.t_3 = Linear(node_size, nb_fts)
        self.t_e_1 = Linear(edge_size, nb_fts)
        self.t_e_2 = Linear(edge_size, nb_fts)
        self.t_e_3 = Linear(edge_size, nb_fts)
        self.t_g = Linear(graph_size, nb_fts)
        self.o3 = Linear(nb_fts, out_size)
        self.activation = activation
        self.out_size = out_size

    def scores(self, z: torch.Tensor, edge_fts: Features,
               graph_fts: torch.Tensor) -> torch.Tensor:
        """The ``nb_fts`` triplet features of each edge (j, k), before ``o3``."""
        best = max_over_i(self.t_1(z)[:, :, None]                   # node i
                          + project(self.t_e_1, edge_fts),           # edge (i, j)
                          project(self.t_e_2, edge_fts))             # edge (i, k)
        return (best
                + self.t_2(z)[:, :, None]                        # node j
                + self.t_3(z)[:, None, :]                        # node k
                + project(self.t_e_3, edge_fts)                  # edge (j, k)
                + self.t_g(graph_fts)[:, None, None])            # graph

    def forward(self, z: torch.Tensor, edge_fts: Features,
                graph_fts: torch.Tensor) -> torch.Tensor:
        msgs = self.o3(self.scores(z, edge_fts, graph_fts))
        return msgs if self.activation is None else self.activation(msgs)

    def sparse(self, z: torch.Tensor, edge_fts: Features, graph_fts: torch.Tensor,
               graph: SparseGraph) -> torch.Tensor:
        """The edge messages (E, out_size) on an edge list, same weights.

        The max over i runs over the triplets the graph allows: for edge
        (j, k), the nodes i with edges (i, j) and (i, k)
        (:attr:`~..segments.SparseGraph.triplets`; i = j always is one).
        The dense max runs over every node i, so the two agree on complete
        graphs (with self-loops) and differ elsewhere.
        """
        a, b, q = graph.triplets
        by_edge = project(self.t_e_1, edge_fts)                        # edge (i, j)
        first = self.t_1(z)[graph.senders[a]] + by_edge[a] + project(self.t_e_2, edge_fts)[b]
        best = segment_max(first, q, graph.num_edges)
        s, r = graph.senders, graph.receivers
        scores = (best + self.t_2(z)[s] + self.t_3(z)[r]                # nodes j, k
                  + project(self.t_e_3, edge_fts)                       # edge (j, k)
                  + self.t_g(graph_fts)[graph.edge_graph])              # graph
        msgs = self.o3(scores)
        return msgs if self.activation is None else self.activation(msgs)
