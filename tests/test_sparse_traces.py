"""Sparse traces: the sparse-native algorithms against the dense engine
restricted to the trace's edges, SALSA-CLRS's fast_mis and eccentricity
against dense references written from SALSA's code, the edge rule's
losslessness, storage and PyG-style batching round trips."""

import networkx as nx
import numpy as np
import pytest

import openclrs
from openclrs import algorithms as dense
from openclrs.algorithms.salsa import eccentricity, fast_mis
from openclrs.algorithms.sparse_registry import SPARSE_ALGORITHMS
from openclrs.data.sparse import (StoredSparseSplit, collate_sparse, uncollate_sparse,
                                  write_sparse_traces)
from openclrs.distributions import TEST_SETS, TRAIN, sample_sparse, salsa_weights
from openclrs.files import CorruptFileError
from openclrs.probes import ProbeError
from openclrs.sparse import (Graph, SparseTrace, off_edge_pointers, to_dense, to_sparse,
                             validate_sparse_trace)
from openclrs.specs import ALL_ALGS, SALSA_ALGS, SALSA_SPECS, SPECS

from .graph_helpers import random_graph

CLRS_SPARSE = sorted(set(SPARSE_ALGORITHMS) & set(SPECS))
WITH_SOURCE = {"bfs", "dijkstra", "mst_prim", "bellman_ford", "dag_shortest_paths",
               "eccentricity"}


def assert_same(a: SparseTrace, b: SparseTrace):
    assert (a.algorithm, a.num_nodes, a.length) == (b.algorithm, b.num_nodes, b.length)
    assert np.array_equal(a.senders, b.senders) and np.array_equal(a.receivers, b.receivers)
    for store in ("inputs", "hints", "outputs"):
        x, y = getattr(a, store), getattr(b, store)
        assert list(x) == list(y), store
        for k in x:
            assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape, (store, k)
            assert np.array_equal(x[k], y[k]), (a.algorithm, store, k)


def salsa_graphs(seed, count):
    """Small graphs of SALSA's distributions, weighted and unweighted."""
    rng = np.random.RandomState(seed)
    families = [TRAIN, TEST_SETS["er_16"], TEST_SETS["ws_16"], TEST_SETS["delaunay_16"]]
    for i in range(count):
        g = families[i % 4].draw(rng)
        yield g, salsa_weights(rng, g), int(rng.randint(g.num_nodes))


