"""Sparse traces on disk and in batches (the layout of
:mod:`openclrs.sparse`), numpy only.

**Batches**, as PyTorch Geometric batches graphs: the graphs of a batch are
one big disconnected graph. A :class:`SparseBatch` holds

* ``senders``, ``receivers`` ``(E,)``: the edges, with node indices shifted
  by each graph's first node (``edge_index = [senders; receivers]``);
* ``batch`` ``(N,)``: the graph of each node; ``node_ptr``, ``edge_ptr``
  ``(B + 1,)``: graph ``g`` owns nodes ``node_ptr[g]:node_ptr[g + 1]`` and
  edges ``edge_ptr[g]:edge_ptr[g + 1]`` (PyG's ``ptr``);
* node probes ``(N, ...)``, edge probes ``(E, ...)``, graph probes ``(B, ...)``;
  hints time-major ``(T, N | E | B, ...)`` with ``T`` the longest trace,
  padded with zeros after each graph's length (pointer hints with the
  node's own index, a pointer to itself); ``randomness`` ``(N, T)``, padded
  with zeros as SALSA's loader does;
* pointers as batch-wide node indices (shifted like ``senders``);
* ``lengths`` ``(B,)``: hint steps per graph (processor steps to run).

**Storage** (format ``openclrs-sparse-traces-v1``): one safetensors file per
split, in the container of :mod:`openclrs.data.storage` and with its compact
value encoding (mask_one and categorical as indices, masks and pointers in
the smallest integer type, scalars float64). Graphs differ in size, so every
probe is stored flat, the samples one after another: ``num_nodes``,
``num_edges`` and ``lengths`` ``(B,)`` give each sample's shapes, and its
slice of every array follows from them. Edges are stored per graph
(local indices). Traces made without hints store none (``has_hints`` in the
metadata). Files are written atomically.

**Datasets.** :class:`SparsePart` is a job of the one dataset builder
(:mod:`openclrs.data.build`: resumable, locked, a manifest with sha256):
``build_sparse_dataset(salsa_parts("bfs"), folder)`` writes SALSA-CLRS's
splits of bfs (train with hints, val and the 15 test sets without) from
seeds, and :func:`load_sparse_split` opens one, checked against the manifest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..distributions import (LARGE_TEST_SETS, NUM_GRAPHS, TEST_SETS, SparseSampler,
                             distribution)
from ..extras import require
from ..sparse import STEP_INPUTS, SparseTrace, spec_of
from ..specs import POINTER_TYPES, Location, Stage, Type
from . import build
from .build import Manifest, SplitFile, check_name, split_file
from .storage import (CorruptFileError, decode, encode, read_checked, write_safetensors,
                      write_safetensors_file)

FORMAT = "openclrs-sparse-traces-v1"


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------

@dataclass
class SparseBatch:
    algorithm: str
    senders: Any
    receivers: Any
    batch: Any
    node_ptr: Any
    edge_ptr: Any
    inputs: dict[str, Any]
    hints: dict[str, Any]
    outputs: dict[str, Any]
    lengths: Any
    spec: Mapping[str, tuple] = field(repr=False)

    @property
    def num_graphs(self) -> int:
        return int(len(self.lengths))

    @property
    def num_nodes(self) -> int:
        return int(len(self.batch))

    @property
    def num_edges(self) -> int:
        return int(len(self.senders))

    @property
    def edge_index(self):
        """PyTorch Geometric's ``(2, E)`` edge index."""
        if isinstance(self.senders, np.ndarray):
            return np.stack([self.senders, self.receivers])
        import torch

        return torch.stack([self.senders, self.receivers])

    def to_torch(self, device=None, float_dtype=None) -> "SparseBatch":
        """The same batch as torch tensors: indices and pointers int64, the
        rest ``float_dtype`` (float32 by default)."""
        import torch

        float_dtype = float_dtype or torch.float32

        def index(a):
            return torch.as_tensor(np.asarray(a), device=device).long()

        def convert(name, array):
            if self.spec[name][2] in POINTER_TYPES:
                return index(array)
            return torch.as_tensor(np.asarray(array), device=device).to(float_dtype)

        return SparseBatch(self.algorithm, index(self.senders), index(self.receivers),
                           index(self.batch), index(self.node_ptr), index(self.edge_ptr),
                           {k: convert(k, v) for k, v in self.inputs.items()},
                           {k: convert(k, v) for k, v in self.hints.items()},
                           {k: convert(k, v) for k, v in self.outputs.items()},
                           index(self.lengths), self.spec)


