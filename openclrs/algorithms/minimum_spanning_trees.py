"""Minimum spanning trees (CLRS chapter 23): Kruskal's and Prim's algorithms.

``A`` is a symmetric weighted adjacency matrix; Kruskal's algorithm takes
the edges ``A[u, v] > 0`` with ``u < v``, Prim's every non-zero entry. Both
return a minimum spanning forest when the graph is disconnected (Prim's only
spans the source's component).
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, make_trace, one_hot, one_hots
from . import _checks
from ._graphs import best_first, graph_inputs, replay, split_blocks, weight_matrix

__all__ = ["mst_kruskal", "mst_prim"]


def _tree_edge_hints(steps: int, n: int, added: list) -> np.ndarray:
    """``in_mst_h``: tree edge ``added[k] = (step, u, v)`` is in from its step
    on. The array is mostly zeros, so it starts as ``np.zeros`` (fresh zero
    pages from the system) and only the tree cells are written."""
    out = np.zeros((steps, n, n))
    for step, u, v in added:
        out[step:, u, v] = 1.0
        out[step:, v, u] = 1.0
    return out


def mst_kruskal(A) -> Trace:
    """Kruskal's minimum spanning tree (Kruskal, 1956; CLRS 23.2).

    Edges are taken in the order of numpy's ``argsort`` of their weights
    (listed row by row), which is how the published generator breaks ties.
    Each edge is one call of a union-find UNION without ranks: one step on
    entry, one per pointer followed while looking for ``u``'s root (phase
    1) and then ``v``'s (phase 2), every node on the way so far re-pointed
    to the new root each time (``mask_u``, ``mask_v``), and a last step
    (phase 0) where the lower-numbered root is hung under the other one and
    the edge joins the tree, unless both roots are the same.
    """
    A = weight_matrix(A)
    n = A.shape[0]
    iu, ju = np.triu_indices(n, 1)
    positive = A[iu, ju] > 0
    iu, ju = iu[positive], ju[positive]
    order = np.argsort(A[iu, ju])
    iu, ju = iu[order].tolist(), ju[order].tolist()

    # Changes of pi, mask_u and mask_v as (step, cell, value); the three
    # arrays are consecutive blocks of n cells (see replay).
    MASK_U, MASK_V = n, 2 * n
    ev_t, ev_c, ev_x = [], [], []
    # Per-step scalars, with the initial step.
    us, vs, roots_u, roots_v, phases = [0], [0], [0], [0], [0]
    added = []  # (step, u, v) of each tree edge
    pi = list(range(n))

    def find(x, step):
        """Follow pointers from ``x`` to its root, one step per hop after
        ``step``, re-pointing every node visited so far to the node just
        reached (all but the last one visited change). Returns the visited
        nodes, root last."""
        path = [x]
        while pi[x] != x:
            x = pi[x]
            step += 1
            moved = len(path) - 1
            if moved:
                for y in path[:-1]:
                    pi[y] = x
                ev_t.extend([step] * moved)
                ev_c.extend(path[:-1])
                ev_x.extend([x] * moved)
            path.append(x)
        return path

    step = 1  # the first step of the current edge
    for u, v in zip(iu, ju):
        path_u = find(u, step)
        a = len(path_u) - 1
        path_v = find(v, step + a)
        b = len(path_v) - 1
        ru, rv = path_u[-1], path_v[-1]
        last = step + a + b + 1
        if ru != rv:
            low, high = (ru, rv) if ru < rv else (rv, ru)
            pi[low] = high
            ev_t.append(last)
            ev_c.append(low)
            ev_x.append(high)
            added.append((last, u, v))
        length = a + b + 2
        us.extend([u] * length)
        vs.extend([v] * length)
        roots_u.extend(path_u)
        roots_u.extend([ru] * (b + 1))
        roots_v.extend([v] * a)
        roots_v.extend(path_v)
        roots_v.append(rv)
        phases.extend([1] * (a + 1) + [2] * b + [0])
        # Each visited node joins its mask on the step that reached it; the
        # masks are cleared for the next edge's first step.
        ev_t.extend(range(step, step + a + 1))
        ev_t.append(step)
        ev_t.extend(range(step + a + 1, last))
        ev_c.extend([MASK_U + x for x in path_u])
        ev_c.extend([MASK_V + x for x in path_v])
        ev_x.extend([1] * length)
        ev_t.extend([last + 1] * length)
        ev_c.extend(ev_c[-length:])
        ev_x.extend([0] * length)
        step = last + 1

    steps = step
    if ev_t and ev_t[-1] == steps:  # the last edge's masks are never cleared
        cleared = ev_t.index(steps)
        del ev_t[cleared:], ev_c[cleared:], ev_x[cleared:]
    pi_h, mask_u, mask_v = split_blocks(
        replay(np.concatenate([np.arange(n), np.zeros(2 * n)]), steps, ev_t, ev_c, ev_x),
        n, np.int64, np.float64, np.float64)
    in_mst_h = _tree_edge_hints(steps, n, added)
    us, vs, roots_u, roots_v = one_hots(n, us, vs, roots_u, roots_v)
    return make_trace(
        "mst_kruskal",
        inputs=graph_inputs(A),
        hints={"in_mst_h": in_mst_h, "pi": pi_h, "u": us, "v": vs,
               "root_u": roots_u, "root_v": roots_v,
               "mask_u": mask_u, "mask_v": mask_v, "phase": one_hot(phases, 3)},
        outputs={"in_mst": in_mst_h[-1].copy()},
    )


def mst_prim(A, s) -> Trace:
    """Prim's minimum spanning tree (Prim, 1957; CLRS 23.2) grown from
    ``s``: one step per node taken into the tree, its key being the weight
    of its cheapest edge to the tree so far (ties as the published argsort
    breaks them)."""
    A = weight_matrix(A)
    s = _checks.node(s, A.shape[0], "s")
    return best_first(A, s, "mst_prim")
