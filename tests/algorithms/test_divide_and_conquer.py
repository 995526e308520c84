"""Maximum subarray (both algorithms) against brute force and the textbook's
example, plus the invariants of their hints."""

import numpy as np
import pytest

from openclrs.algorithms import ALGORITHMS, divide_and_conquer as dc

ALGS = ["find_maximum_subarray", "find_maximum_subarray_kadane"]

# CLRS Figure 4.3: the stock price changes; the answer is A[8..11] (1-based).
CLRS_4_3 = [13, -3, -25, 20, -3, -16, -23, 18, 20, -7, 12, -5, -22, 15, -4, 7]


def brute_force(values):
    """The largest sum of a non-empty contiguous run."""
    n = len(values)
    return max(sum(values[i:j + 1]) for i in range(n) for j in range(i, n))


def bounds(trace):
    return int(trace.outputs["start"].argmax()), int(trace.outputs["end"].argmax())


@pytest.mark.parametrize("name", ALGS)
def test_clrs_figure_4_3(name):
    trace = ALGORITHMS[name](CLRS_4_3)
    assert bounds(trace) == (7, 10)


@pytest.mark.parametrize("name", ALGS)
@pytest.mark.parametrize("n", [2, 3, 6, 17, 32])
def test_maximum_sum_matches_brute_force(name, n):
    rng = np.random.RandomState(n)
    for values in (rng.uniform(-1, 1, size=n), rng.randint(-3, 4, size=n) * 1.0,
                   -rng.uniform(0.1, 1, size=n)):
        start, end = bounds(ALGORITHMS[name](values))
        assert start <= end
        assert np.isclose(values[start:end + 1].sum(), brute_force(values.tolist()))


def test_kadane_tie_breaking_and_hints():
    # Two runs sum to 3: [0..1] and [3..3]; the earliest is kept. The running
    # subarray extends over the zero rather than restarting.
    values = [1.0, 2.0, -3.0, 3.0, 0.0]
    trace = dc.find_maximum_subarray_kadane(values)
    assert bounds(trace) == (0, 1)
    assert trace.hints["best_sum"].tolist() == [1.0, 3.0, 3.0, 3.0, 3.0]
    assert trace.hints["sum"].tolist() == [1.0, 3.0, 0.0, 3.0, 3.0]
    assert trace.hints["i"].argmax(-1).tolist() == [0, 0, 0, 0, 0]
    assert trace.hints["j"].argmax(-1).tolist() == [0, 1, 2, 3, 4]


def test_kadane_single_key():
    trace = dc.find_maximum_subarray_kadane([-0.5])
    assert bounds(trace) == (0, 0) and trace.length == 1


def test_recursive_hints():
    rng = np.random.RandomState(4)
    values = rng.uniform(-1, 1, size=12)
    trace = dc.find_maximum_subarray(values)
    h = trace.hints
    low, high, mid = (h[k].argmax(-1) for k in ("low", "high", "mid"))
    assert ((low <= mid) & (mid <= high) & (mid == (low + high) // 2)).all()
    # The first step is the call on the whole array.
    assert (low[0], high[0]) == (0, 11)
    # Every returned (ret_*) triple is the maximum subarray of its range.
    phase = h["phase"].argmax(-1)
    ret_low, ret_high = h["ret_low"].argmax(-1), h["ret_high"].argmax(-1)
    returns = 0
    for t in range(trace.length):
        if phase[t] == 0 and h["ret_sum"][t] != 0.0:
            segment = values[low[t]:high[t] + 1].tolist()
            assert np.isclose(h["ret_sum"][t], brute_force(segment))
            assert np.isclose(values[ret_low[t]:ret_high[t] + 1].sum(), h["ret_sum"][t])
            returns += 1
    # Every call but the outermost returns once: 2 * 12 - 2 of them.
    assert returns == 22
    # The crossing scans: phase 1 walks left from mid, phase 2 right from mid + 1.
    i, j = h["i"].argmax(-1), h["j"].argmax(-1)
    assert (i[phase == 1] <= mid[phase == 1]).all()
    assert (j[phase == 2] >= mid[phase == 2] + 1).all()
