"""Shortest paths (CLRS chapters 24 and 25): Bellman-Ford, shortest paths in
a DAG, Dijkstra, and Floyd-Warshall.

``A`` is a weighted adjacency matrix: ``A[u, v] != 0`` is an edge from ``u``
to ``v`` of that weight. Nodes the source cannot reach keep distance 0 and
point to themselves, as in the published benchmark.

The single-source searches run on Python lists and log every change of a
per-node array as ``(step, node, value)``; the hint arrays are rebuilt from
those logs at the end (:func:`_replay`) instead of being copied at every
step. Bellman-Ford and Floyd-Warshall relax a whole round at once with numpy:
within one of their rounds every candidate is computed from the previous
round's values, so the vector form is the loop, not an approximation of it.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..probes import Trace, graph, make_trace, one_hot, one_hots, positions
from . import _checks

__all__ = ["bellman_ford", "dag_shortest_paths", "dijkstra", "floyd_warshall"]

# The published extract-min adds this much to the keys of nodes that are not
# in the queue, then takes the first entry of an argsort.
_NOT_QUEUED = 1e9


# --------------------------------------------------------------------------
# Helpers shared with minimum_spanning_trees and maximum_flow.
# --------------------------------------------------------------------------

def _weights(A, name: str = "A") -> np.ndarray:
    """A checked copy of a weighted adjacency matrix.

    Infinite entries are refused: 0 already means "no edge", and an infinite
    weight would make the published candidate comparisons meaningless.
    """
    A = _checks.square(A, name)
    if A.dtype.kind == "f" and not np.isfinite(A).all():
        raise ValueError(f"{name} must be finite (0 marks a missing edge), got inf")
    return A


def _floats(A: np.ndarray) -> np.ndarray:
    """``A`` as float64 for distance arithmetic (``A`` is already a private
    copy, so a float64 one is used as is)."""
    return A if A.dtype == np.float64 else A.astype(np.float64)


def _graph_inputs(A: np.ndarray, s: int | None = None) -> dict:
    n = A.shape[0]
    inputs = {"pos": positions(n), "A": A, "adj": graph(A)}
    if s is not None:
        inputs["s"] = one_hot(s, n)
    return inputs


def _replay(init, steps: int, ev_t: list, ev_c: list, ev_x: list) -> np.ndarray:
    """The value of a row of cells at each of ``steps`` recorded steps.

    ``init`` (float64, one value per cell) is the row at step 0; event ``k``
    says that from step ``ev_t[k]`` on, cell ``ev_c[k]`` holds ``ev_x[k]``.
    Events are listed in the order they happened; when one cell changes
    twice at one step the later change wins. Several per-node arrays can be
    replayed at once as consecutive blocks of cells (pointers and 0/1 flags
    are exact as floats); see :func:`_split`.

    Built per cell, not per step: sorting the changes by cell (stably, so
    time order is kept) turns each cell's history into runs of constant
    value, and one ``np.repeat`` writes every run. Returns ``(cells,
    steps)``: the transpose of the hint layout.
    """
    c, e = len(init), len(ev_t)
    cells = np.empty(c + e, dtype=np.intp)
    cells[:c] = np.arange(c)
    cells[c:] = np.fromiter(ev_c, np.intp, e)
    starts = np.zeros(c + e, dtype=np.intp)
    starts[c:] = np.fromiter(ev_t, np.intp, e)
    values = np.empty(c + e)
    values[:c] = init
    values[c:] = np.fromiter(ev_x, np.float64, e)
    order = np.argsort(cells * (steps + 1) + starts, kind="stable")
    starts = starts[order]
    cells = cells[order]
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = steps
    ends[:-1][cells[1:] != cells[:-1]] = steps
    return np.repeat(values[order], ends - starts).reshape(c, steps)


def _split(replayed: np.ndarray, n: int, *dtypes) -> list:
    """Cut a :func:`_replay` result into ``n``-cell blocks, one per dtype,
    each in the hint layout ``(steps, n)``."""
    return [np.ascontiguousarray(replayed[k * n:(k + 1) * n].T, dtype=dtype)
            for k, dtype in enumerate(dtypes)]


def _adjacency_lists(W: np.ndarray):
    """Out-edges as flat Python lists: node ``u``'s targets and weights are
    ``targets[starts[u]:starts[u + 1]]`` (ascending) and the same slice of
    ``weights``."""
    n = W.shape[0]
    flat = W.ravel()
    cells = np.flatnonzero(flat)
    starts = np.searchsorted(cells, np.arange(0, n * n + 1, n)).tolist()
    return starts, (cells % n).tolist(), flat[cells].tolist()


def _extract_min_published(keys: list, queued: list) -> int:
    """The published extract-min, literally: argsort of the keys with the
    non-queued ones pushed up by ``_NOT_QUEUED``. Used where the fast path
    cannot prove it picks the same node (ties, or huge weights)."""
    vals = np.array(keys) + (1.0 - np.array(queued, dtype=np.float64)) * _NOT_QUEUED
    return int(np.argsort(vals)[0])


def _best_first(A: np.ndarray, s: int, algorithm: str) -> Trace:
    """Dijkstra's and Prim's shared loop (they differ only in a node's key:
    its distance from ``s``, or the weight of its cheapest edge into the
    tree).

    At most ``n`` extractions, one step each, after the initial step. A node
    enters the queue when first reached and leaves it, marked, when
    extracted; reached but unmarked nodes get a new key and parent when the
    extracted node offers a strictly smaller key.

    Extraction uses a heap of ``(key, node)`` with stale entries skipped.
    While every key is well below ``_NOT_QUEUED`` (checked once from the
    weights), the published argsort picks the smallest queued key, so the
    heap's top is the published choice whenever it is unique; on a tie the
    published argsort itself decides, since its order among equal keys is
    numpy's, not necessarily the lowest index.
    """
    prim = algorithm == "mst_prim"
    n = A.shape[0]
    W = _floats(A)
    starts, targets, weights = _adjacency_lists(W)
    bound = float(np.abs(W).max()) * n if n else 0.0
    fast = bound < _NOT_QUEUED / 10

    key = [0.0] * n
    pi = list(range(n))
    marked = [False] * n
    queued = [False] * n
    queued[s] = True
    enter = [n + 1] * n  # step at which a node joins the queue (n + 1: never)
    leave = [n + 1] * n  # step at which it is extracted and marked
    enter[s] = 0
    us = [s]
    ev_t, ev_v, ev_key, ev_pi = [], [], [], []
    heap = [(0.0, s)]
    push, pop = heapq.heappush, heapq.heappop

    for t in range(1, n + 1):
        if fast:
            while heap and (marked[heap[0][1]] or heap[0][0] != key[heap[0][1]]):
                pop(heap)
            if not heap:
                break
            best, u = pop(heap)
            while heap and (marked[heap[0][1]] or heap[0][0] != key[heap[0][1]]):
                pop(heap)
            if heap and heap[0][0] == best:
                tied = u
                u = _extract_min_published(key, queued)
                if u != tied:
                    push(heap, (best, tied))
        else:
            u = _extract_min_published(key, queued)
            if not queued[u]:
                break
        marked[u] = True
        queued[u] = False
        leave[u] = t
        us.append(u)
        ku = key[u]
        a, b = starts[u], starts[u + 1]
        for v, w in zip(targets[a:b], weights[a:b]):
            if marked[v]:
                continue
            new = w if prim else ku + w
            if not queued[v]:
                queued[v] = True
                enter[v] = t
            elif not new < key[v]:
                continue
            key[v] = new
            pi[v] = u
            ev_t.append(t)
            ev_v.append(v)
            ev_key.append(new)
            ev_pi.append(u)
            if fast:
                push(heap, (new, v))

    steps = len(us)
    time = np.arange(steps)[:, None]
    leave_at = np.array(leave)
    pi_h, key_h = _split(
        _replay(np.concatenate([np.arange(n), np.zeros(n)]), steps, ev_t + ev_t,
                ev_v + [v + n for v in ev_v], ev_pi + ev_key),
        n, np.int64, np.float64)
    return make_trace(
        algorithm,
        inputs=_graph_inputs(A, s),
        hints={"pi_h": pi_h, "key" if prim else "d": key_h,
               "mark": leave_at <= time,
               "in_queue": (np.array(enter) <= time) & (time < leave_at),
               "u": one_hot(us, n)},
        outputs={"pi": np.array(pi)},
    )


class _Relaxer:
    """Rounds of Bellman-Ford relaxation on one weight matrix, as the
    published double loop over ``u`` then ``v`` does them.

    Every candidate ``d[u] + W[u, v]`` of a round comes from a node reached
    before the round. A node reached for the first time takes the first
    candidate and then any strictly smaller one, so it ends with the first
    minimum; a node already reached changes only for a candidate strictly
    below its distance. So a round is: candidates for all pairs (``+inf``
    for non-edges and unreached sources), the first minimum of each column,
    and a masked update.

    That needs every real candidate to be finite; when the weights are so
    large that a sum could overflow, the round is computed with explicit
    edge masks and the literal loop for columns whose candidates overflowed.
    """

    def __init__(self, W: np.ndarray):
        n = W.shape[0]
        self.W = W
        self.cols = np.arange(n)
        self.edge = W != 0
        self.safe = not n or float(np.abs(W).max()) * (n + 2) < 1e300
        self.Winf = np.where(self.edge, W, np.inf)

    def __call__(self, d: np.ndarray, pi: np.ndarray, reached: np.ndarray):
        """One round; returns the new ``(d, pi, reached)``."""
        if self.safe:
            cand = np.where(reached, d, np.inf)[:, None] + self.Winf
            first = cand.argmin(axis=0)
            best = cand[first, self.cols]
            offered = best < np.inf
        else:
            valid = self.edge & reached[:, None]
            offered = valid.any(axis=0)
            cand = d[:, None] + self.W
            first = np.where(valid, cand, np.inf).argmin(axis=0)
            best = cand[first, self.cols]
            for v in np.flatnonzero(offered & ~valid[first, self.cols]).tolist():
                us = np.flatnonzero(valid[:, v]).tolist()
                arg = us[0]
                for u in us[1:]:
                    if cand[u, v] < cand[arg, v]:
                        arg = u
                first[v], best[v] = arg, cand[arg, v]
        update = offered & (~reached | (best < d))
        return np.where(update, best, d), np.where(update, first, pi), reached | offered


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
    relax = _Relaxer(W)
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
    A = _weights(A)
    n = A.shape[0]
    s = _checks.node(s, n, "s")
    states = []
    _, pi, _ = _bellman_ford_rounds(_floats(A), s,
                                    lambda *state: states.append(state))
    ds, pis, reached = zip(*states)
    return make_trace(
        "bellman_ford",
        inputs=_graph_inputs(A, s),
        hints={"pi_h": np.stack(pis), "d": np.stack(ds), "msk": np.stack(reached)},
        outputs={"pi": pi},
    )


def dijkstra(A, s) -> Trace:
    """Dijkstra's single-source shortest paths (Dijkstra, 1959; CLRS 24.3):
    one step per extracted node. Negative weights are accepted (the result
    is then not necessarily a shortest-path tree, as in the published
    generator)."""
    A = _weights(A)
    s = _checks.node(s, A.shape[0], "s")
    return _best_first(A, s, "dijkstra")


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
    A = _weights(A)
    n = A.shape[0]
    s = _checks.node(s, n, "s")
    W = _floats(A)
    starts, targets, weights = _adjacency_lists(W)

    # Every change of a per-node array is logged as (step, cell, value), the
    # arrays being blocks of cells: pi, d, topo, s_prev, color (see _replay).
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
    pi_h, d_h, topo_h, prev_h, color_h = _split(
        _replay(np.concatenate([identity, np.zeros(n), identity, identity, np.zeros(n)]),
                steps, ev_t, ev_c, ev_x),
        n, np.int64, np.float64, np.int64, np.int64, np.intp)
    marked_at = np.array(marked_at)
    phase = np.zeros(steps)
    phase[walk_from:] = 1
    heads, us, vs, lasts = one_hots(n, heads, us, vs, lasts)
    return make_trace(
        "dag_shortest_paths",
        inputs=_graph_inputs(A, s),
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

    Each step is one vector operation: the published loop reads only the
    previous step's distances and mask, and ``Pi``'s row ``k`` cannot change
    during step ``k`` (its update would copy row ``k`` onto itself), so
    updating all pairs at once is the same computation.
    """
    A = _weights(A)
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
    return make_trace(
        "floyd_warshall",
        inputs=_graph_inputs(A),
        hints={"Pi_h": Pi_h[:n], "D": D_h[:n], "msk": known_h[:n], "k": np.eye(n)},
        outputs={"Pi": Pi_h[n].copy()},
    )
