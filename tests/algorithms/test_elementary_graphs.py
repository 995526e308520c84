"""Chapter 22 graph algorithms against independent truths.

networkx gives BFS distances, DFS visiting orders, topological orders,
articulation points, bridges and strongly connected components; the
textbook's worked examples (CLRS 3rd ed. figures 22.3, 22.4, 22.7, 22.9)
pin down exact times. Parity with the published traces is tested in
tests/test_parity.py.
"""

import networkx as nx
import numpy as np
import pytest

from openclrs.algorithms import elementary_graphs as eg
from tests.graph_helpers import nx_graph, random_graph


def graphs(directed, *, acyclic=False, count=25, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(1, 20))
        p = [0.05, 0.15, 0.3, 0.6][i % 4]
        yield random_graph(rng, n, p, directed=directed, acyclic=acyclic, weights=None,
                           self_loops=bool(i % 3 == 0) and not acyclic)


def times(d):
    """Clock values (multiples of 0.01) as integer ticks."""
    return np.rint(np.asarray(d) / 0.01).astype(int)


# ---------------------------------------------------------------- BFS


@pytest.mark.parametrize("directed", [False, True])
def test_bfs_layers_and_parents_match_networkx(directed):
    rng = np.random.default_rng(1)
    for A in graphs(directed, seed=2):
        n = len(A)
        s = int(rng.integers(n))
        trace = eg.bfs(A, s)
        dist = nx.single_source_shortest_path_length(nx_graph(A, directed), s)
        reach = trace.hints["reach_h"]
        # One step per layer, plus one that finds nothing new.
        assert trace.length == max(dist.values()) + 1
        for j in range(n):
            first = np.flatnonzero(reach[:, j])
            if j in dist:
                assert first[0] == dist[j] and reach[-1, j] == 1
            else:
                assert len(first) == 0
        pi = trace.outputs["pi"]
        for j in range(n):
            if j == s or j not in dist:
                assert pi[j] == j
            else:  # the lowest-numbered parent one layer up
                parents = [i for i in dist if dist[i] == dist[j] - 1 and A[i, j] > 0]
                assert pi[j] == min(parents)
        np.testing.assert_array_equal(trace.hints["pi_h"][-1], pi)


def test_bfs_textbook_figure_22_3():
    r, s, t, u, v, w, x, y = range(8)
    A = np.zeros((8, 8))
    for a, b in [(r, s), (r, v), (s, w), (w, t), (w, x), (t, x), (t, u), (x, u), (x, y),
                 (u, y)]:
        A[a, b] = A[b, a] = 1
    trace = eg.bfs(A, s)
    dist = trace.hints["reach_h"].shape[0] - trace.hints["reach_h"].sum(axis=0)
    np.testing.assert_array_equal(dist, [1, 0, 2, 3, 2, 1, 2, 3])
    assert trace.length == 4
    np.testing.assert_array_equal(trace.outputs["pi"], [s, s, w, t, r, s, w, x])


def test_bfs_uses_only_positive_entries():
    A = np.array([[0, -1.0, 0.5], [0, 0, 0], [0, 0, 0]])
    trace = eg.bfs(A, 0)
    np.testing.assert_array_equal(trace.hints["reach_h"][-1], [1, 0, 1])


# ---------------------------------------------------------------- DFS


def test_dfs_forest_and_times_match_networkx():
    for directed in (True, False):
        for A in graphs(directed, seed=3):
            n = len(A)
            trace = eg.dfs(A)
            G = nx_graph(A, directed)
            d, f = times(trace.hints["d"][-1]), times(trace.hints["f"][-1])
            # Discovery and finishing times are the ticks 1..2n, each used once.
            assert sorted(np.concatenate([d, f])) == list(range(1, 2 * n + 1))
            # networkx visits neighbours in increasing order too, so the
            # orders and the forest are the same.
            assert list(np.argsort(d)) == list(nx.dfs_preorder_nodes(G))
            assert list(np.argsort(f)) == list(nx.dfs_postorder_nodes(G))
            pi = trace.outputs["pi"]
            expected = np.arange(n)
            for a, b in nx.dfs_edges(G):
                expected[b] = a
            np.testing.assert_array_equal(pi, expected)
            # Parenthesis theorem: v descends from u iff u's interval holds v's.
            for v in range(n):
                ancestors = set()
                a = v
                while pi[a] != a:
                    a = pi[a]
                    ancestors.add(int(a))
                for u in range(n):
                    nested = d[u] < d[v] < f[v] < f[u]
                    disjoint = f[u] < d[v] or f[v] < d[u]
                    assert nested == (u in ancestors)
                    assert nested or disjoint or u == v or d[v] < d[u] < f[u] < f[v]
            # No edge leads to a node discovered after its tail finished.
            for a, b in zip(*np.nonzero(A)):
                assert d[b] < f[a]


