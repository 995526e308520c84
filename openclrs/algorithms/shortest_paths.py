"""Shortest paths (CLRS chapters 24 and 25): Bellman-Ford, shortest paths in
a DAG, Dijkstra, and Floyd-Warshall.

``A`` is a weighted adjacency matrix: ``A[u, v] != 0`` is an edge from ``u``
to ``v`` of that weight. Nodes the source cannot reach keep distance 0 and
point to themselves, as in the published benchmark.

The single-source searches run on Python lists and log every change of a
per-node array as ``(step, node, value)``; the hint arrays are rebuilt from
those logs at the end (``_graphs.replay``) instead of being copied at every
step. Their loops live in ``_graphs`` (``best_first_walk``, ``dag_walk``),
shared with the sparse algorithms. Bellman-Ford and Floyd-Warshall relax a whole round at once with numpy:
within one of their rounds every candidate is computed from the previous
round's values, so the vector form is the loop, not an approximation of it.
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, graph, make_trace
from . import _checks
from ._graphs import (Relaxer, as_float64, best_first, dag_hints, dag_walk, graph_inputs,
                      matrix_edges, relaxation_rounds, weight_matrix)

__all__ = ["bellman_ford", "dag_shortest_paths", "dijkstra", "floyd_warshall"]


def bellman_ford(A, s) -> Trace:
    """Bellman-Ford single-source shortest paths (Bellman, 1958; CLRS 24.1),
    one step per round of relaxing every edge out of every node reached so
    far, until a round changes no distance.

    Raises ValueError on a negative-weight cycle reachable from ``s``.
    """
    A = weight_matrix(A)
    n = A.shape[0]
    s = _checks.node(s, n, "s")
    states = []
    _, pi, _ = relaxation_rounds(Relaxer(as_float64(A)), n, s,
                                 lambda *state: states.append(state))
    ds, pis, reached = zip(*states)
    return make_trace(
        "bellman_ford",
        inputs=graph_inputs(A, s),
        hints={"pi_h": np.stack(pis), "d": np.stack(ds), "msk": np.stack(reached)},
        outputs={"pi": pi},
    )


def dijkstra(A, s) -> Trace:
    """Dijkstra's single-source shortest paths (Dijkstra, 1959; CLRS 24.3):
    one step per extracted node. Negative weights are accepted (the result
    is then not necessarily a shortest-path tree, as in the published
    generator)."""
    A = weight_matrix(A)
    s = _checks.node(s, A.shape[0], "s")
    return best_first(A, s, "dijkstra")


def dag_shortest_paths(A, s) -> Trace:
    """Shortest paths from ``s`` in a DAG (CLRS 24.2).

    Phase 0 is a depth-first search from ``s`` with the stack threaded
    through ``s_prev`` (top: ``s_last``), one step when ``s`` is first
    visited, one per discovered node and one per finished node; each
    finished node is pushed onto the front of a linked topological order
    (``topo``, head ``topo_head``). Phase 1 walks that order, one step per
    node before relaxing its out-edges, plus a final step. ``u`` and ``v``
    keep their last phase-0 values through phase 1, and ``v`` is ``n - 1``
    after a scan that found no new node, as the published loop variable is.

    Only nodes reachable from ``s`` are ordered. On a graph with cycles the
    edges back into the stack are ignored, as published.
    """
    A = weight_matrix(A)
    n = A.shape[0]
    s = _checks.node(s, n, "s")
    hints = dag_hints(n, dag_walk(n, s, *matrix_edges(as_float64(A))))
    return make_trace("dag_shortest_paths", inputs=graph_inputs(A, s), hints=hints,
                      outputs={"pi": hints["pi_h"][-1].copy()})


def floyd_warshall(A) -> Trace:
    """Floyd-Warshall all-pairs shortest paths (Floyd, 1962; CLRS 25.2), one
    step per intermediate node ``k``.

    ``Pi[i, j]`` is the predecessor of ``j`` on the best known path from
    ``i`` (``i`` itself when there is none); ``msk`` marks the pairs with a
    known path, starting from the edges and the diagonal. Distances are
    computed in ``A``'s own dtype, as the published code does.

    Raises ValueError on a negative-weight cycle (the published code returns
    tables with a negative diagonal there, which are no shortest paths).

    Each step is one vector operation: the published loop reads only the
    previous step's distances and mask, and ``Pi``'s row ``k`` cannot change
    during step ``k`` (its update would copy row ``k`` onto itself), so
    updating all pairs at once is the same computation.
    """
    A = weight_matrix(A)
    n = A.shape[0]
    # Row k of each array: the state before step k; row n: the final state.
    D_h = np.empty((n + 1, n, n), dtype=A.dtype)
    Pi_h = np.empty((n + 1, n, n), dtype=np.int64)
    known_h = np.empty((n + 1, n, n), dtype=bool)
    D_h[0] = A
    Pi_h[0] = np.arange(n)[:, None]
    known_h[0] = graph(A) > 0
    via = np.empty((n, n), dtype=bool)
    better = np.empty((n, n), dtype=bool)
    cand = np.empty((n, n), dtype=np.result_type(A, A))
    for k in range(n):
        D, Pi, known = D_h[k], Pi_h[k], known_h[k]
        np.logical_and(known[:, k, None], known[k], out=via)
        np.add(D[:, k, None], D[k], out=cand)
        np.less(cand, D, out=better)
        better |= ~known
        better &= via
        D_h[k + 1] = D
        np.copyto(D_h[k + 1], cand, where=better)
        Pi_h[k + 1] = Pi
        np.copyto(Pi_h[k + 1], Pi[k], where=better)
        np.logical_or(known, via, out=known_h[k + 1])
    # A path from a node back to itself shorter than 0 is a negative cycle:
    # then no distance through it is a shortest one. (A self-loop of weight
    # exactly -1 reads as "no edge" in the mask, A + I being 0, but it is
    # one too.)
    cycle = np.flatnonzero((np.diagonal(D_h[n]) < 0) | (np.diagonal(A) < 0))
    if len(cycle):
        raise ValueError(f"A has a negative-weight cycle (through node {int(cycle[0])}); "
                         "shortest paths are undefined, as for bellman_ford")
    return make_trace(
        "floyd_warshall",
        inputs=graph_inputs(A),
        hints={"Pi_h": Pi_h[:n], "D": D_h[:n], "msk": known_h[:n], "k": np.eye(n)},
        outputs={"Pi": Pi_h[n].copy()},
    )
