"""Published out-of-distribution test scores (%, n = 64) of the Triplet-GMPNN.

Source: Ibarz et al., "A Generalist Neural Algorithmic Learner", LoG 2022
(arXiv:2209.11142): per algorithm from Table 2 (single-task Triplet-GMPNN,
mean over 10 seeds after 10,000 steps; the standard errors are left out).
Used for the comparison table and plot that :func:`openclrs.training.loop.train`
produces. The per-family means of these values reproduce every entry of the
paper's Table 1 Triplet-GMPNN column to its rounding, and their means are
the paper's 74.14 (over families) and 75.98 (over algorithms):
``tests/models/test_evaluation.py`` checks it, so a mistyped value shows.
"""

from __future__ import annotations

SOURCE = "Ibarz et al. 2022 (arXiv:2209.11142), Table 2"

# Table 1 of the same paper: Triplet-GMPNN per-family means and their mean.
TABLE1_FAMILY_MEANS = {
    "divide_and_conquer": 76.36, "dynamic_programming": 81.99, "geometry": 94.09,
    "graphs": 81.41, "greedy": 91.21, "searching": 58.61, "sorting": 60.37, "strings": 49.09,
}
TABLE1_OVERALL = 74.14

TRIPLET_GMPNN = {
    "activity_selector": 95.18,
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
