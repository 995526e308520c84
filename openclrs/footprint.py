"""How much memory a sample takes, estimated from its spec before sampling.

A trace holds its inputs and outputs once and its hints once per step, each
probe ``1`` (graph), ``n`` (node) or ``n * n`` (edge) numbers wide (times the
classes of a categorical probe), 8 bytes a number. The only unknown is the
number of hint steps, which depends on the drawn input; :data:`STEPS` gives,
per algorithm, a bound on it for the samplers' random inputs (worst cases of
the algorithm itself can be far above: a quicksort on sorted keys takes
``n**2`` steps, but the samplers never draw sorted keys). The bounds were
checked against sampled traces; ``tests/test_footprint.py`` keeps them above
what the samplers produce, and not far above.

Building one trace needs more than the trace itself: the algorithms keep
whole tables per step, the sampler draws ``n * n`` matrices, and the trace
may be copied once while it is put together. Measured with ``tracemalloc``
for every algorithm at ``n = 16, 64, 128``, the peak stayed under
:data:`BUILD_OVERHEAD` times the finished trace.

:func:`check_fits` refuses, with a message that says what would fit, a
request whose estimate exceeds the memory available now (so that
``sample("insertion_sort", length=100000)`` fails at once instead of growing
until the kernel kills it). It never samples, so it costs microseconds.
"""

from __future__ import annotations

import math
import os
from typing import Callable

import numpy as np

from .specs import SPECS, Location, Stage, check_algorithm

BYTES_PER_NUMBER = 8      # probes are float64 or int64 (a few are bool: rounded up)
BUILD_OVERHEAD = 3        # peak memory while building one trace / its final size


class SampleTooLarge(ValueError, MemoryError):
    """A sample (or a set of samples) would not fit in the available memory.

    A ``ValueError`` (a bad argument: the length) and a ``MemoryError``."""


# Classes of the categorical probes (every other probe is one number per
# node, edge or graph).
CATEGORICAL_CLASSES: dict[tuple[str, str], int] = {
    ("heapsort", "phase"): 3,
    ("find_maximum_subarray", "phase"): 3,
    ("lcs_length", "key"): 4, ("lcs_length", "b"): 4, ("lcs_length", "b_h"): 4,
    ("dfs", "color"): 3,
    ("topological_sort", "color"): 3,
    ("strongly_connected_components", "color"): 3,
    ("articulation_points", "color"): 3,
    ("bridges", "color"): 3,
    ("dag_shortest_paths", "color"): 3,
    ("mst_kruskal", "phase"): 3,
    ("naive_string_matcher", "key"): 4,
    ("kmp_matcher", "key"): 4,
    ("graham_scan", "phase"): 5,
    ("jarvis_march", "phase"): 2,
}


def _log2(n: int) -> float:
    return math.log2(max(n, 2))


def _undirected_arcs(n: int, p: float) -> float:
    """Expected arcs (both directions) of the samplers' undirected ER graph,
    which keeps an edge when two coin flips of probability ``p`` agree, with
    a margin for the spread."""
    return 1.2 * p * p * n * (n - 1) + 10


def _search_depth(n: int) -> float:
    """Rounds of a search from one node of the samplers' ER graphs: about
    ``log n`` on dense graphs, up to ``n ** (1/3)`` near the connectivity
    threshold (``p * p * n`` near 1), with a margin; never more than ``n``."""
    return min(n, n ** (1 / 3) + 4 * _log2(n) + 10)


def _hull_points(n: int) -> float:
    """Hull size bound of ``n`` points uniform on a disk (about
    ``3.4 * n ** (1/3)`` expected), with a margin."""
    return min(n, 5 * n ** (1 / 3) + 5)


# Hint steps of one trace, as a function of the node count ``n`` and the
# largest edge probability ``p`` the sampler may draw (graphs only).
STEPS: dict[str, Callable[[int, float], float]] = {
    "insertion_sort": lambda n, p: n,
    "bubble_sort": lambda n, p: n * (n - 1) / 2 + 1,
    "heapsort": lambda n, p: n * (_log2(n) + 3),
    "quicksort": lambda n, p: 2 * n * _log2(n) + 2 * n,
    "quickselect": lambda n, p: 6 * n + 10,
    "minimum": lambda n, p: n,
    "binary_search": lambda n, p: _log2(n) + 3,
    "find_maximum_subarray": lambda n, p: n * (_log2(n) + 8),
    "find_maximum_subarray_kadane": lambda n, p: n,
    "matrix_chain_order": lambda n, p: n,
    "lcs_length": lambda n, p: n,
    "optimal_bst": lambda n, p: n,
    "activity_selector": lambda n, p: n + 1,
    "task_scheduling": lambda n, p: n + 1,
    "dfs": lambda n, p: 3 * n + 2,
    "topological_sort": lambda n, p: 3 * n + 2,
    "strongly_connected_components": lambda n, p: 6 * n + 2,
    # steps per discovery, tree edge and finish, and about 1.5 per arc
    # examined (measured: 1.52 on complete graphs)
    "articulation_points": lambda n, p: 5 * n + 1.6 * _undirected_arcs(n, p),
    "bridges": lambda n, p: 5 * n + 1.6 * _undirected_arcs(n, p),
    "bfs": lambda n, p: _search_depth(n) + 1,
    # per edge: two steps plus one per pointer followed to the two roots
    # (short paths: every find re-points the nodes it visits)
    "mst_kruskal": lambda n, p: 1 + (2 + _log2(n) / 2) * _undirected_arcs(n, p) / 2,
    "mst_prim": lambda n, p: n + 1,
    # weighted shortest paths take more hops than the search depth
    "bellman_ford": lambda n, p: min(n, 2 * _search_depth(n)) + 2,
    "dag_shortest_paths": lambda n, p: 4 * n + 2,
    "dijkstra": lambda n, p: n + 1,
    "floyd_warshall": lambda n, p: n,
    "bipartite_matching": lambda n, p: 6 * n + 10,
    "naive_string_matcher": lambda n, p: 2 * n + 2,
    "kmp_matcher": lambda n, p: 2 * n + 2,
    "segments_intersect": lambda n, p: 6,
    "graham_scan": lambda n, p: 3 * n + 5,
    # one step per point examined for each hull point
    "jarvis_march": lambda n, p: (_hull_points(n) + 1) * (n + 1) + 2,
}


