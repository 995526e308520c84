"""Minimum, binary search and quickselect against brute force, bisect and
sorted(), plus the invariants their hints promise."""

import bisect

import numpy as np
import pytest

from openclrs.algorithms import searching

from .test_sorting import order_from_pred


@pytest.mark.parametrize("n", [1, 2, 5, 30])
def test_minimum_is_the_first_smallest_key(n):
    rng = np.random.RandomState(n)
    for values in (rng.uniform(size=n), rng.randint(0, 3, size=n) * 1.0):
        trace = searching.minimum(values)
        first_min = min(range(n), key=lambda v: (values[v], v))
        assert trace.outputs["min"].argmax() == first_min
        assert trace.length == n
        # Step i holds the first minimum of the prefix values[:i + 1].
        for i in range(n):
            assert trace.hints["i"][i].argmax() == i
            assert trace.hints["min_h"][i].argmax() == int(np.argmin(values[:i + 1]))
        # Nothing moves: pred_h is the input order at every step.
        for step in trace.hints["pred_h"]:
            assert order_from_pred(step) == list(range(n))


@pytest.mark.parametrize("n", [1, 2, 3, 8, 33])
def test_binary_search_matches_bisect(n):
    rng = np.random.RandomState(n)
    for keys in (np.sort(rng.uniform(size=n)), np.sort(rng.randint(0, 4, size=n) * 1.0)):
        for x in [*keys, keys[0] - 1, keys[-1] + 1, *rng.uniform(-0.5, 1.5, size=5)]:
            trace = searching.binary_search(x, keys)
            # The first position holding a key >= x, clamped to the last one.
            want = min(bisect.bisect_left(keys.tolist(), x), n - 1)
            assert trace.outputs["return"].argmax() == want
            low = trace.hints["low"].argmax(-1)
            high = trace.hints["high"].argmax(-1)
            mid = trace.hints["mid"].argmax(-1)
            assert ((low <= want) & (want <= high)).all()
            assert (mid == (low + high) // 2).all()
            assert trace.length <= int(np.ceil(np.log2(n))) + 1
            assert trace.inputs["target"].shape == () and trace.inputs["target"] == x


def test_binary_search_halves_the_interval():
    trace = searching.binary_search(0.65, np.arange(16) / 16)
    # Keys k / 16; the first >= 0.65 is 11 / 16. Probes at 7, 11, 9, 10.
    assert trace.hints["low"].argmax(-1).tolist() == [0, 8, 8, 10, 11]
    assert trace.hints["high"].argmax(-1).tolist() == [15, 15, 11, 11, 11]
    assert trace.hints["mid"].argmax(-1).tolist() == [7, 11, 9, 10, 11]
    assert trace.outputs["return"].argmax() == 11


@pytest.mark.parametrize("n", [1, 2, 3, 8, 31])
def test_quickselect_finds_the_key_of_rank_n_over_2(n):
    rng = np.random.RandomState(n)
    for values in (rng.uniform(size=n), rng.randint(0, 3, size=n) * 1.0, np.arange(n) * 1.0):
        trace = searching.quickselect(values)
        assert values[trace.outputs["median"].argmax()] == sorted(values)[n // 2]
        # Hint scalars are ranks divided by n; the last step places the answer.
        target = trace.hints["target"] * n
        np.testing.assert_allclose(target, np.round(target))
        assert target[0] == n // 2
        assert trace.hints["pivot"][-1].argmax() == trace.outputs["median"].argmax()
        # The answer is in its sorted position in the last step's order.
        order = order_from_pred(trace.hints["pred_h"][-1])
        position = order.index(trace.outputs["median"].argmax())
        assert sorted(values[order[:position]]) == sorted(values)[:position]


def test_quickselect_on_clrs_figure_7_1():
    trace = searching.quickselect([2, 8, 7, 1, 3, 5, 6, 4])
    # The first partition puts the pivot 4 at rank 3; rank 4 lies to its
    # right, so the second round looks for rank 0 of [7, 5, 6, 8]: 5.
    assert trace.hints["i_rank"][7] * 8 == 3
    assert trace.hints["target"][8] * 8 == 0
    assert trace.outputs["median"].argmax() == 5
