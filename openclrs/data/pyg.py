"""Sparse traces as PyTorch Geometric data (``pip install "openclrs[pyg]"``).

A :class:`~openclrs.sparse.SparseTrace` becomes one
``torch_geometric.data.Data`` (:func:`to_data`); a list of them or a
:class:`~openclrs.data.sparse.SparseBatch` one ``torch_geometric.data.Batch``
(:func:`to_batch`); and back (:func:`from_data`, :func:`from_batch`), value
for value and dtype for dtype.

**Attribute layout** of one graph's ``Data`` (n nodes, E edges, T steps):

* ``edge_index`` ``(2, E)`` int64: the trace's ``[senders; receivers]``;
  ``num_nodes`` n; ``algorithm`` the algorithm's name; ``length`` ``(1,)``
  its hint steps (the processor steps to run);
* every probe under its own name (``pos``, ``A``, ``pi``, ``pi_h``...), as
  the numpy array's dtype: node probes ``(n, ...)``, edge probes
  ``(E, ...)`` (on ``edge_index``'s edges), graph probes ``(1, ...)``;
* hints **time-first**: ``(T, n, ...)``, ``(T, E, ...)``, graph hints
  ``(T, 1, ...)``, padded after the trace's ``length`` to ``steps`` as
  :func:`~openclrs.data.sparse.collate_sparse` pads (zeros; pointer hints
  with the node's own index); fast_mis's ``randomness`` ``(n, T)``;
* pointers (``pi``, ``pi_h``, ``s_prev``...) as node indices.

PyTorch Geometric concatenates ``Data`` objects into a ``Batch`` along the
node/edge axis, which is axis 1 for hints (the class here says so through
``__cat_dim__``), and shifts ``edge_index`` and every pointer by the nodes
before each graph (``__inc__``). A ``Batch`` therefore holds exactly what
:func:`~openclrs.data.sparse.collate_sparse` makes of the same traces:
``edge_index`` = ``SparseBatch.edge_index``, ``batch`` and ``ptr`` =
``batch`` and ``node_ptr``, hints ``(T, N | E | B, ...)``, graph probes
``(B, ...)``, ``length`` = ``lengths``. Hints of different lengths must be
padded to one ``T`` to be concatenated: :func:`to_data_list` pads a list
of traces to its longest, so a PyG ``DataLoader`` over it batches them, and
:func:`from_batch` cuts hints to the batch's longest trace (or
``min_steps``), giving :func:`collate_sparse`'s batch of the same graphs.

Two probe names are also names PyTorch Geometric gives a meaning to: ``pos``
(node positions; here CLRS's node position scalar, ``(n,)``) and ``time``
(dfs-family graph hint, time-first ``(T, 1)``). They are stored as any other
probe; PyG's temporal helpers (``is_sorted_by_time``...) do not apply.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ..extras import require
from ..sparse import STEP_INPUTS, SparseTrace, spec_of
from ..specs import POINTER_TYPES, Location, Stage
from .sparse import SparseBatch, uncollate_sparse

PURPOSE = "convert sparse traces to PyTorch Geometric data"


@lru_cache(maxsize=None)
def _probe_sets(algorithm: str) -> tuple[frozenset, frozenset]:
    spec = spec_of(algorithm)
    pointers = frozenset(k for k, (_, _, t) in spec.items() if t in POINTER_TYPES)
    hints = frozenset(k for k, (s, _, _) in spec.items() if s == Stage.HINT)
    return pointers, hints


def _layout(algorithm) -> tuple[frozenset, frozenset]:
    """The algorithm's pointer probes (shifted when batched) and its probes
    concatenated along axis 1 (hints, time-first). ``algorithm`` is a list
    on a ``Batch`` (one name per graph; from_batch checks they agree)."""
    if isinstance(algorithm, (list, tuple)):
        algorithm = algorithm[0]
    return _probe_sets(algorithm)


_DATA_CLASS = None


def data_class():
    """``SparseTraceData``, the ``torch_geometric.data.Data`` subclass whose
    ``__inc__``/``__cat_dim__`` batch sparse traces as :func:`collate_sparse`
    does (made on first use, so importing openclrs never needs PyG)."""
    global _DATA_CLASS
    if _DATA_CLASS is None:
        Data = require("torch_geometric.data", PURPOSE).Data

        class SparseTraceData(Data):
            def __inc__(self, key, value, *args, **kwargs):
                if key in _layout(self.algorithm)[0]:
                    return self.num_nodes  # a pointer is a node index
                return super().__inc__(key, value, *args, **kwargs)

            def __cat_dim__(self, key, value, *args, **kwargs):
                if key in _layout(self.algorithm)[1]:
                    return 1  # hints are time-first
                return super().__cat_dim__(key, value, *args, **kwargs)

        # picklable by name (DataLoader workers): openclrs.data.pyg.SparseTraceData
        SparseTraceData.__module__ = __name__
        SparseTraceData.__qualname__ = "SparseTraceData"
        globals()["SparseTraceData"] = _DATA_CLASS = SparseTraceData
    return _DATA_CLASS


def _padded(trace: SparseTrace, name: str, location: str, value: np.ndarray,
            steps: int) -> np.ndarray:
    """A hint (or a step input) padded to ``steps`` steps as collate_sparse pads."""
    if name in STEP_INPUTS:
        out = np.zeros((value.shape[0], steps) + value.shape[2:], value.dtype)
        out[:, :value.shape[1]] = value
        return out
    if location == Location.GRAPH:
        value = value[:, None]
    out = np.zeros((steps,) + value.shape[1:], value.dtype)
    if name in _layout(trace.algorithm)[0]:
        out[:] = np.arange(trace.num_nodes)  # padding points to itself
    out[:len(value)] = value
    return out


def to_data(trace: SparseTrace, steps: int | None = None):
    """One trace as a ``SparseTraceData`` (module docstring for the layout);
    hints padded to ``steps`` (default: the trace's ``length``). To batch
    traces of different lengths, use :func:`to_data_list` (one ``steps``
    for all) or :func:`to_batch`: PyG concatenates hints along the node or
    edge axis, so their time axes must agree."""
    torch = require("torch", PURPOSE)
    cls = data_class()
    if not isinstance(trace, SparseTrace):
        raise TypeError(f"to_data takes a SparseTrace, got {type(trace).__name__}")
    steps = trace.length if steps is None else int(steps)
    if steps < trace.length:
        raise ValueError(f"steps={steps} is shorter than the trace ({trace.length} steps)")
    data = cls(edge_index=torch.from_numpy(np.stack([trace.senders, trace.receivers])
                                           .astype(np.int64)))
    data.num_nodes = trace.num_nodes
    data.algorithm = trace.algorithm
    data.length = torch.tensor([trace.length], dtype=torch.int64)
    for name, stage, location, _, value in trace.probes():
        value = np.asarray(value)
        if stage == Stage.HINT or name in STEP_INPUTS:
            value = _padded(trace, name, location, value, steps)
        elif location == Location.GRAPH:
            value = value[None]
        data[name] = torch.from_numpy(np.ascontiguousarray(value))
    return data


def to_data_list(traces: Sequence[SparseTrace]) -> list:
    """Traces as ``Data`` objects, hints padded to the longest trace's
    length so that any of them batch together (a PyG ``DataLoader`` over
    this list gives :func:`collate_sparse`'s batches, through
    :func:`from_batch`)."""
    traces = list(traces)
    if not traces:
        raise ValueError("no traces to convert")
    steps = max(t.length for t in traces)
    return [to_data(t, steps) for t in traces]


def to_batch(traces):
    """A list of traces or a :class:`SparseBatch` (numpy, as
    :func:`collate_sparse` makes it) as one ``torch_geometric.data.Batch``."""
    Batch = require("torch_geometric.data", PURPOSE).Batch
    if isinstance(traces, SparseBatch):
        if not isinstance(traces.senders, np.ndarray):
            raise TypeError("to_batch takes a numpy SparseBatch (collate_sparse's); convert "
                            "the traces instead of a batch made with to_torch()")
        steps = max([len(v) for v in traces.hints.values()]
                    + [int(np.max(traces.lengths))])
        data = [to_data(t, steps) for t in uncollate_sparse(traces)]
    else:
        data = to_data_list(traces)
    return Batch.from_data_list(data)


def _algorithm_of(data) -> str:
    algorithm = data.algorithm
    if isinstance(algorithm, (list, tuple)):
        if len(set(algorithm)) != 1:
            raise ValueError(f"a batch mixes algorithms {sorted(set(algorithm))}")
        algorithm = algorithm[0]
    spec_of(algorithm)  # a clear error for an unknown one
    return algorithm


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy()


def from_data(data) -> SparseTrace:
    """The :class:`SparseTrace` of one graph's ``Data`` (hints cut to its
    ``length``)."""
    if hasattr(data, "num_graphs") and hasattr(data, "ptr"):
        raise TypeError("from_data takes one graph's Data; use from_batch for a Batch "
                        "(or batch.to_data_list())")
    algorithm = _algorithm_of(data)
    length = int(data.length.reshape(-1)[0])
    stores: dict = {Stage.INPUT: {}, Stage.HINT: {}, Stage.OUTPUT: {}}
    for name, (stage, location, _) in spec_of(algorithm).items():
        if name not in data:
            if stage == Stage.HINT:
                continue  # a trace made without hints
            raise ValueError(f"this {algorithm} Data has no {stage} probe {name!r}")
        value = _numpy(data[name])
        if name in STEP_INPUTS:
            value = value[:, :length]
        elif stage == Stage.HINT:
            value = value[:length]
            if location == Location.GRAPH:
                value = value[:, 0]
        elif location == Location.GRAPH:
            value = value[0]
        stores[stage][name] = np.array(value)
    edges = _numpy(data.edge_index)
    return SparseTrace(algorithm, int(data.num_nodes), edges[0].astype(np.int64),
                       edges[1].astype(np.int64), stores[Stage.INPUT], stores[Stage.HINT],
                       stores[Stage.OUTPUT], length)


def from_batch(batch, min_steps: int = 0) -> SparseBatch:
    """The numpy :class:`SparseBatch` of a PyG ``Batch`` of
    ``SparseTraceData``: equal to :func:`collate_sparse` of its traces
    (hints cut to the longest trace, or ``min_steps``)."""
    algorithm = _algorithm_of(batch)
    spec = spec_of(algorithm)
    edges = _numpy(batch.edge_index).astype(np.int64)
    node_batch = _numpy(batch.batch).astype(np.int64)
    node_ptr = _numpy(batch.ptr).astype(np.int64)
    num_graphs = len(node_ptr) - 1
    edge_counts = np.bincount(node_batch[edges[0]], minlength=num_graphs)
    edge_ptr = np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64)
    lengths = _numpy(batch.length).astype(np.int64).reshape(-1)
    steps = max(int(lengths.max()), int(min_steps))
    stores: dict = {Stage.INPUT: {}, Stage.HINT: {}, Stage.OUTPUT: {}}
    for name, (stage, _, _) in spec.items():
        if name not in batch:
            if stage == Stage.HINT:
                continue
            raise ValueError(f"this {algorithm} Batch has no {stage} probe {name!r}")
        value = _numpy(batch[name])
        if name in STEP_INPUTS:
            value = value[:, :steps]
        elif stage == Stage.HINT:
            if len(value) < steps:
                raise ValueError(f"min_steps={min_steps} is more than the {len(value)} hint "
                                 "steps the batch holds")
            value = value[:steps]
        stores[stage][name] = np.array(value)
    return SparseBatch(algorithm, edges[0], edges[1], node_batch, node_ptr, edge_ptr,
                       stores[Stage.INPUT], stores[Stage.HINT], stores[Stage.OUTPUT], lengths,
                       spec)


__all__ = ["data_class", "to_data", "to_data_list", "to_batch", "from_data", "from_batch"]
