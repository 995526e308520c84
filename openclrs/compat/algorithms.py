"""The algorithms with the published calling convention.

A published algorithm returns ``(result, probes)``: its raw result and a
nested probes dict ``{stage: {location: {name: {"data", "type_"}}}}``.
openclrs' algorithms return one :class:`~openclrs.probes.Trace` instead.
Each function here runs the openclrs algorithm and returns
``(outputs, probes)``: the probes dict in the published form (inputs and
outputs with unit axes squeezed, hints stacked on time), and in place of the
raw result, which differs from algorithm to algorithm (a sorted array, a
tuple, a table...), the dict of output probes, which is what the benchmark
scores. Code that only reads ``probes`` (samplers, ``split_stages``) runs
unchanged.
"""

from __future__ import annotations

import functools

import numpy as np

from ..algorithms import ALGORITHMS
from ..probes import Trace
from ..specs import LOCATIONS, STAGES, Stage
from .samplers import PUBLISHED_DTYPES

__all__ = ["probes_dict", "RAW_HINT_DTYPES", *ALGORITHMS]

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


def _published(name: str):
    run = ALGORITHMS[name]

    @functools.wraps(run)
    def wrapper(*args):
        trace = run(*args)
        return dict(trace.outputs), probes_dict(trace, args)

    wrapper.__doc__ = (f"``{name}(*args) -> (outputs, probes)``: openclrs' {name} with the "
                       "published return convention (see the module docstring).")
    return wrapper


globals().update({name: _published(name) for name in ALGORITHMS})