def _pointers(spec, name) -> bool:
    return spec[name][2] in POINTER_TYPES


def collate_sparse(traces: Sequence[SparseTrace], min_steps: int = 0) -> SparseBatch:
    """Concatenate sparse traces into one :class:`SparseBatch`."""
    if not traces:
        raise ValueError("cannot collate an empty list of traces")
    first = traces[0]
    spec = first.spec
    with_hints = first.has_hints
    for t in traces[1:]:
        if t.algorithm != first.algorithm or dict(t.spec) != dict(spec):
            raise ValueError(f"cannot batch {t.algorithm} traces with {first.algorithm} traces")
        if t.has_hints != with_hints:
            raise ValueError("cannot batch traces with hints and traces without")
    nodes = np.array([t.num_nodes for t in traces], dtype=np.int64)
    edges = np.array([t.num_edges for t in traces], dtype=np.int64)
    lengths = np.array([t.length for t in traces], dtype=np.int64)
    node_ptr = np.concatenate([[0], np.cumsum(nodes)])
    edge_ptr = np.concatenate([[0], np.cumsum(edges)])
    steps = max(int(lengths.max()), min_steps)
    shift = [int(x) for x in node_ptr[:-1]]
    senders = np.concatenate([t.senders + o for t, o in zip(traces, shift)])
    receivers = np.concatenate([t.receivers + o for t, o in zip(traces, shift)])
    batch = np.repeat(np.arange(len(traces)), nodes)

    def moved(name, value, offset):
        return value + offset if _pointers(spec, name) else value

    stores: dict = {Stage.INPUT: {}, Stage.HINT: {}, Stage.OUTPUT: {}}
    for name, (stage, location, _) in spec.items():
        if stage == Stage.HINT and not with_hints:
            continue
        source = {Stage.INPUT: "inputs", Stage.HINT: "hints", Stage.OUTPUT: "outputs"}[stage]
        values = [moved(name, getattr(t, source)[name], o) for t, o in zip(traces, shift)]
        if stage == Stage.INPUT and name in STEP_INPUTS:
            # every column a trace has, also where its hints were cut (first_step_batch)
            width = max([steps] + [v.shape[1] for v in values])
            out = np.zeros((len(batch), width), dtype=values[0].dtype)
            for v, a in zip(values, node_ptr[:-1].tolist()):
                out[a:a + len(v), :v.shape[1]] = v
        elif stage != Stage.HINT:
            join = np.stack if location == Location.GRAPH else np.concatenate
            out = join(values)
        else:
            if location == Location.GRAPH:
                out = np.zeros((steps, len(traces)) + values[0].shape[1:], values[0].dtype)
                for g, v in enumerate(values):
                    out[:len(v), g] = v
            else:
                ptr = node_ptr if location == Location.NODE else edge_ptr
                out = np.zeros((steps, int(ptr[-1])) + values[0].shape[2:], values[0].dtype)
                if _pointers(spec, name):
                    out[:] = np.arange(int(ptr[-1]))  # padding points to itself
                for v, a in zip(values, ptr[:-1].tolist()):
                    out[:len(v), a:a + v.shape[1]] = v
        stores[stage][name] = out
    return SparseBatch(first.algorithm, senders, receivers, batch, node_ptr, edge_ptr,
                       stores[Stage.INPUT], stores[Stage.HINT], stores[Stage.OUTPUT],
                       lengths, spec)


