"""Sorting (CLRS chapters 2, 6 and 7): insertion sort, bubble sort, heapsort,
quicksort.

Every sort records, at each step, ``pred_h``: the array's current order as
predecessor pointers, and outputs ``pred``: the sorted order the same way.
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, array_pointers, make_trace, one_hot, positions
from . import _checks

__all__ = ["insertion_sort"]


def insertion_sort(A) -> Trace:
    """Insertion sort; one step per inserted key (CLRS 2.1)."""
    A = _checks.vector(A, "A")
    n = len(A)
    keys = A.tolist()
    order = list(range(n))  # order[k]: the node now at position k
    orders, i_steps, j_steps = [order[:]], [0], [0]
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
        orders.append(order[:])
    return make_trace(
        "insertion_sort",
        inputs={"pos": positions(n), "key": A},
        hints={"pred_h": array_pointers(orders), "i": one_hot(i_steps, n),
               "j": one_hot(j_steps, n)},
        outputs={"pred": array_pointers(order)},
    )
