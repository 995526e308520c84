"""Graph machinery shared by the shortest-path, spanning-tree and flow
algorithms: checked weight matrices, the event log replay that rebuilds
per-step hints, the best-first loop of Dijkstra and Prim, and the round of
Bellman-Ford relaxation that Ford-Fulkerson's search also runs.

``A`` is a weighted adjacency matrix: ``A[u, v] != 0`` is an edge from ``u``
to ``v`` of that weight.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..probes import Trace, graph, make_trace, one_hot, positions
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


def replay(init, steps: int, ev_t: list, ev_c: list, ev_x: list) -> np.ndarray:
    """The value of a row of cells at each of ``steps`` recorded steps.

    ``init`` (float64, one value per cell) is the row at step 0; event ``k``
    says that from step ``ev_t[k]`` on, cell ``ev_c[k]`` holds ``ev_x[k]``.
    Events are listed in the order they happened; when one cell changes
    twice at one step the later change wins. Several per-node arrays can be
    replayed at once as consecutive blocks of cells (pointers and 0/1 flags
    are exact as floats); see :func:`split_blocks`.

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


def split_blocks(replayed: np.ndarray, n: int, *dtypes) -> list:
    """Cut a :func:`replay` result into ``n``-cell blocks, one per dtype,
    each in the hint layout ``(steps, n)``."""
    return [np.ascontiguousarray(replayed[k * n:(k + 1) * n].T, dtype=dtype)
            for k, dtype in enumerate(dtypes)]


def adjacency_lists(W: np.ndarray):
    """Out-edges as flat Python lists: node ``u``'s targets and weights are
    ``targets[starts[u]:starts[u + 1]]`` (ascending) and the same slice of
    ``weights``."""
    n = W.shape[0]
    flat = W.ravel()
    cells = np.flatnonzero(flat)
    starts = np.searchsorted(cells, np.arange(0, n * n + 1, n)).tolist()
    return starts, (cells % n).tolist(), flat[cells].tolist()


def extract_min_published(keys: list, queued: list) -> int:
    """The published extract-min, literally: argsort of the keys with the
    non-queued ones pushed up by ``NOT_QUEUED``. Used where the fast path
    cannot prove it picks the same node (ties, or huge weights)."""
    vals = np.array(keys) + (1.0 - np.array(queued, dtype=np.float64)) * NOT_QUEUED
    return int(np.argsort(vals)[0])


def best_first(A: np.ndarray, s: int, algorithm: str) -> Trace:
    """Dijkstra's and Prim's shared loop (they differ only in a node's key:
    its distance from ``s``, or the weight of its cheapest edge into the
    tree).

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
    prim = algorithm == "mst_prim"
    n = A.shape[0]
    W = as_float64(A)
    starts, targets, weights = adjacency_lists(W)
    bound = float(np.abs(W).max()) * n if n else 0.0
    fast = bound < NOT_QUEUED / 10

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
            ev_t.append(t)
            ev_v.append(v)
            ev_key.append(new)
            ev_pi.append(u)
            if fast:
                push(heap, (new, v))

    steps = len(us)
    time = np.arange(steps)[:, None]
    leave_at = np.array(leave)
    pi_h, key_h = split_blocks(
        replay(np.concatenate([np.arange(n), np.zeros(n)]), steps, ev_t + ev_t,
                ev_v + [v + n for v in ev_v], ev_pi + ev_key),
        n, np.int64, np.float64)
    return make_trace(
        algorithm,
        inputs=graph_inputs(A, s),
        hints={"pi_h": pi_h, "key" if prim else "d": key_h,
               "mark": leave_at <= time,
               "in_queue": (np.array(enter) <= time) & (time < leave_at),
               "u": one_hot(us, n)},
        outputs={"pi": np.array(pi)},
    )


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
