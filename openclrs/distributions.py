"""SALSA-CLRS's graph distributions, sampled sparsely and from a seed.

Read from SALSA-CLRS's code (jkminder/SALSA-CLRS 3c12bde: salsaclrs/data.py
``SALSA_CLRS_DATASETS``, salsaclrs/sampler.py), which samples through
networkx and scipy on unseeded global random streams. Here every draw comes
from one ``numpy.random.RandomState(seed)`` (numpy's frozen stream: same
seed, same graphs on every machine), and no step touches an ``n x n`` array.

Families (all undirected, no self-loops, nodes labelled as SALSA's are):

* ``er``, Erdos-Renyi G(n, p): every pair ``u < v`` an edge independently
  with probability ``p``; redrawn (same ``p``) until connected, as SALSA's
  ``connected=True`` default does. Sampled by geometric skipping (Batagelj &
  Brandes 2005): the gaps between successive edges in the row-major list of
  the ``n(n-1)/2`` pairs are i.i.d. Geometric(p), so ``E`` gaps are drawn
  instead of ``n^2/2`` coins: the same distribution in O(E) time and memory.
* ``ws``, connected Watts-Strogatz (networkx 3.6's
  ``connected_watts_strogatz_graph``): a ring where each node is joined to
  its ``k/2`` nearest neighbours on each side, then, for ``j = 1..k/2`` and
  every node ``u`` in order, the edge ``(u, u + j)`` is rewired with
  probability ``p`` to ``(u, w)``, ``w`` uniform, redrawn while ``w = u`` or
  ``(u, w)`` is an edge (skipped when ``u`` is adjacent to every node);
  the whole graph is redrawn until connected, at most 100 times.
* ``delaunay``: the Delaunay triangulation of ``n`` points uniform in the
  unit square (scipy's Qhull; ``pip install "openclrs[graphs]"``), the
  edges of its triangles. Not checked for connectivity (as in SALSA; a
  triangulation of points in general position is connected).

Parameters (SALSA's): ``er_probabilities(n) = (ln n / n, 3 ln n / n)``, ``p``
uniform in that range per graph. Training: ER with ``n`` uniform in
{4, 7, 11, 13, 16} and ``p`` in ``er_probabilities(16)`` for every ``n``
(SALSA does not recompute the range per ``n``). Validation: ER, n = 16, the
same range. Test: ``er_N`` (``p`` in ``er_probabilities(N)``), ``ws_N`` (``k``
uniform in {4, 6, 8}, rewiring ``p`` uniform in (0.05, 0.2)) and
``delaunay_N`` for N in 16, 80, 160, 800, 1600 (1,000 graphs each), and
here also 4096 and 16384.

Weights (dijkstra, mst_prim, bellman_ford, dag_shortest_paths; SALSA's
``_create_graph``): each ordered pair draws ``w ~ U(0, 1)`` and an edge
``{i, j}`` weighs ``sqrt(w_ij * w_ji + 1e-3)`` both ways. Sources are uniform.
fast_mis draws its numbers from the same stream as it runs.

Per sample, draws happen in SALSA's order: ``n``, the family's parameters,
the graph (redraws included), the weights, the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .extras import require
from .footprint import SampleTooLarge, available_memory
from .sparse import Graph, SparseTrace, estimate_hint_bytes, is_connected, sorted_unique

Rng = np.random.RandomState

FAMILIES = ("er", "ws", "delaunay")
SALSA_TEST_SIZES = (16, 80, 160, 800, 1600)
LARGE_TEST_SIZES = (4096, 16384)
TRAIN_SIZES = (4, 7, 11, 13, 16)
WS_K = (4, 6, 8)
WS_REWIRING = (0.05, 0.2)
WS_TRIES = 100
# SALSA's split sizes (graphs per set).
NUM_GRAPHS = {"train": 10_000, "val": 1_000, "test": 1_000}


def er_probabilities(n: int) -> tuple[float, float]:
    """SALSA's range of ER edge probabilities for ``n`` nodes:
    ``(ln n / n, 3 ln n / n)``, from the connectivity threshold up."""
    base = math.log(n) / n
    return (base, 3 * base)


# --------------------------------------------------------------------------
# The three families
# --------------------------------------------------------------------------

def _pair_of(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair ``(u, v)``, ``u < v``, at position ``index`` of the row-major list
    of all pairs; row ``u`` starts at ``u (2n - u - 1) / 2``."""
    index = np.asarray(index, np.int64)
    start = lambda u: u * (2 * n - u - 1) // 2  # noqa: E731
    b = 2.0 * n - 1.0
    u = np.floor((b - np.sqrt(np.maximum(b * b - 8.0 * index, 0.0))) / 2).astype(np.int64)
    u = np.clip(u, 0, max(n - 2, 0))
    # The float root can be one off either way; settle it exactly.
    u -= start(u) > index
    u += start(u + 1) <= index
    return u, index - start(u) + u + 1


