"""CLRS graph algorithms run on edge lists, producing sparse traces directly.

Each function takes a :class:`~openclrs.sparse.Graph` (the nonzero entries
of the dense algorithm's ``A``), the dense algorithm's other arguments and
``hints`` (False: inputs, outputs and the number of steps only), and returns
the :class:`~openclrs.sparse.SparseTrace` that equals
``to_sparse(dense_algorithm(graph.dense(), ...))``: the same steps, the same
tie-breaks, the same floats (``tests/test_sparse_traces.py`` checks it on
random graphs). Work and memory are O(n + E) per step of the search plus
the hints themselves, ``(T, n)``, which for the step-per-node algorithms is
O(n^2) whatever the edge layout: use ``hints=False`` at large ``n``.

SALSA-CLRS runs bfs, dfs, dijkstra and mst_prim on the dense CLRS
algorithms and keeps their hints unchanged (its ``to_sparse_data`` only
moves them onto edges), so these traces are SALSA's too; SALSA stores
pointers as one-hot edge masks and drops ``adj`` (all ones on its edges),
openclrs keeps node indices and every probe.
"""

from __future__ import annotations

import numpy as np

from ..probes import one_hot, positions
from ..sparse import Graph, SparseTrace, edge_index_of, make_sparse_trace, trace_edges
from . import _checks
from ._graphs import best_first_hints, best_first_walk, relaxation_rounds


def checked_graph(graph) -> Graph:
    """``graph`` if it is a :class:`~openclrs.sparse.Graph` keeping the
    class's promises (the algorithms cut per-node edge ranges out of the
    sorted edge list), else a clear error: a ``Graph(...)`` built by hand
    with unsorted edges gave wrong traces silently."""
    if not isinstance(graph, Graph):
        raise ValueError(f"graph must be an openclrs.sparse.Graph, got {type(graph).__name__} "
                         "(Graph.from_dense(A) converts a matrix)")
    n, s, r, w = graph.num_nodes, graph.senders, graph.receivers, graph.weights
    arrays = all(isinstance(a, np.ndarray) for a in (s, r, w))
    ok = (arrays and s.dtype.kind in "iu" and r.dtype.kind in "iu" and len(s) == len(r) == len(w)
          and (len(s) == 0 or (min(s.min(), r.min()) >= 0 and max(s.max(), r.max()) < n))
          and np.isfinite(w).all() and (w != 0).all())
    if ok and len(s) > 1:
        keys = s.astype(np.int64) * n + r.astype(np.int64)
        ok = bool((keys[1:] > keys[:-1]).all())
    if not ok:
        raise ValueError("graph does not keep Graph's promises (integer endpoints in [0, n), "
                         "edges sorted by (sender, receiver) and listed once, finite non-zero "
                         "weights): build it with Graph.from_edges or Graph.from_dense")
    return graph


def edge_inputs(graph: Graph) -> tuple[np.ndarray, np.ndarray, dict]:
    """The trace's edges, and ``pos``, ``A`` and ``adj = (A + I != 0)`` on them."""
    n = graph.num_nodes
    senders, receivers = trace_edges(graph)
    A = np.zeros(len(senders))
    A[edge_index_of(senders, receivers, n, graph.senders, graph.receivers)] = graph.weights
    loop = senders == receivers
    adj = np.where(loop, A + 1.0 != 0, A != 0) * 1.0
    return senders, receivers, {"pos": positions(n), "A": A, "adj": adj}


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(a, a + c) for a, c in zip(starts, counts)])``."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64)
    shift = np.repeat(np.asarray(starts, np.int64) - (np.cumsum(counts) - counts), counts)
    return shift + np.arange(total)


# --------------------------------------------------------------------------
# Breadth-first search
# --------------------------------------------------------------------------

