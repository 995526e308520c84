"""Dynamic programming (CLRS chapter 15): matrix-chain multiplication,
longest common subsequence and optimal binary search trees.

The benchmark's matrix-chain and LCS traces are not the textbook's
diagonal-by-diagonal fills: every step recomputes *all* cells from the
previous step's table (a Jacobi sweep) until the table stops changing, so
one step is one whole-table numpy update here. Optimal BST does fill one
diagonal per step; as a cell never changes once its diagonal is done, its
hints are the final tables cut to the diagonals done by each step.

Cells are compared and combined with the same float operations, in the same
order, as the element-by-element loops of the published code, and minima
keep the same ties (first minimum; a value already in the table beats an
equal candidate), so tables are bit-identical.
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, identity_pointers, make_trace, positions
from . import _checks

__all__ = ["matrix_chain_order", "lcs_length", "optimal_bst"]


# --------------------------------------------------------------------------
# Matrix-chain multiplication
# --------------------------------------------------------------------------

_MAX_CHAIN_COST = 1e300  # inputs whose chain costs could exceed this are refused


def matrix_chain_order(p) -> Trace:
    """Cheapest parenthesisation of a chain whose matrix ``i`` is
    ``p[i-1] x p[i]`` (CLRS 15.2); node 0 only carries ``p[0]``.

    Each step relaxes every chain ``i..j`` over all splits ``k`` whose two
    halves already have a cost (``msk``), from the previous step's costs
    ``m``. A chain without a cost takes its best split; one with a cost
    changes only for a strictly cheaper split. ``s_h`` holds the best splits.
    The run stops at the first step that leaves ``m`` unchanged.
    """
    p = _checks.vector(p, "p")
    _checks.finite(p, "p")
    _checks.non_negative(p, "p", "matrix dimensions")
    n = len(p)
    # Chain costs stay below n * max|p|^3; keeping that finite lets +inf
    # stand for "no cost yet" below.
    if n > 2 and float(np.abs(p).max()) > (_MAX_CHAIN_COST / n) ** (1 / 3):
        raise ValueError("p values are too large: chain costs would overflow float64")
    # Rows 1.. of the tables (row 0, like column 0, stays empty): m_rows[i - 1, j]
    # is the cost of chain i..j, s_rows its split, known_rows its msk.
    m_rows = np.zeros((n - 1, n))
    s_rows = np.zeros((n - 1, n), dtype=np.int64)
    known_rows = np.eye(n - 1, n, k=1, dtype=bool)
    m_steps, s_steps, msk_steps = [m_rows], [s_rows], [known_rows]
    if n > 2:
        # cand[i - 1, j, k - 1] is split k (1 <= k <= n - 2) of chain i..j, at
        # (m[i, k] + m[k + 1, j]) + (p[i - 1] * p[k]) * p[j] as the scalar
        # expression associates. Costs are +inf where a half has no cost yet,
        # which also rules out every k outside i <= k < j (only cells on or
        # above the diagonal ever get a cost).
        cost = (p[:-1, None] * p[1:-1])[:, None, :] * p[None, :, None]
        rows, cols = np.arange(n - 1)[:, None], np.arange(n)[None, :]
        while True:
            priced = np.where(known_rows, m_rows, np.inf)
            cand = priced[:, 1:-1][:, None, :] + priced[1:, :].T[None, :, :] + cost
            best_k = cand.argmin(axis=2)
            best = cand[rows, cols, best_k]
            # A chain without a cost takes its best split, one with a cost
            # only a strictly cheaper one: both are `best < priced`.
            update = best < priced
            new_m = np.where(update, best, m_rows)
            # The output keeps this last sweep's splits even when it is the
            # one that leaves m unchanged (a chain first priced at 0).
            s_rows = np.where(update, best_k + 1, s_rows)
            if (new_m == m_rows).all():
                break
            m_rows = new_m
            known_rows = known_rows | (best < np.inf)
            m_steps.append(m_rows)
            s_steps.append(s_rows)
            msk_steps.append(known_rows)

    def full(row_steps):  # add back the empty row 0
        out = np.zeros((len(row_steps), n, n))
        out[:, 1:] = row_steps
        return out

    return make_trace(
        "matrix_chain_order",
        inputs={"pos": positions(n), "p": p},
        hints={"pred_h": identity_pointers(n, len(m_steps)), "m": full(m_steps),
               "s_h": full(s_steps), "msk": full(msk_steps)},
        outputs={"s": full([s_rows])[0]},
    )


# --------------------------------------------------------------------------
# Longest common subsequence
# --------------------------------------------------------------------------

_NUM_CHARS = 4   # the published key probe one-hot encodes 4 characters
_UP_LEFT, _UP, _LEFT = 0, 1, 2


def _string_chars(a, name: str) -> np.ndarray:
    a = _checks.vector(a, name, integer=True)
    if a.min() < 0 or a.max() >= _NUM_CHARS:
        raise ValueError(f"{name} must hold characters 0..{_NUM_CHARS - 1}, "
                         f"got values in [{a.min()}, {a.max()}]")
    return a


def _pair_tables(tables: np.ndarray, n: int) -> np.ndarray:
    """Place ``(..., n, m)`` tables on the edges from string-1 nodes to
    string-2 nodes of the ``n + m`` node graph; other edges are 0."""
    lead, (_, m) = tables.shape[:-2], tables.shape[-2:]
    out = np.zeros(lead + (n + m, n + m))
    out[..., :n, n:] = tables
    return out


def _pair_categories(tables: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """Like :func:`_pair_tables` for categorical tables: one-hot classes on
    the string-1 -> string-2 edges; every other edge is marked masked (-1)
    in an extra last class."""
    lead, (_, m) = tables.shape[:-2], tables.shape[-2:]
    out = np.zeros(lead + (n + m, n + m, num_classes + 1))
    out[..., :n, n:, :num_classes] = tables[..., None] == np.arange(num_classes)
    out[..., :n, :n, num_classes] = -1
    out[..., n:, :, num_classes] = -1
    return out


def lcs_length(x, y) -> Trace:
    """Longest-common-subsequence table of the character strings ``x`` and
    ``y`` (CLRS 15.4), over the ``len(x) + len(y)`` nodes of both strings.

    ``c[i, j]`` is the LCS length of ``x[:i+1]`` and ``y[:j+1]`` and ``b`` the
    arrow it came from (0: diagonal, 1: up, 2: left). The first row and
    column are set up front; each step then recomputes every other cell from
    the previous step's ``c``, until ``c`` stops changing.
    """
    x = _string_chars(x, "x")
    y = _string_chars(y, "y")
    n, m = len(x), len(y)
    c = np.zeros((n, m), dtype=np.int64)
    b = np.zeros((n, m), dtype=np.int64)
    xs, ys = x.tolist(), y.tolist()
    for i in range(n):  # first column (its row-0 cell is redone below)
        if xs[i] == ys[0]:
            c[i, 0], b[i, 0] = 1, _UP_LEFT
        elif i > 0 and c[i - 1, 0] == 1:
            c[i, 0], b[i, 0] = 1, _UP
        else:
            c[i, 0], b[i, 0] = 0, _UP
    for j in range(m):  # first row
        if xs[0] == ys[j]:
            c[0, j], b[0, j] = 1, _UP_LEFT
        elif j > 0 and c[0, j - 1] == 1:
            c[0, j], b[0, j] = 1, _LEFT
        else:
            c[0, j], b[0, j] = 0, _UP

    # Only c is swept, into a stack of tables with the fixed first row and
    # column already filled in: cell (i, j) is final after i + j - 1 sweeps
    # (it reads cells of index sum i + j - 1 and i + j - 2), so the run takes
    # at most n + m - 2 steps (and 1 when there is no inner cell).
    match = x[1:, None] == y[None, 1:]
    tables = np.empty((max(n + m - 2, 1), n, m), dtype=np.int64)
    tables[:] = c
    t = 0
    while True:
        prev = tables[t]
        # Without a match the larger neighbour wins ("up" on ties, below).
        swept = np.where(match, prev[:-1, :-1] + 1, np.maximum(prev[:-1, 1:], prev[1:, :-1]))
        if (swept == prev[1:, 1:]).all():
            break
        t += 1
        tables[t, 1:, 1:] = swept
    tables = tables[:t + 1]
    # The arrows a sweep writes follow from the table it read: the hint of
    # step s + 1 (and, for the last sweep, the output) from table s.
    arrows = np.empty((t + 2, n, m), dtype=np.int64)
    arrows[:] = b  # the first row and column never change
    arrows[1:, 1:, 1:] = np.where(
        match, _UP_LEFT, np.where(tables[:, :-1, 1:] >= tables[:, 1:, :-1], _UP, _LEFT))

    N = n + m
    pred = np.arange(-1, N - 1)
    pred[[0, n]] = [0, n]
    string = np.zeros(N)
    string[n:] = 1
    b_all = _pair_categories(arrows, n, 3)
    return make_trace(
        "lcs_length",
        inputs={"string": string, "pos": np.concatenate([positions(n), positions(m)]),
                "key": np.eye(_NUM_CHARS)[np.concatenate([x, y])]},
        hints={"pred_h": np.broadcast_to(pred, (t + 1, N)).copy(),
               "b_h": b_all[:-1], "c": _pair_tables(tables, n)},
        outputs={"b": b_all[-1]},
    )


# --------------------------------------------------------------------------
# Optimal binary search tree
# --------------------------------------------------------------------------

_NO_TREE = 1e9  # the published "infinite" starting cost of a subtree


def _bst_tables_by_cell(p: np.ndarray, q: np.ndarray):
    """Final ``e``, ``w`` and ``root`` tables, one cell at a time on Python
    floats: fastest for small trees, where numpy's per-call cost dominates."""
    N = len(q)
    keys, gaps = p.tolist(), q.tolist()
    e = [[0.0] * N for _ in range(N)]
    w = [[0.0] * N for _ in range(N)]
    root = [[0] * N for _ in range(N)]
    for i in range(N):
        e[i][i] = w[i][i] = gaps[i]
    for size in range(1, N):
        for i in range(N - size):
            j = i + size
            w_ij = w[i][j - 1] + keys[j - 1] + gaps[j]
            w[i][j] = w_ij
            e_i = e[i]
            best, best_r = _NO_TREE, 0
            for r in range(i, j):
                t = e_i[r] + e[r + 1][j] + w_ij
                if t < best:
                    best, best_r = t, r
            e_i[j] = best
            root[i][j] = best_r
    return np.array(e, dtype=np.float64), np.array(w, dtype=np.float64), np.array(root)


