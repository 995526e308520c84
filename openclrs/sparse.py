"""Sparse graphs and sparse traces: the data of graph algorithms at scale.

A dense :class:`~openclrs.probes.Trace` stores every edge probe as an
``(n, n)`` matrix, which is 2 GiB per float64 probe at n = 16,384. A
:class:`SparseTrace` stores it on the trace's edges only.

**Which edges a trace keeps.** The support of ``adj`` and of its transpose,
with every self-loop: ``{(i, j) : A[i, j] != 0 or A[j, i] != 0 or i == j}``,
listed once each, sorted by ``(sender, receiver)`` (row-major, as the
nonzeros of a dense matrix and as PyTorch Geometric's
``from_scipy_sparse_matrix`` list them). On SALSA-CLRS's graphs (undirected)
that is exactly SALSA's ``edge_index``, the nonzeros of ``adj = A + I``. On a
directed graph it adds each edge's reverse (with ``A = adj = 0`` there), so
that messages can travel back to a parent, a pointer to the node that
discovered a node lies on an edge, and the transposed graph (``A_t`` of
strongly connected components) is representable. Every dense edge probe of
the covered algorithms is constant off that set (0, or -1 for the masked
cells of ``is_bridge``, see :data:`OFF_EDGE_FILL`), so :func:`to_dense`
recovers the dense trace exactly.

**Layout.** Edge ``k`` goes from ``senders[k]`` to ``receivers[k]`` and holds
the dense value at ``[senders[k], receivers[k]]`` (PyTorch Geometric's
``edge_index = [senders; receivers]``). Node probes are ``(n, ...)`` and graph
probes ``()`` as in a dense trace; edge probes are ``(E, ...)``; hints add a
leading time axis, ``(T, n)``, ``(T, E)``, ``(T,)``. Pointers stay node
indices (int64), as in dense traces; a pointer decoder restricted to a
node's out-edges can read ``pointer[i] == receivers[k]`` on edges with
``senders[k] == i`` (SALSA stores pointers as one-hot edge masks instead).
fast_mis's ``randomness`` input is ``(n, T)``: node scalars with a trailing
step axis, as SALSA stores it.

**Traces without hints.** SALSA's validation and test sets carry no hints,
and the hints of the step-per-node algorithms (Dijkstra, Prim, DFS...) are
``(T, n)`` with ``T ~ n``: O(n^2) however the edges are stored. A trace made
with ``hints=False`` holds inputs and outputs only (O(n + E)) and its
``length``, the number of hint steps the run would have had (the number of
processor steps a model is run for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .probes import ProbeError, Trace, dtype_of
from .specs import POINTER_TYPES, SALSA_SPECS, SPECS, Location, Stage, Type, check_algorithm

# Dense value of an edge probe between nodes the trace keeps no edge for.
OFF_EDGE_FILL = {"is_bridge": -1.0, "is_bridge_h": -1.0}

# Node inputs that carry one column per hint step, (n, T).
STEP_INPUTS = frozenset({"randomness"})


def spec_of(algorithm: str) -> Mapping[str, tuple]:
    """The spec of a CLRS algorithm or of one of SALSA-CLRS's own two (the
    one lookup of both tables: traces, batches, models, training)."""
    if algorithm in SPECS:
        return SPECS[algorithm]
    if algorithm in SALSA_SPECS:
        return SALSA_SPECS[algorithm]
    try:
        check_algorithm(algorithm)  # the usual error, with the names it may have meant
    except ValueError as e:
        raise ValueError(f"{e}; SALSA-CLRS's own: {', '.join(SALSA_SPECS)}") from None
    raise AssertionError(algorithm)  # (check_algorithm knows SPECS' names only)


# --------------------------------------------------------------------------
# Graphs as edge lists
# --------------------------------------------------------------------------

def edge_keys(senders: np.ndarray, receivers: np.ndarray, n: int) -> np.ndarray:
    """One int64 per edge, ordered as ``(sender, receiver)``."""
    return np.asarray(senders, np.int64) * n + np.asarray(receivers, np.int64)


@dataclass(frozen=True)
class Graph:
    """A weighted graph as the nonzero entries of its adjacency matrix ``A``.

    ``A[senders[k], receivers[k]] = weights[k] != 0``; edges are sorted by
    ``(sender, receiver)`` and listed once; an undirected graph lists both
    directions with the same weight. Unweighted graphs have weight 1.
    """

    num_nodes: int
    senders: np.ndarray
    receivers: np.ndarray
    weights: np.ndarray

    @classmethod
    def from_edges(cls, n: int, senders, receivers, weights=None) -> "Graph":
        """Checked, sorted, zero-weight edges dropped; duplicates refused."""
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        s = np.asarray(senders, dtype=np.int64).ravel()
        r = np.asarray(receivers, dtype=np.int64).ravel()
        w = (np.ones(len(s)) if weights is None
             else np.asarray(weights, dtype=np.float64).ravel())
        if not len(s) == len(r) == len(w):
            raise ValueError(f"senders, receivers and weights differ in length "
                             f"({len(s)}, {len(r)}, {len(w)})")
        if len(s) and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= n):
            raise ValueError(f"edge endpoints must be nodes in [0, {n})")
        if not np.isfinite(w).all():
            raise ValueError("edge weights must be finite")
        keys = edge_keys(s, r, n)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if len(keys) > 1 and (keys[1:] == keys[:-1]).any():
            raise ValueError("an edge is listed twice")
        keep = w[order] != 0
        return cls(int(n), s[order][keep], r[order][keep], w[order][keep])

    @classmethod
    def undirected(cls, n: int, u, v, weights=None) -> "Graph":
        """Both directions of each pair ``(u[k], v[k])``, same weight each way."""
        u = np.asarray(u, np.int64)
        v = np.asarray(v, np.int64)
        w = np.ones(len(u)) if weights is None else np.asarray(weights, np.float64)
        return cls.from_edges(n, np.concatenate([u, v]), np.concatenate([v, u]),
                              np.concatenate([w, w]))

    @classmethod
    def from_dense(cls, A) -> "Graph":
        A = np.asarray(A)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square matrix, got shape {A.shape}")
        s, r = np.nonzero(A)
        return cls.from_edges(int(A.shape[0]), s, r, A[s, r])   # checked: finite weights

    @property
    def num_edges(self) -> int:
        return int(len(self.senders))

    def dense(self) -> np.ndarray:
        """The adjacency matrix ``A`` (for small graphs and tests)."""
        A = np.zeros((self.num_nodes, self.num_nodes))
        A[self.senders, self.receivers] = self.weights
        return A

    def indptr(self) -> np.ndarray:
        """CSR row pointers: node ``u``'s out-edges are ``indptr[u]:indptr[u+1]``."""
        return np.searchsorted(self.senders, np.arange(self.num_nodes + 1))

    def is_symmetric(self) -> bool:
        t = Graph.from_edges(self.num_nodes, self.receivers, self.senders, self.weights)
        return (np.array_equal(t.senders, self.senders)
                and np.array_equal(t.receivers, self.receivers)
                and np.array_equal(t.weights, self.weights))


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` of int64 keys by one sort (numpy 2's hashing ``unique``
    is ten times slower on a million keys)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def trace_edges(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """The edges a trace of ``graph`` keeps (see the module docstring)."""
    n = graph.num_nodes
    loops = np.arange(n, dtype=np.int64)
    keys = sorted_unique(np.concatenate([edge_keys(graph.senders, graph.receivers, n),
                                         edge_keys(graph.receivers, graph.senders, n),
                                         loops * (n + 1)]))
    return keys // n, keys % n


def edge_index_of(senders, receivers, n: int, s, r) -> np.ndarray:
    """Positions of edges ``(s, r)`` in a sorted edge list (they must be in it)."""
    keys = edge_keys(senders, receivers, n)
    want = edge_keys(s, r, n)
    at = np.searchsorted(keys, want)
    if len(want) and (at.max() >= len(keys) or not np.array_equal(keys[at], want)):
        raise ValueError("an edge is not among the trace's edges")
    return at


def connected_components(n: int, senders, receivers) -> np.ndarray:
    """A component label per node (the smallest node of its component), by
    label propagation with pointer jumping: O(E) per round, O(log n) rounds
    on the graphs sampled here."""
    label = np.arange(n)
    s = np.asarray(senders, np.int64)
    r = np.asarray(receivers, np.int64)
    while True:
        low = label.copy()
        np.minimum.at(low, s, label[r])
        np.minimum.at(low, r, label[s])
        low = low[low]  # pointer jumping: follow labels to their own label
        while True:
            nxt = low[low]
            if np.array_equal(nxt, low):
                break
            low = nxt
        if np.array_equal(low, label):
            return label
        label = low


def is_connected(graph: Graph) -> bool:
    n = graph.num_nodes
    return n <= 1 or not connected_components(n, graph.senders, graph.receivers).any()


# --------------------------------------------------------------------------
# Sparse traces
# --------------------------------------------------------------------------

@dataclass
class SparseTrace:
    """One recorded execution of an algorithm on a sparse graph."""

    algorithm: str
    num_nodes: int
    senders: np.ndarray
    receivers: np.ndarray
    inputs: dict[str, np.ndarray]
    hints: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    length: int
    spec: Mapping[str, tuple] = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self):
        if self.spec is None:
            self.spec = spec_of(self.algorithm)

    @property
    def num_edges(self) -> int:
        return int(len(self.senders))

    @property
    def has_hints(self) -> bool:
        return bool(self.hints)

    def probes(self):
        """Yield ``(name, stage, location, type, array)`` in spec order,
        skipping the hints of a trace made without them."""
        for name, (stage, location, type_) in self.spec.items():
            store = {Stage.INPUT: self.inputs, Stage.HINT: self.hints,
                     Stage.OUTPUT: self.outputs}[stage]
            if stage == Stage.HINT and not self.hints:
                continue
            yield name, stage, location, type_, store[name]

    def nbytes(self) -> int:
        return int(sum(a.nbytes for *_, a in self.probes())
                   + self.senders.nbytes + self.receivers.nbytes)

    def __repr__(self):
        def shapes(d):
            return ", ".join(f"{k}{list(v.shape)}" for k, v in d.items())
        return (f"SparseTrace({self.algorithm!r}, n={self.num_nodes}, E={self.num_edges}, "
                f"length={self.length}, inputs=[{shapes(self.inputs)}], "
                f"hints=[{shapes(self.hints)}], outputs=[{shapes(self.outputs)}])")


def estimate_hint_bytes(spec: Mapping[str, tuple], n: int, num_edges: int, steps: int) -> int:
    """Memory of a trace's hints (float64/int64 values; categorical probes
    counted with 3 classes, the graph algorithms' colours)."""
    cells = {Location.NODE: n, Location.EDGE: num_edges, Location.GRAPH: 1}
    per_step = sum(cells[location] * (3 if type_ == Type.CATEGORICAL else 1)
                   for stage, location, type_ in spec.values() if stage == Stage.HINT)
    return 8 * per_step * steps


def make_sparse_trace(algorithm: str, n: int, senders, receivers, inputs: dict,
                      hints: dict | None, outputs: dict, length: int) -> SparseTrace:
    """Assemble a :class:`SparseTrace` in spec order, casting each probe to
    its type's dtype. ``hints=None`` makes a trace without hints."""
    spec = spec_of(algorithm)
    stores = []
    for stage, given in ((Stage.INPUT, inputs), (Stage.HINT, hints), (Stage.OUTPUT, outputs)):
        names = [name for name, (st, _, _) in spec.items() if st == stage]
        if given is None:
            stores.append({})
            continue
        if set(given) != set(names):
            raise ProbeError(f"{algorithm}: {stage} probes missing "
                             f"{sorted(set(names) - set(given))}, unexpected "
                             f"{sorted(set(given) - set(names))}")
        store = {}
        for name in names:
            dtype = dtype_of(spec[name][2])
            value = given[name]
            if type(value) is not np.ndarray or value.dtype != dtype:
                value = np.asarray(value, dtype=dtype)
            store[name] = value
        stores.append(store)
    return SparseTrace(algorithm, int(n), np.asarray(senders, np.int64),
                       np.asarray(receivers, np.int64), stores[0], stores[1], stores[2],
                       int(length), spec)


def validate_sparse_trace(trace: SparseTrace) -> None:
    """Raise :class:`~openclrs.probes.ProbeError` unless the trace is valid:
    its edges are sorted, unique and in range with every self-loop, every
    probe has the shape its location gives (``(n,)``, ``(E,)``, ``()``, with
    the time axis on hints), masks hold 0/1/-1, one-hot probes are one-hot,
    pointers are nodes and scalars are not NaN."""
    n, E, steps = trace.num_nodes, trace.num_edges, trace.length
    s, r = trace.senders, trace.receivers
    where = trace.algorithm
    if s.shape != (E,) or r.shape != (E,):
        raise ProbeError(f"{where}: senders and receivers must be (E,) arrays")
    if E and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= n):
        raise ProbeError(f"{where}: edge endpoints outside [0, {n})")
    keys = edge_keys(s, r, n)
    if E > 1 and not (keys[1:] > keys[:-1]).all():
        raise ProbeError(f"{where}: edges not sorted by (sender, receiver) or repeated")
    if np.count_nonzero(s == r) != n:
        raise ProbeError(f"{where}: every node needs its self-loop edge")
    if trace.hints:
        names = {k for k, (st, _, _) in trace.spec.items() if st == Stage.HINT}
        if set(trace.hints) != names:
            raise ProbeError(f"{where}: hints {sorted(trace.hints)}, expected {sorted(names)}")
    for name, stage, location, type_, data in trace.probes():
        at = f"{where}.{stage}.{name}"
        shape = data.shape
        if stage == Stage.HINT:
            if shape[:1] != (steps,):
                raise ProbeError(f"{at}: {shape[:1]} steps, expected {steps}")
            shape = shape[1:]
        lead = {Location.NODE: (n,), Location.EDGE: (E,), Location.GRAPH: ()}[location]
        if shape[:len(lead)] != lead:
            raise ProbeError(f"{at}: shape {data.shape} does not start with {lead}")
        trail = shape[len(lead):]
        if type_ == Type.CATEGORICAL:
            if len(trail) != 1:
                raise ProbeError(f"{at}: categorical needs one class axis, got {shape}")
        elif name in STEP_INPUTS and stage == Stage.INPUT:
            if trail != (steps,):
                raise ProbeError(f"{at}: shape {data.shape}, expected ({n}, {steps})")
        elif trail != ():
            raise ProbeError(f"{at}: unexpected trailing axes {trail}")
        if type_ in (Type.MASK, Type.MASK_ONE, Type.CATEGORICAL):
            if not np.isin(data, (0, 1, -1)).all():
                raise ProbeError(f"{at}: values outside 0/1/-1")
        if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
            if not np.all(np.abs(data).sum(axis=-1) == 1):
                raise ProbeError(f"{at}: not one-hot")
        if type_ in POINTER_TYPES and data.size and (data.min() < 0 or data.max() >= n):
            raise ProbeError(f"{at}: pointer outside [0, {n})")
        if type_ == Type.SCALAR and np.isnan(data).any():
            raise ProbeError(f"{at}: NaN")


def dense_edges(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The edges a trace with dense input ``adj`` keeps."""
    support = (adj != 0) | (adj.T != 0)
    np.fill_diagonal(support, True)
    s, r = np.nonzero(support)
    return s.astype(np.int64), r.astype(np.int64)


def to_sparse(trace: Trace, edges: tuple | None = None, hints: bool = True) -> SparseTrace:
    """A dense trace restricted to ``edges`` (``(senders, receivers)``; by
    default the edges of the rule above, read from its ``adj`` input)."""
    if edges is None:
        if "adj" not in trace.inputs:
            raise ValueError(f"to_sparse needs the trace of a graph algorithm (an 'adj' "
                             f"input) or explicit edges; {trace.algorithm} has none")
        edges = dense_edges(trace.inputs["adj"])
    senders, receivers = edges
    senders = np.asarray(senders, np.int64)
    receivers = np.asarray(receivers, np.int64)
    stores = {}
    for name, stage, location, _, data in trace.probes():
        if location == Location.EDGE:
            data = data[:, senders, receivers] if stage == Stage.HINT else data[senders, receivers]
        stores.setdefault(stage, {})[name] = data
    return make_sparse_trace(trace.algorithm, trace.num_nodes, senders, receivers,
                             stores.get(Stage.INPUT, {}),
                             stores.get(Stage.HINT, {}) if hints else None,
                             stores.get(Stage.OUTPUT, {}), trace.length)


def to_dense(trace: SparseTrace) -> Trace:
    """The dense trace: edge probes scattered into ``(n, n)`` matrices, the
    cells of missing edges set to :data:`OFF_EDGE_FILL` (0 by default). Only
    for small graphs; needs the trace's hints."""
    if not trace.has_hints and any(st == Stage.HINT for st, _, _ in trace.spec.values()):
        raise ValueError("to_dense needs a trace made with hints")
    n, s, r = trace.num_nodes, trace.senders, trace.receivers
    stores: dict = {Stage.INPUT: {}, Stage.HINT: {}, Stage.OUTPUT: {}}
    for name, stage, location, _, data in trace.probes():
        if location == Location.EDGE:
            lead = data.shape[:1] if stage == Stage.HINT else ()
            out = np.full(lead + (n, n) + data.shape[len(lead) + 1:],
                          OFF_EDGE_FILL.get(name, 0), dtype=data.dtype)
            if stage == Stage.HINT:
                out[:, s, r] = data
            else:
                out[s, r] = data
            data = out
        stores[stage][name] = data
    return Trace(trace.algorithm, stores[Stage.INPUT], stores[Stage.HINT],
                 stores[Stage.OUTPUT], trace.spec)


def off_edge_pointers(trace: SparseTrace) -> list[str]:
    """Names of the pointer probes with a pointer ``i -> p`` that is no edge
    ``(i, p)`` of the trace (decoders that score only a node's out-edges
    cannot express those)."""
    n = trace.num_nodes
    keys = edge_keys(trace.senders, trace.receivers, n)
    off = []
    for name, _, location, type_, data in trace.probes():
        if type_ in POINTER_TYPES and location == Location.NODE:
            want = edge_keys(np.broadcast_to(np.arange(n), data.shape), data, n).ravel()
            at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
            if not np.array_equal(keys[at], want):
                off.append(name)
    return off
