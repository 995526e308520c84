"""The published ``clrs`` probe helpers, on openclrs' probe constructors.

:class:`DataPoint` is the published per-probe container (name, location,
type, data). The helpers below are the ones training and test code written
for dm-clrs calls by name. The probe constructors (``array``, ``heap``,
``mask_one``, ``array_cat``, ``graph``) delegate to the vectorised ones
openclrs' algorithms use, so the two can never disagree; the permutation
helpers work on whole batches of pointers, in the published float32 one-hot
form (openclrs keeps permutation pointers as indices).
"""

from __future__ import annotations

import numpy as np

from .. import probes as _probes
from ..specs import Stage

__all__ = ["DataPoint", "ProbeError", "array", "array_cat", "heap", "graph", "mask_one",
           "split_stages", "predecessor_to_cyclic_predecessor_and_first",
           "predecessor_pointers_to_permutation_matrix",
           "permutation_matrix_to_predecessor_pointers"]

ProbeError = _probes.ProbeError


class DataPoint:
    """One probe of a batch: ``DataPoint(name, location, type_, data)``.

    ``data`` is a plain numpy array, batch-major for inputs and outputs
    ``(B, ...)`` and time-major for hints ``(T, B, ...)``; it may be
    reassigned, as in the published class.
    """

    __slots__ = ("name", "location", "type_", "data")

    def __init__(self, name: str, location: str, type_: str, data):
        self.name, self.location, self.type_, self.data = name, location, type_, data

    def _replace(self, **changes) -> "DataPoint":
        fields = {k: getattr(self, k) for k in self.__slots__}
        fields.update(changes)
        return DataPoint(**fields)

    def __repr__(self):
        shape = getattr(self.data, "shape", None)
        return (f"DataPoint(name={self.name!r}, location={self.location}, "
                f"type={self.type_}, data=Array{tuple(shape) if shape is not None else ''})")


# ---------------------------------------------------------------- probe values

def array(A_pos) -> np.ndarray:
    """Predecessor pointers of an array whose position ``i`` holds node
    ``A_pos[i]``; the first node points to itself."""
    return _probes.array_pointers(A_pos)


def array_cat(A, n: int) -> np.ndarray:
    """One-hot rows: row ``i`` has a 1 in column ``A[i]`` of ``n``."""
    if n <= 0:
        raise ValueError(f"array_cat needs n > 0 classes, got {n}")
    return _probes.one_hot(np.asarray(A), n)


def heap(A_pos, heap_size: int) -> np.ndarray:
    """Parent pointers of the binary heap in the first ``heap_size``
    positions of ``A_pos``; the root and nodes outside the heap point to
    themselves."""
    if heap_size <= 0:
        raise ValueError(f"heap needs heap_size > 0, got {heap_size}")
    return _probes.heap_pointers(np.asarray(A_pos)[None], [heap_size])[0]


def graph(A) -> np.ndarray:
    """Adjacency mask with self-loops (1 where ``A + I`` is non-zero)."""
    return _probes.graph(np.asarray(A))


def mask_one(i: int, n: int) -> np.ndarray:
    """One-hot vector of length ``n`` with a 1 at ``i``."""
    if not 0 <= i < n:
        raise ValueError(f"mask_one index {i} out of range for {n} nodes")
    return _probes.one_hot(int(i), n)


# ------------------------------------------------------- permutation pointers

def predecessor_to_cyclic_predecessor_and_first(pointers):
    """Predecessor pointers ``(..., N)`` of a linear order -> (one-hot cyclic
    pointers ``(..., N, N)``, one-hot first node ``(..., N)``), float32.

    The first node (the one pointing to itself) points to the last (the one
    nobody points to) instead. This is the form in which the published
    ``process_permutations`` hands permutation pointers to models; openclrs'
    own :func:`openclrs.transforms.cyclic_predecessors` keeps indices. Works
    on whole batches, padded hint steps included, with the published
    arithmetic (so malformed rows come out as they do there).
    """
    pointers = np.asarray(pointers).astype(np.int64)
    n = pointers.shape[-1]
    eye = np.eye(n, dtype=np.float32)
    one_hot = eye[pointers]                                       # (..., N, N)
    last = one_hot.sum(axis=-2).argmin(axis=-1)                   # nobody points to it
    first = np.diagonal(one_hot, axis1=-2, axis2=-1).argmax(axis=-1)  # points to itself
    mask = eye[first]
    one_hot += mask[..., None] * eye[last][..., None, :]
    one_hot -= mask[..., None] * mask[..., None, :]
    return one_hot, mask


def predecessor_pointers_to_permutation_matrix(pointers) -> np.ndarray:
    """Predecessor pointers ``(..., N)`` -> the permutation matrix ``P``
    ``(..., N, N)`` whose row ``i`` selects the node at sorted position ``i``."""
    pointers = np.asarray(pointers).astype(np.int64)
    n = pointers.shape[-1]
    flat = pointers.reshape(-1, n)
    out = np.zeros(flat.shape + (n,), np.float32)
    for row, pred in enumerate(flat):
        node = int(np.argmin(np.bincount(pred, minlength=n)))   # nobody's predecessor
        for position in range(n - 1, -1, -1):
            out[row, position, node] = 1.0
            node = int(pred[node])
    return out.reshape(pointers.shape + (n,))


def permutation_matrix_to_predecessor_pointers(perm) -> np.ndarray:
    """A permutation matrix ``(..., N, N)`` (read by argmax) -> predecessor
    pointers ``(..., N)``: each node points to the node sorted before it, the
    first to itself (values clipped to ``N - 1`` and float32, as published)."""
    order = np.asarray(perm).argmax(axis=-1)
    n = order.shape[-1]
    flat = order.reshape(-1, n)
    out = np.zeros_like(flat)
    for row, nodes in enumerate(flat):
        np.add.at(out[row], nodes[0], nodes[0])
        np.add.at(out[row], nodes[1:], nodes[:-1])
    return np.minimum(out, n - 1).reshape(order.shape).astype(np.float32)


# ----------------------------------------------------------------- probes dict

def split_stages(probes: dict, spec) -> tuple[list, list, list]:
    """A published-style probes dict ``{stage: {location: {name: {"data",
    "type_"}}}}`` -> ``(inputs, outputs, hints)`` lists of DataPoints with a
    batch axis of 1 (axis 0 for inputs/outputs, axis 1 for hints)."""
    staged = {Stage.INPUT: [], Stage.OUTPUT: [], Stage.HINT: []}
    for name, (stage, location, type_) in spec.items():
        try:
            entry = probes[stage][location][name]
        except KeyError:
            raise ProbeError(f"missing {stage} probe {name!r}") from None
        if entry.get("type_") != type_:
            raise ProbeError(f"probe {name!r} has type {entry.get('type_')}, spec says {type_}")
        data = np.asarray(entry["data"])
        staged[stage].append(DataPoint(name, location, type_,
                                       np.expand_dims(data, 1 if stage == Stage.HINT else 0)))
    return staged[Stage.INPUT], staged[Stage.OUTPUT], staged[Stage.HINT]

