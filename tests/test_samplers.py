import itertools

import networkx as nx
import numpy as np
import pytest

import openclrs
from openclrs import samplers


def test_same_seed_same_bytes_and_stream_equals_sample():
    a = openclrs.sample("insertion_sort", length=10, seed=3, num_samples=5)
    b = openclrs.Sampler("insertion_sort", 10, seed=3).take(5)
    for x, y in zip(a, b):
        for name, _, _, _, value in x.probes():
            store = {"input": y.inputs, "hint": y.hints, "output": y.outputs}
            assert value.tobytes() == store[x.spec[name][0]][name].tobytes()
    c = openclrs.sample("insertion_sort", length=10, seed=4, num_samples=1)
    assert not np.array_equal(a[0].inputs["key"], c[0].inputs["key"])


def test_er_graphs():
    rng = np.random.RandomState(0)
    g = samplers._er_graph(rng, 12, 0.5)
    assert np.array_equal(g, g.T)
    dag = samplers._er_graph(rng, 12, 0.5, directed=True, acyclic=True)
    assert nx.is_directed_acyclic_graph(nx.from_numpy_array(dag, create_using=nx.DiGraph))
    w = samplers._er_graph(rng, 12, 0.9, weighted=True)
    assert np.allclose(w, w.T) and (w[w != 0] > 0).all()


def test_community_graph_needs_enough_nodes():
    with pytest.raises(ValueError, match="communities"):
        openclrs.sample("strongly_connected_components", length=3, seed=0)


def test_collinearity_check_agrees_with_brute_force():
    rng = np.random.RandomState(1)
    for trial in range(30):
        n = rng.randint(3, 9)
        xs = np.round(rng.uniform(size=n), 1)
        ys = np.round(rng.uniform(size=n), 1)
        brute = any(abs((x2 - x1) * (y3 - y1) - (y2 - y1) * (x3 - x1)) < 1e-12
                    for (x1, y1), (x2, y2), (x3, y3)
                    in itertools.combinations(zip(xs, ys), 3))
        assert samplers._has_collinear_triple(xs, ys, 1e-12) == brute


def test_truncation():
    assert samplers.truncate(np.array([0.12345, -0.9999]), 3).tolist() == [0.123, -0.999]
    assert samplers.truncate(np.array([1, 2]), 3).tolist() == [1, 2]
    assert samplers.truncate(0.98765, 2) == 0.98
    traces = openclrs.sample("insertion_sort", length=6, seed=0, truncate_decimals=2)
    key = traces[0].inputs["key"]
    assert np.allclose(key * 100, np.round(key * 100))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="length must be a positive integer"):
        openclrs.sample("insertion_sort", length=0)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        openclrs.sample("insertion_sort", length=2.5)
    with pytest.raises(ValueError, match="num_samples"):
        openclrs.sample("insertion_sort", length=4, num_samples=-1)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['p'\]"):
        openclrs.sample("insertion_sort", length=4, p=0.5)


def test_string_matcher_needs_a_longer_haystack():
    # The published sampler crashes inside numpy here; we say why.
    with pytest.raises(ValueError, match="haystack longer than its needle"):
        openclrs.sample("kmp_matcher", length=4, length_needle=2)


def test_sampler_options_are_listed():
    assert samplers.sampler_options("bfs") == {"p": (0.5,)}
    assert "length_needle" in samplers.sampler_options("kmp_matcher")
