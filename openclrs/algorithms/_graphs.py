"""Graph machinery shared by the shortest-path, spanning-tree and flow
algorithms: checked weight matrices, the event log replay that rebuilds
per-step hints, adjacency lists, the best-first loop of Dijkstra and Prim,
the two phases of DAG shortest paths, and the round of Bellman-Ford
relaxation that Ford-Fulkerson's search also runs.

The walks (:func:`best_first_walk`, :func:`dag_walk`) take edges sorted by
sender then receiver, so the dense algorithms (a matrix's nonzero entries,
:func:`matrix_edges`) and the sparse ones (a ``sparse.Graph``'s edge list,
:mod:`.sparse_graphs`) run one implementation step for step.

``A`` is a weighted adjacency matrix: ``A[u, v] != 0`` is an edge from ``u``
to ``v`` of that weight.
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

import numpy as np

from ..probes import Trace, graph, make_trace, one_hot, one_hots, positions
from . import _checks

# The published extract-min adds this much to the keys of nodes that are not
# in the queue, then takes the first entry of an argsort.
NOT_QUEUED = 1e9


def weight_matrix(A, name: str = "A") -> np.ndarray:
    """A checked copy of a weighted adjacency matrix.

    Infinite entries are refused: 0 already means "no edge", and an infinite
    weight would make the published candidate comparisons meaningless.
    """
    A = _checks.square(A, name)
    if A.dtype.kind == "f" and not np.isfinite(A).all():
        raise ValueError(f"{name} must be finite (0 marks a missing edge), got inf")
    return A


def as_float64(A: np.ndarray) -> np.ndarray:
    """``A`` as float64 for distance arithmetic (``A`` is already a private
    copy, so a float64 one is used as is)."""
    return A if A.dtype == np.float64 else A.astype(np.float64)


def graph_inputs(A: np.ndarray, s: int | None = None) -> dict:
    n = A.shape[0]
    inputs = {"pos": positions(n), "A": A, "adj": graph(A)}
    if s is not None:
        inputs["s"] = one_hot(s, n)
    return inputs


def replay(init, steps: int, ev_t, ev_c, ev_x, dtype=None) -> np.ndarray:
    """The value of a row of cells at each of ``steps`` recorded steps,
    ``(steps, cells)``.

    ``init`` (one value per cell) is the row at step 0; event ``k`` says
    that from step ``ev_t[k]`` on, cell ``ev_c[k]`` holds ``ev_x[k]``.
    Events are listed in the order they happened; when one cell changes
    twice at one step the later change wins, and changes from step
    ``steps`` on show nowhere. Several per-node arrays can be replayed at
    once as consecutive blocks of cells (pointers and 0/1 flags are exact
    as floats); see :func:`split_blocks`.

    Built per cell, not per step: sorting the changes by cell (stably, so
    time order is kept) turns each cell's history into runs of constant
    value, and one ``np.repeat`` writes every run. The float64 result is
    built cell-major and returned as its transpose (a view); with
    ``dtype``, as a row-major copy in that dtype.
    """
    c = len(init)
    ev_t = np.asarray(ev_t, dtype=np.intp).reshape(-1)
    ev_c = np.asarray(ev_c, dtype=np.intp).reshape(-1)
    ev_x = np.asarray(ev_x, dtype=np.float64).reshape(-1)
    shown = ev_t < steps
    if not shown.all():
        ev_t, ev_c, ev_x = ev_t[shown], ev_c[shown], ev_x[shown]
    cells = np.concatenate([np.arange(c, dtype=np.intp), ev_c])
    starts = np.concatenate([np.zeros(c, dtype=np.intp), ev_t])
    values = np.concatenate([np.asarray(init, dtype=np.float64), ev_x])
    if not len(cells):
        replayed = np.zeros((steps, 0))
    else:
        order = np.argsort(cells * (steps + 1) + starts, kind="stable")
        starts = starts[order]
        cells = cells[order]
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1] = steps
        ends[:-1][cells[1:] != cells[:-1]] = steps
        replayed = np.repeat(values[order], ends - starts).reshape(c, steps).T
    return replayed if dtype is None else np.ascontiguousarray(replayed, dtype=dtype)


def split_blocks(replayed: np.ndarray, n: int, *dtypes) -> list:
    """Cut a :func:`replay` result into ``n``-cell blocks, one per dtype,
    each in the hint layout ``(steps, n)``."""
    return [np.ascontiguousarray(replayed[:, k * n:(k + 1) * n], dtype=dtype)
            for k, dtype in enumerate(dtypes)]


# --------------------------------------------------------- adjacency lists

def matrix_edges(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(senders, receivers, weights)`` of the nonzero entries of ``W``,
    sorted by sender, then receiver (the layout of a sparse ``Graph``)."""
    n = W.shape[0]
    flat = W.ravel()
    cells = np.flatnonzero(flat)
    return cells // n, cells % n, flat[cells]