def test_dfs_textbook_figure_22_4():
    u, v, w, x, y, z = range(6)
    A = np.zeros((6, 6))
    for a, b in [(u, v), (u, x), (v, y), (w, y), (w, z), (x, v), (y, x), (z, z)]:
        A[a, b] = 1
    trace = eg.dfs(A)
    np.testing.assert_array_equal(times(trace.hints["d"][-1]), [1, 2, 9, 4, 3, 10])
    np.testing.assert_array_equal(times(trace.hints["f"][-1]), [8, 7, 12, 5, 6, 11])
    np.testing.assert_array_equal(trace.outputs["pi"], [u, u, w, y, v, w])
    assert trace.length == 3 * 6  # a step per discovery, tree edge or finish, and per root
    np.testing.assert_allclose(trace.hints["time"][-1], 0.12, rtol=0, atol=1e-12)


def test_dfs_step_structure():
    A = random_graph(np.random.default_rng(4), 12, 0.2, weights=None)
    trace = eg.dfs(A)
    h = trace.hints
    assert trace.length == 3 * 12
    # Colours only darken, one node at a time.
    color = h["color"].argmax(axis=-1)
    assert (np.diff(color, axis=0) >= 0).all()
    assert (np.abs(np.diff(color, axis=0)).sum(axis=1) <= 1).all()
    np.testing.assert_array_equal(color[-1], 2)
    # The clock never runs backwards and the stack ends empty.
    assert (np.diff(h["time"]) >= 0).all()
    np.testing.assert_array_equal(h["s_prev"][-1], np.arange(12))


# ---------------------------------------------------------------- topological sort


def linked_order(trace):
    """The list threaded through ``topo`` from ``topo_head`` (at most n long)."""
    order = [int(np.argmax(trace.outputs["topo_head"]))]
    topo = trace.outputs["topo"]
    while topo[order[-1]] != order[-1] and len(order) <= len(topo):
        order.append(int(topo[order[-1]]))
    return order


def test_topological_sort_is_valid_and_matches_dfs_finishing_order():
    for A in graphs(True, acyclic=True, seed=5):
        n = len(A)
        trace = eg.topological_sort(A)
        order = linked_order(trace)
        assert sorted(order) == list(range(n))
        position = {v: i for i, v in enumerate(order)}
        for a, b in zip(*np.nonzero(A)):
            assert position[a] < position[b]
        G = nx_graph(A, True)
        assert nx.is_directed_acyclic_graph(G)
        assert order == list(reversed(list(nx.dfs_postorder_nodes(G))))
        roots = n - len(list(nx.dfs_edges(G)))
        assert trace.length == 2 * n + roots  # roots are the only nodes "discovered"
        np.testing.assert_array_equal(trace.hints["topo_h"][-1], trace.outputs["topo"])


def test_topological_sort_textbook_figure_22_7():
    names = ["undershorts", "pants", "belt", "shirt", "tie", "jacket", "socks", "shoes",
             "watch"]
    ix = {k: i for i, k in enumerate(names)}
    A = np.zeros((9, 9))
    for a, b in [("undershorts", "pants"), ("undershorts", "shoes"), ("pants", "belt"),
                 ("pants", "shoes"), ("belt", "jacket"), ("shirt", "belt"), ("shirt", "tie"),
                 ("tie", "jacket"), ("socks", "shoes")]:
        A[ix[a], ix[b]] = 1
    order = [names[i] for i in linked_order(eg.topological_sort(A))]
    assert order == ["watch", "socks", "shirt", "tie", "undershorts", "pants", "shoes",
                     "belt", "jacket"]