def clrs_graphs(seed, count, algorithm):
    """Dense CLRS-style graphs: directed or not, ties, self-loops, isolated nodes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        kind = i % 4
        A = random_graph(rng, directed=kind != 0,
                         weights="ties" if kind == 1 else None if kind == 3 else (0.05, 1.0),
                         self_loops=kind == 2 and algorithm != "bellman_ford")
        yield A, int(rng.integers(A.shape[0]))


@pytest.mark.parametrize("algorithm", CLRS_SPARSE)
def test_sparse_equals_dense_restricted_on_salsa_graphs(algorithm):
    for g, gw, s in salsa_graphs(1, 40):
        G = gw if algorithm in ("dijkstra", "mst_prim", "bellman_ford") else g
        args = (s,) if algorithm in WITH_SOURCE else ()
        sparse = SPARSE_ALGORITHMS[algorithm](G, *args)
        validate_sparse_trace(sparse)
        reference = dense.ALGORITHMS[algorithm](G.dense(), *args)
        assert_same(sparse, to_sparse(reference))
        # The edge rule loses nothing: back to dense gives the dense trace.
        back = to_dense(sparse)
        for name, _, _, _, value in reference.probes():
            store = {"input": back.inputs, "hint": back.hints, "output": back.outputs}
            got = store[reference.spec[name][0]][name]
            assert np.array_equal(got, value), (algorithm, name)
        # Without hints: the same inputs, outputs and number of steps.
        bare = SPARSE_ALGORITHMS[algorithm](G, *args, hints=False)
        assert not bare.hints and bare.length == sparse.length
        validate_sparse_trace(bare)
        for k in sparse.outputs:
            assert np.array_equal(bare.outputs[k], sparse.outputs[k])


@pytest.mark.parametrize("algorithm", CLRS_SPARSE)
def test_sparse_equals_dense_restricted_on_directed_graphs_with_ties(algorithm):
    for A, s in clrs_graphs(2, 60, algorithm):
        args = (s,) if algorithm in WITH_SOURCE else ()
        sparse = SPARSE_ALGORITHMS[algorithm](Graph.from_dense(A), *args)
        validate_sparse_trace(sparse)
        assert_same(sparse, to_sparse(dense.ALGORITHMS[algorithm](A, *args)))


@pytest.mark.parametrize("algorithm", CLRS_SPARSE)
def test_sparse_equals_dense_on_the_clrs_samplers_inputs(algorithm):
    for trace in openclrs.sample(algorithm, 10, seed=3, num_samples=6):
        A = trace.inputs["A"]
        args = (int(trace.inputs["s"].argmax()),) if "s" in trace.inputs else ()
        assert_same(SPARSE_ALGORITHMS[algorithm](Graph.from_dense(A), *args), to_sparse(trace))


def test_bellman_ford_huge_weights_take_the_literal_round():
    rng = np.random.default_rng(3)
    for _ in range(10):
        A = random_graph(rng, n=7, p=0.5) * 1e299
        sparse = SPARSE_ALGORITHMS["bellman_ford"](Graph.from_dense(A), 0)
        assert_same(sparse, to_sparse(dense.bellman_ford(A, 0)))


def test_edge_rule_keeps_reverse_edges_and_self_loops():
    A = np.zeros((3, 3))
    A[0, 1] = 2.0  # one directed edge
    t = SPARSE_ALGORITHMS["bfs"](Graph.from_dense(A), 0)
    pairs = list(zip(t.senders.tolist(), t.receivers.tolist()))
    assert pairs == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2)]
    assert t.inputs["A"].tolist() == [0, 2, 0, 0, 0]
    assert t.inputs["adj"].tolist() == [1, 1, 0, 1, 1]
    assert t.outputs["pi"].tolist() == [0, 0, 2]


def test_pointers_of_salsa_tasks_lie_on_edges():
    # SALSA stores pointers as edge masks and refuses any off its edges.
    for g, gw, s in salsa_graphs(4, 12):
        for name, G in (("bfs", g), ("dijkstra", gw), ("mst_prim", gw)):
            assert off_edge_pointers(SPARSE_ALGORITHMS[name](G, s)) == []
        assert off_edge_pointers(SPARSE_ALGORITHMS["dfs"](g)) == []


def test_only_list_and_component_pointers_leave_the_edges():
    """With reverse edges kept, parents and stack pointers lie on edges even
    on directed graphs; the topological list and component roots do not."""
    off = {}
    for A, s in clrs_graphs(8, 40, "dfs"):
        for name in CLRS_SPARSE:
            args = (s,) if name in WITH_SOURCE else ()
            found = off_edge_pointers(SPARSE_ALGORITHMS[name](Graph.from_dense(A), *args))
            off.setdefault(name, set()).update(found)
    assert {k: sorted(v) for k, v in off.items() if v} == {
        "topological_sort": ["topo", "topo_h"], "dag_shortest_paths": ["topo_h"],
        "strongly_connected_components": ["scc_id", "scc_id_h"]}


def test_validation_catches_broken_traces():
    g, _, s = next(salsa_graphs(5, 1))
    t = SPARSE_ALGORITHMS["bfs"](g, s)
    validate_sparse_trace(t)
    bad = SparseTrace(t.algorithm, t.num_nodes, t.senders, t.receivers, dict(t.inputs),
                      dict(t.hints), dict(t.outputs), t.length)
    bad.inputs["A"] = bad.inputs["A"][:-1]
    with pytest.raises(ProbeError, match="does not start with"):
        validate_sparse_trace(bad)
    bad = SparseTrace(t.algorithm, t.num_nodes, t.senders[::-1].copy(), t.receivers[::-1].copy(),
                      t.inputs, t.hints, t.outputs, t.length)
    with pytest.raises(ProbeError, match="sorted"):
        validate_sparse_trace(bad)
    bad = SparseTrace(t.algorithm, t.num_nodes, t.senders, t.receivers, t.inputs,
                      {**t.hints, "pi_h": t.hints["pi_h"] + t.num_nodes}, t.outputs, t.length)
    with pytest.raises(ProbeError, match="pointer outside"):
        validate_sparse_trace(bad)
    with pytest.raises(ValueError, match="Graph.from_dense"):
        SPARSE_ALGORITHMS["bfs"](np.eye(3), 0)
    with pytest.raises(ValueError, match="graph algorithm"):
        to_sparse(dense.insertion_sort([0.3, 0.1]))


def test_salsa_specs_stay_out_of_the_clrs_table():
    assert set(SALSA_SPECS) == {"fast_mis", "eccentricity"}
    assert not set(SALSA_SPECS) & set(ALL_ALGS)
    assert set(SALSA_ALGS) <= set(SPARSE_ALGORITHMS)


# --------------------------------------------------------------------------
# SALSA's two algorithms, against dense references written from its code
# --------------------------------------------------------------------------

def mis_reference(A, draw):
    """SALSA's fast_mis_2 as node loops over a dense matrix."""
    n = len(A)
    A_in, alive, mis = A.copy(), np.ones(n, bool), np.zeros(n, bool)
    states, numbers = [], []
    while alive.any():
        r = draw(n)
        states.append((A_in.copy(), alive.copy(), mis.copy(), 0))
        for u in range(n):
            if alive[u] and not any(A_in[u, v] == 1 and (r[u] > r[v] or r[u] == r[v] and u < v)
                                    for v in range(n)):
                mis[u] = True
        for u in range(n):
            if alive[u] and (mis[u] or any(A_in[u, v] == 1 and mis[v] for v in range(n))):
                alive[u] = False
        A_in[~alive] = 0
        A_in[:, ~alive] = 0
        numbers += [r, r]
        states.append((A_in.copy(), alive.copy(), mis.copy(), 1))
    return mis, states, np.array(numbers).T


