"""CLRS-Text formatting rules on hand-made traces."""

import numpy as np
import pytest

import openclrs
from openclrs.text import (answer_names, format_example, format_value, generate_examples,
                           input_names, predecessors_to_order, trace_fields)
from openclrs.text import format as text_format
from openclrs.text.format import format_number, render


def test_predecessors_to_order():
    # list 2 -> 0 -> 3 -> 1: 2 is the head (points to itself), 1 the tail.
    assert predecessors_to_order([2, 3, 2, 0]).tolist() == [2, 0, 3, 1]
    assert predecessors_to_order(np.array([0.0])).tolist() == [0]
    with pytest.raises(ValueError):
        predecessors_to_order([0, 0, 0])  # two tails


def test_sorting_answers_with_sorted_keys():
    trace = openclrs.execute("insertion_sort", [0.3, 0.1, 0.2])
    question, answer = format_example("insertion_sort", trace)
    assert question == "insertion_sort:\nkey: [0.3 0.1 0.2]\npred:\n"
    assert answer == "[0.1 0.2 0.3]\n\n"


def test_hinted_sorting_trace():
    trace = openclrs.execute("insertion_sort", [0.3, 0.1, 0.2])
    question, answer = format_example("insertion_sort", trace, use_hints=True)
    assert question == ("insertion_sort:\nkey: [0.3 0.1 0.2], initial_trace: [0.3 0.1 0.2]\n"
                        "trace | pred:\n")
    assert answer.endswith(" | [0.1 0.2 0.3]\n\n")
    assert answer.startswith("[0.1 0.3 0.2]")  # after the first insertion


def test_search_tasks_answer_with_their_state():
    trace = openclrs.execute("binary_search", 0.5, np.array([0.1, 0.4, 0.6, 0.9]))
    q, a = format_example("binary_search", trace)
    assert q == "binary_search:\nkey: [0.1 0.4 0.6 0.9], target: 0.5\nreturn:\n"
    assert a == "2\n\n"
    q, a = format_example("binary_search", trace, use_hints=True)
    assert q.endswith(", initial_trace: (0, 3)\ntrace | (low, high):\n")
    assert a.endswith(" | (2, 2)\n\n")
    assert answer_names("binary_search", True) == ["low", "high"]
    assert answer_names("quickselect", True) == ["pivot"]


def test_string_matchers_trace_the_shift():
    assert answer_names("kmp_matcher", True) == ["s"]
    assert answer_names("kmp_matcher", False) == ["match"]
    assert trace_fields("naive_string_matcher") == [("s", "s")]


def test_inputs_skip_pos_and_redundant_adj():
    assert input_names("bfs") == ["s", "A"]
    assert input_names("insertion_sort") == ["key"]
    assert "pos" not in input_names("naive_string_matcher")


def test_tasks_with_hints_are_the_published_29():
    from openclrs.text import TASKS_WITH_HINTS
    assert set(TASKS_WITH_HINTS) == set(openclrs.CLRS_30_ALGS) - {"segments_intersect"}


def test_no_trace_for_segments_intersect():
    trace = openclrs.sample("segments_intersect", length=4, seed=0, truncate_decimals=3)[0]
    assert trace_fields("segments_intersect") == []
    assert format_example("segments_intersect", trace, True) == \
        format_example("segments_intersect", trace, False)


def test_integer_scalars_written_as_integers():
    # Unweighted graphs are integer arrays in the published sampler: "1", not "1.0".
    trace = openclrs.sample("bfs", length=4, seed=0, truncate_decimals=3)[0]
    assert "." not in format_value("bfs", "A", trace.inputs["A"])
    # ...but community graphs (SCC) are float arrays there.
    trace = openclrs.sample("strongly_connected_components", length=4, seed=0,
                            truncate_decimals=3)[0]
    assert "1.0" in format_value("strongly_connected_components", "A", trace.inputs["A"])
    # A weighted graph given to bfs by hand keeps its floats.
    assert format_value("bfs", "A", np.array([[0.0, 0.5], [0.5, 0.0]])) == "[[0.0 0.5], [0.5 0.0]]"


def test_edge_categorical_masked_cells():
    x = np.zeros((2, 2, 3))
    x[0, 0, 1] = 1
    x[0, 1] = -1
    x[1, 0, 2] = 1
    x[1, 1, 0] = 1
    assert format_value("lcs_length", "b", x) == "[[1 -1], [2 0]]"


def test_current_float_style():
    assert format_number(0.549) == "0.549"
    assert format_number(1.0) == "1.0"
    assert format_number(-0.0) == "-0.0"
    assert format_number(0.8310000000000001) == "0.8310000000000001"
    assert format_number(3.0, integer=True) == "3"


def test_generate_matches_format_example():
    examples = generate_examples("dfs", length=5, seed=3, num_samples=2, use_hints=True)
    traces = openclrs.sample("dfs", length=5, seed=3, num_samples=2, truncate_decimals=3)
    for ex, trace in zip(examples, traces):
        q, a = format_example("dfs", trace, use_hints=True)
        assert (ex["question"], ex["answer"], ex["text"]) == (q, a, q + a)
        assert ex["algo_name"] == "dfs" and ex["length"] == 5 and ex["use_hints"]


def test_bad_float_format():
    trace = openclrs.execute("insertion_sort", [0.3, 0.1])
    with pytest.raises(ValueError):
        format_example("insertion_sort", trace, float_format="fancy")


