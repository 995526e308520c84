"""Shortest paths against networkx, the CLRS textbook examples, and the
invariants their hints describe."""

import networkx as nx
import numpy as np
import pytest

from openclrs.algorithms.shortest_paths import (bellman_ford, dag_shortest_paths, dijkstra,
                                                floyd_warshall)
from openclrs.probes import validate_trace
from tests.graph_helpers import nx_graph, random_graph

S, T, X, Y, Z = range(5)  # node names of CLRS Figures 24.4 and 24.6


def tree_distances(A, pi, s):
    """Distances along the pointer tree; None for nodes outside it."""
    out = {}
    for v in range(len(pi)):
        total, x, hops = 0.0, v, 0
        while x != s and pi[x] != x and hops <= len(pi):
            total += A[pi[x], x]
            x, hops = pi[x], hops + 1
        out[v] = total if x == s else None
    return out


def check_single_source(A, s, pi, expected):
    """``pi`` is a shortest-path tree from ``s``: reachable nodes get the
    networkx distance along it, the others point to themselves."""
    got = tree_distances(A, pi, s)
    for v in range(len(A)):
        if v in expected:
            assert got[v] is not None and np.isclose(got[v], expected[v]), v
        else:
            assert pi[v] == v


# ---------------------------------------------------------------- Bellman-Ford

def clrs_figure_24_4():
    A = np.zeros((5, 5))
    for u, v, w in [(S, T, 6), (S, Y, 7), (T, X, 5), (T, Y, 8), (T, Z, -4), (X, T, -2),
                    (Y, X, -3), (Y, Z, 9), (Z, S, 2), (Z, X, 7)]:
        A[u, v] = w
    return A


def test_bellman_ford_clrs_figure_24_4():
    A = clrs_figure_24_4()
    trace = bellman_ford(A, S)
    assert trace.hints["d"][-1].tolist() == [0, 2, 4, 7, -2]
    assert trace.outputs["pi"].tolist() == [S, X, Y, S, T]


@pytest.mark.parametrize("seed", range(30))
def test_bellman_ford_matches_networkx(seed):
    low = -1.0 if seed % 3 == 0 else 0.05  # negative weights on DAGs only
    A = random_graph(seed, acyclic=low < 0, weights=(low, 1.0))
    s = seed % len(A)
    expected = nx.single_source_bellman_ford_path_length(nx_graph(A), s)
    trace = bellman_ford(A, s)
    check_single_source(A, s, trace.outputs["pi"], expected)
    d, reached = trace.hints["d"][-1], trace.hints["msk"][-1]
    assert set(np.flatnonzero(reached).tolist()) == set(expected)
    assert np.allclose([d[v] for v in expected], [expected[v] for v in expected])
    assert trace.length <= len(A)


@pytest.mark.parametrize("run", [lambda A: bellman_ford(A, S), floyd_warshall])
def test_negative_cycles_are_refused(run):
    A = clrs_figure_24_4()
    A[Z, X] = -7
    with pytest.raises(ValueError, match="negative-weight cycle"):
        run(A)
    for loop in (-1.0, -0.5):  # -1 cancels the identity in the adj mask
        with pytest.raises(ValueError, match="negative-weight cycle"):
            run(np.array([[loop]]))  # S is node 0
    # negative weights without a negative cycle are fine (CLRS figure 24.4)
    validate_trace(run(clrs_figure_24_4()))


# ---------------------------------------------------------------- Dijkstra

def clrs_figure_24_6():
    A = np.zeros((5, 5))
    for u, v, w in [(S, T, 10), (S, Y, 5), (T, X, 1), (T, Y, 2), (X, Z, 4), (Y, T, 3),
                    (Y, X, 9), (Y, Z, 2), (Z, S, 7), (Z, X, 6)]:
        A[u, v] = w
    return A


def test_dijkstra_clrs_figure_24_6():
    trace = dijkstra(clrs_figure_24_6(), S)
    assert trace.hints["d"][-1].tolist() == [0, 8, 9, 5, 7]
    assert trace.outputs["pi"].tolist() == [S, Y, T, S, Y]
    # Extraction order of the figure: s, y, z, t, x.
    assert trace.hints["u"].argmax(-1).tolist() == [S, S, Y, Z, T, X]


@pytest.mark.parametrize("seed", range(30))
def test_dijkstra_matches_networkx(seed):
    A = random_graph(seed, directed=seed % 2 == 0)
    s = seed % len(A)
    expected = nx.single_source_dijkstra_path_length(nx_graph(A), s)
    trace = dijkstra(A, s)
    check_single_source(A, s, trace.outputs["pi"], expected)
    assert trace.length == len(expected) + 1  # one step per reachable node
    assert set(np.flatnonzero(trace.hints["mark"][-1]).tolist()) == set(expected)


