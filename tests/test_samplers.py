import itertools
import re

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


BAD_SAMPLER_ARGUMENTS = [
    # algorithm, keyword arguments, message
    ("insertion_sort", dict(length=0), "length must be a positive integer"),
    ("insertion_sort", dict(length=2.5), "length must be a positive integer"),
    ("insertion_sort", dict(length=True), "length must be a positive integer"),
    ("insertion_sort", dict(length=4, num_samples=-1), "num_samples must be a positive"),
    ("insertion_sort", dict(length=4, num_samples=0), "num_samples must be a positive"),
    ("insertion_sort", dict(length=4, seed="x"), r"seed must be None or an integer in \[0, 2\*\*32\)"),
    ("insertion_sort", dict(length=4, seed=-1), "seed must be None or an integer"),
    ("insertion_sort", dict(length=4, seed=2 ** 32), "seed must be None or an integer"),
    ("insertion_sort", dict(length=4, seed=1.0), "seed must be None or an integer"),
    ("dijkstra", dict(length=4, truncate_decimals=-1), r"truncate_decimals must be None or an integer in \[0, 15\]"),
    ("dijkstra", dict(length=4, truncate_decimals=2.5), "truncate_decimals must be"),
    ("dijkstra", dict(length=4, truncate_decimals=True), "truncate_decimals must be"),
    ("dijkstra", dict(length=4, truncate_decimals=400), "truncate_decimals must be"),
    ("bfs", dict(length=4, p=()), "p must be a probability or a non-empty sequence"),
    ("bfs", dict(length=4, p=None), r"p must hold probabilities in \[0, 1\]"),
    ("bfs", dict(length=4, p=1.5), "p must hold probabilities"),
    ("bfs", dict(length=4, p=float("nan")), "p must hold probabilities"),
    ("bfs", dict(length=4, p=True), "p must hold probabilities"),
    ("bfs", dict(length=4, p="0.5"), "p must hold probabilities"),
    ("strongly_connected_components", dict(length=8, k=0), "k must be a positive integer"),
    ("strongly_connected_components", dict(length=8, k=-2), "k must be a positive integer"),
    ("strongly_connected_components", dict(length=8, k=2.0), "k must be a positive integer"),
    ("strongly_connected_components", dict(length=8, eps=1.5), r"eps must be a probability"),
    ("lcs_length", dict(length=6, chars=0), r"chars must be an integer in \[1, 4\]"),
    ("kmp_matcher", dict(length=6, chars=5), r"chars must be an integer in \[1, 4\]"),
    ("lcs_length", dict(length=6, length_2=-2), "length_2 must be a positive integer"),
    ("bipartite_matching", dict(length=6, length_2=0), "length_2 must be a positive integer"),
    ("kmp_matcher", dict(length=8, length_needle=0), "length_needle must be None"),
    ("task_scheduling", dict(length=4, max_deadline=0), "max_deadline must be a positive"),
    ("insertion_sort", dict(length=4, low=float("nan")), "low must be a finite number"),
    ("insertion_sort", dict(length=4, high=float("inf")), "high must be a finite number"),
    ("insertion_sort", dict(length=4, high=1e999), "high must be a finite number"),
    ("insertion_sort", dict(length=4, low="0"), "low must be a finite number"),
    ("insertion_sort", dict(length=4, low=2.0, high=1.0), "low must not exceed high"),
    ("insertion_sort", dict(length=4, low=-1e308, high=1e308), "high - low must be a finite"),
    ("matrix_chain_order", dict(length=4, low=-1.0), r"low must be .*non-negative.*matrix_chain"),
    ("graham_scan", dict(length=4, radius=0.0), "radius must be a finite positive"),
    ("graham_scan", dict(length=4, origin_x=float("inf")), "origin_x must be a finite"),
    ("graham_scan", dict(length=4, collinearity_resampling_attempts=0),
     "collinearity_resampling_attempts must be a positive integer"),
    ("graham_scan", dict(length=4, collineararity_eps=-1.0), "collineararity_eps must be"),
    # lengths a sampler cannot serve, whatever the seed
    ("quicksort", dict(length=1), "length=1 is too small: quicksort needs 2 keys"),
    ("find_maximum_subarray", dict(length=1), "needs 2 keys"),
    ("lcs_length", dict(length=1), "two strings of 1 character or more"),
    ("strongly_connected_components", dict(length=3), r"k=4 communities; use length >= 4"),
    ("strongly_connected_components", dict(length=8, k=9), r"use length >= 9"),
    ("naive_string_matcher", dict(length=2), "haystack longer than its needle"),
    # a random needle of up to 4 characters leaves 4 or more: only some seeds fail
    ("kmp_matcher", dict(length=8, length_needle=-4), "needle of up to 4"),
]