def csr_lists(n: int, senders, receivers, weights=None):
    """Out-edges as flat Python lists, from edges sorted by sender then
    receiver: node ``u``'s targets are ``targets[starts[u]:starts[u + 1]]``
    (ascending) and its weights the same slice of ``weights`` (None when
    ``weights`` is)."""
    starts = np.searchsorted(np.asarray(senders), np.arange(n + 1)).tolist()
    return (starts, np.asarray(receivers).tolist(),
            None if weights is None else np.asarray(weights).tolist())


def neighbour_lists(n: int, senders, receivers) -> list[list[int]]:
    """Each node's out-neighbours, ascending (edges sorted by sender, then
    receiver)."""
    starts, targets, _ = csr_lists(n, senders, receivers)
    return [targets[starts[u]:starts[u + 1]] for u in range(n)]


# ------------------------------------------------------------- best first

def extract_min_published(keys: list, queued: list) -> int:
    """The published extract-min, literally: argsort of the keys with the
    non-queued ones pushed up by ``NOT_QUEUED``. Used where the fast path
    cannot prove it picks the same node (ties, or huge weights)."""
    vals = np.array(keys) + (1.0 - np.array(queued, dtype=np.float64)) * NOT_QUEUED
    return int(np.argsort(vals)[0])


class BestFirstWalk(NamedTuple):
    """What :func:`best_first_walk` did: ``us`` the extracted node of each
    step (``s`` at step 0), the final parents, the step at which each node
    joined (``enter``) and left (``leave``) the queue (``n + 1``: never),
    and the logged changes ``(step, node, key, parent)`` (empty unless kept)."""

    us: list
    pi: list
    enter: list
    leave: list
    ev_t: list
    ev_v: list
    ev_key: list
    ev_pi: list


def best_first_walk(n: int, s: int, senders, receivers, weights, prim: bool,
                    keep: bool = True) -> BestFirstWalk:
    """Dijkstra's and Prim's shared loop (they differ only in a node's key:
    its distance from ``s``, or the weight of its cheapest edge into the
    tree), on the edges ``senders -> receivers`` of ``weights`` sorted by
    sender then receiver: a matrix's nonzero entries (:func:`matrix_edges`)
    or a sparse graph's edge list run the same steps.

    At most ``n`` extractions, one step each, after the initial step. A node
    enters the queue when first reached and leaves it, marked, when
    extracted; reached but unmarked nodes get a new key and parent when the
    extracted node offers a strictly smaller key.

    Extraction uses a heap of ``(key, node)`` with stale entries skipped.
    While every key is well below ``NOT_QUEUED`` (checked once from the
    weights), the published argsort picks the smallest queued key, so the
    heap's top is the published choice whenever it is unique; on a tie the
    published argsort itself decides, since its order among equal keys is
    numpy's, not necessarily the lowest index.
    """
    weights = np.asarray(weights)
    bound = float(np.abs(weights).max()) * n if len(weights) else 0.0
    fast = bound < NOT_QUEUED / 10
    starts, targets, weights = csr_lists(n, senders, receivers, weights)

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
                u = extract_min_published(key, queued)
                if u != tied:
                    push(heap, (best, tied))
        else:
            u = extract_min_published(key, queued)
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
            if keep:
                ev_t.append(t)
                ev_v.append(v)
                ev_key.append(new)
                ev_pi.append(u)
            if fast:
                push(heap, (new, v))
    return BestFirstWalk(us, pi, enter, leave, ev_t, ev_v, ev_key, ev_pi)


def best_first_hints(n: int, prim: bool, walk: BestFirstWalk) -> dict:
    """The hints of a kept :func:`best_first_walk`, in the dense layout."""
    steps = len(walk.us)
    time = np.arange(steps)[:, None]
    leave_at = np.array(walk.leave)
    pi_h, key_h = split_blocks(
        replay(np.concatenate([np.arange(n), np.zeros(n)]), steps, walk.ev_t + walk.ev_t,
               walk.ev_v + [v + n for v in walk.ev_v], walk.ev_pi + walk.ev_key),
        n, np.int64, np.float64)
    return {"pi_h": pi_h, "key" if prim else "d": key_h,
            "mark": leave_at <= time,
            "in_queue": (np.array(walk.enter) <= time) & (time < leave_at),
            "u": one_hot(walk.us, n)}


def best_first(A: np.ndarray, s: int, algorithm: str) -> Trace:
    """Dijkstra's or Prim's trace on a weight matrix (:func:`best_first_walk`)."""
    prim = algorithm == "mst_prim"
    n = A.shape[0]
    walk = best_first_walk(n, s, *matrix_edges(as_float64(A)), prim)
    return make_trace(algorithm, inputs=graph_inputs(A, s),
                      hints=best_first_hints(n, prim, walk),
                      outputs={"pi": np.array(walk.pi)})


# ------------------------------------------------ DAG shortest paths' walk

