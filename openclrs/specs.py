"""Probe specifications of the CLRS benchmark, as data.

Every algorithm is described by the probes it records. A probe has a
``(stage, location, type)`` triple:

* stage: ``input`` (given once), ``hint`` (one value per step of the
  algorithm) or ``output`` (the answer);
* location: ``node`` (one value per node), ``edge`` (per ordered node pair) or
  ``graph`` (one value per graph);
* type: ``scalar``, ``categorical``, ``mask``, ``mask_one``, ``pointer``,
  ``should_be_permutation`` (and, after :mod:`openclrs.transforms`,
  ``permutation_pointer``).

Names, order and triples are exactly those of the published ``dm-clrs``
benchmark, so models and code written against one work against the other.
The table below is the single source: encoders, decoders, losses, metrics,
storage and text formatting all read it.
"""

from __future__ import annotations

import types
from typing import Mapping


class Stage:
    INPUT = "input"
    OUTPUT = "output"
    HINT = "hint"


class Location:
    NODE = "node"
    EDGE = "edge"
    GRAPH = "graph"


class Type:
    SCALAR = "scalar"
    CATEGORICAL = "categorical"
    MASK = "mask"
    MASK_ONE = "mask_one"
    POINTER = "pointer"
    SHOULD_BE_PERMUTATION = "should_be_permutation"
    PERMUTATION_POINTER = "permutation_pointer"
    SOFT_POINTER = "soft_pointer"


class OutputClass:
    POSITIVE = 1
    NEGATIVE = 0
    MASKED = -1


STAGES = (Stage.INPUT, Stage.OUTPUT, Stage.HINT)
LOCATIONS = (Location.NODE, Location.EDGE, Location.GRAPH)
TYPES = (Type.SCALAR, Type.CATEGORICAL, Type.MASK, Type.MASK_ONE, Type.POINTER,
         Type.SHOULD_BE_PERMUTATION, Type.PERMUTATION_POINTER, Type.SOFT_POINTER)
# Pointer-like types hold node indices; everything else is stored as numbers.
POINTER_TYPES = (Type.POINTER, Type.SHOULD_BE_PERMUTATION, Type.PERMUTATION_POINTER)

Spec = Mapping[str, tuple]

