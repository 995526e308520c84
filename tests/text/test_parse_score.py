"""Parsing and scoring hand-made answers: right, wrong, malformed."""

import math

import numpy as np
import pytest

from openclrs.text import ParseError, Score, Scoreboard, aggregate, parse_answer, score, \
    try_parse_answer
from openclrs.text.parse import tokenize

from .helpers import fixture_examples

BFS_TRUE = "[0 0 0 2 3]\n\n"
SORT_TRUE = "[0.423 0.544 0.548 0.602 0.715]\n\n"
KADANE_TRUE = "0, 3\n\n"
LCS_TRUE = "[[-1 -1 0], [-1 1 2], [-1 -1 -1]]\n\n"
BSEARCH_HINTS_TRUE = "(3, 4), (4, 5) | (4, 4)\n\n"
TOPO_HINTS_TRUE = "[0 1 2], 0, [0 1 0], 2 | [0 2 0], 1\n\n"


def test_tokenize():
    assert tokenize(" [0 -1.5e-3, 2] | (1, 2)\n") == \
        ["[", "0", "-1.5e-3", ",", "2", "]", "|", "(", "1", ",", "2", ")"]
    for bad in ("abc", "[0 1 x]", "0.5.3", "[1 2]]3q", "0..5"):
        with pytest.raises(ParseError):
            tokenize(bad)


def test_parse_kinds():
    assert parse_answer("bfs", BFS_TRUE)["pi"].tolist() == [0, 0, 0, 2, 3]
    assert parse_answer("bfs", BFS_TRUE)["pi"].dtype == np.int64
    out = parse_answer("find_maximum_subarray_kadane", KADANE_TRUE)
    assert (int(out["start"]), int(out["end"])) == (0, 3) and out["start"].shape == ()
    assert parse_answer("lcs_length", LCS_TRUE)["b"].tolist() == \
        [[-1, -1, 0], [-1, 1, 2], [-1, -1, -1]]
    assert parse_answer("insertion_sort", SORT_TRUE)["pred"].dtype == np.float64
    assert parse_answer("segments_intersect", "1\n\n")["intersect"].shape == ()


def test_parse_hinted():
    out = parse_answer("binary_search", BSEARCH_HINTS_TRUE)
    assert (int(out["low"]), int(out["high"])) == (4, 4)
    out = parse_answer("topological_sort", TOPO_HINTS_TRUE, use_hints=True)
    assert out["topo"].tolist() == [0, 2, 0] and int(out["topo_head"]) == 1
    from openclrs.text import parse_trace
    steps = parse_trace("topological_sort", TOPO_HINTS_TRUE)
    assert [s["topo"].tolist() for s in steps] == [[0, 1, 2], [0, 1, 0]]
    assert [int(s["topo_head"]) for s in steps] == [0, 2]
    steps = parse_trace("binary_search", BSEARCH_HINTS_TRUE)
    assert [(int(s["low"]), int(s["high"])) for s in steps] == [(3, 4), (4, 5)]
    assert parse_trace("naive_string_matcher", " | 1\n\n") == []
    assert int(parse_answer("naive_string_matcher", " | 1\n\n")["s"]) == 1


def test_parse_layout_leniency():
    assert parse_answer("bfs", "  [0   0 0\n2 3]  ")["pi"].tolist() == [0, 0, 0, 2, 3]
    assert parse_answer("bfs", "[0, 0, 0, 2, 3]")["pi"].tolist() == [0, 0, 0, 2, 3]
    assert parse_answer("lcs_length", "[[-1 -1 0] [-1 1 2] [-1 -1 -1]]")["b"].shape == (3, 3)
    assert parse_answer("bfs", "[0.0 0 0 2 3]")["pi"].tolist() == [0, 0, 0, 2, 3]


