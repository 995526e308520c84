"""Sorting (CLRS chapters 2, 6 and 7): insertion sort, bubble sort, heapsort,
quicksort.

Every sort records, at each step, ``pred_h``: the array's current order as
predecessor pointers, and outputs ``pred``: the sorted order the same way.

Bubble sort, heapsort and quicksort take Theta(n^2) or Theta(n log n) steps,
each recording the whole order, so they keep the order in an ``array('q')``
and append it to one flat ``array('q')`` per step: a memcpy rather than a
list copy, and a zero-copy ``np.frombuffer`` at the end rather than the
conversion of millions of Python ints.
"""

from __future__ import annotations

from array import array

from ..probes import (Trace, array_pointers, heap_pointers, make_trace, one_hots,
                      positions, snapshots)
from . import _checks

__all__ = ["insertion_sort", "bubble_sort", "heapsort", "quicksort"]


def insertion_sort(A) -> Trace:
    """Insertion sort; one step per inserted key (CLRS 2.1)."""
    A = _checks.vector(A, "A")
    n = len(A)
    keys = A.tolist()
    order = array("q", range(n))  # order[k]: the node now at position k
    seen = array("q", order)
    i_steps, j_steps = [0], [0]
    for j in range(1, n):
        key = keys[j]
        i = j - 1
        while i >= 0 and keys[i] > key:
            keys[i + 1] = keys[i]
            order[i + 1] = order[i]
            i -= 1
        keys[i + 1] = key
        i_steps.append(order[i + 1])  # the node displaced by the insertion
        j_steps.append(j)
        order[i + 1] = j
        seen += order
    i_hint, j_hint = one_hots(n, i_steps, j_steps)
    return make_trace(
        "insertion_sort",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": array_pointers(snapshots(seen, n)), "i": i_hint, "j": j_hint},
        outputs={"pred": array_pointers(order)},
    )


def bubble_sort(A) -> Trace:
    """Bubble sort; one step per comparison of adjacent keys.

    Pass ``i`` bubbles the smallest remaining key down to position ``i`` by
    comparing each position ``j`` (from the end) with ``j - 1`` and swapping
    only when strictly out of order, so equal keys keep their input order.
    The ``i`` and ``j`` hints name the nodes at those positions after the
    comparison (and swap, if any).
    """
    A = _checks.vector(A, "A")
    n = len(A)
    keys = A.tolist()
    order = array("q", range(n))
    seen = array("q", order)
    i_steps, j_steps = [0], [0]
    for i in range(n - 1):
        for j in range(n - 1, i, -1):
            if keys[j] < keys[j - 1]:
                keys[j - 1], keys[j] = keys[j], keys[j - 1]
                order[j - 1], order[j] = order[j], order[j - 1]
            seen += order
            i_steps.append(order[i])
            j_steps.append(order[j])
    i_hint, j_hint = one_hots(n, i_steps, j_steps)
    return make_trace(
        "bubble_sort",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": array_pointers(snapshots(seen, n)), "i": i_hint, "j": j_hint},
        outputs={"pred": array_pointers(order)},
    )


