"""Traces and the building blocks algorithms use to record their probes.

A :class:`Trace` is one run of one algorithm: its ``inputs``, its ``hints``
(the algorithm's state at every step, stacked on axis 0) and its ``outputs``,
each a dict from probe name to a numpy array with no batch axis.

Algorithms do not push probes one step at a time through a generic
structure. They keep the raw per-step state they need (a list of indices, a
list of position arrays) and turn it into probe arrays once, at the end, with
the vectorised constructors below. That is where most of openclrs' speed-up
over the published sampler comes from.

Array conventions, by probe type (the same in memory and on disk):

====================================  ===========  =================================
type                                  dtype        values
====================================  ===========  =================================
scalar                                float64      any real
mask, mask_one, categorical           float64      0 or 1 (-1 marks a masked cell)
pointer, should_be_permutation,       int64        node index
permutation_pointer
====================================  ===========  =================================

Shapes: node probes are ``(n, ...)``, edge probes ``(n, n, ...)``, graph probes
``()`` (or ``(C,)`` when categorical); categorical probes add a trailing class
axis; hints add a leading time axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .specs import POINTER_TYPES, SPECS, Location, Stage, Type


class ProbeError(ValueError):
    """A trace does not match its algorithm's spec."""


@dataclass
class Trace:
    """One recorded execution of an algorithm."""

    algorithm: str
    inputs: dict[str, np.ndarray]
    hints: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    spec: Mapping[str, tuple] = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self):
        if self.spec is None:
            self.spec = SPECS[self.algorithm]

    @property
    def length(self) -> int:
        """Number of hint steps (the published benchmark's ``lengths``)."""
        return len(next(iter(self.hints.values()))) if self.hints else 0

    @property
    def num_nodes(self) -> int:
        return num_nodes(self.inputs, self.spec)

    def probes(self):
        """Yield ``(name, stage, location, type, array)`` in spec order."""
        for name, (stage, location, type_) in self.spec.items():
            store = {Stage.INPUT: self.inputs, Stage.HINT: self.hints,
                     Stage.OUTPUT: self.outputs}[stage]
            yield name, stage, location, type_, store[name]

    def __repr__(self):
        def shapes(d):
            return ", ".join(f"{k}{list(v.shape)}" for k, v in d.items())
        return (f"Trace({self.algorithm!r}, length={self.length}, "
                f"inputs=[{shapes(self.inputs)}], hints=[{shapes(self.hints)}], "
                f"outputs=[{shapes(self.outputs)}])")


def num_nodes(inputs: Mapping[str, np.ndarray], spec: Mapping[str, tuple]) -> int:
    for name, (stage, location, _) in spec.items():
        if stage == Stage.INPUT and location == Location.NODE:
            return int(inputs[name].shape[0])
    raise ProbeError("spec has no node input")


def dtype_of(type_: str):
    return np.int64 if type_ in POINTER_TYPES else np.float64


def _layout(algorithm: str):
    """Per stage, the spec's probe names and dtypes, in spec order (cached)."""
    layout = _LAYOUTS.get(algorithm)
    if layout is None:
        spec = SPECS[algorithm]
        layout = _LAYOUTS[algorithm] = {
            stage: [(name, np.dtype(dtype_of(t))) for name, (st, _, t) in spec.items()
                    if st == stage] for stage in (Stage.INPUT, Stage.HINT, Stage.OUTPUT)}
    return layout


_LAYOUTS: dict[str, dict] = {}


def make_trace(algorithm: str, inputs: dict, hints: dict, outputs: dict) -> Trace:
    """Assemble a :class:`Trace`, ordering probes as the spec does.

    Checks that exactly the spec's probes are present and that all hints
    share one number of steps; the arrays are cast to their type's dtype.
    """
    layout = _layout(algorithm)
    stores = []
    for stage, given in ((Stage.INPUT, inputs), (Stage.HINT, hints), (Stage.OUTPUT, outputs)):
        if len(given) != len(layout[stage]):
            names = [name for name, _ in layout[stage]]
            extra, missing = sorted(set(given) - set(names)), sorted(set(names) - set(given))
            raise ProbeError(f"{algorithm}: {stage} probes missing {missing}, unexpected {extra}")
        store = {}
        for name, dtype in layout[stage]:
            try:
                value = given[name]
            except KeyError:
                raise ProbeError(f"{algorithm}: missing {stage} probe {name!r}") from None
            if type(value) is not np.ndarray or value.dtype != dtype:
                value = np.asarray(value, dtype=dtype)
            store[name] = value
        stores.append(store)
    steps = {v.shape[0] for v in stores[1].values()}
    if len(steps) > 1:
        raise ProbeError(f"{algorithm}: hints disagree on the number of steps {steps}")
    return Trace(algorithm, stores[0], stores[1], stores[2], SPECS[algorithm])


# --------------------------------------------------------------------------
# Probe constructors. Each takes the raw state of one step, or of all steps
# stacked on axis 0, and returns the probe value(s).
# --------------------------------------------------------------------------

def one_hot(index, n: int) -> np.ndarray:
    """``mask_one``/categorical value(s): index ``i`` -> row ``i`` of eye(n).

    ``index`` may be an int (one vector) or a sequence (one row per entry).
    """
    if isinstance(index, (int, np.integer)):
        out = np.zeros(n)
        out[index] = 1.0
        return out
    index = np.asarray(index, dtype=np.int64)
    out = np.zeros(index.shape + (n,))
    out.reshape(-1, n)[np.arange(index.size), index.ravel()] = 1.0
    return out