@pytest.mark.parametrize("algorithm,answer", [
    ("bfs", ""), ("bfs", "   \n"), ("bfs", "[0 0 0 2"), ("bfs", "[0 0 0.5 2 3]"),
    ("bfs", "[0 0 0 2 3], [1]"), ("bfs", "3"), ("bfs", "[[0 1]]"), ("bfs", "pi: [0 0 0 2 3]"),
    ("lcs_length", "[[0 1], [0]]"), ("lcs_length", "[0 1]"),
    ("find_maximum_subarray_kadane", "0"), ("find_maximum_subarray_kadane", "0 3"),
    ("binary_search", "(3, 4) | 4, 4"), ("bfs", "[" * 50), ("bfs", "[1e400 0 0 0 0]"),
    ("bfs", "[99999999999999999999999 0 0 0 0]"), ("bfs", "[0 0 nan 2 3]"),
])
def test_malformed_answers_raise_parse_error(algorithm, answer):
    with pytest.raises(ParseError):
        parse_answer(algorithm, answer)
    assert try_parse_answer(algorithm, answer) is None


def test_score_right():
    s = score("bfs", BFS_TRUE, BFS_TRUE)
    assert s == Score(True, True, True, 1.0, 5, 5, None)
    assert score("bfs", "[0 0 0 2 3]", BFS_TRUE).exact_match  # no trailing newlines
    assert score("insertion_sort", SORT_TRUE, SORT_TRUE).accuracy == 1.0
    assert score("binary_search", BSEARCH_HINTS_TRUE, BSEARCH_HINTS_TRUE).accuracy == 1.0


def test_score_extra_whitespace():
    s = score("bfs", "  [0  0 0\t2 3 ]\n", BFS_TRUE)
    assert s.exact_match and s.accuracy == 1.0
    s = score("lcs_length", "[[-1 -1 0],\n [-1 1 2],\n [-1 -1 -1]]", LCS_TRUE)
    assert s.exact_match and s.accuracy == 1.0


def test_score_wrong():
    s = score("bfs", "[0 0 0 3 3]", BFS_TRUE)
    assert (s.exact_match, s.parsed, s.shape_match) == (False, True, True)
    assert s.accuracy == pytest.approx(4 / 5) and (s.correct, s.total) == (4, 5)
    s = score("find_maximum_subarray_kadane", "0, 4", KADANE_TRUE)
    assert s.accuracy == 0.5
    s = score("lcs_length", "[[-1 -1 0], [-1 1 1], [-1 -1 0]]", LCS_TRUE)
    assert s.accuracy == pytest.approx(7 / 9)
    s = score("insertion_sort", "[0.423 0.544 0.548 0.603 0.715]", SORT_TRUE)
    assert s.accuracy == pytest.approx(4 / 5)
    assert score("insertion_sort", "[0.423 0.544 0.548 0.603 0.715]", SORT_TRUE,
                 atol=2e-3).accuracy == 1.0
    # Equal values written differently: right, but not an exact match.
    s = score("insertion_sort", "[0.4230 0.544 0.548 0.602 0.715]", SORT_TRUE)
    assert s.accuracy == 1.0 and not s.exact_match


def test_score_hinted_answers():
    # A wrong trace with the right final answer: accurate, not exact.
    s = score("binary_search", "(3, 4), (4, 6) | (4, 4)", BSEARCH_HINTS_TRUE)
    assert s.accuracy == 1.0 and not s.exact_match
    s = score("binary_search", "(3, 4), (4, 5) | (3, 4)", BSEARCH_HINTS_TRUE)
    assert s.accuracy == 0.5
    s = score("topological_sort", "[0 1 2], 0 | [0 2 0], 2", TOPO_HINTS_TRUE)
    assert s.accuracy == pytest.approx(3 / 4)
    s = score("topological_sort", "[0 1 2], 0, [0 1", TOPO_HINTS_TRUE)  # truncated
    assert s.accuracy == 0 and not s.parsed