# name / stage / location / type, one algorithm per paragraph, in the
# published probe order (the order matters: it fixes the order of features).
_TABLE = """
insertion_sort
    pos             input   node   scalar
    key             input   node   scalar
    pred            output  node   should_be_permutation
    pred_h          hint    node   pointer
    i               hint    node   mask_one
    j               hint    node   mask_one

bubble_sort
    pos             input   node   scalar
    key             input   node   scalar
    pred            output  node   should_be_permutation
    pred_h          hint    node   pointer
    i               hint    node   mask_one
    j               hint    node   mask_one

heapsort
    pos             input   node   scalar
    key             input   node   scalar
    pred            output  node   should_be_permutation
    pred_h          hint    node   pointer
    parent          hint    node   pointer
    i               hint    node   mask_one
    j               hint    node   mask_one
    largest         hint    node   mask_one
    heap_size       hint    node   mask_one
    phase           hint    graph  categorical

quicksort
    pos             input   node   scalar
    key             input   node   scalar
    pred            output  node   should_be_permutation
    pred_h          hint    node   pointer
    p               hint    node   mask_one
    r               hint    node   mask_one
    i               hint    node   mask_one
    j               hint    node   mask_one

quickselect
    pos             input   node   scalar
    key             input   node   scalar
    median          output  node   mask_one
    pred_h          hint    node   pointer
    p               hint    node   mask_one
    r               hint    node   mask_one
    i               hint    node   mask_one
    j               hint    node   mask_one
    i_rank          hint    graph  scalar
    target          hint    graph  scalar
    pivot           hint    node   mask_one

minimum
    pos             input   node   scalar
    key             input   node   scalar
    min             output  node   mask_one
    pred_h          hint    node   pointer
    min_h           hint    node   mask_one
    i               hint    node   mask_one

binary_search
    pos             input   node   scalar
    key             input   node   scalar
    target          input   graph  scalar
    return          output  node   mask_one
    pred_h          hint    node   pointer
    low             hint    node   mask_one
    high            hint    node   mask_one
    mid             hint    node   mask_one

find_maximum_subarray
    pos             input   node   scalar
    key             input   node   scalar
    start           output  node   mask_one
    end             output  node   mask_one
    pred_h          hint    node   pointer
    low             hint    node   mask_one
    high            hint    node   mask_one
    mid             hint    node   mask_one
    left_low        hint    node   mask_one
    left_high       hint    node   mask_one
    left_sum        hint    graph  scalar
    right_low       hint    node   mask_one
    right_high      hint    node   mask_one
    right_sum       hint    graph  scalar
    cross_low       hint    node   mask_one
    cross_high      hint    node   mask_one
    cross_sum       hint    graph  scalar
    ret_low         hint    node   mask_one
    ret_high        hint    node   mask_one
    ret_sum         hint    graph  scalar
    i               hint    node   mask_one
    j               hint    node   mask_one
    sum             hint    graph  scalar
    left_x_sum      hint    graph  scalar
    right_x_sum     hint    graph  scalar
    phase           hint    graph  categorical

find_maximum_subarray_kadane
    pos             input   node   scalar
    key             input   node   scalar
    start           output  node   mask_one
    end             output  node   mask_one
    pred_h          hint    node   pointer
    best_low        hint    node   mask_one
    best_high       hint    node   mask_one
    best_sum        hint    graph  scalar
    i               hint    node   mask_one
    j               hint    node   mask_one
    sum             hint    graph  scalar

matrix_chain_order
    pos             input   node   scalar
    p               input   node   scalar
    s               output  edge   pointer
    pred_h          hint    node   pointer
    m               hint    edge   scalar
    s_h             hint    edge   pointer
    msk             hint    edge   mask

lcs_length
    string          input   node   mask
    pos             input   node   scalar
    key             input   node   categorical
    b               output  edge   categorical
    pred_h          hint    node   pointer
    b_h             hint    edge   categorical
    c               hint    edge   scalar

optimal_bst
    pos             input   node   scalar
    p               input   node   scalar
    q               input   node   scalar
    root            output  edge   pointer
    pred_h          hint    node   pointer
    root_h          hint    edge   pointer
    e               hint    edge   scalar
    w               hint    edge   scalar
    msk             hint    edge   mask

activity_selector
    pos             input   node   scalar
    s               input   node   scalar
    f               input   node   scalar
    selected        output  node   mask
    pred_h          hint    node   pointer
    selected_h      hint    node   mask
    m               hint    node   mask_one
    k               hint    node   mask_one

task_scheduling
    pos             input   node   scalar
    d               input   node   scalar
    w               input   node   scalar
    selected        output  node   mask
    pred_h          hint    node   pointer
    selected_h      hint    node   mask
    i               hint    node   mask_one
    t               hint    graph  scalar

dfs
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    pi              output  node   pointer
    pi_h            hint    node   pointer
    color           hint    node   categorical
    d               hint    node   scalar
    f               hint    node   scalar
    s_prev          hint    node   pointer
    s               hint    node   mask_one
    u               hint    node   mask_one
    v               hint    node   mask_one
    s_last          hint    node   mask_one
    time            hint    graph  scalar

topological_sort
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    topo            output  node   pointer
    topo_head       output  node   mask_one
    topo_h          hint    node   pointer
    topo_head_h     hint    node   mask_one
    color           hint    node   categorical
    s_prev          hint    node   pointer
    s               hint    node   mask_one
    u               hint    node   mask_one
    v               hint    node   mask_one
    s_last          hint    node   mask_one

strongly_connected_components
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    scc_id          output  node   pointer
    scc_id_h        hint    node   pointer
    A_t             hint    edge   mask
    color           hint    node   categorical
    d               hint    node   scalar
    f               hint    node   scalar
    s_prev          hint    node   pointer
    s               hint    node   mask_one
    u               hint    node   mask_one
    v               hint    node   mask_one
    s_last          hint    node   mask_one
    time            hint    graph  scalar
    phase           hint    graph  mask

articulation_points
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    is_cut          output  node   mask
    is_cut_h        hint    node   mask
    pi_h            hint    node   pointer
    color           hint    node   categorical
    d               hint    node   scalar
    f               hint    node   scalar
    low             hint    node   scalar
    child_cnt       hint    node   scalar
    s_prev          hint    node   pointer
    s               hint    node   mask_one
    u               hint    node   mask_one
    v               hint    node   mask_one
    s_last          hint    node   mask_one
    time            hint    graph  scalar

bridges
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    is_bridge       output  edge   mask
    is_bridge_h     hint    edge   mask
    pi_h            hint    node   pointer
    color           hint    node   categorical
    d               hint    node   scalar
    f               hint    node   scalar
    low             hint    node   scalar
    s_prev          hint    node   pointer
    s               hint    node   mask_one
    u               hint    node   mask_one
    v               hint    node   mask_one
    s_last          hint    node   mask_one
    time            hint    graph  scalar

bfs
    pos             input   node   scalar
    s               input   node   mask_one
    A               input   edge   scalar
    adj             input   edge   mask
    pi              output  node   pointer
    reach_h         hint    node   mask
    pi_h            hint    node   pointer

mst_kruskal
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    in_mst          output  edge   mask
    in_mst_h        hint    edge   mask
    pi              hint    node   pointer
    u               hint    node   mask_one
    v               hint    node   mask_one
    root_u          hint    node   mask_one
    root_v          hint    node   mask_one
    mask_u          hint    node   mask
    mask_v          hint    node   mask
    phase           hint    graph  categorical

mst_prim
    pos             input   node   scalar
    s               input   node   mask_one
    A               input   edge   scalar
    adj             input   edge   mask
    pi              output  node   pointer
    pi_h            hint    node   pointer
    key             hint    node   scalar
    mark            hint    node   mask
    in_queue        hint    node   mask
    u               hint    node   mask_one

bellman_ford
    pos             input   node   scalar
    s               input   node   mask_one
    A               input   edge   scalar
    adj             input   edge   mask
    pi              output  node   pointer
    pi_h            hint    node   pointer
    d               hint    node   scalar
    msk             hint    node   mask

dag_shortest_paths
    pos             input   node   scalar
    s               input   node   mask_one
    A               input   edge   scalar
    adj             input   edge   mask
    pi              output  node   pointer
    pi_h            hint    node   pointer
    d               hint    node   scalar
    mark            hint    node   mask
    topo_h          hint    node   pointer
    topo_head_h     hint    node   mask_one
    color           hint    node   categorical
    s_prev          hint    node   pointer
    u               hint    node   mask_one
    v               hint    node   mask_one
    s_last          hint    node   mask_one
    phase           hint    graph  mask

dijkstra
    pos             input   node   scalar
    s               input   node   mask_one
    A               input   edge   scalar
    adj             input   edge   mask
    pi              output  node   pointer
    pi_h            hint    node   pointer
    d               hint    node   scalar
    mark            hint    node   mask
    in_queue        hint    node   mask
    u               hint    node   mask_one

floyd_warshall
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    Pi              output  edge   pointer
    Pi_h            hint    edge   pointer
    D               hint    edge   scalar
    msk             hint    edge   mask
    k               hint    node   mask_one

bipartite_matching
    pos             input   node   scalar
    A               input   edge   scalar
    adj             input   edge   mask
    s               input   node   mask_one
    t               input   node   mask_one
    in_matching     output  edge   mask
    in_matching_h   hint    edge   mask
    A_h             hint    edge   scalar
    adj_h           hint    edge   mask
    d               hint    node   scalar
    msk             hint    node   mask
    pi              hint    node   pointer
    u               hint    node   mask_one
    phase           hint    graph  mask

naive_string_matcher
    string          input   node   mask
    pos             input   node   scalar
    key             input   node   categorical
    match           output  node   mask_one
    pred_h          hint    node   pointer
    s               hint    node   mask_one
    i               hint    node   mask_one
    j               hint    node   mask_one

kmp_matcher
    string          input   node   mask
    pos             input   node   scalar
    key             input   node   categorical
    match           output  node   mask_one
    pred_h          hint    node   pointer
    pi              hint    node   pointer
    is_reset        hint    node   mask
    k               hint    node   mask_one
    k_reset         hint    graph  mask
    q               hint    node   mask_one
    q_reset         hint    graph  mask
    s               hint    node   mask_one
    i               hint    node   mask_one
    phase           hint    graph  mask

segments_intersect
    pos             input   node   scalar
    x               input   node   scalar
    y               input   node   scalar
    intersect       output  graph  mask
    i               hint    node   mask_one
    j               hint    node   mask_one
    k               hint    node   mask_one
    dir             hint    node   scalar
    on_seg          hint    node   mask

graham_scan
    pos             input   node   scalar
    x               input   node   scalar
    y               input   node   scalar
    in_hull         output  node   mask
    best            hint    node   mask_one
    atans           hint    node   scalar
    in_hull_h       hint    node   mask
    stack_prev      hint    node   pointer
    last_stack      hint    node   mask_one
    i               hint    node   mask_one
    phase           hint    graph  categorical

jarvis_march
    pos             input   node   scalar
    x               input   node   scalar
    y               input   node   scalar
    in_hull         output  node   mask
    pred_h          hint    node   pointer
    in_hull_h       hint    node   mask
    best            hint    node   mask_one
    last_point      hint    node   mask_one
    endpoint        hint    node   mask_one
    i               hint    node   mask_one
    phase           hint    graph  categorical
"""


