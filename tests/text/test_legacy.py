"""The legacy float style of the July 2024 Hugging Face release of CLRS-Text.

Until January 2025 (google-deepmind/clrs commits 97fd88d and dcf8643) the
samplers did not truncate floats and the formatter wrote node and edge
floats (and sorted keys) with 3 significant digits, graph floats with 3
decimals. The parity fixtures check whole examples; these check the rule.
"""

import numpy as np

import openclrs
from openclrs.text import answer_arrays, format_example, format_value, parse_answer
from openclrs.text.format import format_number


def test_three_significant_digits():
    assert format_number(0.54876, float_format="legacy") == "0.549"
    assert format_number(0.051534, float_format="legacy") == "0.0515"
    assert format_number(0.0029921, float_format="legacy") == "0.00299"
    assert format_number(1.0, float_format="legacy") == "1"
    assert format_number(0.0, float_format="legacy") == "0"
    assert format_number(12.3456, float_format="legacy") == "12.3"
    assert format_number(1234.5, float_format="legacy") == "1.23e+03"
    assert format_number(0.00001234, float_format="legacy") == "1.23e-05"
    assert format_number(7.0, integer=True, float_format="legacy") == "7"


def test_graph_scalars_three_decimals():
    assert format_number(0.0516, float_format="legacy", graph=True) == "0.052"
    assert format_number(0.5, float_format="legacy", graph=True) == "0.500"


def test_legacy_example():
    trace = openclrs.execute("binary_search", 0.64567, np.array([0.0123456, 0.5, 0.75]))
    q, a = format_example("binary_search", trace, float_format="legacy")
    assert q == "binary_search:\nkey: [0.0123 0.5 0.75], target: 0.646\nreturn:\n"
    assert a == "2\n\n"
    q, _ = format_example("binary_search", trace)  # current style: as given
    assert q == "binary_search:\nkey: [0.0123456 0.5 0.75], target: 0.64567\nreturn:\n"


def test_legacy_sorted_keys_and_weights():
    trace = openclrs.execute("insertion_sort", [0.98765, 0.123456, 1.0])
    _, a = format_example("insertion_sort", trace, float_format="legacy")
    assert a == "[0.123 0.988 1]\n\n"
    parsed = parse_answer("insertion_sort", a)["pred"]
    assert parsed.tolist() == [0.123, 0.988, 1.0]
    assert np.array_equal(answer_arrays("insertion_sort", trace, float_format="legacy")["pred"],
                          parsed)
    A = np.array([[0.0, 0.33333], [0.33333, 0.0]])
    assert format_value("dijkstra", "A", A, float_format="legacy") == "[[0 0.333], [0.333 0]]"