@pytest.mark.parametrize("predicted", [
    "", "   ", "\n\n", "garbage", "[0 0 0 2", "[0 0 0 2 3", "[0 0 0 2 3]]", "[0 0 0]",
    "[0 0 0 2 3 4]", "[[0 0 0 2 3]]", "4", "[0 0 0 2 3] | [0 0 0 2 3] | x", None, 42,
    ["[0 0 0 2 3]"], "[" * 10000, "[0 0 0 2 3], 1", "😀", "[0 0 0 2 3] extra",
])
def test_score_malformed_is_zero_and_never_raises(predicted):
    s = score("bfs", predicted, BFS_TRUE)
    assert s.accuracy == 0.0 and not s.exact_match
    assert not (s.parsed and s.shape_match)


def test_score_wrong_shape():
    s = score("bfs", "[0 0 0 2]", BFS_TRUE)
    assert (s.parsed, s.shape_match, s.accuracy) == (True, False, 0.0)
    s = score("lcs_length", "[[-1 -1], [-1 1]]", LCS_TRUE)
    assert (s.parsed, s.shape_match, s.accuracy) == (True, False, 0.0)


def test_true_answer_must_parse():
    with pytest.raises(ValueError):
        score("bfs", BFS_TRUE, "not an answer")


def test_scores_on_published_answers():
    # Every published answer scores 1 against itself and 0 against garbage.
    for algorithm in ("dijkstra", "heapsort", "optimal_bst", "kmp_matcher", "quickselect"):
        for ex in fixture_examples(algorithm):
            assert score(algorithm, ex["answer"], ex["answer"]).exact_match
            assert score(algorithm, ex["answer"].strip(), ex["answer"]).accuracy == 1.0
            if len(ex["answer"]) > 10:  # cut in the middle of a vector or matrix
                assert score(algorithm, ex["answer"][: len(ex["answer"]) // 2].rstrip("] \n"),
                             ex["answer"]).accuracy == 0.0
            assert score(algorithm, "I don't know", ex["answer"]).accuracy == 0.0


def test_scoreboard_and_aggregate():
    board = Scoreboard()
    board.score("bfs", 5, BFS_TRUE, BFS_TRUE)
    board.score("bfs", 5, "[0 0 0 3 3]", BFS_TRUE)
    board.score("bfs", 5, "garbage", BFS_TRUE)
    board.score("bfs", 7, BFS_TRUE, BFS_TRUE)
    board.add("find_maximum_subarray_kadane", 4, score("find_maximum_subarray_kadane",
                                                       "0, 4", KADANE_TRUE))
    summary = board.summary()
    assert list(summary) == [("bfs", 5), ("bfs", 7), ("find_maximum_subarray_kadane", 4)]
    row = summary[("bfs", 5)]
    assert row["count"] == 3
    assert row["accuracy"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert row["exact_match"] == pytest.approx(1 / 3)
    assert row["parsed"] == pytest.approx(2 / 3)
    assert row["shape_match"] == pytest.approx(2 / 3)
    assert summary[("bfs", 7)]["accuracy"] == 1.0
    assert board.by_algorithm()["bfs"]["count"] == 4
    assert len(board) == 5
    assert board.rows()[0]["algorithm"] == "bfs" and board.rows()[0]["length"] == 5
    records = [("bfs", 5, score("bfs", BFS_TRUE, BFS_TRUE)),
               {"algorithm": "bfs", "length": 5, "score": score("bfs", "x", BFS_TRUE)}]
    assert aggregate(records)[("bfs", 5)]["accuracy"] == 0.5
    assert not math.isnan(Scoreboard().by_algorithm().get("bfs", {"accuracy": 0})["accuracy"])


def test_extract_answer_from_a_generation():
    from openclrs.text import extract_answer
    generated = "[0 0 0 2 3]\n\nbfs:\ns: 1, A: [[1 0], [0 1]]\npi:\n[1 1]"
    assert extract_answer(generated) == "[0 0 0 2 3]"
    assert score("bfs", extract_answer(generated), BFS_TRUE).exact_match
    assert extract_answer("\n  [0 1]") == "[0 1]"