def uncollate_sparse(batch: SparseBatch) -> list[SparseTrace]:
    """The traces of a numpy :class:`SparseBatch`, hints cut to their lengths."""
    spec = batch.spec
    node_ptr = np.asarray(batch.node_ptr).tolist()
    edge_ptr = np.asarray(batch.edge_ptr).tolist()
    traces = []
    for g, length in enumerate(np.asarray(batch.lengths).tolist()):
        a, b = node_ptr[g], node_ptr[g + 1]
        ea, eb = edge_ptr[g], edge_ptr[g + 1]
        stores: dict = {Stage.INPUT: {}, Stage.HINT: {}, Stage.OUTPUT: {}}
        for name, (stage, location, _) in spec.items():
            store = {Stage.INPUT: batch.inputs, Stage.HINT: batch.hints,
                     Stage.OUTPUT: batch.outputs}[stage]
            if name not in store:
                continue
            v = np.asarray(store[name])
            if stage == Stage.HINT:
                v = v[:length]
                v = v[:, g] if location == Location.GRAPH else (
                    v[:, a:b] if location == Location.NODE else v[:, ea:eb])
            elif name in STEP_INPUTS:
                v = v[a:b, :length]
            else:
                v = v[g] if location == Location.GRAPH else (
                    v[a:b] if location == Location.NODE else v[ea:eb])
            if _pointers(spec, name):
                v = v - a
            stores[stage][name] = np.array(v)
        traces.append(SparseTrace(batch.algorithm, b - a, np.asarray(batch.senders[ea:eb]) - a,
                                  np.asarray(batch.receivers[ea:eb]) - a, stores[Stage.INPUT],
                                  stores[Stage.HINT], stores[Stage.OUTPUT], length, spec))
    return traces


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------

def _stored_shape(name, stage, location, type_, n, e, t) -> tuple:
    """Shape of one sample's probe after :func:`~openclrs.data.storage.encode`."""
    shape = ((t,) if stage == Stage.HINT else ()) + {
        Location.NODE: (n,), Location.EDGE: (e,), Location.GRAPH: ()}[location]
    if stage == Stage.INPUT and name in STEP_INPUTS:
        shape += (t,)
    if type_ == Type.MASK_ONE:
        shape = shape[:-1]  # the one-hot axis is the node axis
    return shape


class _SparseEncoder:
    """Encodes sparse traces one at a time (so a split never has to be held
    as traces), then joins them into the file's tensors."""

    def __init__(self):
        self.first: SparseTrace | None = None
        self.pieces: dict[str, list[np.ndarray]] = {}
        self.sizes: dict[str, list[int]] = {"num_nodes": [], "num_edges": [], "lengths": []}
        self.classes: dict[str, int] = {}

    def add(self, trace: SparseTrace) -> None:
        if self.first is None:
            self.first = trace
        elif trace.algorithm != self.first.algorithm or trace.has_hints != self.first.has_hints:
            raise ValueError("all traces of a file must be of one algorithm, all with "
                             "hints or all without")
        for key, value in (("num_nodes", trace.num_nodes), ("num_edges", trace.num_edges),
                           ("lengths", trace.length)):
            self.sizes[key].append(value)
        self.pieces.setdefault("senders", []).append(trace.senders)
        self.pieces.setdefault("receivers", []).append(trace.receivers)
        for name, stage, _, type_, value in trace.probes():
            if type_ == Type.CATEGORICAL:
                self.classes[name] = int(value.shape[-1])
            try:
                encoded = encode(value, type_, trace.num_nodes).ravel()
            except ValueError as e:
                raise ValueError(f"{trace.algorithm}.{name}: {e}") from None
            self.pieces.setdefault(f"{stage}.{name}", []).append(encoded)

    def tensors(self) -> dict[str, np.ndarray]:
        if self.first is None:
            raise ValueError("no traces to store")
        out = {k: np.array(v, dtype=np.int64) for k, v in self.sizes.items()}
        index_type = np.int32 if max(self.sizes["num_nodes"]) < 2 ** 31 else np.int64
        for key, pieces in self.pieces.items():
            joined = np.concatenate(pieces)
            out[key] = joined.astype(index_type) if key in ("senders", "receivers") else joined
        return out

    def metadata(self, recipe: Mapping | None) -> dict[str, str]:
        return {"format": FORMAT, "algorithm": self.first.algorithm,
                "spec": json.dumps({k: list(v) for k, v in self.first.spec.items()}),
                "classes": json.dumps(self.classes, sort_keys=True),
                "has_hints": json.dumps(self.first.has_hints),
                "recipe": json.dumps(dict(recipe or {}), sort_keys=True)}


def write_sparse_traces(path: str, traces, recipe: Mapping | None = None,
                        report=lambda k: None, atomic: bool = True) -> tuple[int, str]:
    """Store sparse traces of one algorithm (any iterable, encoded as it is
    consumed) in one file; returns its size and sha256. ``recipe``
    (JSON-able) is kept in the metadata."""
    encoder = _SparseEncoder()
    for trace in traces:
        encoder.add(trace)
        report(1)
    write = write_safetensors if atomic else write_safetensors_file
    return write(path, encoder.tensors(), encoder.metadata(recipe))


