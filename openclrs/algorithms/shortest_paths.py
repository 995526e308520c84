"""Shortest paths (CLRS chapters 24 and 25): Bellman-Ford, shortest paths in
a DAG, Dijkstra, and Floyd-Warshall.

``A`` is a weighted adjacency matrix: ``A[u, v] != 0`` is an edge from ``u``
to ``v`` of that weight. Nodes the source cannot reach keep distance 0 and
point to themselves, as in the published benchmark.

The single-source searches run on Python lists and log every change of a
per-node array as ``(step, node, value)``; the hint arrays are rebuilt from
those logs at the end (``_graphs.replay``) instead of being copied at every
step. Bellman-Ford and Floyd-Warshall relax a whole round at once with numpy:
within one of their rounds every candidate is computed from the previous
round's values, so the vector form is the loop, not an approximation of it.
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, graph, make_trace, one_hots
from . import _checks
from ._graphs import (Relaxer, adjacency_lists, as_float64, best_first, graph_inputs,
                      replay, split_blocks, weight_matrix)

__all__ = ["bellman_ford", "dag_shortest_paths", "dijkstra", "floyd_warshall"]


def _bellman_ford_rounds(W: np.ndarray, s: int, on_round=None):
    """Rounds of relaxation from ``s`` until the distances stop changing.
    Calls ``on_round(d, pi, reached)`` with the state before each round, and
    returns the state after the last one (pointers can still move in that
    round when a first candidate equals the initial distance 0).

    With no negative cycle reachable from ``s`` the distances settle within
    ``n - 1`` changing rounds (round ``r`` leaves the best walks of at most
    ``r`` edges). More than ``n`` changing rounds (one spare, for rounding)
    mean a negative cycle, on which the published loop never ends, so it
    raises instead.
    """
    n = W.shape[0]
    relax = Relaxer(W)
    d = np.zeros(n)
    pi = np.arange(n)
    reached = np.zeros(n, dtype=bool)
    reached[s] = True
    for _ in range(n + 1):
        if on_round is not None:
            on_round(d, pi, reached)
        new_d, pi, reached = relax(d, pi, reached)
        if (new_d == d).all():
            return d, pi, reached
        d = new_d
    raise ValueError("A has a negative-weight cycle reachable from s; "
                     "Bellman-Ford (as published) would never terminate")


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
    _, pi, _ = _bellman_ford_rounds(as_float64(A), s,
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
    W = as_float64(A)
    starts, targets, weights = adjacency_lists(W)

    # Every change of a per-node array is logged as (step, cell, value), the
    # arrays being blocks of cells: pi, d, topo, s_prev, color (see replay).
    PI, D, TOPO, PREV, COLOR = (k * n for k in range(5))
    ev_t, ev_c, ev_x = [], [], []
    heads, us, vs, lasts = [], [], [], []  # per-step scalars

    color = [0] * n
    topo = list(range(n))
    s_prev = list(range(n))
    scan = starts[:n]  # each node's next out-edge to look at
    topo_head = 0
    u = v = s_last = s

    def record():
        heads.append(topo_head)
        us.append(u)
        vs.append(v)
        lasts.append(s_last)

    def log(cell, value):
        ev_t.append(len(heads))
        ev_c.append(cell)
        ev_x.append(value)

    record()
    while True:
        if color[u] == 0:
            color[u] = 1
            log(COLOR + u, 1)
            record()
        end = starts[u + 1]
        k = scan[u]
        while k < end and color[targets[k]] != 0:
            k += 1
        scan[u] = k
        if k < end:
            v = targets[k]
            color[v] = 1
            log(COLOR + v, 1)
            s_prev[v] = s_last
            log(PREV + v, s_last)
            s_last = v
            record()
        else:
            v = n - 1
        if s_last == u:
            color[u] = 2
            log(COLOR + u, 2)
            if color[topo_head] == 2:
                topo[u] = topo_head
                log(TOPO + u, topo_head)
            topo_head = u
            record()
            if s_prev[u] == u:
                break
            below = s_prev[s_last]
            s_prev[s_last] = s_last
            log(PREV + s_last, s_last)
            s_last = below
        u = s_last
    walk_from = len(heads)

    # Phase 1: relax out-edges in topological order.
    d = [0.0] * n
    marked_at = [-1] * n  # step from which a node is marked (-1: never)
    marked_at[topo_head] = walk_from
    while topo[topo_head] != topo_head:
        i = topo_head
        if marked_at[i] < 0:
            marked_at[i] = len(heads)
        record()
        t = len(heads)
        for k in range(starts[i], starts[i + 1]):
            j = targets[k]
            new = d[i] + weights[k]  # d[i] itself moves on a negative self-loop
            if marked_at[j] < 0 or new < d[j]:
                d[j] = new
                if marked_at[j] < 0:
                    marked_at[j] = t
                ev_t.extend((t, t))
                ev_c.extend((D + j, PI + j))
                ev_x.extend((new, i))
        topo_head = topo[topo_head]
    record()

    steps = len(heads)
    identity = np.arange(n)
    pi_h, d_h, topo_h, prev_h, color_h = split_blocks(
        replay(np.concatenate([identity, np.zeros(n), identity, identity, np.zeros(n)]),
                steps, ev_t, ev_c, ev_x),
        n, np.int64, np.float64, np.int64, np.int64, np.intp)
    marked_at = np.array(marked_at)
    phase = np.zeros(steps)
    phase[walk_from:] = 1
    heads, us, vs, lasts = one_hots(n, heads, us, vs, lasts)
    return make_trace(
        "dag_shortest_paths",
        inputs=graph_inputs(A, s),
        hints={"pi_h": pi_h, "d": d_h,
               "mark": (marked_at >= 0) & (marked_at <= np.arange(steps)[:, None]),
               "topo_h": topo_h, "topo_head_h": heads,
               "color": np.eye(3)[color_h], "s_prev": prev_h,
               "u": us, "v": vs, "s_last": lasts, "phase": phase},
        outputs={"pi": pi_h[-1].copy()},
    )


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