def _parse(table: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    specs: dict[str, dict[str, tuple[str, str, str]]] = {}
    current = None
    for line in table.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = specs.setdefault(line.strip(), {})
            continue
        name, stage, location, type_ = line.split()
        assert stage in STAGES and location in LOCATIONS and type_ in TYPES, line
        current[name] = (stage, location, type_)
    return specs


SPECS: Mapping[str, Spec] = types.MappingProxyType(
    {name: types.MappingProxyType(spec) for name, spec in _parse(_TABLE).items()})

# The 30 algorithms of the CLRS-30 benchmark, in the published order. SPECS
# also covers two more that the published package specifies:
# find_maximum_subarray (recursive) and bipartite_matching.
CLRS_30_ALGS = (
    "articulation_points", "activity_selector", "bellman_ford", "bfs",
    "binary_search", "bridges", "bubble_sort", "dag_shortest_paths", "dfs",
    "dijkstra", "find_maximum_subarray_kadane", "floyd_warshall", "graham_scan",
    "heapsort", "insertion_sort", "jarvis_march", "kmp_matcher", "lcs_length",
    "matrix_chain_order", "minimum", "mst_kruskal", "mst_prim",
    "naive_string_matcher", "optimal_bst", "quickselect", "quicksort",
    "segments_intersect", "strongly_connected_components", "task_scheduling",
    "topological_sort",
)
ALL_ALGS = tuple(SPECS)

# The eight algorithm families of the CLRS-30 paper (scores are averaged per
# family for the headline number), plus the chapter of the two extras.
FAMILIES: Mapping[str, tuple[str, ...]] = types.MappingProxyType({
    "sorting": ("insertion_sort", "bubble_sort", "heapsort", "quicksort"),
    "searching": ("minimum", "binary_search", "quickselect"),
    "divide_and_conquer": ("find_maximum_subarray_kadane", "find_maximum_subarray"),
    "greedy": ("activity_selector", "task_scheduling"),
    "dynamic_programming": ("matrix_chain_order", "lcs_length", "optimal_bst"),
    "graphs": ("dfs", "bfs", "topological_sort", "articulation_points", "bridges",
               "strongly_connected_components", "mst_kruskal", "mst_prim",
               "bellman_ford", "dijkstra", "dag_shortest_paths", "floyd_warshall",
               "bipartite_matching"),
    "strings": ("naive_string_matcher", "kmp_matcher"),
    "geometry": ("segments_intersect", "graham_scan", "jarvis_march"),
})
FAMILY_OF = types.MappingProxyType(
    {alg: family for family, algs in FAMILIES.items() for alg in algs})

# Val/test sizes are multiplied for algorithms whose outputs carry little
# signal per sample (a single node or a single bit).
NUM_SAMPLES_MULTIPLIER = types.MappingProxyType({
    **{alg: 1 for alg in CLRS_30_ALGS},
    "find_maximum_subarray_kadane": 32,
    **{alg: 64 for alg in ("quickselect", "minimum", "binary_search",
                           "naive_string_matcher", "kmp_matcher",
                           "segments_intersect")},
})

# The canonical CLRS-30 splits.
CLRS30 = types.MappingProxyType({
    "train": types.MappingProxyType({"num_samples": 1000, "length": 16, "seed": 1}),
    "val": types.MappingProxyType({"num_samples": 32, "length": 16, "seed": 2}),
    "test": types.MappingProxyType({"num_samples": 32, "length": 64, "seed": 3}),
})
SPLITS = tuple(CLRS30)

# SALSA-CLRS's two algorithms beyond CLRS (jkminder/SALSA-CLRS, salsaclrs/
# specs.py), kept apart from SPECS so that ALL_ALGS, the samplers, the
# canonical dataset and everything keyed on the CLRS table stay as they are.
# They run on sparse graphs only (openclrs.algorithms.salsa). fast_mis's
# ``randomness`` is a node scalar with a trailing step axis, (n, steps): the
# numbers each node drew, one column per hint step, as SALSA stores them.
_SALSA_TABLE = """
fast_mis
    pos             input   node   scalar
    randomness      input   node   scalar
    Ain_h           hint    edge   mask
    alive_h         hint    node   mask
    phase_h         hint    graph  mask
    inmis_h         hint    node   mask
    inmis           output  node   mask
    adj             input   edge   mask

eccentricity
    pos             input   node   scalar
    adj             input   edge   mask
    A               input   edge   scalar
    s               input   node   mask_one
    visited_h       hint    node   mask
    msgphase_h      hint    node   mask
    floodstate_h    hint    node   scalar
    echostate_h     hint    node   scalar
    tree_h          hint    edge   mask
    leaf_h          hint    node   mask
    eccentricity_h  hint    graph  scalar
    eccentricity    output  graph  scalar
"""
SALSA_SPECS: Mapping[str, Spec] = types.MappingProxyType(
    {name: types.MappingProxyType(spec) for name, spec in _parse(_SALSA_TABLE).items()})
# SALSA-CLRS's six tasks: four CLRS algorithms and its own two.
SALSA_ALGS = ("bfs", "dfs", "dijkstra", "mst_prim", "fast_mis", "eccentricity")


def split_size(algorithm: str, split: str) -> int:
    """Number of samples of ``algorithm`` in a canonical split."""
    check_algorithm(algorithm)
    if split not in CLRS30:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    size = CLRS30[split]["num_samples"]
    if split != "train":
        size *= NUM_SAMPLES_MULTIPLIER.get(algorithm, 1)
    return size


def check_algorithm(name: str) -> str:
    """Return ``name`` if it is a known algorithm, else raise a helpful error."""
    if isinstance(name, str) and name in SPECS:
        return name
    import difflib

    close = difflib.get_close_matches(str(name), ALL_ALGS, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"unknown algorithm {name!r}{hint} (known: {', '.join(ALL_ALGS)})")
