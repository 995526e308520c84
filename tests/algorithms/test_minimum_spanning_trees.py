"""Minimum spanning trees against networkx, the CLRS textbook example and
the union-find / queue invariants their hints describe."""

import networkx as nx
import numpy as np
import pytest

from openclrs.algorithms.minimum_spanning_trees import mst_kruskal, mst_prim
from tests.graph_helpers import nx_graph, random_graph


def forest_weight(G):
    return nx.minimum_spanning_tree(G).size(weight="weight")


def clrs_figure_23_1():
    """The 9-node graph of CLRS Figure 23.1 (a..i); its MSTs weigh 37."""
    names = "abcdefghi"
    edges = {"ab": 4, "ah": 8, "bc": 8, "bh": 11, "cd": 7, "cf": 4, "ci": 2, "de": 9,
             "df": 14, "ef": 10, "fg": 2, "gh": 1, "gi": 6, "hi": 7}
    A = np.zeros((9, 9))
    for (x, y), w in edges.items():
        A[names.index(x), names.index(y)] = A[names.index(y), names.index(x)] = w
    return A


def prim_tree_weight(A, pi):
    return sum(A[pi[v], v] for v in range(len(pi)) if pi[v] != v)


# ---------------------------------------------------------------- Kruskal

def test_kruskal_clrs_figure_23_1():
    A = clrs_figure_23_1()
    in_mst = mst_kruskal(A).outputs["in_mst"]
    assert (in_mst == in_mst.T).all()
    assert in_mst.sum() / 2 == 8
    assert (A * in_mst).sum() / 2 == 37


@pytest.mark.parametrize("seed", range(40))
def test_kruskal_is_a_minimum_spanning_forest(seed):
    A = random_graph(seed, directed=False, weights="ties" if seed % 2 == 1 else (0.05, 1.0))
    G = nx_graph(A, directed=False)
    in_mst = mst_kruskal(A).outputs["in_mst"]
    assert (in_mst == in_mst.T).all() and (in_mst[A == 0] == 0).all()
    chosen = nx.Graph(list(zip(*np.nonzero(np.triu(in_mst, 1)))))
    chosen.add_nodes_from(range(len(A)))
    assert nx.is_forest(chosen)
    assert nx.number_connected_components(chosen) == nx.number_connected_components(G)
    assert np.isclose((A * in_mst).sum() / 2, forest_weight(G))


def test_kruskal_hints_describe_union_find():
    A = random_graph(7, 12, 0.6, directed=False)
    trace = mst_kruskal(A)
    h = trace.hints
    edges = int((np.triu(A, 1) > 0).sum())
    phase = h["phase"].argmax(-1)
    # One closing step (phase 0) per edge, after the initial step.
    assert (phase[1:] == 0).sum() == edges
    assert (h["in_mst_h"][-1] == trace.outputs["in_mst"]).all()
    assert h["in_mst_h"][0].sum() == 0 and (h["pi"][0] == np.arange(12)).all()
    # Tree edges only ever get added.
    assert (np.diff(h["in_mst_h"].sum(axis=(1, 2))) >= 0).all()
    # Roots are roots of the pointer forest at every closing step.
    for t in np.flatnonzero(phase == 0)[1:]:
        pi = h["pi"][t]
        for root in (h["root_u"][t].argmax(), h["root_v"][t].argmax()):
            top = root
            while pi[top] != top:
                top = pi[top]
            assert pi[root] in (root, top)
    # The final pointer forest groups nodes as the tree does.
    pi = h["pi"][-1]

    def find(x):
        while pi[x] != x:
            x = pi[x]
        return x
    components = nx.connected_components(nx_graph(A, directed=False))
    for comp in components:
        assert len({find(x) for x in comp}) == 1


# ---------------------------------------------------------------- Prim

def test_prim_clrs_figure_23_1():
    A = clrs_figure_23_1()
    trace = mst_prim(A, 0)
    pi = trace.outputs["pi"]
    assert prim_tree_weight(A, pi) == 37
    assert pi[0] == 0 and (pi[1:] != np.arange(1, 9)).all()
    # a is taken first, then one node per step.
    assert trace.hints["u"].argmax(-1)[:2].tolist() == [0, 0]
    assert trace.length == 10


@pytest.mark.parametrize("seed", range(40))
def test_prim_spans_the_source_component_minimally(seed):
    A = random_graph(seed, directed=False, weights="ties" if seed % 3 == 0 else (0.05, 1.0))
    n = len(A)
    s = seed % n
    G = nx_graph(A, directed=False)
    pi = mst_prim(A, s).outputs["pi"]
    comp = nx.node_connected_component(G, s)
    for v in range(n):
        if v not in comp or v == s:
            assert pi[v] == v
        else:
            assert A[pi[v], v] != 0
            x, seen = v, set()
            while x != s:  # every node of the component hangs from s
                assert x not in seen
                seen.add(x)
                x = pi[x]
    assert np.isclose(prim_tree_weight(A, pi), forest_weight(G.subgraph(comp)))


def test_prim_hints_describe_the_queue():
    A = random_graph(3, 10, 0.5, directed=False)
    trace = mst_prim(A, 4)
    h = trace.hints
    mark, queued = h["mark"], h["in_queue"]
    assert not (mark.astype(bool) & queued.astype(bool)).any()
    assert (np.diff(mark, axis=0) >= 0).all()  # marked nodes stay marked
    # Each step marks exactly the extracted node, the one with the smallest key.
    for t in range(1, trace.length):
        u = h["u"][t].argmax()
        assert (mark[t] - mark[t - 1]).tolist() == np.eye(10)[u].tolist()
        waiting = np.flatnonzero(queued[t - 1])
        assert h["key"][t - 1][u] == h["key"][t - 1][waiting].min()


# ---------------------------------------------------------------- both
