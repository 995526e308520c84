"""TransNAR's shape, parse and CLRS scores on hand-made answers."""

import pytest

from openclrs.specs import CLRS_30_ALGS
from openclrs.text import PaperScore, generate_examples, paper_score, score
from openclrs.text.format import TASKS_WITH_HINTS

BFS = "[0 0 0 2 3]\n\n"
SORT = "[0.423 0.544 0.548 0.602 0.715]\n\n"
LCS = "[[-1 -1 0], [-1 1 2], [-1 -1 -1]]\n\n"
BSEARCH_HINTS = "(3, 4), (4, 5) | (4, 4)\n\n"


def scores(*args, **kw):
    return tuple(paper_score(*args, **kw).as_dict().values())


@pytest.mark.parametrize("float_format", ["current", "legacy"])
@pytest.mark.parametrize("hints", [False, True])
def test_gold_answers_score_one_everywhere(float_format, hints):
    for algorithm in (TASKS_WITH_HINTS if hints else CLRS_30_ALGS):
        for e in generate_examples(algorithm, 5, seed=1, num_samples=2, use_hints=hints,
                                   float_format=float_format):
            assert scores(algorithm, e["answer"], e["answer"]) == (1.0, 1.0, 1.0), algorithm


def test_right_answers_in_any_layout():
    assert scores("bfs", "[0 0 0 2 3]", BFS) == (1, 1, 1)
    assert scores("bfs", " [0, 0, 0, 2, 3]\n\n\n", BFS) == (1, 1, 1)


def test_length_errors_zero_shape_and_clrs_not_parse():
    assert scores("bfs", "[0 0 0 2]\n\n", BFS) == (0, 1, 0)
    assert scores("bfs", "[0 0 0 2 3 3]\n\n", BFS) == (0, 1, 0)
    assert scores("lcs_length", "[[-1 -1 0], [-1 1 2]]\n\n", LCS) == (0, 1, 0)   # a row short
    assert scores("lcs_length", "[[-1 -1 0], [-1 1], [-1 -1 -1]]", LCS) == (0, 1, 0)  # ragged
    assert scores("bfs", "", BFS) == scores("bfs", " \n", BFS) == (0, 0, 0)   # nothing: no parse
    assert scores("bfs", "0, [0 0 0 2 3]", BFS) == (0, 1, 0)  # a field too many


def test_partial_credit():
    assert scores("bfs", "[0 0 1 2 3]\n\n", BFS) == (1, 1, 4 / 5)
    assert scores("lcs_length", "[[-1 -1 0], [-1 1 2], [-1 -1 0]]\n\n", LCS) == (1, 1, 8 / 9)
    assert scores("insertion_sort", "[0.423 0.544 0.548 0.602 0.716]", SORT) == (1, 1, 4 / 5)
    assert scores("insertion_sort", "[0.423 0.544 0.548 0.602 0.716]", SORT,
                  atol=1e-3 + 1e-12) == (1, 1, 1)


def test_illicit_characters_zero_parse_only():
    # reading A (default): the shape stands, the bad element is wrong
    assert scores("bfs", "[0 0 x 2 3]\n\n", BFS) == (1, 0, 4 / 5)
    assert scores("bfs", "[0 0 0 2 3a]", BFS) == (1, 0, 4 / 5)
    assert scores("lcs_length", "[[-1 -1 0], [-1 q 2], [-1 -1 -1]]", LCS) == (1, 0, 8 / 9)
    # reading B: a parse failure zeroes the CLRS score too
    assert scores("bfs", "[0 0 x 2 3]", BFS, zero_unparsed=True) == (1, 0, 0)
    # garbage: no shape, no parse
    assert scores("bfs", "pi: [0 0 0 2 3]", BFS) == (0, 0, 0)
    # digits of other scripts (float() reads them) and inf / nan are not CLRS-Text numbers
    assert scores("bfs", "[0 0 \uff11 2 3]", BFS)[1] == 0
    assert scores("bfs", "[0 0 nan 2 inf]", BFS)[1] == 0
    assert paper_score("bfs", None, BFS) == PaperScore(0.0, 0.0, 0.0)
    # a number of the wrong kind is a wrong element, not an illicit character
    assert scores("bfs", "[0 0 0.5 2 3]", BFS) == (1, 1, 4 / 5)
    # the strict scorer has no shape for these
    strict = score("bfs", "[0 0 x 2 3]", BFS)
    assert (strict.parsed, strict.shape_match, strict.accuracy) == (False, False, 0.0)


def test_traces_score_the_final_answer_only():
    assert scores("binary_search", "(3, 4), (4, x) | (4, 4)\n\n", BSEARCH_HINTS) == (1, 1, 1)
    assert scores("binary_search", "(3, 4) | (4, 5)\n\n", BSEARCH_HINTS) == (1, 1, 1 / 2)
    assert scores("binary_search", "(3, 4) | 4\n\n", BSEARCH_HINTS) == (0, 1, 0)


def test_a_true_answer_that_does_not_parse_is_an_error():
    with pytest.raises(ValueError, match="true answer"):
        paper_score("bfs", BFS, "[0 0 x]")
