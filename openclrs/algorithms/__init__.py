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
    """
    return ALGORITHMS[check_algorithm(algorithm)](*args)