def _bst_tables_by_diagonal(p: np.ndarray, q: np.ndarray):
    """The same tables as :func:`_bst_tables_by_cell`, one numpy sweep per
    diagonal: fastest for larger trees.

    Tables are kept indexed by subtree size: by_start[i, l] is cell
    (i, i + l) and by_end[j, l] is cell (j - l, j). The left subtrees
    (i, r) of a diagonal's cells are then a plain slice of by_start and the
    right subtrees (r + 1, j) a reversed slice of by_end, with no gathers.
    """
    N = len(q)
    by_start = np.zeros((N, N))
    by_end = np.zeros((N, N))
    weight = np.zeros((N, N))
    root = np.zeros((N, N), dtype=np.int64)
    by_start[:, 0] = by_end[:, 0] = weight[:, 0] = q
    starts = np.arange(N)
    for size in range(1, N):
        count = N - size
        w_ij = weight[:count, size - 1] + p[size - 1:] + q[size:]
        weight[:count, size] = w_ij
        # (e[i, r] + e[r + 1, j]) + w[i, j], as the scalar expression associates
        cost = by_start[:count, :size] + by_end[size:, size - 1::-1] + w_ij[:, None]
        best_r = cost.argmin(axis=1)
        best = cost[starts[:count], best_r]
        # A subtree keeps the sentinel cost and root 0 unless a root beats it.
        by_start[:count, size] = by_end[size:, size] = np.fmin(best, _NO_TREE)
        root[:count, size] = (starts[:count] + best_r) * (best < _NO_TREE)
    # back to cell (i, j) = table[i, j - i], zero below the diagonal
    rows, cols = np.triu_indices(N)
    tables = np.zeros((3, N, N))
    tables[:, rows, cols] = np.stack([by_start, weight, root])[:, rows, cols - rows]
    return tables[0], tables[1], tables[2].astype(np.int64)