def eccentricity_reference(A, source):
    """SALSA's flood-echo eccentricity as node loops over dense matrices."""
    n = len(A)
    flood, echo = np.zeros(n, int), np.zeros(n, int)
    phase, visited, leaf = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    tree = np.zeros((n, n), bool)

    def snapshot():
        return (visited.copy(), phase.copy(), tree.copy(), flood.copy(), echo.copy(),
                leaf.copy(), echo[source])

    def flood_to(u, msg, seen, box, tr):
        targets = [v for v in range(n) if A[u, v] and not seen[v]]
        for v in targets:
            box[v] = max(msg, box[v])
            tr[u, v] = True
        return not targets

    def echo_to(u, msg, seen, ech, tr, ph):
        for v in range(n):
            if tr[v, u] and seen[v]:
                ech[v] = max(msg, ech[v])
                tr[v, u] = False
                ph[v] = True

    def waits(u, tr):
        return any(tr[u, v] and not tr[v, u] for v in range(n))

    states, done = [snapshot()], False
    while not done:
        nv, nph, ntr, ne = visited.copy(), phase.copy(), tree.copy(), echo.copy()
        box = np.zeros(n, int)
        for u in range(n):
            if not phase[u]:
                is_leaf = False
                if u == source and not visited[u]:
                    nv[u] = True
                    is_leaf = flood_to(u, 1, visited, box, ntr)
                if flood[u] > 0 and not visited[u]:
                    nv[u] = True
                    is_leaf = flood_to(u, flood[u] + 1, visited, box, ntr)
                if is_leaf:
                    leaf[u], ne[u], nph[u] = True, flood[u], True
                    echo_to(u, flood[u], visited, ne, ntr, nph)
            elif not leaf[u] and not waits(u, tree):
                if u == source:
                    done = True
                    break
                leaf[u] = True
                echo_to(u, echo[u], visited, ne, ntr, nph)
        visited, phase, tree = nv, nph, ntr
        for u in range(n):
            if box[u] > 0:
                if not visited[u]:
                    flood[u] = box[u]
                elif not waits(u, tree):
                    leaf[u], ne[u], phase[u] = True, flood[u], True
                    echo_to(u, flood[u], visited, ne, tree, phase)
        echo = ne
        states.append(snapshot())
    return echo[source], states