def num_nodes(algorithm: str, length: int, length_2: int | None = None) -> int:
    """Nodes of a sampled graph of ``algorithm`` at ``length`` (the samplers
    read ``length`` per algorithm: two strings, a flow network with source
    and sink, the gaps around BST keys, two fixed segments)."""
    if algorithm == "segments_intersect":
        return 4
    if algorithm == "optimal_bst":
        return length + 1
    if algorithm == "lcs_length":
        return length + (length_2 or 0)
    if algorithm == "bipartite_matching":
        return length + (length_2 or 0) + 2
    return length


def _largest_edge_probability(algorithm: str, options: dict) -> float:
    from .samplers import sampler_options  # lazy: samplers imports this module

    p = np.atleast_1d(np.asarray(options.get("p", sampler_options(algorithm).get("p", 1.0)),
                                 dtype=np.float64))
    return float(p.max()) if p.size else 1.0


def estimate_steps(algorithm: str, length: int, **options) -> int:
    """A bound on the hint steps of one sampled trace (see :data:`STEPS`)."""
    algorithm = check_algorithm(algorithm)
    n = num_nodes(algorithm, length, options.get("length_2"))
    return math.ceil(STEPS[algorithm](n, _largest_edge_probability(algorithm, options)))


def estimate_sample_bytes(algorithm: str, length: int, **options) -> int:
    """Bytes of one finished trace of ``algorithm`` at ``length`` with these
    sampler options (an upper estimate for the samplers' random inputs).
    Needs no sampling."""
    algorithm = check_algorithm(algorithm)
    n = num_nodes(algorithm, length, options.get("length_2"))
    steps = estimate_steps(algorithm, length, **options)
    once = per_step = 0
    for name, (stage, location, _type) in SPECS[algorithm].items():
        width = {Location.NODE: n, Location.EDGE: n * n, Location.GRAPH: 1}[location]
        width *= CATEGORICAL_CLASSES.get((algorithm, name), 1)
        if stage == Stage.HINT:
            per_step += width
        else:
            once += width
    return int(BYTES_PER_NUMBER * (once + steps * per_step))


def estimate_peak_bytes(algorithm: str, length: int, num_samples: int = 1,
                        **options) -> int:
    """Memory to sample and keep ``num_samples`` traces: all of them, plus
    the working memory of building the last one."""
    one = estimate_sample_bytes(algorithm, length, **options)
    return one * (num_samples + BUILD_OVERHEAD - 1)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_available() -> int | None:
    """Room left under a cgroup v2 memory limit (containers), if any."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return int(limit) - int(f.read().strip())
    except (OSError, ValueError):
        return None


def _address_space_available() -> int | None:
    """Room left under ``ulimit -v`` (RLIMIT_AS), if one is set."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return limit - int(line.split()[1]) * 1024
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the least of the system's
    available memory (``MemAvailable``, else ``sysconf``), the room under a
    cgroup limit and the room under ``ulimit -v``. ``None`` if unknown."""
    known = [b for b in (_meminfo_available(), _cgroup_available(),
                         _address_space_available()) if b is not None]
    return max(min(known), 0) if known else None


def _size(num_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if num_bytes < 1024 or unit == "PiB":
            return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError


def largest_length_that_fits(algorithm: str, budget: int, num_samples: int = 1,
                             **options) -> int:
    """The largest ``length`` whose estimate fits in ``budget`` bytes (0 if none)."""
    def fits(length: int) -> bool:
        return estimate_peak_bytes(algorithm, length, num_samples, **options) <= budget

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while fits(hi):
        lo, hi = hi, hi * 2
        if hi > 1 << 40:
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def check_fits(algorithm: str, length: int, num_samples: int = 1, *,
               available: int | None = None, **options) -> int:
    """Raise :class:`SampleTooLarge` if sampling ``num_samples`` traces of
    ``algorithm`` at ``length`` (and keeping them) cannot fit in memory;
    returns the estimate in bytes. ``available`` defaults to
    :func:`available_memory` (the check is skipped when that is unknown)."""
    algorithm = check_algorithm(algorithm)
    need = estimate_peak_bytes(algorithm, length, num_samples, **options)
    if available is None:
        available = available_memory()
    if available is None or need <= available:
        return need
    what = "one sample" if num_samples == 1 else f"{num_samples} samples"
    best = largest_length_that_fits(algorithm, available, num_samples, **options)
    if best:
        advice = f"use length <= {best}" + ("" if num_samples == 1 else " or fewer samples")
    else:
        advice = "free some memory" + ("" if num_samples == 1 else " or use fewer samples")
    raise SampleTooLarge(
        f"{algorithm} at length {length} needs about {_size(need)} for {what} "
        f"(estimated from its spec and about {estimate_steps(algorithm, length, **options)} "
        f"hint steps), but only {_size(available)} of memory is available; {advice}")