# ---------------------------------------------------------------- cut vertices, bridges


def test_articulation_points_match_networkx():
    for A in graphs(False, seed=6, count=40):
        trace = eg.articulation_points(A)
        G = nx_graph(A, False)
        G.remove_edges_from(nx.selfloop_edges(G))
        expected = sorted(nx.articulation_points(G))
        assert list(np.flatnonzero(trace.outputs["is_cut"])) == expected
        np.testing.assert_array_equal(trace.hints["is_cut_h"][-1], trace.outputs["is_cut"])
        # A node's low value never exceeds its discovery time.
        assert (trace.hints["low"][-1] <= trace.hints["d"][-1] + 1e-12).all()


def test_bridges_match_networkx():
    for A in graphs(False, seed=7, count=40):
        n = len(A)
        trace = eg.bridges(A)
        G = nx_graph(A, False)
        G.remove_edges_from(nx.selfloop_edges(G))
        expected = np.where((A != 0) | np.eye(n, dtype=bool), 0.0, -1.0)
        for a, b in nx.bridges(G):
            expected[a, b] = expected[b, a] = 1.0
        np.testing.assert_array_equal(trace.outputs["is_bridge"], expected)
        np.testing.assert_array_equal(trace.hints["is_bridge_h"][-1], expected)
        # Bridges only ever get added.
        assert (np.diff(trace.hints["is_bridge_h"], axis=0) >= 0).all()


def test_cut_vertices_and_bridges_by_hand():
    # A path 0-1-2 hanging off the triangle 2-3-4, and an isolated node 5.
    A = np.zeros((6, 6))
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 2)]:
        A[a, b] = A[b, a] = 1
    assert list(np.flatnonzero(eg.articulation_points(A).outputs["is_cut"])) == [1, 2]
    bridge = eg.bridges(A).outputs["is_bridge"]
    assert sorted(zip(*np.nonzero(bridge == 1))) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    # A root is a cut vertex exactly when it has two or more children.
    star = np.zeros((4, 4))
    star[0, 1:] = star[1:, 0] = 1
    trace = eg.articulation_points(star)
    assert list(np.flatnonzero(trace.outputs["is_cut"])) == [0]
    np.testing.assert_allclose(trace.hints["child_cnt"][-1], [0.03, 0, 0, 0])


# ---------------------------------------------------------------- SCC


def test_strongly_connected_components_match_networkx():
    for A in graphs(True, seed=8, count=40):
        n = len(A)
        trace = eg.strongly_connected_components(A)
        scc_id = trace.outputs["scc_id"]
        components = {frozenset(c) for c in nx.strongly_connected_components(nx_graph(A, True))}
        ours = {}
        for v in range(n):
            ours.setdefault(int(scc_id[v]), set()).add(v)
        assert {frozenset(c) for c in ours.values()} == components
        for root, members in ours.items():
            assert root in members  # labelled by the root of its second-pass tree
        assert trace.length == 5 * n + len(components)
        phase = trace.hints["phase"]
        assert phase[0] == 0 and phase[-1] == 1 and (np.diff(phase) >= 0).all()
        assert (phase == 0).sum() == 3 * n
        np.testing.assert_array_equal(trace.hints["A_t"][0], (A.T != 0) | np.eye(n, dtype=bool))


def test_strongly_connected_components_textbook_figure_22_9():
    a, b, c, d, e, f, g, h = range(8)
    A = np.zeros((8, 8))
    for x, y in [(a, b), (b, c), (b, e), (b, f), (c, d), (c, g), (d, c), (d, h), (e, a),
                 (e, f), (f, g), (g, f), (g, h), (h, h)]:
        A[x, y] = 1
    # First pass from a finishes a last; the transpose pass then takes
    # roots a, c, g, h in turn.
    np.testing.assert_array_equal(eg.strongly_connected_components(A).outputs["scc_id"],
                                  [a, a, c, c, a, g, g, h])


# ---------------------------------------------------------------- all six