class Numbers:
    """A stream of U[0,1) numbers, optionally rounded to thirds (many ties)."""

    def __init__(self, seed, coarse):
        self.rng, self.coarse = np.random.RandomState(seed), coarse

    def random_sample(self, k):
        x = self.rng.random_sample(k)
        return np.floor(x * 3) / 3 if self.coarse else x


def test_fast_mis_matches_salsa_and_is_a_maximal_independent_set():
    for i, (g, _, _) in enumerate(salsa_graphs(6, 40)):
        A = g.dense()
        mis, states, numbers = mis_reference(A, Numbers(i, i % 2 == 0).random_sample)
        trace = fast_mis(g, Numbers(i, i % 2 == 0))
        validate_sparse_trace(trace)
        full = to_dense(trace)
        assert np.array_equal(full.outputs["inmis"], mis)
        assert np.array_equal(trace.inputs["randomness"], numbers)
        assert trace.length == len(states) == numbers.shape[1]
        for k, name in enumerate(("Ain_h", "alive_h", "inmis_h", "phase_h")):
            assert np.array_equal(full.hints[name], np.array([s[k] for s in states])), name
        member = mis.astype(bool)
        assert not (A[member][:, member]).any()  # independent
        assert (member | (A[:, member].sum(1) > 0)).all()  # maximal
        bare = fast_mis(g, Numbers(i, i % 2 == 0), hints=False)
        assert bare.length == trace.length and np.array_equal(bare.outputs["inmis"], mis)


def test_fast_mis_tie_goes_to_the_larger_index_and_the_smaller_number_wins():
    g = Graph.undirected(3, [0, 1], [1, 2])  # path 0 - 1 - 2

    class Fixed:
        def __init__(self, rows):
            self.rows = list(rows)

        def random_sample(self, k):
            return np.array(self.rows.pop(0))

    # Smallest number joins: node 1 (0.1) beats 0 and 2.
    assert fast_mis(g, Fixed([[0.5, 0.1, 0.7]])).outputs["inmis"].tolist() == [0, 1, 0]
    # All tied: node 2 beats node 1 (larger index), node 1 beats 0; so 2 joins,
    # 1 dies, and 0 joins in the second round.
    t = fast_mis(g, Fixed([[0.5, 0.5, 0.5], [0.3, 0.3, 0.3]]))
    assert t.outputs["inmis"].tolist() == [1, 0, 1]
    assert t.length == 4 and t.hints["phase_h"].tolist() == [0, 1, 0, 1]


def test_eccentricity_matches_salsa_and_networkx():
    for g, _, s in salsa_graphs(7, 40):
        A = g.dense()
        value, states = eccentricity_reference(A, s)
        trace = eccentricity(g, s)
        validate_sparse_trace(trace)
        assert trace.outputs["eccentricity"] == value == nx.eccentricity(nx.from_numpy_array(A), s)
        assert trace.length == len(states)
        full = to_dense(trace)
        for k, name in enumerate(("visited_h", "msgphase_h", "tree_h", "floodstate_h",
                                  "echostate_h", "leaf_h", "eccentricity_h")):
            assert np.array_equal(full.hints[name], np.array([st[k] for st in states])), name
        assert eccentricity(g, s, hints=False).length == trace.length


def test_eccentricity_refuses_an_isolated_source():
    with pytest.raises(ValueError, match="neighbour"):
        eccentricity(Graph.undirected(3, [1], [2]), 0)


