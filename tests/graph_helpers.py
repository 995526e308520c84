"""Random graphs for the algorithm tests (independent of the samplers, so
that tests compare the algorithms with other truths on other graphs)."""

import networkx as nx
import numpy as np


def random_graph(rng, n=None, p=None, *, directed=True, acyclic=False,
                 weights=(0.05, 1.0), self_loops=False):
    """An ``n``-node adjacency matrix with edge probability ``p``.

    ``rng``: a ``numpy.random.Generator`` or a seed. ``n`` (1..13) and ``p``
    (0.1..0.9) are drawn when not given. ``weights``: ``(low, high)`` for
    uniform weights, ``"ties"`` for weights in {0.5, 1, 1.5} (many equal
    weights), ``None`` for a 0/1 matrix. ``acyclic``: a DAG (an upper
    triangle, relabelled at random); otherwise ``directed=False`` mirrors the
    upper triangle. The diagonal is cleared unless ``self_loops``.
    """
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    n = n or int(rng.integers(1, 14))
    p = rng.uniform(0.1, 0.9) if p is None else p
    if weights is None:
        A = (rng.random((n, n)) < p).astype(float)
    elif weights == "ties":
        A = rng.integers(1, 4, (n, n)) / 2 * (rng.random((n, n)) < p)
    else:
        A = rng.uniform(*weights, (n, n)) * (rng.random((n, n)) < p)
    if acyclic:
        perm = rng.permutation(n)
        A = np.triu(A, 1)[perm][:, perm]
    elif not directed:
        A = np.triu(A, 1)
        A = A + A.T
    if not self_loops:
        np.fill_diagonal(A, 0)
    return A


def nx_graph(A, directed=True):
    """``A`` as a weighted networkx graph (every node kept, edges where
    ``A != 0``; undirected graphs read the upper triangle and diagonal)."""
    G = nx.DiGraph() if directed else nx.Graph()
    G.add_nodes_from(range(len(A)))
    cells = np.nonzero(A if directed else np.triu(A))
    for u, v in zip(*cells):
        G.add_edge(int(u), int(v), weight=A[u, v])
    return G