_CELL_BY_CELL_MAX_NODES = 24  # about where the two builders break even


def optimal_bst(p, q) -> Trace:
    """Optimal binary search tree over keys with probabilities ``p`` and
    gaps with probabilities ``q`` (CLRS 15.5), on ``len(q)`` nodes.

    Cell ``(i, j)`` stands for keys ``i..j-1`` (its expected cost ``e``, its
    probability mass ``w`` and its root); step ``l`` fills the subtrees of
    ``l`` keys. A root is recorded only if its cost is below the published
    1e9 sentinel, the first of equally cheap roots winning.
    """
    p = _checks.vector(p, "p", min_len=0)
    q = _checks.vector(q, "q")
    _checks.finite(p, "p")
    _checks.finite(q, "q")
    _checks.non_negative(p, "p", "key probabilities")
    _checks.non_negative(q, "q", "gap probabilities")
    if len(q) != len(p) + 1:
        raise ValueError(f"q must have one more element than p (the gaps around the "
                         f"keys), got len(p)={len(p)} and len(q)={len(q)}")
    N = len(q)
    build = _bst_tables_by_cell if N <= _CELL_BY_CELL_MAX_NODES else _bst_tables_by_diagonal
    e, w, root = build(p, q)

    # Step t shows the subtrees of at most t keys; the rest is still 0.
    nodes = np.arange(N)
    width = nodes[None, :] - nodes[:, None]
    done = (width[None] >= 0) & (width[None] <= nodes[:, None, None])
    return make_trace(
        "optimal_bst",
        inputs={"pos": positions(N), "p": np.r_[p, 0.0], "q": q},
        hints={"pred_h": identity_pointers(N, N), "root_h": np.where(done, root, 0),
               "e": np.where(done, e, 0.0), "w": np.where(done, w, 0.0),
               "msk": done * 1.0},
        outputs={"root": root},
    )
