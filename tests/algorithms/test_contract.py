"""The contract every algorithm keeps, checked for all of them at once.

Each algorithm is registered once, under its name, in the module of its
textbook chapter; its sampled traces follow its spec; it is deterministic
and never modifies its arguments; and every bad argument is refused with a
ValueError that names it. The per-chapter test files check what is
particular to each algorithm against independent truths.
"""

import ast
import copy
import inspect
import pathlib
import re

import numpy as np
import pytest

import openclrs
from openclrs import algorithms
from openclrs.probes import validate_trace
from openclrs.samplers import DRAWERS, Sampler
from openclrs.specs import POINTER_TYPES, SPECS

ALGS = list(openclrs.ALL_ALGS)
inf, nan = np.inf, np.nan


def inputs(name, n=6, seed=0):
    """Valid arguments of ``name``, as its sampler draws them."""
    length = max(n, 6) if name.endswith("matcher") else n
    return Sampler(name, length, seed=seed).draw_inputs()


def same_trace(a, b):
    pa, pb = list(a.probes()), list(b.probes())
    assert [p[:4] for p in pa] == [p[:4] for p in pb]
    for x, y in zip(pa, pb):
        assert x[4].dtype == y[4].dtype and x[4].shape == y[4].shape, x[0]
        assert x[4].tobytes() == y[4].tobytes(), x[0]


# --------------------------------------------------------------- registered

def test_every_algorithm_has_one_chapter_a_spec_and_a_sampler():
    chapters = [m for m in vars(algorithms).values()
                if inspect.ismodule(m) and hasattr(m, "__all__") and m is not algorithms]
    listed = [name for m in chapters for name in m.__all__]
    assert sorted(listed) == sorted(set(listed)), "an algorithm is listed twice"
    assert set(listed) == set(algorithms.ALGORITHMS) == set(SPECS) == set(DRAWERS)


@pytest.mark.parametrize("name", ALGS)
def test_registered(name):
    function = algorithms.ALGORITHMS[name]
    chapter = inspect.getmodule(function)
    assert name in chapter.__all__ and getattr(chapter, name) is function
    assert getattr(algorithms, name) is function is getattr(openclrs.algorithms, name)
    assert function.__name__ == name and function.__doc__


