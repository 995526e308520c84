"""Published out-of-distribution test scores (%, n = 64) of the Triplet-GMPNN.

Source: Ibarz et al., "A Generalist Neural Algorithmic Learner", LoG 2022
(arXiv:2209.11142), Table 2 (single-task Triplet-GMPNN, mean over seeds;
the reported standard errors are left out). Used only for the comparison
plot and table that :func:`openclrs.train.train` produces. The bfs,
dijkstra, insertion_sort, floyd_warshall and kmp_matcher values were checked
against the paper; the others were transcribed without a second check and
should be verified against Table 2 before they are quoted.
"""

from __future__ import annotations

SOURCE = ("Ibarz et al. 2022, 'A Generalist Neural Algorithmic Learner' "
          "(arXiv:2209.11142), Table 2, Triplet-GMPNN")

TRIPLET_GMPNN = {
    "activity_selector": 95.15,
    "articulation_points": 88.32,
    "bellman_ford": 97.39,
    "bfs": 99.73,
    "binary_search": 77.58,
    "bridges": 93.99,
    "bubble_sort": 67.68,
    "dag_shortest_paths": 98.19,
    "dfs": 47.79,
    "dijkstra": 96.05,
    "find_maximum_subarray_kadane": 76.36,
    "floyd_warshall": 48.52,
    "graham_scan": 93.62,
    "heapsort": 31.04,
    "insertion_sort": 78.14,
    "jarvis_march": 91.01,
    "kmp_matcher": 19.51,
    "lcs_length": 80.51,
    "matrix_chain_order": 91.68,
    "minimum": 97.78,
    "mst_kruskal": 89.80,
    "mst_prim": 86.39,
    "naive_string_matcher": 78.67,
    "optimal_bst": 73.77,
    "quickselect": 0.47,
    "quicksort": 64.64,
    "segments_intersect": 97.64,
    "strongly_connected_components": 43.43,
    "task_scheduling": 87.25,
    "topological_sort": 87.27,
}


def published_score(algorithm: str) -> float | None:
    """The published test score of ``algorithm`` as a fraction in [0, 1], or None."""
    value = TRIPLET_GMPNN.get(algorithm)
    return None if value is None else value / 100.0