class DagWalk(NamedTuple):
    """What :func:`dag_walk` did: the number of steps, the first step of
    phase 1, per-step scalars (list head, ``u``, ``v``, ``s_last``; empty
    unless kept), the logged changes of the per-node arrays as cells of
    the blocks pi, d, topo, s_prev, color (empty unless kept), the step
    from which each node is marked (-1: never) and the final parents."""

    steps: int
    walk_from: int
    heads: list
    us: list
    vs: list
    lasts: list
    ev_t: list
    ev_c: list
    ev_x: list
    marked_at: list
    pi: list


def dag_walk(n: int, s: int, senders, receivers, weights, keep: bool = True) -> DagWalk:
    """``dag_shortest_paths``' two phases (its docstring in
    :mod:`.shortest_paths`) on edges sorted by sender then receiver: a
    matrix's nonzero entries or a sparse graph's edge list run the same
    steps. Each node's out-edges are scanned with a cursor: nodes only
    leave the white set, so the lowest white target is found by moving it
    forward."""
    starts, targets, weights = csr_lists(n, senders, receivers, weights)
    # Every change of a per-node array is logged as (step, cell, value), the
    # arrays being blocks of cells: pi, d, topo, s_prev, color (see replay).
    PI, D, TOPO, PREV, COLOR = (k * n for k in range(5))
    ev_t, ev_c, ev_x = [], [], []
    heads, us, vs, lasts = [], [], [], []  # per-step scalars
    steps = 0

    color = [0] * n
    topo = list(range(n))
    s_prev = list(range(n))
    scan = starts[:n]  # each node's next out-edge to look at
    topo_head = 0
    u = v = s_last = s

    def record():
        nonlocal steps
        steps += 1
        if keep:
            heads.append(topo_head)
            us.append(u)
            vs.append(v)
            lasts.append(s_last)

    def log(cell, value):
        if keep:
            ev_t.append(steps)
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
    walk_from = steps

    # Phase 1: relax out-edges in topological order.
    d = [0.0] * n
    pi = list(range(n))
    marked_at = [-1] * n  # step from which a node is marked (-1: never)
    marked_at[topo_head] = walk_from
    while topo[topo_head] != topo_head:
        i = topo_head
        if marked_at[i] < 0:
            marked_at[i] = steps
        record()
        t = steps
        for k in range(starts[i], starts[i + 1]):
            j = targets[k]
            new = d[i] + weights[k]  # d[i] itself moves on a negative self-loop
            if marked_at[j] < 0 or new < d[j]:
                d[j] = new
                pi[j] = i
                if marked_at[j] < 0:
                    marked_at[j] = t
                if keep:
                    ev_t.extend((t, t))
                    ev_c.extend((D + j, PI + j))
                    ev_x.extend((new, i))
        topo_head = topo[topo_head]
    record()
    return DagWalk(steps, walk_from, heads, us, vs, lasts, ev_t, ev_c, ev_x, marked_at, pi)


def dag_hints(n: int, walk: DagWalk) -> dict:
    """The hints of a kept :func:`dag_walk`, in the dense layout."""
    steps = walk.steps
    identity = np.arange(n)
    pi_h, d_h, topo_h, prev_h, color_h = split_blocks(
        replay(np.concatenate([identity, np.zeros(n), identity, identity, np.zeros(n)]),
               steps, walk.ev_t, walk.ev_c, walk.ev_x),
        n, np.int64, np.float64, np.int64, np.int64, np.intp)
    marked_at = np.array(walk.marked_at)
    phase = np.zeros(steps)
    phase[walk.walk_from:] = 1
    heads, us, vs, lasts = one_hots(n, walk.heads, walk.us, walk.vs, walk.lasts)
    return {"pi_h": pi_h, "d": d_h,
            "mark": (marked_at >= 0) & (marked_at <= np.arange(steps)[:, None]),
            "topo_h": topo_h, "topo_head_h": heads,
            "color": np.eye(3)[color_h], "s_prev": prev_h,
            "u": us, "v": vs, "s_last": lasts, "phase": phase}


# ------------------------------------------------------------ Bellman-Ford

def relaxation_rounds(relax, n: int, s: int, on_round=None):
    """Bellman-Ford's rounds from ``s`` until the distances stop changing,
    ``relax(d, pi, reached) -> (d, pi, reached)`` doing one round (a
    :class:`Relaxer` on a matrix, or one on an edge list). Calls
    ``on_round(d, pi, reached)`` with the state before each round, and
    returns the state after the last one (pointers can still move in that
    round when a first candidate equals the initial distance 0).

    With no negative cycle reachable from ``s`` the distances settle within
    ``n - 1`` changing rounds (round ``r`` leaves the best walks of at most
    ``r`` edges). More than ``n`` changing rounds (one spare, for rounding)
    mean a negative cycle, on which the published loop never ends, so it
    raises instead.
    """
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


class Relaxer:
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
