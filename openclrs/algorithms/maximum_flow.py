"""Maximum flow (CLRS chapter 26): maximum bipartite matching by
Ford-Fulkerson augmentation, each augmenting path found by Bellman-Ford on
the residual graph (with unit capacities, Edmonds-Karp's shortest paths).
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, graph, make_trace, one_hot, positions
from ..specs import OutputClass
from . import _checks
from ._graphs import Relaxer, weight_matrix

__all__ = ["bipartite_matching"]


def _count(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {x!r}")
    return int(x)


def bipartite_matching(A, n, m, s, t) -> Trace:
    """Maximum matching between nodes ``1..n`` and ``n+1..n+m`` (CLRS 26.3).

    ``A`` is the flow network: node ``s = 0`` feeds the left side, the right
    side drains into ``t = n + m + 1``, and ``A[i, j] != 0`` is an edge of
    unit capacity. Phase 0 steps are Bellman-Ford rounds on the residual
    graph (``A_h``, ``adj_h``) from ``s``; once ``t`` is reached, phase 1
    walks the path back from ``t``, one step per edge, reversing it in the
    residual graph and updating ``in_matching`` (-1 where neither direction
    is an edge, 1 on the diagonal and on matched or forward-used edges). It
    stops when a round changes no distance.

    ``u`` repeats the published loop variable: ``t`` at the first round
    (``t`` is also the last node, where the relaxation loop ends), ``s`` at
    the first round after an augmentation, the walk's position in phase 1.
    Entries of ``A`` must be non-negative, which guarantees termination.
    """
    A = weight_matrix(A)
    N = A.shape[0]
    n, m = _count(n, "n"), _count(m, "m")
    if N != n + m + 2:
        raise ValueError(f"A must have n + m + 2 = {n + m + 2} nodes "
                         f"(source and sink included), got {N}")
    if _checks.node(s, N, "s") != 0:
        raise ValueError(f"s must be the source node 0, got {s!r}")
    if _checks.node(t, N, "t") != N - 1:
        raise ValueError(f"t must be the sink node n + m + 1 = {N - 1}, got {t!r}")
    s, t = 0, N - 1
    if (A < 0).any():
        raise ValueError("A must be non-negative (edge capacities)")

    adj = graph(A)
    matching = OutputClass.MASKED + adj + adj.T
    residual = A.astype(np.float64)
    residual_adj = adj
    # Per step: references to the matching and residual matrices (copied
    # only when they change) and the search state.
    matchings, residuals, residual_adjs = [], [], []
    ds, reacheds, pis, us, phases = [], [], [], [], []

    def record(d, reached, pi, u, phase):
        matchings.append(matching)
        residuals.append(residual)
        residual_adjs.append(residual_adj)
        ds.append(d)
        reacheds.append(reached)
        pis.append(pi)
        us.append(u)
        phases.append(phase)

    u = t
    while True:
        relax = Relaxer(residual)
        d = np.zeros(N)
        pi = np.arange(N)
        reached = np.zeros(N, dtype=bool)
        reached[s] = True
        while True:
            record(d, reached, pi, u, 0)
            u = t
            new_d, pi, new_reached = relax(d, pi, reached)
            if (new_d == d).all():
                return make_trace(
                    "bipartite_matching",
                    inputs={"pos": positions(N), "A": A, "adj": adj,
                            "s": one_hot(s, N), "t": one_hot(t, N)},
                    hints={"in_matching_h": np.stack(matchings),
                           "A_h": np.stack(residuals), "adj_h": np.stack(residual_adjs),
                           "d": np.stack(ds), "msk": np.stack(reacheds),
                           "pi": np.stack(pis), "u": one_hot(us, N),
                           "phase": np.array(phases)},
                    outputs={"in_matching": matching},
                )
            if pi[t] != t:
                break
            d, reached = new_d, new_reached
        record(d, reached, pi, t, 1)
        x = t
        pi_list = pi.tolist()
        while pi_list[x] != x:
            p = pi_list[x]
            matching = matching.copy()
            if p < x:
                matching[p, x] = 1
            else:
                matching[x, p] = 0
            residual = residual.copy()
            residual[p, x] = 0
            residual[x, p] = 1
            residual_adj = residual_adj.copy()  # p != x: no diagonal entry moves
            residual_adj[p, x] = 0
            residual_adj[x, p] = 1
            x = p
            record(d, reached, pi, x, 1)
        u = x