# --------------------------------------------------------------------------
# Batching and storage
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["bfs", "dijkstra", "fast_mis", "eccentricity"])
def test_batch_round_trip(algorithm):
    traces = sample_sparse(algorithm, TRAIN, num_samples=5, seed=3)
    batch = collate_sparse(traces)
    assert batch.num_graphs == 5 and batch.num_nodes == sum(t.num_nodes for t in traces)
    assert batch.edge_index.shape == (2, sum(t.num_edges for t in traces))
    # Edges stay inside their graph; the batch vector names it.
    assert np.array_equal(batch.batch[batch.senders], batch.batch[batch.receivers])
    assert batch.node_ptr.tolist() == [0, *np.cumsum([t.num_nodes for t in traces])]
    for name, (stage, location, _) in traces[0].spec.items():
        if stage == "hint":
            assert batch.hints[name].shape[0] == max(t.length for t in traces)
    for a, b in zip(traces, uncollate_sparse(batch)):
        assert_same(a, b)
    as_torch = batch.to_torch()
    assert str(as_torch.senders.dtype) == "torch.int64"
    assert as_torch.edge_index.shape == (2, batch.num_edges)


def test_batched_pointers_are_batch_wide_and_padding_points_to_itself():
    traces = sample_sparse("dijkstra", TRAIN, num_samples=3, seed=4)
    batch = collate_sparse(traces)
    g = 1
    a, b = batch.node_ptr[g], batch.node_ptr[g + 1]
    assert np.array_equal(batch.outputs["pi"][a:b], traces[g].outputs["pi"] + a)
    T = batch.hints["pi_h"].shape[0]
    if traces[g].length < T:
        assert np.array_equal(batch.hints["pi_h"][traces[g].length:, a:b],
                              np.broadcast_to(np.arange(a, b), (T - traces[g].length, b - a)))


@pytest.mark.parametrize("hints", [True, False])
@pytest.mark.parametrize("algorithm", ["bfs", "mst_prim", "fast_mis", "eccentricity"])
def test_storage_round_trip(tmp_path, algorithm, hints):
    traces = (sample_sparse(algorithm, TRAIN, num_samples=4, seed=5, hints=hints)
              + sample_sparse(algorithm, "delaunay_80", num_samples=1, seed=6, hints=hints))
    path = str(tmp_path / "t.safetensors")
    size, digest = write_sparse_traces(path, traces, recipe={"graphs": "train", "seed": 5})
    stored = StoredSparseSplit(path, expected_sha256=digest)
    assert len(stored) == 5 and stored.recipe == {"graphs": "train", "seed": 5}
    for a, b in zip(traces, stored):
        assert_same(a, b)
    for a, b in zip(uncollate_sparse(stored.batch([4, 0])), [traces[4], traces[0]]):
        assert_same(a, b)