@pytest.mark.parametrize("algorithm, kwargs, message", BAD_SAMPLER_ARGUMENTS,
                         ids=[f"{a}-{'-'.join(k)}" for a, k, _ in BAD_SAMPLER_ARGUMENTS])
def test_bad_sampler_arguments_are_named(algorithm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        openclrs.sample(algorithm, **kwargs)
    # the same check, before anything is drawn, behind every entry point
    kwargs = dict(kwargs)
    kwargs.pop("num_samples", None)
    if "num_samples" not in message:
        with pytest.raises(ValueError, match=message):
            samplers.Sampler(algorithm, **kwargs)
        with pytest.raises(ValueError, match=message):
            samplers.check_sampler_arguments(algorithm, **kwargs)


def test_unknown_options_and_algorithms():
    with pytest.raises(TypeError, match=r"the insertion_sort sampler has no option p; "):
        openclrs.sample("insertion_sort", length=4, p=0.5)
    with pytest.raises(ValueError, match="has no option p"):  # a bad argument like any other
        openclrs.Sampler("insertion_sort", 4, p=0.5)
    with pytest.raises(ValueError, match="did you mean 'bfs'"):
        openclrs.sample("bsf", length=4)


@pytest.mark.parametrize("seed", range(6))
def test_every_edge_probability_is_checked_whatever_the_seed(seed):
    # 2.0 is drawn only by some seeds; it is refused for all of them, up front
    with pytest.raises(ValueError, match="p must hold probabilities"):
        openclrs.sample("bfs", length=5, seed=seed, p=(0.5, 2.0))


def test_the_default_options_pass_their_own_checks():
    for algorithm in openclrs.ALL_ALGS:
        samplers.check_sampler_arguments(algorithm, 8, seed=0, truncate_decimals=3,
                                         **samplers.sampler_options(algorithm))


def test_zero_decimals_truncate_nothing_as_published():
    plain = openclrs.sample("dijkstra", length=5, seed=1)[0]
    zero = openclrs.sample("dijkstra", length=5, seed=1, truncate_decimals=0)[0]
    assert plain.inputs["A"].tobytes() == zero.inputs["A"].tobytes()
    cut = openclrs.sample("dijkstra", length=5, seed=1, truncate_decimals=15)[0]
    assert np.allclose(cut.inputs["A"], plain.inputs["A"], atol=1e-15, rtol=0)


def test_string_matcher_needs_a_longer_haystack():
    # The published sampler crashes inside numpy here; we say why.
    with pytest.raises(ValueError, match="haystack longer than its needle"):
        openclrs.sample("kmp_matcher", length=4, length_needle=2)


def test_sampler_options_are_listed():
    assert samplers.sampler_options("bfs") == {"p": (0.5,)}
    assert "length_needle" in samplers.sampler_options("kmp_matcher")


@pytest.mark.parametrize("argv, message", [
    (["generate", "--algorithms", "dijkstra", "--lengths", "4", "--num-samples", "1",
      "--truncate-decimals", "400"], r"truncate_decimals must be None or an integer in \[0, 15\]"),
    (["generate", "--algorithms", "bfs", "--lengths", "4", "--num-samples", "1",
      "--option", "p=(0.5,2.0)"], r"p must hold probabilities in \[0, 1\]"),
    (["show", "strongly_connected_components", "--length", "8", "--option", "k=0"],
     "k must be a positive integer"),
])
def test_the_command_line_gives_the_same_message(argv, message, tmp_path, capsys):
    from openclrs.cli import main

    if argv[0] == "generate":
        argv = [*argv, "--root", str(tmp_path / "data"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(message, err) and err.startswith("error:") and "\n" not in err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.safetensors"))
