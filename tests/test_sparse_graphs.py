"""SALSA-CLRS's graph distributions (openclrs.distributions): parameter
ranges, split tables, determinism, connectivity, the sparse ER sampler
against the dense Bernoulli rule, Watts-Strogatz against networkx, Delaunay
against scipy, and bounded memory at n = 16,384."""

import math
import time
import tracemalloc

import networkx as nx
import numpy as np
import pytest
from scipy import stats
from scipy.spatial import Delaunay

from openclrs import distributions as D
from openclrs.sparse import Graph, connected_components, is_connected


def rng(seed=0):
    return np.random.RandomState(seed)


def undirected_pairs(g: Graph):
    upper = g.senders < g.receivers
    return set(zip(g.senders[upper].tolist(), g.receivers[upper].tolist()))


def test_salsa_parameters_and_split_tables():
    assert D.er_probabilities(16) == pytest.approx((math.log(16) / 16, 3 * math.log(16) / 16))
    assert D.er_probabilities(16) == pytest.approx((0.1733, 0.5199), abs=1e-4)
    assert D.TRAIN.sizes == (4, 7, 11, 13, 16)
    # SALSA keeps n = 16's range for every training size.
    assert D.TRAIN.p_range == D.VALIDATION.p_range == D.er_probabilities(16)
    assert len(D.TEST_SETS) == 15 and len(D.LARGE_TEST_SETS) == 6
    assert D.TEST_SETS["er_800"].p_range == D.er_probabilities(800)
    assert D.TEST_SETS["ws_80"].k == (4, 6, 8) and D.TEST_SETS["ws_80"].p_range == (0.05, 0.2)
    assert D.distribution("delaunay_4096") == D.LARGE_TEST_SETS["delaunay_4096"]
    assert D.distribution("train") is D.TRAIN
    assert D.NUM_GRAPHS == {"train": 10_000, "val": 1_000, "test": 1_000}
    with pytest.raises(ValueError, match="unknown graph distribution 'grid_16'"):
        D.distribution("grid_16")
    with pytest.raises(ValueError, match="even k"):
        D.watts_strogatz(rng(), 10, 5, 0.1)


