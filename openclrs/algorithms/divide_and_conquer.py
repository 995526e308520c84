"""Maximum subarray (CLRS chapter 4.1): the divide-and-conquer algorithm and
Kadane's linear scan (Bentley, 1984).

Neither moves the keys, so ``pred_h`` is the input order at every step.
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, identity_pointers, make_trace, one_hot, one_hots, positions
from . import _checks

__all__ = ["find_maximum_subarray", "find_maximum_subarray_kadane"]

# Why keys must be finite: sums of infinite keys can be NaN (inf + -inf).
_SUMS = " (sums of infinite keys can be NaN: inf + -inf)"

# The hints of find_maximum_subarray, in the order each step records them.
_NODE_HINTS = ("low", "high", "mid", "left_low", "left_high", "right_low",
               "right_high", "cross_low", "cross_high", "ret_low", "ret_high", "i", "j")
_SCALAR_HINTS = ("left_sum", "right_sum", "cross_sum", "ret_sum", "sum", "left_x_sum",
                 "right_x_sum")


def find_maximum_subarray(A) -> Trace:
    """Divide-and-conquer maximum subarray (CLRS 4.1).

    A call on ``[low, high]`` records a step on entry and after each
    recursive half, then one before and one per key of each crossing scan
    (``phase`` 1 scanning left from ``mid``, 2 scanning right from
    ``mid + 1``) and, except for the outermost call, one on return with the
    chosen ``ret_*`` triple. A one-key call records only its base case. Ties
    go to the left half, then the right half, then the crossing subarray.

    The crossing scans start from ``A[mid] - 0.1`` and ``A[mid + 1] - 0.1``
    rather than minus infinity, so the hints stay finite; those offsets and
    the published step layout are reproduced exactly, including the step
    between the scans, which shows the left scan's result in ``left_sum``.

    Needs two keys or more: the published generator records no step for a
    single key.
    """
    A = _checks.vector(A, "A", min_len=2)
    _checks.finite(A, "A", _SUMS)
    n = len(A)
    a = A.astype(np.float64).tolist()
    # One tuple per step: the _NODE_HINTS, then the _SCALAR_HINTS, then phase.
    steps: list[tuple] = []
    add = steps.append

    def solve(low: int, high: int):
        mid = (low + high) // 2
        if low == high:
            add((low, high, mid, low, high, low, high, low, high, low, high, low, high,
                 0.0, 0.0, 0.0, a[low], 0.0, a[low] - 0.1, a[high] - 0.1, 0))
            return low, high, a[low]

        lx0, rx0 = a[mid] - 0.1, a[mid + 1] - 0.1
        pair = a[mid] + a[mid + 1] - 0.2
        add((low, high, mid, low, mid, mid + 1, high, mid, mid + 1, low, high, mid, mid + 1,
             0.0, 0.0, pair, 0.0, 0.0, lx0, rx0, 0))
        ll, lh, ls = solve(low, mid)
        add((low, high, mid, ll, lh, mid + 1, high, mid, mid + 1, low, high, mid, mid + 1,
             ls, 0.0, pair, 0.0, 0.0, lx0, rx0, 0))
        rl, rh, rs = solve(mid + 1, high)
        add((low, high, mid, ll, lh, rl, rh, mid, mid + 1, low, high, mid, mid + 1,
             ls, rs, pair, 0.0, 0.0, lx0, rx0, 0))

        # The crossing subarray: best suffix of the left half plus best
        # prefix of the right half.
        add((low, high, mid, ll, lh, rl, rh, mid, mid + 1, low, high, mid, mid + 1,
             ls, rs, pair, 0.0, 0.0, lx0, rx0, 1))
        left_best, cross_low, run = lx0, mid, 0
        for i in range(mid, low - 1, -1):
            run += a[i]
            if run > left_best:
                left_best, cross_low = run, i
            add((low, high, mid, ll, lh, rl, rh, cross_low, mid + 1, low, high, i, mid + 1,
                 ls, rs, left_best + a[mid + 1] - 0.1, 0.0, run, left_best, rx0, 1))
        # The published step here reports the scan's sums as left/right_sum.
        right_best, cross_high, run = rx0, mid + 1, 0
        add((low, high, mid, ll, lh, rl, rh, cross_low, mid + 1, low, high, low, mid + 1,
             left_best, right_best, left_best + right_best, 0.0, 0.0, left_best, rx0, 2))
        for j in range(mid + 1, high + 1):
            run += a[j]
            if run > right_best:
                right_best, cross_high = run, j
            add((low, high, mid, ll, lh, rl, rh, cross_low, cross_high, low, high, low, j,
                 left_best, right_best, left_best + right_best, 0.0, run, left_best,
                 right_best, 2))
        cs = left_best + right_best

        if ls >= rs and ls >= cs:
            best = ll, lh, ls
        elif rs >= ls and rs >= cs:
            best = rl, rh, rs
        else:
            best = cross_low, cross_high, cs
        if low > 0 or high < n - 1:
            add((low, high, mid, ll, lh, rl, rh, cross_low, cross_high, best[0], best[1],
                 low, high, ls, rs, cs, best[2], run, left_best, right_best, 0))
        return best

    start, end, _ = solve(0, n - 1)

    columns = list(zip(*steps))
    k = len(_NODE_HINTS)
    hints = {"pred_h": identity_pointers(n, len(steps))}
    nodes = one_hots(n, *columns[:k])  # (k, steps, n)
    for idx, name in enumerate(_NODE_HINTS):
        hints[name] = nodes[idx]
    scalars = np.array(columns[k:k + len(_SCALAR_HINTS)], dtype=np.float64)
    for idx, name in enumerate(_SCALAR_HINTS):
        hints[name] = scalars[idx]
    hints["phase"] = one_hots(3, columns[-1])[0]
    return make_trace(
        "find_maximum_subarray",
        inputs={"pos": positions(n), "key": A},
        hints=hints,
        outputs={"start": one_hot(start, n), "end": one_hot(end, n)},
    )


def find_maximum_subarray_kadane(A) -> Trace:
    """Kadane's maximum subarray scan; one step per key after the first.

    The running subarray ``[i, j]`` is extended while that is no worse than
    restarting at ``j`` (so it restarts only when its sum is negative), and
    replaces the best one only when strictly better: ties keep the earliest.
    """
    A = _checks.vector(A, "A")
    _checks.finite(A, "A", _SUMS)
    n = len(A)
    a = A.astype(np.float64).tolist()
    best_low = best_high = start = 0
    best = run = a[0]
    lows, highs, bests, starts, runs = [0], [0], [best], [0], [run]
    for j in range(1, n):
        x = a[j]
        if run + x >= x:
            run += x
        else:
            start, run = j, x
        if run > best:
            best_low, best_high, best = start, j, run
        lows.append(best_low)
        highs.append(best_high)
        bests.append(best)
        starts.append(start)
        runs.append(run)
    low_hint, high_hint, i_hint, j_hint = one_hots(n, lows, highs, starts, range(n))
    return make_trace(
        "find_maximum_subarray_kadane",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": identity_pointers(n, n), "best_low": low_hint,
               "best_high": high_hint, "best_sum": np.array(bests),
               "i": i_hint, "j": j_hint, "sum": np.array(runs)},
        outputs={"start": one_hot(best_low, n), "end": one_hot(best_high, n)},
    )