def heapsort(A) -> Trace:
    """Heapsort (Williams, 1964; CLRS 6.4).

    One step per call of MAX-HEAPIFY (recursive calls included) and one per
    swap of the root with the end of the heap. ``phase`` is 0 while building
    the heap, 1 at a root swap, 2 while re-heapifying after it. ``i`` is the
    node at the position of the running loop iteration (the build loop's
    index, or the extraction loop's), ``j`` the node that moved up into the
    heapified position and ``largest`` the node that moved down; ``heap_size``
    marks the node at the last heap position. Children replace their parent
    only when strictly larger, the left child winning ties.
    """
    A = _checks.vector(A, "A")
    n = len(A)
    keys = A.tolist()
    order = array("q", range(n))
    seen = array("q", order)
    sizes = [n]
    i_steps, j_steps, largest_steps, end_steps = [n - 1], [n - 1], [n - 1], [n - 1]
    phases = [0]

    def sift_down(at: int, size: int, loop_pos: int, phase: int) -> None:
        nonlocal seen
        while True:
            left, right = 2 * at + 1, 2 * at + 2
            largest = left if left < size and keys[left] > keys[at] else at
            if right < size and keys[right] > keys[largest]:
                largest = right
            if largest != at:
                keys[at], keys[largest] = keys[largest], keys[at]
                order[at], order[largest] = order[largest], order[at]
            seen += order
            sizes.append(size)
            i_steps.append(order[loop_pos])
            j_steps.append(order[at])
            largest_steps.append(order[largest])
            end_steps.append(order[size - 1])
            phases.append(phase)
            if largest == at:
                return
            at = largest

    for at in range(n - 1, -1, -1):
        sift_down(at, n, at, 0)
    size = n
    for last in range(n - 1, 0, -1):
        keys[0], keys[last] = keys[last], keys[0]
        order[0], order[last] = order[last], order[0]
        size -= 1
        seen += order
        sizes.append(size)
        i_steps.append(order[0])
        j_steps.append(order[last])
        largest_steps.append(0)  # the published hint names node 0, not position 0
        end_steps.append(order[size - 1])
        phases.append(1)
        sift_down(0, size, last, 2)

    orders = snapshots(seen, n)
    i_hint, j_hint, largest_hint, end_hint = one_hots(
        n, i_steps, j_steps, largest_steps, end_steps)
    return make_trace(
        "heapsort",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": array_pointers(orders), "parent": heap_pointers(orders, sizes),
               "i": i_hint, "j": j_hint, "largest": largest_hint, "heap_size": end_hint,
               "phase": one_hots(3, phases)[0]},
        outputs={"pred": array_pointers(order)},
    )


def lomuto_partition(keys: list, order: array, p: int, r: int, record) -> int:
    """CLRS PARTITION of ``keys[p..r]`` around ``keys[r]``, permuting
    ``order`` alongside; keys equal to the pivot go to the low side. Calls
    ``record(i, j, last)`` after each comparison (``last=False``) and after
    the final pivot swap (``last=True``, ``j == r``), ``i`` being the end of
    the low side before the swap; returns the pivot's final position.
    Shared by quicksort and quickselect (not an algorithm of its own)."""
    pivot = keys[r]
    i = p - 1
    for j in range(p, r):
        if keys[j] <= pivot:
            i += 1
            keys[i], keys[j] = keys[j], keys[i]
            order[i], order[j] = order[j], order[i]
        record(i, j, False)
    keys[i + 1], keys[r] = keys[r], keys[i + 1]
    order[i + 1], order[r] = order[r], order[i + 1]
    record(i, r, True)
    return i + 1


def quicksort(A) -> Trace:
    """Quicksort with the Lomuto partition (CLRS 7.1); one step per
    comparison with the pivot and one per pivot placement.

    Sub-arrays are sorted left before right, as the recursive textbook
    version does, but from an explicit stack so that long (already sorted)
    inputs cannot exhaust Python's recursion limit. Needs two keys or more:
    the published generator records no step for a single key and fails.
    """
    A = _checks.vector(A, "A", min_len=2)
    n = len(A)
    keys = A.tolist()
    order = array("q", range(n))
    seen = array("q")
    p_steps, r_steps, i_steps, j_steps = [], [], [], []
    p = r = 0

    def record(i, j, last):
        nonlocal seen
        seen += order
        p_steps.append(order[p])
        r_steps.append(order[r])
        i_steps.append(order[i + 1])
        j_steps.append(order[j])

    pending = [(0, n - 1)]
    while pending:
        p, r = pending.pop()
        if p < r:
            q = lomuto_partition(keys, order, p, r, record)
            pending.append((q + 1, r))
            pending.append((p, q - 1))

    p_hint, r_hint, i_hint, j_hint = one_hots(n, p_steps, r_steps, i_steps, j_steps)
    return make_trace(
        "quicksort",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": array_pointers(snapshots(seen, n)), "p": p_hint, "r": r_hint,
               "i": i_hint, "j": j_hint},
        outputs={"pred": array_pointers(order)},
    )
