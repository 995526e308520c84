"""Sparse traces and batches as PyTorch Geometric Data/Batch (openclrs.data.pyg)."""

import importlib.util
import pickle
import sys

import numpy as np
import pytest

from openclrs.data import pyg
from openclrs.data.sparse import collate_sparse
from openclrs.distributions import sample_sparse
from openclrs.extras import MissingDependency

needs_pyg = pytest.mark.skipif(importlib.util.find_spec("torch_geometric") is None,
                               reason="PyTorch Geometric is not installed (openclrs[pyg])")


def traces_of(algorithm, count=5, graphs="train", hints=True, seed=0):
    return sample_sparse(algorithm, graphs, num_samples=count, seed=seed, hints=hints)


def assert_same_arrays(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert np.array_equal(a, b), what


def assert_same_trace(a, b):
    assert (a.algorithm, a.num_nodes, a.length) == (b.algorithm, b.num_nodes, b.length)
    assert_same_arrays(a.senders, b.senders, "senders")
    assert_same_arrays(a.receivers, b.receivers, "receivers")
    for store in ("inputs", "hints", "outputs"):
        x, y = getattr(a, store), getattr(b, store)
        assert set(x) == set(y), store
        for k in x:
            assert_same_arrays(x[k], y[k], f"{store}.{k}")


def assert_same_batch(a, b):
    assert a.algorithm == b.algorithm
    for name in ("senders", "receivers", "batch", "node_ptr", "edge_ptr", "lengths"):
        assert_same_arrays(getattr(a, name), getattr(b, name), name)
    for store in ("inputs", "hints", "outputs"):
        x, y = getattr(a, store), getattr(b, store)
        assert set(x) == set(y), store
        for k in x:
            assert_same_arrays(x[k], y[k], f"{store}.{k}")


# bfs: node pointers; dfs: pointer hints (s_prev) and the graph hint `time`
# (a name PyG also uses); fast_mis: the (n, T) randomness input and a graph
# mask hint; eccentricity: a graph output; dijkstra: edge weights.
ALGORITHMS = ["bfs", "dfs", "fast_mis", "eccentricity", "dijkstra"]


@needs_pyg
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trace_round_trip(algorithm):
    for trace in traces_of(algorithm, 3):
        data = pyg.to_data(trace)
        assert data.num_nodes == trace.num_nodes
        assert tuple(data.edge_index.shape) == (2, trace.num_edges)
        assert_same_trace(pyg.from_data(data), trace)
        # picklable, as DataLoader workers need
        assert_same_trace(pyg.from_data(pickle.loads(pickle.dumps(data))), trace)
        # padded to more steps, the trace comes back cut to its length
        assert_same_trace(pyg.from_data(pyg.to_data(trace, trace.length + 3)), trace)


@needs_pyg
def test_round_trip_without_hints():
    for trace in traces_of("dijkstra", 2, graphs="er_80", hints=False):
        data = pyg.to_data(trace)
        assert "pi_h" not in data
        assert_same_trace(pyg.from_data(data), trace)


@needs_pyg
def test_layout_is_time_first_with_padding_that_points_to_itself():
    trace = traces_of("bfs", 1)[0]
    data = pyg.to_data(trace, trace.length + 2)
    n, L = trace.num_nodes, trace.length
    assert tuple(data.pi_h.shape) == (L + 2, n)
    assert tuple(data.pi.shape) == (n,)
    assert tuple(data.length.tolist()) == (L,)
    assert (data.pi_h[L:] == np.arange(n)).all()          # padding: each node to itself
    assert (data.reach_h[L:] == 0).all()
    ecc = pyg.to_data(traces_of("eccentricity", 1)[0])
    assert tuple(ecc.eccentricity.shape) == (1,)
    assert ecc.eccentricity_h.shape[1] == 1                 # graph hint (T, 1)
    with pytest.raises(ValueError, match="shorter"):
        pyg.to_data(trace, trace.length - 1)


@needs_pyg
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_batch_equals_collate_sparse(algorithm):
    traces = traces_of(algorithm, 5)
    ours = collate_sparse(traces)
    batch = pyg.to_batch(traces)
    assert batch.num_graphs == 5
    assert_same_arrays(batch.edge_index.numpy(), ours.edge_index, "edge_index")
    assert_same_arrays(batch.batch.numpy(), ours.batch, "batch")
    assert_same_arrays(batch.ptr.numpy(), ours.node_ptr, "ptr")
    assert_same_batch(pyg.from_batch(batch), ours)
    # from our batch too, and each graph back out of PyG's Batch
    assert_same_batch(pyg.from_batch(pyg.to_batch(ours)), ours)
    for trace, data in zip(traces, batch.to_data_list()):
        assert_same_trace(pyg.from_data(data), trace)


@needs_pyg
def test_batch_shifts_edges_and_pointers_by_hand():
    a, b = traces_of("bfs", 2)
    batch = pyg.to_batch([a, b])
    n = a.num_nodes
    assert (batch.edge_index[:, a.num_edges:].numpy()
            == np.stack([b.senders, b.receivers]) + n).all()
    assert (batch.pi[n:].numpy() == b.outputs["pi"] + n).all()
    assert (batch.pi_h[:b.length, n:].numpy() == b.hints["pi_h"] + n).all()
    assert (batch.length.numpy() == [a.length, b.length]).all()
    steps = max(a.length, b.length)
    short, offset = (a, 0) if a.length < b.length else (b, n)
    idle = batch.pi_h[short.length:steps, offset:offset + short.num_nodes].numpy()
    assert (idle == np.arange(short.num_nodes) + offset).all()


@needs_pyg
def test_dataloader_gives_our_batches():
    loader_module = pytest.importorskip("torch_geometric.loader")
    traces = traces_of("dfs", 7, seed=3)
    loader = loader_module.DataLoader(pyg.to_data_list(traces), batch_size=3, shuffle=False)
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [3, 3, 1]
    for k, batch in enumerate(batches):
        assert_same_batch(pyg.from_batch(batch), collate_sparse(traces[3 * k:3 * k + 3]))
    longest = max(t.length for t in traces)
    assert_same_batch(pyg.from_batch(batches[0], min_steps=longest),
                      collate_sparse(traces[:3], min_steps=longest))


@needs_pyg
def test_clear_errors():
    batch = pyg.to_batch(traces_of("bfs", 2))
    with pytest.raises(TypeError, match="from_batch"):
        pyg.from_data(batch)
    with pytest.raises(TypeError, match="SparseTrace"):
        pyg.to_data(collate_sparse(traces_of("bfs", 2)))
    batch.algorithm = ["bfs", "dfs"]
    with pytest.raises(ValueError, match="mixes algorithms"):
        pyg.from_batch(batch)
    with pytest.raises(ValueError, match="no traces"):
        pyg.to_data_list([])
    with pytest.raises(TypeError, match="numpy SparseBatch"):
        pyg.to_batch(collate_sparse(traces_of("bfs", 2)).to_torch())


def test_missing_torch_geometric_names_the_extra(monkeypatch):
    monkeypatch.setattr(pyg, "_DATA_CLASS", None)
    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    with pytest.raises(MissingDependency, match=r'pip install "openclrs\[pyg\]"'):
        pyg.to_data(traces_of("bfs", 1)[0])
    with pytest.raises(MissingDependency, match="torch_geometric is not installed"):
        pyg.to_batch(traces_of("bfs", 2))