def test_dijkstra_extracts_in_distance_order():
    A = random_graph(5, 15, 0.4)
    trace = dijkstra(A, 2)
    d = trace.hints["d"][-1]
    order = trace.hints["u"].argmax(-1)[1:]
    assert (np.diff(d[order]) >= 0).all()
    assert not (trace.hints["mark"].astype(bool) & trace.hints["in_queue"].astype(bool)).any()


# ---------------------------------------------------------------- DAG

def clrs_figure_24_5():
    R, S_, T_, X_, Y_, Z_ = range(6)
    A = np.zeros((6, 6))
    for u, v, w in [(R, S_, 5), (R, T_, 3), (S_, T_, 2), (S_, X_, 6), (T_, X_, 7),
                    (T_, Y_, 4), (T_, Z_, 2), (X_, Y_, -1), (X_, Z_, 1), (Y_, Z_, -2)]:
        A[u, v] = w
    return A


def test_dag_shortest_paths_clrs_figure_24_5():
    trace = dag_shortest_paths(clrs_figure_24_5(), 1)
    assert trace.hints["d"][-1].tolist() == [0, 0, 2, 6, 5, 3]  # r unreachable
    assert trace.outputs["pi"].tolist() == [0, 1, 1, 1, 3, 4]
    phase = trace.hints["phase"]
    assert phase[0] == 0 and phase[-1] == 1 and (np.diff(phase) >= 0).all()


@pytest.mark.parametrize("seed", range(30))
def test_dag_shortest_paths_matches_networkx(seed):
    A = random_graph(seed, acyclic=True, weights=(-1.0 if seed % 2 else 0.05, 1.0))
    s = seed % len(A)
    expected = nx.single_source_bellman_ford_path_length(nx_graph(A), s)
    trace = dag_shortest_paths(A, s)
    check_single_source(A, s, trace.outputs["pi"], expected)


def test_dag_shortest_paths_topological_order():
    A = random_graph(9, 14, 0.5, acyclic=True)
    trace = dag_shortest_paths(A, 0)
    h = trace.hints
    walk = h["phase"] == 0
    topo, head = h["topo_h"][walk][-1], h["topo_head_h"][walk][-1].argmax()
    order = [head]
    while topo[order[-1]] != order[-1]:
        order.append(topo[order[-1]])
    reachable = nx.descendants(nx_graph(A), 0) | {0}
    assert set(order) == reachable and len(order) == len(reachable)
    position = {v: i for i, v in enumerate(order)}
    for u, v in zip(*np.nonzero(A)):
        if u in position:
            assert position[u] < position[v]
    # Every reachable node is black at the end of the walk, the rest white.
    color = h["color"][walk][-1].argmax(-1)
    assert all(color[v] == (2 if v in reachable else 0) for v in range(14))


# ---------------------------------------------------------------- Floyd-Warshall

def fw_distance(A, Pi, i, j):
    total, x, hops = 0.0, j, 0
    while x != i:
        total += A[Pi[i, x], x]
        x, hops = Pi[i, x], hops + 1
        assert hops <= len(A)
    return total


@pytest.mark.parametrize("seed", range(30))
def test_floyd_warshall_matches_networkx(seed):
    A = random_graph(seed, directed=seed % 2 == 0)
    expected = dict(nx.all_pairs_dijkstra_path_length(nx_graph(A)))
    trace = floyd_warshall(A)
    Pi = trace.outputs["Pi"]
    n = len(A)
    for i in range(n):
        for j in range(n):
            if j in expected[i] and i != j:
                assert np.isclose(fw_distance(A, Pi, i, j), expected[i][j])
            elif i != j:
                assert Pi[i, j] == i
    assert trace.length == n and (trace.hints["k"] == np.eye(n)).all()


def test_floyd_warshall_hints_are_the_textbook_matrices():
    """D after step k holds shortest distances through nodes 0..k only."""
    A = random_graph(4, 7, 0.5)
    trace = floyd_warshall(A)
    D, msk = trace.hints["D"], trace.hints["msk"]
    W = np.where((A != 0) | np.eye(7, dtype=bool), A, np.inf)
    ref = W.copy()
    for k in range(6):
        ref = np.minimum(ref, ref[:, k, None] + ref[None, k, :])
        known = np.isfinite(ref)
        assert (msk[k + 1].astype(bool) == known).all()
        assert np.allclose(D[k + 1][known], ref[known])
