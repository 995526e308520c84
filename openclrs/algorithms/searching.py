"""Searching and order statistics: minimum (CLRS 9.1), binary search (CLRS
exercise 2.3-5) and quickselect (CLRS 9.2).

Minimum and binary search never move the keys, so their ``pred_h`` is the
input order at every step; quickselect partitions in place like quicksort
and records the changing order.
"""

from __future__ import annotations

from array import array

import numpy as np

from ..probes import (Trace, array_pointers, identity_pointers, make_trace, one_hot, one_hots,
                      positions, snapshots)
from . import _checks
from .sorting import lomuto_partition

__all__ = ["minimum", "binary_search", "quickselect"]


def minimum(A) -> Trace:
    """Linear scan for the minimum (CLRS 9.1); one step per key examined.

    A later key replaces the current minimum only when strictly smaller, so
    ties resolve to the first occurrence.
    """
    A = _checks.vector(A, "A")
    n = len(A)
    keys = A.tolist()
    best = 0
    best_steps = [0]
    for i in range(1, n):
        if keys[best] > keys[i]:
            best = i
        best_steps.append(best)
    min_hint, i_hint = one_hots(n, best_steps, range(n))
    return make_trace(
        "minimum",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": identity_pointers(n, n), "min_h": min_hint, "i": i_hint},
        outputs={"min": one_hot(best, n)},
    )


def binary_search(x, A) -> Trace:
    """Binary search for ``x`` in the sorted array ``A``.

    Finds the first position whose key is ``>= x``, but never beyond the
    last position (so a target above every key returns the last one): the
    interval ``[low, high]`` always keeps at least one position. One step per
    halving, ``mid`` showing the next probe position.
    """
    x = _checks.number(x, "x")
    A = _checks.vector(A, "A")
    if (A[1:] < A[:-1]).any():
        raise ValueError("A must be sorted in non-decreasing order")
    keys = A.tolist()
    n = len(A)
    low, high = 0, n - 1
    lows, highs, mids = [low], [high], [(low + high) // 2]
    while low < high:
        mid = (low + high) // 2
        if x <= keys[mid]:
            high = mid
        else:
            low = mid + 1
        lows.append(low)
        highs.append(high)
        mids.append((low + high) // 2)
    low_hint, high_hint, mid_hint = one_hots(n, lows, highs, mids)
    return make_trace(
        "binary_search",
        inputs={"pos": positions(n), "key": A, "target": x},
        hints={"pred_h": identity_pointers(n, len(lows)), "low": low_hint,
               "high": high_hint, "mid": mid_hint},
        outputs={"return": one_hot(high, n)},
    )


def quickselect(A) -> Trace:
    """Quickselect (Hoare, 1961) for the key of rank ``len(A) // 2``
    (0-based: the upper median), partitioning as quicksort does.

    Each round partitions the current sub-array and continues on the side
    holding the wanted rank, whose rank within that side becomes the new
    ``target``. ``i_rank`` is, during a partition, the absolute position just
    past the low side, and at the pivot placement the pivot's rank within the
    sub-array (both divided by ``n``), as the published hints define them.
    """
    A = _checks.vector(A, "A")
    n = len(A)
    keys = A.tolist()
    order = array("q", range(n))
    seen = array("q")
    p_steps, r_steps, i_steps, j_steps, pivots = [], [], [], [], []
    ranks, targets = [], []
    p, r, want = 0, n - 1, n // 2

    def record(i, j, last):
        nonlocal seen
        seen += order
        p_steps.append(order[p])
        r_steps.append(order[r])
        i_steps.append(order[i + 1])
        j_steps.append(order[j])
        ranks.append((i + 1 - p if last else i + 1) / n)
        targets.append(want / n)
        pivots.append(order[i + 1] if last else order[r])

    while True:
        q = lomuto_partition(keys, order, p, r, record)
        k = q - p
        if want == k:
            break
        if want < k:
            r = q - 1
        else:
            p, want = q + 1, want - k - 1

    p_hint, r_hint, i_hint, j_hint, pivot_hint = one_hots(
        n, p_steps, r_steps, i_steps, j_steps, pivots)
    return make_trace(
        "quickselect",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": array_pointers(snapshots(seen, n)), "p": p_hint, "r": r_hint,
               "i": i_hint, "j": j_hint, "i_rank": np.array(ranks),
               "target": np.array(targets), "pivot": pivot_hint},
        outputs={"median": one_hot(order[q], n)},
    )