def test_every_probe_kind_is_writable():
    # Every (location, type) pair of the spec table, for inputs, outputs and
    # traced hints, renders on a sampled trace of every algorithm.
    for algorithm in openclrs.ALL_ALGS:
        trace = openclrs.sample(algorithm, length=6, seed=1, truncate_decimals=3)[0]
        for hints in (False, True):
            q, a = format_example(algorithm, trace, use_hints=hints)
            assert q.startswith(f"{algorithm}:\n") and a.endswith("\n\n")


# --------------------------------------------------------------------------
# Whole arrays are written fast (number tables); the strings are those of
# writing each number with format_number.
# --------------------------------------------------------------------------

def _one_by_one(text, integer=False, float_format="current", graph=False):
    def num(v):
        return str(v) if text.dtype.kind in "iu" else \
            format_number(v, integer=integer, float_format=float_format, graph=graph)

    if text.ndim == 0:
        return num(text.item())
    if text.ndim == 1:
        return "[" + " ".join(num(v) for v in text.tolist()) + "]"
    return "[" + ", ".join("[" + " ".join(num(v) for v in row) + "]"
                           for row in text.tolist()) + "]"


ODD_NUMBERS = ([], [0.5, 0.0, 0.25], [-0.0], [0.1 + 0.2], [1e-7], [12.345, -9.999],
               [float("inf")], [float("nan")], [123456.0], [10.0, -10.0, 10.001], [1e300])


@pytest.mark.parametrize("size", [1, 5, 60, 200])
def test_arrays_written_as_number_by_number(size):
    rs = np.random.RandomState(size)
    base = np.trunc(rs.uniform(-2, 2, size=size) * 1000) / 1000
    base[rs.rand(size) < 0.3] = 0.0
    for extra in ODD_NUMBERS:
        arr = np.concatenate([base, np.array(extra, dtype=np.float64)])
        for float_format in ("current", "legacy"):
            for location in ("node", "edge", "graph"):
                graph = location == "graph"
                assert render(location, "scalar", arr, float_format=float_format) == \
                    _one_by_one(arr, float_format=float_format, graph=graph), extra
                for v in arr[:3]:
                    assert render(location, "scalar", np.asarray(v), float_format=float_format) \
                        == format_number(v, float_format=float_format, graph=graph)
            rows = len(arr) // 4
            grid = arr[:rows * 4].reshape(rows, 4)
            assert render("edge", "scalar", grid, float_format=float_format) == \
                _one_by_one(grid, float_format=float_format), extra
            whole = np.round(arr[np.isfinite(arr)] * 7)
            assert render("node", "scalar", whole, integer=True, float_format=float_format) == \
                _one_by_one(whole, integer=True, float_format=float_format)
    ints = rs.randint(-1, 2000, size=size)  # in and out of the integer table
    assert render("node", "pointer", ints) == _one_by_one(ints)
    assert render("node", "pointer", ints, float_format="legacy") == _one_by_one(ints)
    assert render("edge", "mask", ints[:size // 2 * 2].reshape(-1, 2)) == \
        _one_by_one(ints[:size // 2 * 2].reshape(-1, 2))


def test_number_table_keeps_signed_zero_and_odd_floats():
    base = np.trunc(np.random.RandomState(0).uniform(-2, 2, size=120) * 1000) / 1000
    assert text_format._milli_strings(base) is not None  # the whole-array path is taken
    assert base.size >= text_format._MILLI_ARRAY_MIN_SIZE
    for extra in ODD_NUMBERS:
        arr = np.concatenate([base, np.array(extra, dtype=np.float64)])
        assert text_format._render(arr, False, False, False) == \
            "[" + " ".join(repr(v) for v in arr.tolist()) + "]", extra
        grid = arr[:120].reshape(10, 12)
        assert text_format._render(grid, False, False, False) == "[" + ", ".join(
            "[" + " ".join(repr(v) for v in row) + "]" for row in grid.tolist()) + "]"
    for extra in ([-0.0], [0.1 + 0.2], [float("nan")], [float("inf")], [123456.0]):
        assert text_format._milli_strings(np.concatenate([base, extra])) is None
    for shape in ((2, 0), (0, 60), (0, 200), (0,), (200, 0)):
        assert text_format._render(np.zeros(shape), False, False, False) == \
            _one_by_one(np.zeros(shape)), shape
        assert text_format._render(np.zeros(shape, dtype=np.int64), False, False, False) == \
            _one_by_one(np.zeros(shape, dtype=np.int64)), shape
    with pytest.raises(ValueError, match="shape"):
        text_format._render(np.zeros((2, 2, 2)), False, False, False)


def test_format_example_keeps_one_formatter_per_mode():
    trace = openclrs.execute("insertion_sort", [0.3, 0.1, 0.2])
    formatter = text_format.ExampleFormatter("insertion_sort", True, "legacy")
    assert formatter(trace) == format_example("insertion_sort", trace, True, "legacy")
    format_example("insertion_sort", trace, 1, "legacy")
    assert text_format._formatter("insertion_sort", True, "legacy") is \
        text_format._formatter("insertion_sort", True, "legacy")
    with pytest.raises(ValueError, match="unknown algorithm"):
        format_example("insertion_sortt", trace)
