"""The algorithms of the CLRS benchmark, grouped by textbook chapter.

Each function takes the published arguments (``insertion_sort(A)``,
``bfs(A, s)``, ``kmp_matcher(T, P)``...) and returns a
:class:`~openclrs.probes.Trace` whose every probe equals the published one.
Functions never modify their arguments.
"""

from __future__ import annotations

from typing import Callable

from ..probes import Trace
from ..specs import check_algorithm
from . import (divide_and_conquer, dynamic_programming, elementary_graphs, geometry,
               greedy, maximum_flow, minimum_spanning_trees, searching, shortest_paths,
               sorting, strings)

# In textbook order: chapters 2-9 (sorting, order statistics), 4 (divide and
# conquer), 15-16 (dynamic programming, greedy), 22-26 (graphs), 32 (strings),
# 33 (computational geometry).
_CHAPTERS = (sorting, searching, divide_and_conquer, dynamic_programming, greedy,
             elementary_graphs, minimum_spanning_trees, shortest_paths, maximum_flow,
             strings, geometry)

ALGORITHMS: dict[str, Callable[..., Trace]] = {
    name: getattr(module, name) for module in _CHAPTERS for name in module.__all__}

globals().update(ALGORITHMS)
__all__ = ["ALGORITHMS", "execute", *ALGORITHMS]


def execute(algorithm: str, *args) -> Trace:
    """Run ``algorithm`` on raw arguments and return its trace.

    >>> execute("insertion_sort", [0.3, 0.1, 0.2]).outputs["pred"]
    array([2, 1, 1])

    Bad arguments raise ``ValueError`` naming the argument: wrong shapes,
    NaN, infinite weights or keys where sums are taken, negative matrix
    dimensions (``matrix_chain_order``) or probabilities (``optimal_bst``),
    deadlines that are not whole slots ``>= 1`` (``task_scheduling``),
    activities that end before they start, and negative-weight cycles
    (``bellman_ford``, ``floyd_warshall``).

    The traces are the published benchmark's, including behaviour that
    surprises on inputs the samplers never draw:

    * ``jarvis_march`` and ``graham_scan`` on collinear points: whether a
      point in the middle of a hull edge counts as on the hull depends on the
      order of the points (ties on a line go to the later point in Jarvis's
      march), and the two may disagree; on all-collinear points Jarvis's march
      can mark an inner point. The samplers redraw any input with (nearly)
      collinear triples, so sampled traces are unambiguous.
    * ``task_scheduling`` is the published greedy, not the optimum: by
      decreasing penalty, it keeps a task when fewer tasks than its deadline
      are kept so far, and never reschedules kept ones. With ``d=[2, 1]``,
      ``w=[5, 4]`` it keeps only task 0, though both fit (task 1 first).
    * ``dijkstra`` accepts negative weights (the result is then not
      necessarily a shortest-path tree); ``mst_kruskal`` only takes edges
      with ``A[u, v] > 0``, ``mst_prim`` every non-zero entry and spans only
      the source's component; unreached nodes keep distance 0 and point to
      themselves; ``dag_shortest_paths`` ignores edges back into its stack on
      graphs with cycles.
    * The ``adj`` input marks ``A + I != 0``: a self-loop of weight exactly
      -1 cancels the identity and reads as "no edge".
    * ``quicksort`` and ``find_maximum_subarray`` need two keys;
      ``naive_string_matcher`` refuses a needle longer than the haystack,
      while ``kmp_matcher`` scans and reports no match (the needle's first
      node). Characters of the string algorithms are ``0..3``.
    * Sampling with ``truncate_decimals=0`` truncates nothing (as ``None``).
    """
    return ALGORITHMS[check_algorithm(algorithm)](*args)