def test_chapters_share_helpers_through_shared_modules_only():
    """No chapter reaches into another chapter's private helpers: what two
    chapters share lives in ``_checks`` or ``_graphs``."""
    folder = pathlib.Path(algorithms.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


# ----------------------------------------------------------- trace and spec

@pytest.mark.parametrize("name", ALGS)
def test_sampled_traces_follow_the_spec(name):
    for n in (4, 9, 16):
        if name == "strongly_connected_components" and n < 4:
            continue
        length = max(n, 6) if name.endswith("matcher") else n
        for trace in openclrs.sample(name, length=length, seed=n, num_samples=2):
            validate_trace(trace)
            assert trace.length >= 1
            assert list(trace.spec.items()) == list(SPECS[name].items())
            for stage, store in (("input", trace.inputs), ("hint", trace.hints),
                                 ("output", trace.outputs)):
                assert set(store) == {p for p, (s, _, _) in SPECS[name].items() if s == stage}
            for probe, _, _, type_, value in trace.probes():
                assert value.flags.c_contiguous, probe
                if type_ in POINTER_TYPES:
                    assert value.dtype == np.int64, probe


# ------------------------------------------------------------ deterministic

@pytest.mark.parametrize("name", ALGS)
def test_deterministic(name):
    args = inputs(name, seed=3)
    same_trace(openclrs.execute(name, *args), openclrs.execute(name, *copy.deepcopy(args)))
    a, b = Sampler(name, 7 if not name.endswith("matcher") else 8, seed=5), \
        Sampler(name, 7 if not name.endswith("matcher") else 8, seed=5)
    for _ in range(2):
        same_trace(next(a), next(b))


# ----------------------------------------------------- arguments untouched

@pytest.mark.parametrize("name", ALGS)
def test_arguments_are_not_modified(name):
    args = inputs(name, n=8, seed=2)
    before = copy.deepcopy(args)
    frozen = []
    for a in args:
        if isinstance(a, np.ndarray):
            a = a.copy()
            a.setflags(write=False)  # read-only arguments are fine
        frozen.append(a)
    trace = openclrs.execute(name, *frozen)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the trace holds copies, not views of the arguments
    for value in trace.inputs.values():
        for a in args:
            if isinstance(a, np.ndarray):
                assert not np.shares_memory(value, a)
    # plain lists give the same trace as arrays
    as_lists = [a.tolist() if isinstance(a, np.ndarray) else a for a in args]
    same_trace(trace, openclrs.execute(name, *as_lists))


# ------------------------------------------------------------ bad arguments

def _mutations(value):
    """Bad versions of one valid argument: (what, bad value)."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        with_nan = value.astype(float)
        with_nan[0] = nan
        return [("2-D", np.stack([value, value])), ("NaN", with_nan),
                ("text", np.array(["a"] * len(value))), ("empty", value[:0])]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        with_nan = value.astype(float)
        with_nan[0, 0] = nan
        return [("not square", value[:-1]), ("1-D", value[0]), ("NaN", with_nan),
                ("text", np.full(value.shape, "a")), ("no nodes", value[:0, :0])]
    if isinstance(value, (int, np.integer)):
        return [("out of range", 10 ** 6), ("negative", -1), ("fractional", 1.5),
                ("bool", True)]
    if isinstance(value, float):
        return [("NaN", nan), ("text", "0.5")]
    raise AssertionError(f"no mutations for {value!r}")


def _bad_cases():
    for name in ALGS:
        params = list(inspect.signature(algorithms.ALGORITHMS[name]).parameters)
        for i, value in enumerate(inputs(name)):
            for what, bad in _mutations(value):
                if (name, params[i], what) in _ACCEPTED:
                    continue
                yield pytest.param(name, i, bad, params[i], id=f"{name}-{params[i]}-{what}")


# Mutations that are valid arguments.
_ACCEPTED = set()


@pytest.mark.parametrize("name, position, bad, param", list(_bad_cases()))
def test_each_bad_argument_is_named(name, position, bad, param):
    args = inputs(name)
    args[position] = bad
    with pytest.raises(ValueError) as error:
        openclrs.execute(name, *args)
    assert re.search(rf"(?<![\w.]){re.escape(param)}(?!\w)", str(error.value)), str(error.value)


BAD = [
    # name, arguments, message
    ("quicksort", ([0.5],), "at least 2"),
    ("find_maximum_subarray", ([0.5],), "at least 2"),
    ("find_maximum_subarray", ([inf, -inf],), r"A must be finite .*inf \+ -inf"),
    ("find_maximum_subarray_kadane", ([1.0, -inf],), "A must be finite"),
    ("binary_search", (0.5, [0.1, 0.3, 0.2]), "A must be sorted"),
    ("matrix_chain_order", ([1.0, inf, 2.0],), "p must be finite"),
    ("matrix_chain_order", ([1e200, 1.0, 2.0],), "would overflow"),
    ("matrix_chain_order", ([1.0, -2.0, 3.0],), r"p must be non-negative \(matrix dimensions\)"),
    ("lcs_length", ([0, 4], [1]), r"x must hold characters 0\.\.3"),
    ("lcs_length", ([0, 1], [1.5]), "y must hold integers"),
    ("optimal_bst", ([0.5, 0.5], [0.0, 0.0]), "q must have one more element than p"),
    ("optimal_bst", ([0.5], [0.0, inf]), "q must be finite"),
    ("optimal_bst", ([0.5, -0.1], [0.2, 0.2, 0.2]), r"p must be non-negative \(key prob"),
    ("optimal_bst", ([0.5], [0.6, -0.1]), r"q must be non-negative \(gap prob"),
    ("activity_selector", ([0.1, 0.2], [0.3]), "s and f must have the same length"),
    ("activity_selector", ([0.1, 0.5], [0.2, 0.4]), r"activity 1 ends before it starts"),
    ("task_scheduling", ([1, 0], [0.5, 0.2]), r"whole time slots >= 1.*d\[1\]=0"),
    ("task_scheduling", ([1, -3], [0.5, 0.2]), r"d\[1\]=-3"),
    ("task_scheduling", ([1.5, 1.0], [0.5, 0.2]), r"d\[0\]=1.5"),
    ("task_scheduling", ([inf, 1.0], [0.5, 0.2]), r"d\[0\]=inf"),
    ("task_scheduling", ([1, 2], [0.5]), "d and w must have the same length"),
    ("bellman_ford", ([[0, 1.0], [-2.0, 0]], 0), "negative-weight cycle"),
    ("floyd_warshall", ([[0, 1.0], [-2.0, 0]],), "negative-weight cycle"),
    ("floyd_warshall", ([[-0.5, 0], [0, 0]],), "negative-weight cycle"),
    *[(name, ([[0, inf], [1.0, 0]], *extra), "A must be finite")
      for name, extra in [("bellman_ford", (0,)), ("dag_shortest_paths", (0,)),
                          ("dijkstra", (0,)), ("floyd_warshall", ()), ("mst_kruskal", ()),
                          ("mst_prim", (0,))]],
    ("naive_string_matcher", ([0, 1], [0, 1, 2]), "must not be longer than the haystack"),
    ("kmp_matcher", ([0, 1, 2], [4]), r"P must hold characters in \[0, 4\)"),
    ("kmp_matcher", ([0, -1, 2], [1]), r"T must hold characters in \[0, 4\)"),
    ("segments_intersect", ([0.0, 1, 2, 3], [0.0, 1, 2]), "ys must hold exactly 4"),
    ("graham_scan", ([0.0, 1, 2, 3], [0.0, 1, 2]), "xs and ys must have the same length"),
    ("jarvis_march", ([0.0, inf, 2, 3], [0.0, 1, 2, 3]), "xs must hold finite coordinates"),
]


def _network():
    A = np.zeros((6, 6))
    A[0, 1:3] = A[3:5, 5] = A[1, 3] = 1.0
    return A


BAD += [
    ("bipartite_matching", (_network(), 2, 3, 0, 6), r"n \+ m \+ 2"),
    ("bipartite_matching", (_network(), 2, 2, 1, 5), "source node 0"),
    ("bipartite_matching", (_network(), 2, 2, 0, 4), "sink node"),
    ("bipartite_matching", (_network(), 2.0, 2, 0, 5), "n must be a non-negative integer"),
    ("bipartite_matching", (_network() * -1, 2, 2, 0, 5), "non-negative"),
]


@pytest.mark.parametrize("name, args, message", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments(name, args, message):
    with pytest.raises(ValueError, match=message):
        openclrs.execute(name, *args)


def test_bad_algorithm_names():
    with pytest.raises(ValueError, match="did you mean 'bfs'"):
        openclrs.execute("bsf", np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="unknown algorithm"):
        openclrs.execute(["bfs"], np.zeros((2, 2)), 0)