def test_pair_index_is_the_row_major_upper_triangle():
    for n in range(1, 40):
        u, v = D._pair_of(np.arange(n * (n - 1) // 2), n)
        iu, ju = np.triu_indices(n, 1)
        assert np.array_equal(u, iu) and np.array_equal(v, ju)
    n = 16384  # the float root is settled exactly at the ends of rows too
    starts = np.array([u * (2 * n - u - 1) // 2 for u in range(0, n - 1, 97)])
    for index in (starts, starts - 1):
        u, v = D._pair_of(index[index >= 0], n)
        assert (u < v).all() and (v < n).all()
        assert np.array_equal(u * (2 * n - u - 1) // 2 + v - u - 1, index[index >= 0])


def test_sparse_er_matches_the_dense_bernoulli_rule():
    # n = 10, p = 0.3: edge counts Binomial(45, p), degrees Binomial(9, p),
    # every pair equally likely; the same statistics from dense coin flips.
    n, p, draws = 10, 0.3, 4000
    r = rng(1)
    sparse_counts = []
    pair_hits = np.zeros((n, n))
    degree_hist = np.zeros(n)
    for _ in range(draws):
        u, v = D.erdos_renyi_pairs(r, n, p)
        assert (u < v).all() and len(set(zip(u.tolist(), v.tolist()))) == len(u)
        sparse_counts.append(len(u))
        pair_hits[u, v] += 1
        deg = np.bincount(np.concatenate([u, v]), minlength=n)
        degree_hist += np.bincount(deg, minlength=n)[:n]
    dense_counts = [int(np.triu(r.random_sample((n, n)) < p, 1).sum()) for _ in range(draws)]
    assert np.mean(sparse_counts) == pytest.approx(45 * p, abs=0.15)
    assert np.var(sparse_counts) == pytest.approx(45 * p * (1 - p), rel=0.1)
    assert stats.ks_2samp(sparse_counts, dense_counts).pvalue > 1e-3
    freq = pair_hits[np.triu_indices(n, 1)] / draws
    assert np.abs(freq - p).max() < 5 * math.sqrt(p * (1 - p) / draws)
    expected = stats.binom.pmf(np.arange(n), n - 1, p) * draws * n
    assert stats.chisquare(degree_hist, expected / expected.sum() * degree_hist.sum()).pvalue > 1e-3


def test_er_extremes_and_connectivity():
    u, v = D.erdos_renyi_pairs(rng(), 6, 1.0)
    assert len(u) == 15
    assert len(D.erdos_renyi_pairs(rng(), 6, 0.0)[0]) == 0
    r = rng(2)
    densities = []
    for _ in range(60):
        g = D.distribution("er_80").draw(r)
        assert g.num_nodes == 80 and is_connected(g) and g.is_symmetric()
        assert (g.senders != g.receivers).all()
        densities.append(len(undirected_pairs(g)) / (80 * 79 / 2))
    low, high = D.er_probabilities(80)
    # p is uniform in the range; connectivity favours the upper part a little.
    assert low < np.mean(densities) < high


def test_training_graphs_cover_every_size_and_are_connected():
    r = rng(3)
    sizes = set()
    for _ in range(200):
        g = D.TRAIN.draw(r)
        sizes.add(g.num_nodes)
        assert is_connected(g)
    assert sizes == set(D.TRAIN_SIZES)


def test_watts_strogatz_rewires_as_networkx_does():
    r = rng(4)
    for n in (16, 80):
        for _ in range(20):
            g = D.distribution(f"ws_{n}").draw(r)
            edges = len(undirected_pairs(g))
            assert edges / n in (2, 3, 4)  # k/2 per node; rewiring keeps the count
            assert is_connected(g)
    # p = 0: the ring lattice itself.
    ring = D.watts_strogatz(rng(), 12, 4, 0.0)
    lattice = {tuple(sorted(e)) for e in nx.watts_strogatz_graph(12, 4, 0).edges}
    assert undirected_pairs(ring) == lattice
    # Rewired edges per graph: ours and networkx's have the same distribution.
    n, k, p, draws = 20, 4, 0.3, 1500
    lattice = {tuple(sorted(e)) for e in nx.watts_strogatz_graph(n, k, 0).edges}
    ours = [len(undirected_pairs(D.watts_strogatz(r, n, k, p)) - lattice) for _ in range(draws)]
    theirs = [len({tuple(sorted(e)) for e in nx.connected_watts_strogatz_graph(
        n, k, p, seed=i).edges} - lattice) for i in range(draws)]
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-3


def test_delaunay_is_scipys_triangulation_of_uniform_points():
    for n in (16, 160):
        g = D.delaunay(rng(n), n)
        points = rng(n).random_sample((n, 2))
        expected = set()
        for a, b, c in Delaunay(points).simplices.tolist():
            expected |= {tuple(sorted(e)) for e in ((a, b), (b, c), (c, a))}
        assert undirected_pairs(g) == expected
        assert is_connected(g)
        hull = len(Delaunay(points).convex_hull)  # hull edges = hull points
        assert len(expected) == 3 * n - 3 - hull  # a planar triangulation


def test_weights_are_salsas():
    g = D.salsa_weights(rng(5), D.TRAIN.draw(rng(5)))
    A = g.dense()
    assert np.array_equal(A, A.T)
    w = g.weights
    assert (w >= math.sqrt(1e-3)).all() and (w <= math.sqrt(1 + 1e-3)).all()


def test_sampling_is_deterministic():
    for name in ("train", "er_160", "ws_160", "delaunay_160"):
        a = D.sample_sparse("bfs", name, num_samples=3, seed=7)
        b = D.sample_sparse("bfs", name, num_samples=3, seed=7)
        c = D.sample_sparse("bfs", name, num_samples=3, seed=8)
        for x, y in zip(a, b):
            assert np.array_equal(x.senders, y.senders)
            assert np.array_equal(x.inputs["s"], y.inputs["s"])
        assert any(x.num_edges != z.num_edges or not np.array_equal(x.senders, z.senders)
                   for x, z in zip(a, c))


def test_graph_checks():
    with pytest.raises(ValueError, match="listed twice"):
        Graph.from_edges(3, [0, 0], [1, 1])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        Graph.from_edges(3, [0], [3])
    g = Graph.undirected(5, [0, 3], [1, 4])
    assert connected_components(5, g.senders, g.receivers).tolist() == [0, 0, 2, 3, 3]
    with pytest.raises(ValueError, match="unknown graph family"):
        D.GraphDistribution("grid", (16,))
    with pytest.raises(ValueError, match="no sparse implementation"):
        D.SparseSampler("floyd_warshall", "train")


def test_sampling_16384_nodes_is_sparse_and_fast():
    """ER at n = 16,384 (E ~ 0.1-0.3 million): a dense n x n draw would
    hold 268 million cells (256 MiB as bool, 2 GiB as float64)."""
    for family in ("er", "delaunay"):
        tracemalloc.start()
        start = time.perf_counter()
        g = D.distribution(f"{family}_16384").draw(rng(6))
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert g.num_nodes == 16384 and is_connected(g)
        assert peak < 96 << 20, f"{family}: {peak >> 20} MiB"
        assert seconds < 10, f"{family}: {seconds:.1f} s"
    trace = D.sample_sparse("bfs", "er_16384", seed=1, hints=False)[0]
    assert trace.nbytes() < 64 << 20


def test_hints_that_cannot_fit_are_refused_with_advice(monkeypatch):
    from openclrs.footprint import SampleTooLarge

    monkeypatch.setattr(D, "available_memory", lambda: 64 << 20)
    with pytest.raises(SampleTooLarge, match="hints=False"):
        D.sample_sparse("dfs", "er_800", seed=0)  # 2,400 steps x 800 nodes x 12 probes
    assert D.sample_sparse("dfs", "er_800", seed=0, hints=False)[0].length == 2400
    assert D.sample_sparse("bfs", "er_800", seed=0)[0].has_hints  # a few steps: fine


def test_distributions_refuse_impossible_parameters_up_front():
    """A Watts-Strogatz size too small for SALSA's k = 8 is refused when the
    distribution is made, not when an unlucky draw of k meets it midway."""
    from openclrs.distributions import GraphDistribution, distribution

    with pytest.raises(ValueError, match="needs n > 8"):
        distribution("ws_7")
    assert distribution("ws_9").k == (4, 6, 8)
    with pytest.raises(ValueError, match="at least one node"):
        distribution("er_0")
    with pytest.raises(ValueError, match="even k"):
        GraphDistribution("ws", (20,), (0.1, 0.2), (3,))
    with pytest.raises(ValueError, match="p_range"):
        GraphDistribution("er", (20,), (0.3, 0.1))