def one_hots(n: int, *indices) -> np.ndarray:
    """Several equally long index sequences one-hot encoded in one scatter:
    ``(len(indices), steps, n)``; unpack as ``i, j = one_hots(n, i_seq, j_seq)``."""
    return one_hot(np.array(indices, dtype=np.int64), n)


_POSITIONS: dict[int, np.ndarray] = {}


def positions(n: int) -> np.ndarray:
    """The ``pos`` input of an ``n``-node problem: ``i / n`` (a fresh array)."""
    cached = _POSITIONS.get(n)
    if cached is None:
        cached = _POSITIONS[n] = np.arange(n) * 1.0 / n
    return cached.copy()


def snapshots(flat, n: int) -> np.ndarray:
    """The ``(steps, n)`` view of per-step states appended one after another
    to a flat ``array('q')`` (a memcpy per step, no Python ints at the end)."""
    return np.frombuffer(flat, dtype=np.int64).reshape(-1, n)


_IDENTITY_POINTERS: dict[int, np.ndarray] = {}


def identity_pointers(n: int, steps: int) -> np.ndarray:
    """``pred_h`` of an algorithm that never reorders its array: the input
    order's predecessor pointers (``[0, 0, 1, ..., n-2]``) at every step."""
    row = _IDENTITY_POINTERS.get(n)
    if row is None:
        row = _IDENTITY_POINTERS[n] = np.concatenate([[0], np.arange(n - 1)])[None][:, :n]
    return np.repeat(row, steps, axis=0)


def array_pointers(order) -> np.ndarray:
    """Predecessor pointers of an ordered array.

    ``order[k]`` is the node at position ``k`` (a permutation of the nodes);
    each node points to the node one position before it, and the first to
    itself. Accepts one order ``(n,)`` or a stack of them ``(T, n)``.
    """
    order = np.asarray(order, dtype=np.int64)
    flat = order.reshape(-1, order.shape[-1])
    before = np.empty_like(flat)
    before[:, 0] = flat[:, 0]
    before[:, 1:] = flat[:, :-1]
    out = np.empty_like(flat)
    out[np.arange(len(flat))[:, None], flat] = before
    return out.reshape(order.shape)


def heap_pointers(orders, heap_sizes) -> np.ndarray:
    """Parent pointers of binary heaps, for a whole run at once.

    Row ``t`` describes the heap held in the first ``heap_sizes[t]``
    positions of ``orders[t]`` (``orders[t][k]``: node at position ``k``):
    each heap node points to its parent, the root and nodes outside the heap
    to themselves.
    """
    orders = np.asarray(orders, dtype=np.int64)
    steps, n = orders.shape
    out = np.tile(np.arange(n), (steps, 1))
    rows, ks = np.nonzero(np.arange(1, n)[None, :] < np.asarray(heap_sizes)[:, None])
    ks += 1
    out[rows, orders[rows, ks]] = orders[rows, (ks - 1) // 2]
    return out


def graph(A: np.ndarray) -> np.ndarray:
    """Adjacency mask with self-loops: 1 where ``A + I`` is non-zero."""
    return ((A + np.eye(A.shape[0])) != 0) * 1.0


def validate_trace(trace: Trace) -> None:
    """Raise :class:`ProbeError` unless every probe is valid for its type.

    Checks names, shapes against the number of nodes and hint length,
    0/1 (or -1) values of masks, exact one-hotness of mask_one and
    categorical probes, and pointer ranges.
    """
    n = trace.num_nodes
    steps = trace.length
    for name, stage, location, type_, data in trace.probes():
        where = f"{trace.algorithm}.{stage}.{name}"
        shape = data.shape
        if stage == Stage.HINT:
            if shape[0] != steps:
                raise ProbeError(f"{where}: {shape[0]} steps, expected {steps}")
            shape = shape[1:]
        lead = {Location.NODE: (n,), Location.EDGE: (n, n), Location.GRAPH: ()}[location]
        if shape[:len(lead)] != lead:
            raise ProbeError(f"{where}: shape {data.shape} does not start with {lead}")
        trail = shape[len(lead):]
        if type_ == Type.CATEGORICAL:
            if len(trail) != 1:
                raise ProbeError(f"{where}: categorical needs one class axis, got {shape}")
        elif trail != ():
            raise ProbeError(f"{where}: unexpected trailing axes {trail}")
        if type_ in (Type.MASK, Type.MASK_ONE, Type.CATEGORICAL):
            if not np.isin(data, (0, 1, -1)).all():
                raise ProbeError(f"{where}: values outside 0/1/-1")
        if type_ == Type.MASK_ONE or type_ == Type.CATEGORICAL:
            if not np.all(np.abs(data).sum(axis=-1) == 1):
                raise ProbeError(f"{where}: not one-hot")
        if type_ in POINTER_TYPES:
            if data.size and (data.min() < 0 or data.max() >= n):
                raise ProbeError(f"{where}: pointer outside [0, {n})")
        if type_ == Type.SCALAR and np.isnan(data).any():
            raise ProbeError(f"{where}: NaN")