def bfs(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """Breadth-first search from ``s`` over the positive-weight edges, one
    step per layer plus a last one; each node's parent is the lowest-numbered
    node of the previous layer with an edge to it (the dense ``bfs``'s rule).
    One layer is one vectorised pass over the frontier's out-edges."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    s = _checks.node(s, n, "s")
    positive = graph.weights > 0
    S, R = graph.senders[positive], graph.receivers[positive]
    indptr = np.searchsorted(S, np.arange(n + 1))
    layer = np.full(n, n)  # n: never reached
    layer[s] = 0
    pi = np.arange(n)
    frontier = np.array([s])
    rounds = 0
    while True:
        edges = ranges(indptr[frontier], indptr[frontier + 1] - indptr[frontier])
        fresh = layer[R[edges]] == n
        targets, sources = R[edges][fresh], S[edges][fresh]
        if not len(targets):
            break
        rounds += 1
        # The frontier is scanned in increasing order and each sender's edges
        # by receiver, so a node's first occurrence is its lowest sender.
        frontier, first = np.unique(targets, return_index=True)
        pi[frontier] = sources[first]
        layer[frontier] = rounds
    senders, receivers, inputs = edge_inputs(graph)
    inputs["s"] = one_hot(s, n)
    hint_store = None
    if hints:
        reach_h = layer <= np.arange(rounds + 1)[:, None]
        hint_store = {"reach_h": reach_h, "pi_h": np.where(reach_h, pi, np.arange(n))}
    return make_sparse_trace("bfs", n, senders, receivers, inputs, hint_store,
                             {"pi": pi}, rounds + 1)


# --------------------------------------------------------------------------
# Dijkstra and Prim
# --------------------------------------------------------------------------

def _best_first(graph: Graph, s: int, algorithm: str, hints: bool) -> SparseTrace:
    """Dijkstra's and Prim's shared loop (``_graphs.best_first_walk``, the
    dense algorithms' own) on the graph's edge list."""
    prim = algorithm == "mst_prim"
    n = graph.num_nodes
    walk = best_first_walk(n, s, graph.senders, graph.receivers, graph.weights, prim,
                           keep=hints)
    senders, receivers, inputs = edge_inputs(graph)
    inputs["s"] = one_hot(s, n)
    return make_sparse_trace(algorithm, n, senders, receivers, inputs,
                             best_first_hints(n, prim, walk) if hints else None,
                             {"pi": np.array(walk.pi)}, len(walk.us))


def dijkstra(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """Dijkstra's shortest paths from ``s``, one step per extracted node."""
    graph = checked_graph(graph)
    return _best_first(graph, _checks.node(s, graph.num_nodes, "s"), "dijkstra", hints)


def mst_prim(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """Prim's minimum spanning tree grown from ``s``, one step per node."""
    graph = checked_graph(graph)
    return _best_first(graph, _checks.node(s, graph.num_nodes, "s"), "mst_prim", hints)


# --------------------------------------------------------------------------
# Bellman-Ford
# --------------------------------------------------------------------------

def _relax_literal(S, R, W, d, pi, reached):
    """One published round, literally: ``u`` then ``v`` in increasing order
    (the edge order), every candidate from the previous round's values.
    Used when the weights are so large that a vectorised sum could overflow."""
    new_d, new_pi, new_reached = d.copy(), pi.copy(), reached.copy()
    for u, v, w in zip(S.tolist(), R.tolist(), W.tolist()):
        if reached[u]:
            cand = d[u] + w
            if not new_reached[v] or cand < new_d[v]:
                new_d[v] = cand
                new_pi[v] = u
            new_reached[v] = True
    return new_d, new_pi, new_reached


class _Relaxer:
    """Rounds of relaxation vectorised over edges grouped by receiver (then
    sender): each node's candidates ``d[u] + w(u, v)`` from reached ``u``;
    the first (lowest-``u``) minimum wins; a first-reached node takes it, a
    reached one only when it is smaller. Group minima by ``reduceat``, O(E)
    per round with no sort."""

    def __init__(self, S, R, W):
        order = np.lexsort((S, R))
        self.S, self.R, self.W = S[order], R[order], W[order]
        self.starts = np.flatnonzero(np.r_[True, self.R[1:] != self.R[:-1]]) if len(R) \
            else np.zeros(0, np.intp)
        self.nodes = self.R[self.starts]
        self.counts = np.diff(np.r_[self.starts, len(R)])
        self.positions = np.arange(len(R))

    def __call__(self, d, pi, reached):
        new_d, new_pi, new_reached = d.copy(), pi.copy(), reached.copy()
        if not len(self.starts):
            return new_d, new_pi, new_reached
        cand = np.where(reached[self.S], d[self.S] + self.W, np.inf)
        best = np.minimum.reduceat(cand, self.starts)
        at_best = np.where(cand == np.repeat(best, self.counts), self.positions, len(cand))
        first = np.minimum.reduceat(at_best, self.starts)
        offered = best < np.inf
        nodes, best, first = self.nodes[offered], best[offered], first[offered]
        update = ~reached[nodes] | (best < d[nodes])
        new_d[nodes[update]] = best[update]
        new_pi[nodes[update]] = self.S[first[update]]
        new_reached[nodes] = True
        return new_d, new_pi, new_reached


def bellman_ford(graph: Graph, s, hints: bool = True) -> SparseTrace:
    """Bellman-Ford from ``s``: one step per round of relaxing every edge out
    of the nodes reached so far, until a round changes no distance. Raises
    ValueError on a negative cycle reachable from ``s`` (after ``n + 1``
    changing rounds, as the dense one does)."""
    graph = checked_graph(graph)
    n = graph.num_nodes
    s = _checks.node(s, n, "s")
    S, R, W = graph.senders, graph.receivers, graph.weights
    safe = not graph.num_edges or float(np.abs(W).max()) * (n + 2) < 1e300
    if safe:
        relax = _Relaxer(S, R, W)
    else:
        def relax(d, pi, reached):
            return _relax_literal(S, R, W, d, pi, reached)
    states = []
    _, pi, _ = relaxation_rounds(relax, n, s,
                                 lambda *state: states.append(state if hints else None))
    senders, receivers, inputs = edge_inputs(graph)
    inputs["s"] = one_hot(s, n)
    hint_store = None
    if hints:
        ds, pis, marks = zip(*states)
        hint_store = {"pi_h": np.stack(pis), "d": np.stack(ds), "msk": np.stack(marks)}
    return make_sparse_trace("bellman_ford", n, senders, receivers, inputs, hint_store,
                             {"pi": pi}, len(states))
