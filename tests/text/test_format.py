"""CLRS-Text formatting rules on hand-made traces."""

import numpy as np
import pytest

import openclrs
from openclrs.text import (answer_names, format_example, format_value, generate, input_names,
                           predecessors_to_order, trace_fields)
from openclrs.text.format import format_number


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
    examples = generate("dfs", length=5, seed=3, num_samples=2, use_hints=True)
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