def test_storage_refuses_damaged_files(tmp_path):
    path = str(tmp_path / "t.safetensors")
    _, digest = write_sparse_traces(path, sample_sparse("bfs", TRAIN, 2, seed=1))
    with open(path, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x7f")
    with pytest.raises(CorruptFileError, match="checksum"):
        StoredSparseSplit(path, expected_sha256=digest)


def test_replay_against_a_step_by_step_loop():
    # The one event-log replay of the dense and sparse engines (_graphs.replay).
    from openclrs.algorithms._graphs import replay

    rng = np.random.default_rng(9)
    for _ in range(50):
        cells, steps = int(rng.integers(1, 6)), int(rng.integers(1, 9))
        events = int(rng.integers(0, 30))
        ev_t = np.sort(rng.integers(0, steps + 2, events))   # some past the last step
        ev_c = rng.integers(0, cells, events)
        ev_x = rng.integers(-5, 5, events).astype(float)
        init = rng.normal(size=cells)
        expected = np.empty((steps, cells))
        row = init.copy()
        for t in range(steps):
            for k in range(events):          # in time order, the later change wins
                if ev_t[k] == t:
                    row[ev_c[k]] = ev_x[k]
            expected[t] = row
        assert np.array_equal(replay(init, steps, ev_t, ev_c, ev_x), expected)
        assert np.array_equal(replay(init, steps, ev_t.tolist(), ev_c.tolist(),
                                     ev_x.tolist()), expected)


def test_sparse_dataset_builds_resumes_and_loads(tmp_path):
    from openclrs.data.sparse import build_sparse_dataset, load_sparse_split, salsa_parts

    folder = str(tmp_path / "salsa")
    parts = salsa_parts("bfs", seed=4, num_samples={"train": 3, "val": 2, "test": 1})
    assert len(parts) == 17 and [p.split for p in parts[:3]] == ["train", "val", "test_er_16"]
    # builds of different seeds share no (distribution, seed): no graph in common
    drawn = [(p.graphs, p.seed) for s in range(4) for p in salsa_parts("bfs", s, large=True)]
    assert len(drawn) == len(set(drawn))
    assert [p.seed for p in salsa_parts("bfs")][:4] == [0, 1, 2, 3]   # seed 0 as it was
    assert parts[0].hints and not any(p.hints for p in parts[1:])
    manifest = build_sparse_dataset(parts, folder, workers=1, progress=False)
    assert len(manifest["parts"]) == 17
    train = load_sparse_split(folder, "bfs", "train")
    for a, b in zip(train, sample_sparse("bfs", "train", num_samples=3, seed=4)):
        assert_same(a, b)
    test = load_sparse_split(folder, "bfs", "test_delaunay_1600")
    assert test[0].num_nodes == 1600 and not test[0].has_hints and test[0].length > 1
    # A second build finds everything intact and writes nothing.
    path = tmp_path / "salsa" / "bfs" / "val.safetensors"
    stamp = path.stat().st_mtime_ns
    build_sparse_dataset(parts, folder, workers=1, progress=False)
    assert path.stat().st_mtime_ns == stamp
    # A damaged file is refused, and the builder rebuilds it.
    with open(path, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x01")
    with pytest.raises(CorruptFileError, match="corrupted"):
        load_sparse_split(folder, "bfs", "val")
    build_sparse_dataset(parts, folder, workers=1, progress=False)
    assert len(load_sparse_split(folder, "bfs", "val")) == 2
    with pytest.raises(FileNotFoundError, match="no split 'test' of bfs"):
        load_sparse_split(folder, "bfs", "test")
    with pytest.raises(ValueError, match="no sparse implementation"):
        salsa_parts("floyd_warshall")


def test_sparse_bellman_ford_shares_the_dense_rounds_and_refuses_negative_cycles():
    from openclrs.algorithms.sparse_graphs import bellman_ford

    # CLRS figure 24.4 (negative weights, no negative cycle): the dense trace, on edges.
    s, t, x, y, z = range(5)
    A = np.zeros((5, 5))
    for u, v, w in [(s, t, 6), (s, y, 7), (t, x, 5), (t, y, 8), (t, z, -4), (x, t, -2),
                    (y, x, -3), (y, z, 9), (z, s, 2), (z, x, 7)]:
        A[u, v] = w
    assert_same(bellman_ford(Graph.from_dense(A), s), to_sparse(dense.bellman_ford(A, s)))
    bare = bellman_ford(Graph.from_dense(A), s, hints=False)
    assert bare.length == dense.bellman_ford(A, s).length
    A[z, x] = -7                                    # the cycle z -> x -> t -> z weighs -13
    with pytest.raises(ValueError, match="negative-weight cycle"):
        bellman_ford(Graph.from_dense(A), s)


def test_graphs_that_break_graphs_promises_are_refused():
    """A Graph built by hand with unsorted edges gave wrong traces silently;
    NaN weights went through from_dense; eccentricity on a directed graph
    could loop until its round limit and blamed the library."""
    from openclrs.algorithms.salsa import eccentricity
    from openclrs.sparse import Graph

    unsorted = Graph(4, np.array([2, 0, 1]), np.array([3, 1, 2]), np.ones(3))
    from openclrs.algorithms.sparse_graphs import bfs

    with pytest.raises(ValueError, match="Graph's promises"):
        bfs(unsorted, 0)
    with pytest.raises(ValueError, match="finite"):
        Graph.from_dense(np.array([[0, np.nan], [np.nan, 0]]))
    directed = Graph.from_edges(3, [0, 1, 2], [1, 2, 0])
    with pytest.raises(ValueError, match="undirected"):
        eccentricity(directed, 0)