class StoredSparseSplit:
    """A stored file of sparse traces (memory-mapped): ``len()``, ``[i]`` ->
    SparseTrace, ``batch(indices)`` -> SparseBatch."""

    def __init__(self, path: str, expected_sha256: str | None = None, mmap: bool = True):
        self.path = path
        self.tensors, self.metadata = read_checked(path, expected_sha256, mmap, FORMAT,
                                                   "sparse trace")
        try:
            self.algorithm = self.metadata["algorithm"]
            self.spec = {k: tuple(v) for k, v in json.loads(self.metadata["spec"]).items()}
            self.classes = json.loads(self.metadata.get("classes", "{}"))
            self.has_hints = json.loads(self.metadata["has_hints"])
            self.recipe = json.loads(self.metadata.get("recipe", "{}"))
            self.num_nodes = np.asarray(self.tensors["num_nodes"])
            self.num_edges = np.asarray(self.tensors["num_edges"])
            self.lengths = np.asarray(self.tensors["lengths"])
        except (KeyError, ValueError) as e:
            raise CorruptFileError(f"{path}: damaged sparse trace metadata ({e})") from None
        if dict(self.spec) != {k: tuple(v) for k, v in spec_of(self.algorithm).items()}:
            raise CorruptFileError(f"{path}: its spec of {self.algorithm} is not this "
                                   "openclrs version's")
        self._edge_at = np.concatenate([[0], np.cumsum(self.num_edges)])
        self._offsets = {}
        for name, (stage, location, type_) in self.spec.items():
            if stage == Stage.HINT and not self.has_hints:
                continue
            sizes = [int(np.prod(_stored_shape(name, stage, location, type_, n, e, t)))
                     for n, e, t in zip(self.num_nodes.tolist(), self.num_edges.tolist(),
                                        self.lengths.tolist())]
            self._offsets[name] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            if self._offsets[name][-1] != len(self.tensors[f"{stage}.{name}"]):
                raise CorruptFileError(f"{path}: {stage}.{name} has the wrong size")

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> SparseTrace:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index %= len(self)
        n, e, t = (int(self.num_nodes[index]), int(self.num_edges[index]),
                   int(self.lengths[index]))
        a, b = self._edge_at[index], self._edge_at[index + 1]
        stores: dict = {Stage.INPUT: {}, Stage.HINT: {}, Stage.OUTPUT: {}}
        for name, (stage, location, type_) in self.spec.items():
            if name not in self._offsets:
                continue
            lo, hi = self._offsets[name][index], self._offsets[name][index + 1]
            flat = self.tensors[f"{stage}.{name}"][lo:hi]
            shape = _stored_shape(name, stage, location, type_, n, e, t)
            stores[stage][name] = decode(flat.reshape(shape), type_, self.classes.get(name), n)
        return SparseTrace(self.algorithm, n, np.asarray(self.tensors["senders"][a:b], np.int64),
                           np.asarray(self.tensors["receivers"][a:b], np.int64),
                           stores[Stage.INPUT], stores[Stage.HINT], stores[Stage.OUTPUT], t,
                           spec_of(self.algorithm))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def batch(self, indices=None, min_steps: int = 0) -> SparseBatch:
        indices = range(len(self)) if indices is None else np.asarray(indices).tolist()
        return collate_sparse([self[i] for i in indices], min_steps)


# --------------------------------------------------------------------------
# Datasets: sparse splits built by the one dataset builder
# --------------------------------------------------------------------------

MANIFEST = Manifest("manifest.json", FORMAT, "parts")


