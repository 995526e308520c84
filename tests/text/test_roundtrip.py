"""format -> parse gives back the answer, for every algorithm and mode."""

import numpy as np
import pytest

import openclrs
from openclrs.text import (answer_arrays, format_example, parse_answer, parse_trace,
                           score, trace_arrays, trace_fields)


def _same(got: dict, want: dict):
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert got[k].shape == want[k].shape, k
        assert np.array_equal(got[k], want[k]), (k, got[k], want[k])


@pytest.mark.parametrize("float_format,truncate", [("current", 3), ("legacy", None)])
@pytest.mark.parametrize("algorithm", openclrs.ALL_ALGS)
def test_round_trip(algorithm, float_format, truncate):
    for length in (4, 7):
        for trace in openclrs.sample(algorithm, length=length, seed=11, num_samples=2,
                                     truncate_decimals=truncate):
            n = trace.num_nodes
            for hints in (False, True):
                _, answer = format_example(algorithm, trace, hints, float_format)
                want = answer_arrays(algorithm, trace, hints, float_format)
                _same(parse_answer(algorithm, answer, hints), want)
                _same(parse_answer(algorithm, answer), want)  # mode detected
                for name, value in parse_answer(algorithm, answer, hints).items():
                    assert value.ndim == 0 or value.shape[0] == n
                assert score(algorithm, answer, answer).accuracy == 1.0
                if hints and trace_fields(algorithm):
                    steps = parse_trace(algorithm, answer)
                    expected = trace_arrays(algorithm, trace, float_format)
                    assert len(steps) == len(expected) == max(trace.length - 2, 0)
                    for got, want_step in zip(steps, expected):
                        _same(got, want_step)


def test_answer_semantics():
    trace = openclrs.execute("insertion_sort", [0.3, 0.1, 0.2])
    assert answer_arrays("insertion_sort", trace)["pred"].tolist() == [0.1, 0.2, 0.3]
    trace = openclrs.sample("find_maximum_subarray_kadane", length=6, seed=0,
                            truncate_decimals=3)[0]
    got = answer_arrays("find_maximum_subarray_kadane", trace)
    assert set(got) == {"start", "end"} and got["start"].shape == ()
    assert got["start"] == np.argmax(trace.outputs["start"])
    hinted = answer_arrays("find_maximum_subarray_kadane", trace, use_hints=True)
    assert set(hinted) == {"best_low", "best_high"}


def test_num_nodes_check():
    trace = openclrs.sample("bfs", length=5, seed=0, truncate_decimals=3)[0]
    _, answer = format_example("bfs", trace)
    assert parse_answer("bfs", answer, num_nodes=5)["pi"].shape == (5,)
    with pytest.raises(ValueError):
        parse_answer("bfs", answer, num_nodes=6)
