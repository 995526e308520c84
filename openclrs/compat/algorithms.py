"""The algorithms with the published calling convention.

A published algorithm returns ``(result, probes)``: its raw result (a sorted
array, an index, a ``(low, high, sum)`` tuple, a table...) and a nested
probes dict ``{stage: {location: {name: {"data", "type_"}}}}``. openclrs'
algorithms return one :class:`~openclrs.probes.Trace` instead. Each function
here runs the openclrs algorithm and returns the published pair: the result
read back from the trace (:data:`RESULTS`) and the probes dict in the
published form (inputs and outputs with unit axes squeezed, hints stacked
on time, the published dtypes). Unlike some published algorithms, these
never modify their arguments.
"""

from __future__ import annotations

import functools

import numpy as np

from ..algorithms import ALGORITHMS
from ..probes import Trace
from ..specs import LOCATIONS, STAGES, Stage
from .samplers import PUBLISHED_DTYPES

__all__ = ["probes_dict", "RESULTS", "RAW_HINT_DTYPES", *ALGORITHMS]

# Hints whose dtype in a published probes dict (before batching, which makes
# every hint float64) differs from openclrs' convention: the published
# algorithms push these as they hold them (int phase flags, float tables).
RAW_HINT_DTYPES = {
    ("bipartite_matching", "phase"): np.int64,
    ("dag_shortest_paths", "phase"): np.int64,
    ("strongly_connected_components", "phase"): np.int64,
    ("kmp_matcher", "phase"): np.int64,
    ("kmp_matcher", "k_reset"): np.int64,
    ("kmp_matcher", "q_reset"): np.int64,
    ("task_scheduling", "t"): np.int64,
    ("floyd_warshall", "Pi_h"): np.float64,
    ("matrix_chain_order", "s_h"): np.float64,
    ("optimal_bst", "root_h"): np.float64,
}


# The inputs of PUBLISHED_DTYPES (an unweighted graph's ``A``, the deadlines
# ``d``) are copies of the first argument: the published probe keeps the
# caller's dtype (int64 from the published samplers).
_ARGUMENT_INPUTS = ("A", "d")


def probes_dict(trace: Trace, args: tuple = ()) -> dict:
    """A trace as the published finalized probes dict (``args``: the
    arguments it was run on, whose dtypes some input probes keep)."""
    probes = {stage: {location: {} for location in LOCATIONS} for stage in STAGES}
    for name, stage, location, type_, data in trace.probes():
        if stage == Stage.HINT:
            dtype = RAW_HINT_DTYPES.get((trace.algorithm, name))
        else:
            data = np.squeeze(data)
            dtype = PUBLISHED_DTYPES.get((trace.algorithm, name))
            if dtype is not None and stage == Stage.INPUT and name in _ARGUMENT_INPUTS and args:
                dtype = np.asarray(args[0]).dtype
        if dtype is not None:
            data = data.astype(dtype)
        probes[stage][location][name] = {"data": data, "type_": type_}
    return probes


# ---------------------------------------------------------------- results

def _index(one_hot) -> int:
    return int(np.argmax(one_hot))


def _sequential_sum(values) -> float:
    """Left to right, as Kadane's scan accumulates its best run."""
    total = 0.0
    for value in values:
        total += value
    return total


def _divide_and_conquer_sum(A, lo: int, hi: int) -> float:
    """The sum of ``A[lo..hi]`` as the recursive algorithm forms it: at the
    recursion node whose midpoint splits the run, (the sum from the midpoint
    down to ``lo``) + (the sum from the midpoint + 1 up to ``hi``); a single
    element at a leaf."""
    low, high = 0, len(A) - 1
    while low < high:
        mid = (low + high) // 2
        if hi <= mid:
            high = mid
        elif lo > mid:
            low = mid + 1
        else:
            return _sequential_sum(A[i] for i in range(mid, lo - 1, -1)) \
                + _sequential_sum(A[mid + 1:hi + 1])
    return A[low]


def _kadane_sum(A, lo: int, hi: int) -> float:
    return _sequential_sum(A[lo:hi + 1])


def _subarray(summed):
    """``(low, high, sum)`` of the maximum subarray, summed as published."""
    def result(args, trace):
        lo, hi = _index(trace.outputs["start"]), _index(trace.outputs["end"])
        return lo, hi, summed(np.asarray(args[0]), lo, hi)
    return result


def _lcs_table(args, trace):
    """The published ``b`` table (0: diagonal, 1: up, 2: left) of x against y."""
    n = len(args[0])
    return trace.outputs["b"][:n, n:, :3].argmax(axis=-1).astype(np.float64)


def _output(name: str, dtype=None):
    def result(args, trace):
        value = trace.outputs[name]
        return value.astype(dtype) if dtype is not None else value.copy()
    return result


# What each published algorithm returns, read back from openclrs' trace
# (checked against dm-clrs for every algorithm by tests/test_compat.py).
RESULTS = {
    **{name: (lambda args, trace: np.sort(np.asarray(args[0])))
       for name in ("insertion_sort", "bubble_sort", "heapsort", "quicksort")},
    "quickselect": lambda args, trace: np.asarray(args[0])[_index(trace.outputs["median"])],
    "minimum": lambda args, trace: _index(trace.outputs["min"]),
    "binary_search": lambda args, trace: _index(trace.outputs["return"]),
    "find_maximum_subarray": _subarray(_divide_and_conquer_sum),
    "find_maximum_subarray_kadane": _subarray(_kadane_sum),
    "matrix_chain_order": lambda args, trace: trace.outputs["s"][1:, 1:].astype(np.float64),
    "lcs_length": _lcs_table,
    "optimal_bst": _output("root", np.float64),
    "activity_selector": _output("selected"),
    "task_scheduling": _output("selected"),
    "dfs": _output("pi"),
    "bfs": _output("pi"),
    "topological_sort": _output("topo"),
    "strongly_connected_components": _output("scc_id"),
    "articulation_points": _output("is_cut"),
    "bridges": _output("is_bridge"),
    "mst_kruskal": _output("in_mst"),
    "mst_prim": _output("pi"),
    "bellman_ford": _output("pi"),
    "dag_shortest_paths": _output("pi"),
    "dijkstra": _output("pi"),
    "floyd_warshall": _output("Pi", np.float64),
    "bipartite_matching": _output("in_matching"),
    "naive_string_matcher": lambda args, trace: _index(trace.outputs["match"]),
    "kmp_matcher": lambda args, trace: _index(trace.outputs["match"]),
    "segments_intersect": _output("intersect", np.int64),
    "graham_scan": _output("in_hull"),
    "jarvis_march": _output("in_hull"),
}


def _published(name: str):
    run = ALGORITHMS[name]

    @functools.wraps(run)
    def wrapper(*args):
        trace = run(*args)
        return RESULTS[name](args, trace), probes_dict(trace, args)

    wrapper.__doc__ = (f"``{name}(*args) -> (result, probes)``: openclrs' {name} with the "
                       "published return convention (see the module docstring).")
    return wrapper


globals().update({name: _published(name) for name in ALGORITHMS})
