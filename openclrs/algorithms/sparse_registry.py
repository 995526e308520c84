"""The algorithms that run on sparse graphs and produce
:class:`~openclrs.sparse.SparseTrace` directly, by name.

Each takes a :class:`~openclrs.sparse.Graph`, the algorithm's other
arguments (a source node; fast_mis's random stream) and ``hints=True``.
(These modules define no ``__all__``: the dense registry counts the
modules of ``openclrs.algorithms`` that do as chapters.)
"""

from __future__ import annotations

from . import salsa, sparse_depth_first, sparse_graphs

SPARSE_ALGORITHMS = {
    "bfs": sparse_graphs.bfs,
    "dfs": sparse_depth_first.dfs,
    "dijkstra": sparse_graphs.dijkstra,
    "mst_prim": sparse_graphs.mst_prim,
    "bellman_ford": sparse_graphs.bellman_ford,
    "dag_shortest_paths": sparse_depth_first.dag_shortest_paths,
    "topological_sort": sparse_depth_first.topological_sort,
    "articulation_points": sparse_depth_first.articulation_points,
    "bridges": sparse_depth_first.bridges,
    "strongly_connected_components": sparse_depth_first.strongly_connected_components,
    "fast_mis": salsa.fast_mis,
    "eccentricity": salsa.eccentricity,
}
