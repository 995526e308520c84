"""The depth-first algorithms on edge lists, producing sparse traces
directly: dfs, topological_sort, articulation_points, bridges,
strongly_connected_components and dag_shortest_paths.

The searches are the dense engine's own: ``elementary_graphs.StackDfs``
(the stack threaded through ``s_prev``) walking each node's sorted
out-neighbour list with a cursor in it (``ListNeighbours``, O(E) per pass)
instead of an ``n``-bit neighbour mask, and logging every change as (step,
cell, value) instead of copying all per-node hints at every step (the hint
arrays are rebuilt at the end by ``_graphs.replay``); with ``hints=False``
nothing is logged and memory stays O(n + E). ``dag_shortest_paths`` runs
the dense engine's own walk (``_graphs.dag_walk``) on the edge list.
"""

from __future__ import annotations

import numpy as np

from ..probes import one_hot
from ..sparse import Graph, SparseTrace, edge_index_of, make_sparse_trace
from . import _checks
from ._graphs import dag_hints, dag_walk, neighbour_lists
from .elementary_graphs import BRIDGES, CHANGES, COUNT, CUTS, ListNeighbours, StackDfs
from .sparse_graphs import checked_graph, edge_inputs


def _search(graph: Graph, names: tuple[str, ...], hints: bool, **walk) -> tuple:
    n = graph.num_nodes
    search = StackDfs(n, names, CHANGES if hints else COUNT)
    search.walk(ListNeighbours(neighbour_lists(n, graph.senders, graph.receivers)), range(n),
                **walk)
    senders, receivers, inputs = edge_inputs(graph)
    return search, senders, receivers, inputs


def dfs(graph: Graph, hints: bool = True) -> SparseTrace:
    """Depth-first search from every white node in index order."""
    graph = checked_graph(graph)
    search, senders, receivers, inputs = _search(
        graph, ("pi_h", "color", "d", "f", "s_prev"), hints)
    return make_sparse_trace("dfs", graph.num_nodes, senders, receivers, inputs,
                             search.hints() if hints else None,
                             {"pi": search.values("pi_h")}, search.steps)


def topological_sort(graph: Graph, hints: bool = True) -> SparseTrace:
    """Topological sort by depth-first search (finished nodes to the front
    of a linked list)."""
    graph = checked_graph(graph)
    search, senders, receivers, inputs = _search(
        graph, ("topo_h", "color", "s_prev"), hints, timed=False, topo=True)
    return make_sparse_trace(
        "topological_sort", graph.num_nodes, senders, receivers, inputs,
        search.hints("topo_head_h") if hints else None,
        {"topo": search.values("topo_h"), "topo_head": one_hot(search.head, graph.num_nodes)},
        search.steps)


def articulation_points(graph: Graph, hints: bool = True) -> SparseTrace:
    """Cut vertices by DFS low values."""
    graph = checked_graph(graph)
    search, senders, receivers, inputs = _search(
        graph, ("is_cut_h", "pi_h", "color", "d", "f", "low", "child_cnt", "s_prev"),
        hints, edges=CUTS)
    return make_sparse_trace("articulation_points", graph.num_nodes, senders, receivers,
                             inputs, search.hints() if hints else None,
                             {"is_cut": search.values("is_cut_h")}, search.steps)


def bridges(graph: Graph, hints: bool = True) -> SparseTrace:
    """Bridges by DFS low values; ``is_bridge`` is 1 on bridges (both
    directions), 0 on the other edges of ``adj`` and -1 on the reverse
    edges the trace adds to a directed graph (masked, as off-edge cells are
    in the dense trace)."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    search, senders, receivers, inputs = _search(
        graph, ("pi_h", "color", "d", "f", "low", "s_prev"), hints, edges=BRIDGES)
    is_bridge = inputs["adj"] - 1.0
    log = search.bridge_log
    if log:
        t, a, b = (np.array(x) for x in zip(*log))
        both = np.concatenate([edge_index_of(senders, receivers, n, a, b),
                               edge_index_of(senders, receivers, n, b, a)])
        is_bridge[both] = 1.0
    hint_store = None
    if hints:
        hint_store = search.hints()
        is_bridge_h = np.empty((search.steps, len(senders)))
        is_bridge_h[:] = inputs["adj"] - 1.0
        if log:
            for step, e in zip(np.concatenate([t, t]).tolist(), both.tolist()):
                is_bridge_h[step:, e] = 1.0
        hint_store["is_bridge_h"] = is_bridge_h
    return make_sparse_trace("bridges", n, senders, receivers, inputs, hint_store,
                             {"is_bridge": is_bridge}, search.steps)


def strongly_connected_components(graph: Graph, hints: bool = True) -> SparseTrace:
    """Kosaraju's algorithm: a DFS of the graph, then of its transpose
    taking roots by decreasing finishing time."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    search, senders, receivers, inputs = _search(
        graph, ("scc_id_h", "color", "d", "f", "s_prev"), hints)
    by_receiver = np.lexsort((graph.senders, graph.receivers))
    search.restart()
    search.walk(ListNeighbours(neighbour_lists(n, graph.receivers[by_receiver],
                                               graph.senders[by_receiver])),
                search.finished[::-1], scc=True)
    hint_store = None
    if hints:
        hint_store = search.hints(phase=True)
        # A_t on edge (i, j) is adj at (j, i): the reverse edge's value.
        reverse = edge_index_of(senders, receivers, n, receivers, senders)
        hint_store["A_t"] = np.broadcast_to(inputs["adj"][reverse],
                                            (search.steps, len(senders))).copy()
    return make_sparse_trace("strongly_connected_components", n, senders, receivers,
                             inputs, hint_store, {"scc_id": search.values("scc_id_h")},
                             search.steps)


def dag_shortest_paths(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """Shortest paths from ``s`` in a DAG: a depth-first search from ``s``
    threading finished nodes into a topological list (phase 0), then the
    list walked in order relaxing out-edges (phase 1); the dense
    ``dag_shortest_paths`` step for step."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    s = _checks.node(s, n, "s")
    walk = dag_walk(n, s, graph.senders, graph.receivers, graph.weights, keep=hints)
    senders, receivers, inputs = edge_inputs(graph)
    inputs["s"] = one_hot(s, n)
    return make_sparse_trace("dag_shortest_paths", n, senders, receivers, inputs,
                             dag_hints(n, walk) if hints else None,
                             {"pi": np.array(walk.pi)}, walk.steps)
