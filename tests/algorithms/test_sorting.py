"""Sorting traces against independent truths: sorted(), stability, the
textbook's worked examples and invariants of each algorithm's hints."""

import numpy as np
import pytest

from openclrs.algorithms import ALGORITHMS, sorting
from openclrs.probes import validate_trace

SORTS = ["insertion_sort", "bubble_sort", "heapsort", "quicksort"]
STABLE = ["insertion_sort", "bubble_sort"]


def order_from_pred(pred):
    """Positions -> nodes, from predecessor pointers (the head points to itself)."""
    pred = np.asarray(pred)
    n = len(pred)
    heads = [v for v in range(n) if pred[v] == v]
    assert len(heads) == 1, f"not a single chain: {pred}"
    succ = {int(pred[v]): v for v in range(n) if pred[v] != v}
    order = [heads[0]]
    while order[-1] in succ:
        order.append(succ[order[-1]])
    assert sorted(order) == list(range(n)), f"not a permutation chain: {pred}"
    return order


def keys_at(trace, step):
    """The keys in array order at hint step ``step``."""
    key = trace.inputs["key"]
    return [key[v] for v in order_from_pred(trace.hints["pred_h"][step])]


@pytest.mark.parametrize("name", SORTS)
@pytest.mark.parametrize("n", [2, 3, 7, 20])
def test_output_is_sorted(name, n):
    rng = np.random.RandomState(n)
    for values in (rng.uniform(size=n), rng.randint(0, 3, size=n) * 1.0):
        trace = ALGORITHMS[name](values)
        order = order_from_pred(trace.outputs["pred"])
        assert [values[v] for v in order] == sorted(values)
        # The last step already shows the sorted array.
        np.testing.assert_array_equal(trace.hints["pred_h"][-1], trace.outputs["pred"])


@pytest.mark.parametrize("name", STABLE)
def test_stable_sorts_keep_equal_keys_in_input_order(name):
    values = np.array([2.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0])
    trace = ALGORITHMS[name](values)
    assert order_from_pred(trace.outputs["pred"]) == np.argsort(values, kind="stable").tolist()


@pytest.mark.parametrize("name", ["insertion_sort", "bubble_sort", "heapsort"])
def test_single_key(name):
    trace = ALGORITHMS[name]([0.5])
    assert trace.outputs["pred"].tolist() == [0]
    validate_trace(trace)


def test_insertion_sort_clrs_figure_2_2():
    trace = sorting.insertion_sort([5, 2, 4, 6, 1, 3])
    assert [keys_at(trace, t) for t in range(6)] == [
        [5, 2, 4, 6, 1, 3], [2, 5, 4, 6, 1, 3], [2, 4, 5, 6, 1, 3],
        [2, 4, 5, 6, 1, 3], [1, 2, 4, 5, 6, 3], [1, 2, 3, 4, 5, 6]]


def test_bubble_sort_steps_and_passes():
    rng = np.random.RandomState(1)
    n = 9
    values = rng.uniform(size=n)
    trace = sorting.bubble_sort(values)
    assert trace.length == n * (n - 1) // 2 + 1
    step = 0
    for i in range(n - 1):
        step += n - 1 - i  # the comparisons of pass i
        # After pass i the i + 1 smallest keys lead the array, in order.
        assert keys_at(trace, step)[:i + 1] == sorted(values)[:i + 1]
        # ... and the i hint names the node at position i.
        assert trace.hints["i"][step].argmax() == order_from_pred(
            trace.hints["pred_h"][step])[i]


def test_heapsort_builds_a_max_heap_then_extracts_in_decreasing_order():
    rng = np.random.RandomState(2)
    n = 13
    values = rng.uniform(size=n)
    trace = sorting.heapsort(values)
    phase = trace.hints["phase"].argmax(-1)
    extractions = np.flatnonzero(phase == 1)
    assert len(extractions) == n - 1
    # Phase 0 (building) comes first, then the root swaps (1) each followed
    # by re-heapifying (2).
    assert (phase[:extractions[0]] == 0).all() and (phase[extractions[0]:] != 0).all()
    # The state just before the first extraction is a max-heap over all nodes.
    parent = trace.hints["parent"][extractions[0] - 1]
    assert all(values[v] <= values[parent[v]] for v in range(n))
    assert sum(parent[v] == v for v in range(n)) == 1  # only the root
    # Each root swap moves the next largest key to the end (the j hint).
    moved = [values[trace.hints["j"][t].argmax()] for t in extractions]
    assert moved == sorted(values, reverse=True)[:n - 1]
    # Heap sizes shrink by one per extraction; outside nodes point to themselves.
    for k, t in enumerate(extractions):
        parent = trace.hints["parent"][t]
        order = order_from_pred(trace.hints["pred_h"][t])
        size = n - 1 - k
        assert all(parent[order[p]] == order[p] for p in range(size, n))
        assert trace.hints["heap_size"][t].argmax() == order[size - 1]


def test_quicksort_clrs_figure_7_1_partition():
    trace = sorting.quicksort([2, 8, 7, 1, 3, 5, 6, 4])
    # The first partition takes 7 comparisons and the pivot placement.
    assert keys_at(trace, 7) == [2, 1, 3, 4, 7, 5, 6, 8]
    assert trace.inputs["key"][trace.hints["i"][7].argmax()] == 4  # the placed pivot
    assert [keys_at(trace, t)[:3] for t in range(3)] == [[2, 8, 7], [2, 8, 7], [2, 8, 7]]
    assert keys_at(trace, 3) == [2, 1, 7, 8, 3, 5, 6, 4]


def test_quicksort_sorted_input_takes_quadratic_steps():
    n = 40
    trace = sorting.quicksort(np.arange(n) * 1.0)
    assert trace.length == n * (n + 1) // 2 - 1
    validate_trace(trace)
