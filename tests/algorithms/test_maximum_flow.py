"""Bipartite matching against networkx's Hopcroft-Karp, a hand-worked
example, and the residual-graph invariants its hints describe."""

import networkx as nx
import numpy as np
import pytest

from openclrs.algorithms.maximum_flow import bipartite_matching


def network(edges, n, m):
    """The flow network of a bipartite graph: left nodes 1..n, right nodes
    n+1..n+m, source 0, sink n+m+1; ``edges`` are (left, right) indices
    counted from 0 on each side."""
    N = n + m + 2
    A = np.zeros((N, N))
    A[0, 1:n + 1] = 1
    A[n + 1:n + m + 1, N - 1] = 1
    for i, j in edges:
        A[1 + i, n + 1 + j] = 1
    return A


def random_edges(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    p = rng.uniform(0.1, 0.8)
    return [(i, j) for i in range(n) for j in range(m) if rng.random() < p], n, m


def matched_pairs(trace, n, m):
    M = trace.outputs["in_matching"]
    return [(i, j) for i in range(n) for j in range(m) if M[1 + i, n + 1 + j] == 1]


def nx_matching_size(edges, n, m):
    G = nx.Graph()
    G.add_nodes_from(("L", i) for i in range(n))
    G.add_nodes_from(("R", j) for j in range(m))
    G.add_edges_from((("L", i), ("R", j)) for i, j in edges)
    return len(nx.bipartite.hopcroft_karp_matching(G, [("L", i) for i in range(n)])) // 2


def test_hand_worked_example():
    # Left 0 likes right 0 and 1; left 1 only right 0; left 2 right 1 and 2.
    # Nodes: s=0, left 1-3, right 4-6, t=7. Bellman-Ford takes the first
    # shortest path in index order: s-1-4-t, then s-3-5-t; the last path
    # s-2-4-1-5-3-6-t undoes both and leaves 1-5, 2-4, 3-6.
    edges = [(0, 0), (0, 1), (1, 0), (2, 1), (2, 2)]
    trace = bipartite_matching(network(edges, 3, 3), 3, 3, 0, 7)
    assert sorted(matched_pairs(trace, 3, 3)) == [(0, 1), (1, 0), (2, 2)]
    h = trace.hints
    phase = h["phase"]
    # Three augmenting walks of 3, 3 and 7 edges, each with a first step.
    assert phase.sum() == (1 + 3) + (1 + 3) + (1 + 7)
    walk = h["u"].argmax(-1)[phase == 1].tolist()
    assert walk == [7, 4, 1, 0, 7, 5, 3, 0, 7, 6, 3, 5, 1, 4, 2, 0]
    # Unmatched pairs that were once matched are 0, never-used edges 0 too.
    M = trace.outputs["in_matching"]
    assert M[1, 4] == 0 and M[3, 5] == 0 and M[2, 4] == 1


@pytest.mark.parametrize("seed", range(40))
def test_matching_is_maximum(seed):
    edges, n, m = random_edges(seed)
    A = network(edges, n, m)
    pairs = matched_pairs(bipartite_matching(A, n, m, 0, n + m + 1), n, m)
    assert set(pairs) <= set(edges)
    assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
    assert len(pairs) == nx_matching_size(edges, n, m)


def test_hints_follow_the_residual_graph():
    edges, n, m = random_edges(5)
    A = network(edges, n, m)
    trace = bipartite_matching(A, n, m, 0, n + m + 1)
    h = trace.hints
    N = n + m + 2
    assert np.array_equal(h["A_h"][0], A)
    assert np.array_equal(h["adj_h"], ((h["A_h"] + np.eye(N)) != 0) * 1.0)
    # Each augmenting step reverses one edge, keeping the number of edges.
    edges_per_step = (h["A_h"] != 0).sum(axis=(1, 2))
    assert (edges_per_step == edges_per_step[0]).all()
    # Capacity out of the source drops by one per augmenting path.
    augmentations = len(matched_pairs(trace, n, m))
    assert h["A_h"][-1][0].sum() == A[0].sum() - augmentations
    # in_matching: -1 where neither direction is an edge, never -1 elsewhere.
    M = trace.outputs["in_matching"]
    either = ((A != 0) | (A.T != 0) | np.eye(N, dtype=bool))
    assert ((M == -1) == ~either).all()