@dataclass(frozen=True)
class SparsePart(SplitFile):
    """One file of a sparse dataset: ``num_samples`` traces of ``algorithm``
    on graphs of the distribution named ``graphs`` (``train``, ``val``,
    ``er_1600``...; see :func:`openclrs.distributions.distribution`) from the
    stream of ``seed``, stored as ``ALGORITHM/SPLIT.safetensors``. A job of
    :func:`openclrs.data.build.build` (resumable, locked, checksummed)."""

    algorithm: str
    split: str
    graphs: str
    seed: int
    num_samples: int
    hints: bool = True

    def __post_init__(self):
        from ..algorithms.sparse_registry import SPARSE_ALGORITHMS

        if self.algorithm not in SPARSE_ALGORITHMS:
            raise ValueError(f"no sparse implementation of {self.algorithm!r}; available: "
                             f"{', '.join(SPARSE_ALGORITHMS)}")
        check_name(self.split, "split name")
        distribution(self.graphs)  # a clear error for an unknown name
        for name in ("seed", "num_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (name != "seed"):
                raise ValueError(f"{name} must be an integer >= {int(name != 'seed')}, "
                                 f"got {value!r}")

    def recipe(self) -> dict:
        return {"algorithm": self.algorithm, "split": self.split, "graphs": self.graphs,
                "seed": self.seed, "num_samples": self.num_samples, "hints": self.hints}

    def cost(self) -> float:
        n = max(distribution(self.graphs).sizes)
        return self.num_samples * n * (n if self.hints else 1)

    def needs(self) -> tuple:
        return ()

    def check(self) -> None:
        if distribution(self.graphs).family == "delaunay":
            require("scipy.spatial", "sample Delaunay graphs")

    def write(self, path: str, report=lambda k: None, prepared=None) -> dict:
        sampler = SparseSampler(self.algorithm, self.graphs, self.seed, self.hints)
        traces = (next(sampler) for _ in range(self.num_samples))
        write_sparse_traces(path, traces, self.recipe(), report, atomic=False)
        return {}


# Seeds of one build's val and test splits are SPLIT_STRIDE * seed + k
# (k < SPLIT_STRIDE): disjoint between builds of different seeds.
SPLIT_STRIDE = 100


def salsa_parts(algorithm: str, seed: int = 0, num_samples: Mapping | None = None,
                large: bool = False) -> list[SparsePart]:
    """SALSA-CLRS's splits of ``algorithm``: ``train`` (10,000 graphs, with
    hints), ``val`` (1,000) and the 15 test sets ``test_FAMILY_N`` (1,000
    each; with ``large``, also n = 4096 and 16384), without hints as SALSA's.
    ``num_samples`` overrides the counts per split kind (``train``, ``val``,
    ``test``). Each split has a seed of its own: ``seed`` for train,
    ``SPLIT_STRIDE * seed + k`` for the k-th of the others (val, then the
    test sets), so that builds from different seeds share no graphs (``val``
    and ``test_er_16`` are one distribution: with ``seed + k`` the val set of
    seed 1 was the er_16 test set of seed 0). Seed 0 gives 0, 1, 2, ..."""
    counts = {**NUM_GRAPHS, **dict(num_samples or {})}
    tests = list(TEST_SETS) + (list(LARGE_TEST_SETS) if large else [])
    if not 0 <= SPLIT_STRIDE * seed + 1 + len(tests) < 2 ** 32:
        raise ValueError(f"seed must be in [0, {(2 ** 32 - 1 - len(tests)) // SPLIT_STRIDE}], "
                         f"got {seed}")
    base = SPLIT_STRIDE * seed
    parts = [SparsePart(algorithm, "train", "train", seed, counts["train"], True),
             SparsePart(algorithm, "val", "val", base + 1, counts["val"], False)]
    parts += [SparsePart(algorithm, f"test_{name}", name, base + 2 + k, counts["test"], False)
              for k, name in enumerate(tests)]
    return parts


def build_sparse_dataset(parts, folder: str, workers: int | None = None,
                         progress: bool = True, verify: bool = True, force: bool = False,
                         log=None) -> dict:
    """Build every part that is missing or corrupted into ``folder``;
    returns the manifest (see :func:`openclrs.data.build.build`)."""
    return build.build(list(parts), folder, MANIFEST, workers=workers, progress=progress,
                       verify=verify, force=force, log=log, desc="generating", unit="graph")


def load_sparse_split(folder: str, algorithm: str, split: str,
                      verify: bool = True) -> StoredSparseSplit:
    """Open a split of a sparse dataset (memory-mapped), checking it against
    the manifest (its sha256 with ``verify``)."""
    check_name(split, "split name")
    file = split_file(algorithm, split)
    entry = MANIFEST.read(folder)["parts"].get(file)
    if entry is None:
        raise FileNotFoundError(f"no split {split!r} of {algorithm} in {folder}; build it "
                                "with openclrs.data.sparse.build_sparse_dataset")
    if not build.is_intact(folder, entry, verify):
        raise CorruptFileError(f"{os.path.join(folder, file)}: missing, truncated or "
                               "corrupted; build the dataset again to rebuild it")
    return StoredSparseSplit(os.path.join(folder, file))