def erdos_renyi_pairs(rng: Rng, n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``u < v`` of one G(n, p) draw, by geometric skipping."""
    pairs = n * (n - 1) // 2
    if p >= 1:
        return _pair_of(np.arange(pairs), n)
    if p <= 0 or pairs == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    mean = pairs * p
    chunk = int(mean + 6 * math.sqrt(mean) + 16)
    found, last = [], -1
    while last < pairs:
        gaps = rng.geometric(p, size=chunk)
        positions = last + np.cumsum(gaps)
        found.append(positions)
        last = int(positions[-1])
    index = np.concatenate(found)
    return _pair_of(index[index < pairs], n)


def erdos_renyi(rng: Rng, n: int, p: float, connected: bool = True,
                max_tries: int = 100_000) -> Graph:
    """An ER graph (redrawn until connected, unless ``connected=False``)."""
    for _ in range(max_tries):
        u, v = erdos_renyi_pairs(rng, n, p)
        graph = Graph.undirected(n, u, v)
        if not connected or is_connected(graph):
            return graph
    raise RuntimeError(f"no connected G({n}, {p}) in {max_tries} draws; raise p")


def watts_strogatz(rng: Rng, n: int, k: int, p: float, tries: int = WS_TRIES) -> Graph:
    """A connected Watts-Strogatz graph (networkx's rewiring rule)."""
    if not 2 <= k < n or k % 2:
        raise ValueError(f"Watts-Strogatz needs an even k with 2 <= k < n, got k={k}, n={n}")
    for _ in range(tries):
        nbrs = [set() for _ in range(n)]
        for j in range(1, k // 2 + 1):
            for u in range(n):
                v = (u + j) % n
                nbrs[u].add(v)
                nbrs[v].add(u)
        for j in range(1, k // 2 + 1):
            for u in range(n):
                if rng.random_sample() >= p:
                    continue
                v = (u + j) % n
                w = int(rng.randint(n))
                skip = False
                while w == u or w in nbrs[u]:
                    w = int(rng.randint(n))
                    if len(nbrs[u]) >= n - 1:
                        skip = True
                        break
                if not skip:
                    nbrs[u].discard(v)
                    nbrs[v].discard(u)
                    nbrs[u].add(w)
                    nbrs[w].add(u)
        s = np.repeat(np.arange(n), [len(x) for x in nbrs])
        r = np.fromiter((w for x in nbrs for w in x), np.int64, len(s))
        graph = Graph.from_edges(n, s, r)
        if is_connected(graph):
            return graph
    raise RuntimeError(f"no connected Watts-Strogatz graph (n={n}, k={k}, p={p}) "
                       f"in {tries} tries")


def delaunay(rng: Rng, n: int) -> Graph:
    """The Delaunay graph of ``n`` uniform points in the unit square."""
    spatial = require("scipy.spatial", "sample Delaunay graphs")
    points = rng.random_sample((n, 2))
    triangles = spatial.Delaunay(points).simplices.astype(np.int64)
    a = triangles[:, [0, 1, 2]].ravel()
    b = triangles[:, [1, 2, 0]].ravel()
    keys = sorted_unique(np.minimum(a, b) * n + np.maximum(a, b))
    return Graph.undirected(n, keys // n, keys % n)


def salsa_weights(rng: Rng, graph: Graph, low: float = 0.0, high: float = 1.0) -> Graph:
    """SALSA's weights on an undirected graph: ``sqrt(w_ij w_ji + 1e-3)``."""
    n = graph.num_nodes
    upper = graph.senders < graph.receivers
    u, v = graph.senders[upper], graph.receivers[upper]
    w = rng.uniform(low, high, size=(len(u), 2))
    return Graph.undirected(n, u, v, np.sqrt(w[:, 0] * w[:, 1] + 1e-3))


# --------------------------------------------------------------------------
# SALSA's distributions and splits
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class GraphDistribution:
    """A family with its parameter ranges: ``n`` uniform in ``sizes``, ER's
    ``p`` or WS's rewiring ``p`` uniform in ``p_range``, WS's ``k`` uniform in
    ``k``."""

    family: str
    sizes: tuple[int, ...]
    p_range: tuple[float, float] | None = None
    k: tuple[int, ...] = ()

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown graph family {self.family!r}; expected one of "
                             f"{', '.join(FAMILIES)}")
        if not self.sizes or min(self.sizes) < (3 if self.family == "delaunay" else 1):
            raise ValueError(f"{self.family}: sizes must be positive (delaunay: >= 3), "
                             f"got {self.sizes}")
        if self.family != "delaunay" and self.p_range is None:
            raise ValueError(f"{self.family} needs p_range")
        if self.p_range is not None and not 0 <= self.p_range[0] <= self.p_range[1] <= 1:
            raise ValueError(f"{self.family}: p_range must be (low, high) with "
                             f"0 <= low <= high <= 1, got {self.p_range}")
        if self.family == "ws":
            # checked here, not when an unlucky draw of k meets a small n midway
            if not self.k or any(k < 2 or k % 2 for k in self.k):
                raise ValueError(f"ws needs even k >= 2, got {self.k}")
            if max(self.k) >= min(self.sizes):
                raise ValueError(f"ws with k up to {max(self.k)} needs n > {max(self.k)}, "
                                 f"got sizes {self.sizes}")

    def draw(self, rng: Rng) -> Graph:
        n = int(self.sizes[0] if len(self.sizes) == 1 else rng.choice(self.sizes))
        if self.family == "er":
            return erdos_renyi(rng, n, rng.uniform(*self.p_range))
        if self.family == "ws":
            k = int(self.k[0] if len(self.k) == 1 else rng.choice(self.k))
            return watts_strogatz(rng, n, k, rng.uniform(*self.p_range))
        return delaunay(rng, n)


def test_distribution(family: str, n: int) -> GraphDistribution:
    """SALSA's test distribution of ``family`` at ``n`` nodes."""
    if n < 1:
        raise ValueError(f"{family}_{n}: a graph needs at least one node")
    if family == "er":
        return GraphDistribution("er", (n,), er_probabilities(n))
    if family == "ws":
        return GraphDistribution("ws", (n,), WS_REWIRING, WS_K)
    return GraphDistribution(family, (n,))


TRAIN = GraphDistribution("er", TRAIN_SIZES, er_probabilities(16))
VALIDATION = GraphDistribution("er", (16,), er_probabilities(16))
# SALSA's 15 test sets, then the two larger sizes of each family.
TEST_SETS = {f"{family}_{n}": test_distribution(family, n)
             for family in FAMILIES for n in SALSA_TEST_SIZES}
LARGE_TEST_SETS = {f"{family}_{n}": test_distribution(family, n)
                   for family in FAMILIES for n in LARGE_TEST_SIZES}


def distribution(name: str) -> GraphDistribution:
    """``train``, ``val``, or a test set ``FAMILY_N`` (any ``N``)."""
    if name == "train":
        return TRAIN
    if name == "val":
        return VALIDATION
    family, _, size = name.rpartition("_")
    if family in FAMILIES and size.isdigit():
        return test_distribution(family, int(size))
    raise ValueError(f"unknown graph distribution {name!r}; expected train, val or "
                     f"FAMILY_N with FAMILY one of {', '.join(FAMILIES)} (e.g. er_1600)")


# --------------------------------------------------------------------------
# Sparse traces on these graphs
# --------------------------------------------------------------------------

# What each algorithm's arguments are drawn as: SALSA's samplers (weights
# and a source for dijkstra and mst_prim, a source for bfs and eccentricity,
# the graph alone for dfs and fast_mis); the algorithms SALSA does not run
# get those of their kin in its sampler table (bellman_ford weighted with a
# source; articulation_points and bridges the graph alone). SALSA's graphs
# are undirected, so topological_sort, strongly_connected_components and
# dag_shortest_paths see undirected graphs here; the CLRS samplers draw
# directed ones for them.
WEIGHTED_WITH_SOURCE = ("dijkstra", "mst_prim", "bellman_ford", "dag_shortest_paths")
UNWEIGHTED_WITH_SOURCE = ("bfs", "eccentricity")
RANDOMISED = ("fast_mis",)


class SparseSampler:
    """An endless stream of sparse traces of one algorithm on one graph
    distribution: ``SparseSampler("bfs", TEST_SETS["er_1600"], seed=0).take(8)``."""

    def __init__(self, algorithm: str, graphs: GraphDistribution | str,
                 seed: int | None = None, hints: bool = True):
        from .algorithms.sparse_registry import SPARSE_ALGORITHMS

        if algorithm not in SPARSE_ALGORITHMS:
            raise ValueError(f"no sparse implementation of {algorithm!r}; available: "
                             f"{', '.join(SPARSE_ALGORITHMS)}")
        self.algorithm = algorithm
        self.graphs = distribution(graphs) if isinstance(graphs, str) else graphs
        self.rng = np.random.RandomState(seed)
        self.hints = hints
        self._run = SPARSE_ALGORITHMS[algorithm]

    def draw_inputs(self) -> list:
        graph = self.graphs.draw(self.rng)
        if self.algorithm in WEIGHTED_WITH_SOURCE:
            graph = salsa_weights(self.rng, graph)
        args = [graph]
        if self.algorithm in WEIGHTED_WITH_SOURCE + UNWEIGHTED_WITH_SOURCE:
            args.append(int(self.rng.randint(graph.num_nodes)))
        if self.algorithm in RANDOMISED:
            args.append(self.rng)
        return args

    def __next__(self) -> SparseTrace:
        args = self.draw_inputs()
        if self.hints and args[0].num_nodes > 256 and self.algorithm not in RANDOMISED:
            self._check_hints_fit(self._run(*args, hints=False))
        return self._run(*args, hints=self.hints)

    def _check_hints_fit(self, bare: SparseTrace) -> None:
        """Refuse hints that cannot fit: those of the step-per-node
        algorithms are O(n^2) (a run without them, O(n + E), tells how many
        steps there are)."""
        need = estimate_hint_bytes(bare.spec, bare.num_nodes, bare.num_edges, bare.length)
        room = available_memory()
        if room is not None and need > room // 2:
            raise SampleTooLarge(
                f"the hints of {self.algorithm} on this {bare.num_nodes}-node graph "
                f"({bare.length:,} steps) take about {need / 2 ** 30:.1f} GiB, more than half "
                f"the {room / 2 ** 30:.1f} GiB available; sample with hints=False (SALSA-CLRS's "
                "validation and test sets have no hints)")

    def __iter__(self):
        return self

    def take(self, num_samples: int) -> list[SparseTrace]:
        return [next(self) for _ in range(int(num_samples))]


def sample_sparse(algorithm: str, graphs: GraphDistribution | str, num_samples: int = 1,
                  seed: int | None = None, hints: bool = True) -> list[SparseTrace]:
    """``num_samples`` sparse traces of ``algorithm`` on graphs of ``graphs``
    (a :class:`GraphDistribution` or a name: ``train``, ``val``, ``er_1600``...)."""
    return SparseSampler(algorithm, graphs, seed, hints).take(num_samples)
