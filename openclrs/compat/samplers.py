"""The published sampler API (``build_sampler``, ``Feedback``...) on openclrs.

``build_sampler(name, num_samples, length, seed=...)`` behaves as the
published one:

* ``num_samples > 0``: the whole pool is sampled up front (from the seeded
  ``RandomState``, the published stream), and ``next(batch_size)`` draws
  ``batch_size`` pool indices **with replacement** from the same stream;
  ``next()`` returns the whole pool. Hints are padded to the longest trace
  of the pool, not of the batch.
* ``num_samples=-1`` (any negative number: the published training script
  passes ``-1000`` for an endless train set): samples are made on the fly,
  ``batch_size`` at a time. With ``track_max_steps`` (the default) 1,000
  samples are drawn first, only to learn the longest hint length, and every
  batch is padded at least to it (the longest seen so far): the first batch
  is therefore not the first samples of the stream.

Batches are :class:`Feedback` tuples in the published layout and dtypes:
inputs and outputs batch-major ``(B, ...)`` with the algorithm's own dtypes
(e.g. int64 for an unweighted adjacency ``A``), hints time-major
``(T, B, ...)`` in float64, ``lengths`` float64 (see :data:`PUBLISHED_DTYPES`).
"""

from __future__ import annotations

import collections
import types
import warnings
from typing import Iterator

import numpy as np

from .. import samplers as _samplers
from ..probes import Trace
from ..transforms import permutation_probes
from ..specs import CLRS30, SPECS, Location, Stage, Type, check_algorithm
from .probing import DataPoint, predecessor_to_cyclic_predecessor_and_first

__all__ = ["Features", "FeaturesChunked", "Feedback", "CLRS30", "Sampler", "build_sampler",
           "process_permutations", "process_pred_as_input", "process_random_pos",
           "PUBLISHED_DTYPES", "feedback_from_traces", "WARMUP_SAMPLES"]

Features = collections.namedtuple("Features", ["inputs", "hints", "lengths"])
FeaturesChunked = collections.namedtuple("Features", ["inputs", "hints", "is_first", "is_last"])
Feedback = collections.namedtuple("Feedback", ["features", "outputs"])

# Samples drawn (and thrown away) to estimate the longest hint length when
# sampling on the fly with track_max_steps, as the published sampler does.
WARMUP_SAMPLES = 1000

# Inputs and outputs whose published dtype differs from openclrs' convention
# (float64 values, int64 pointers): the published algorithms hand these out
# as the dtype their inputs or internal arrays happened to have. Hints are
# always float64 there (they are padded into float zeros). Checked for every
# algorithm against dm-clrs by tests/compat (fixture dtypes.json).
PUBLISHED_DTYPES = types.MappingProxyType({
    ("bfs", "A"): np.int64,
    ("dfs", "A"): np.int64,
    ("topological_sort", "A"): np.int64,
    ("articulation_points", "A"): np.int64,
    ("bridges", "A"): np.int64,
    ("task_scheduling", "d"): np.int64,
    ("segments_intersect", "intersect"): np.int64,
    ("floyd_warshall", "Pi"): np.float64,
    ("matrix_chain_order", "s"): np.float64,
    ("optimal_bst", "root"): np.float64,
})


def _io_array(algorithm: str, name: str, values: list) -> np.ndarray:
    """Stack one input or output over samples: the published sampler squeezes
    every unit axis of a sample's value (so a 1-node graph loses its node
    axis) and keeps the algorithm's dtype."""
    data = np.stack([np.squeeze(v) for v in values])
    dtype = PUBLISHED_DTYPES.get((algorithm, name))
    return data.astype(dtype, copy=False) if dtype is not None else data


def feedback_from_traces(traces: list[Trace], min_steps: int = 0) -> Feedback:
    """Batch traces into a published :class:`Feedback` (probes in spec
    order, hints zero-padded to the longest trace or ``min_steps``)."""
    if not traces:
        raise ValueError("cannot batch an empty list of traces")
    first = traces[0]
    lengths = np.array([t.length for t in traces], dtype=np.float64)
    steps = max(int(lengths.max()), min_steps)
    inputs, hints, outputs = [], [], []
    for name, stage, location, type_, _ in first.probes():
        if stage == Stage.HINT:
            data = np.zeros((steps, len(traces)) + first.hints[name].shape[1:])
            for b, t in enumerate(traces):
                data[:t.length, b] = t.hints[name]
            hints.append(DataPoint(name, location, type_, data))
            continue
        store = "inputs" if stage == Stage.INPUT else "outputs"
        data = _io_array(first.algorithm, name, [getattr(t, store)[name] for t in traces])
        (inputs if stage == Stage.INPUT else outputs).append(
            DataPoint(name, location, type_, data))
    return Feedback(Features(inputs, hints, lengths), outputs)


def _take(feedback: Feedback, indices: np.ndarray) -> Feedback:
    """The samples ``indices`` of a batch (hints keep their padded length)."""
    def take(points, axis):
        return [DataPoint(p.name, p.location, p.type_, np.take(p.data, indices, axis=axis))
                for p in points]
    features = feedback.features
    return Feedback(Features(take(features.inputs, 0), take(features.hints, 1),
                             features.lengths[indices]), take(feedback.outputs, 0))


class Sampler:
    """A published-style sampler; build it with :func:`build_sampler`."""

    def __init__(self, algorithm: str, num_samples: int, length: int, *,
                 seed: int | None = None, track_max_steps: bool = True,
                 truncate_decimals: int | None = None, **sampler_kwargs):
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
                or num_samples == 0:
            raise ValueError(f"num_samples must be a positive integer, or negative (-1) to "
                             f"sample on the fly; got {num_samples!r}")
        self.algorithm = algorithm
        self.spec = SPECS[algorithm]
        self.num_samples = int(num_samples)
        self.track_max_steps = track_max_steps
        self._stream = _samplers.Sampler(algorithm, length, seed, truncate_decimals,
                                         **sampler_kwargs)
        # One RandomState for sampling and for drawing batches, as published.
        self._rng = self._stream.rng
        self.max_steps = 0
        self._pool = None
        if self.num_samples < 0:
            if track_max_steps:
                self.max_steps = max(next(self._stream).length
                                     for _ in range(WARMUP_SAMPLES))
        else:
            self._pool = feedback_from_traces(self._stream.take(self.num_samples))

    def next(self, batch_size: int | None = None) -> Feedback:
        """A batch of ``batch_size`` samples; with no (or zero) batch size,
        the whole pool (only for a fixed pool)."""
        if not batch_size:
            if self._pool is None:
                raise ValueError("next() without a batch size returns the whole pool; "
                                 "a sampler that samples on the fly (negative "
                                 "num_samples) has none: pass a batch size")
            return self._pool
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if self._pool is None:
            feedback = feedback_from_traces(self._stream.take(batch_size),
                                            self.max_steps if self.track_max_steps else 0)
            if self.track_max_steps:
                self.max_steps = max(self.max_steps, int(feedback.features.lengths.max()))
            return feedback
        if batch_size > self.num_samples:
            raise ValueError(f"Batch size {batch_size} > dataset size {self.num_samples}.")
        indices = self._rng.choice(self.num_samples, (batch_size,), replace=True)
        return _take(self._pool, indices)

    def __repr__(self):
        pool = "on the fly" if self._pool is None else f"pool of {self.num_samples}"
        return f"compat.Sampler({self.algorithm!r}, length={self._stream.length}, {pool})"


def build_sampler(name: str, num_samples: int, *args, seed: int | None = None,
                  track_max_steps: bool = True, truncate_decimals: int | None = None,
                  **kwargs) -> tuple[Sampler, types.MappingProxyType]:
    """``(sampler, spec)``, with the published signature.

    Positional arguments after ``num_samples`` are the published sampler's:
    ``length``, then its options in order (``p`` for most graphs...). As
    published, keyword options the algorithm's sampler does not take are
    ignored with a warning (``openclrs.sample`` refuses them instead).
    """
    try:
        algorithm = check_algorithm(name)
    except ValueError as error:
        raise NotImplementedError(str(error)) from None
    names = ["length", *_samplers.sampler_options(algorithm)]
    if len(args) > len(names):
        raise TypeError(f"{algorithm} sampler takes at most {len(names)} positional "
                        f"arguments after num_samples ({', '.join(names)}), got {len(args)}")
    for key, value in zip(names, args):
        if key in kwargs:
            raise TypeError(f"build_sampler got {key!r} both positionally and by keyword")
        kwargs[key] = value
    ignored = sorted(set(kwargs) - set(names))
    if ignored:
        warnings.warn(f"build_sampler: ignoring {ignored}, not options of the {algorithm} "
                      f"sampler (its options: {names[1:] or 'none'})", stacklevel=2)
    kwargs = {k: v for k, v in kwargs.items() if k in names}
    if "length" not in kwargs:
        raise TypeError("build_sampler needs a length: build_sampler(name, num_samples, "
                        "length, ...) or length=...")
    sampler = Sampler(algorithm, num_samples, kwargs.pop("length"), seed=seed,
                      track_max_steps=track_max_steps, truncate_decimals=truncate_decimals,
                      **kwargs)
    return sampler, SPECS[algorithm]


# ----------------------------------------------------------------------------
# The published training-data options, applied to a stream of Feedback.
# ----------------------------------------------------------------------------

def process_random_pos(sample_iterator: Iterator[Feedback], rng: np.random.RandomState):
    """Replace each batch's ``pos`` by sorted uniform values (sorted per
    string for the string algorithms), drawing ``(B, N)`` values per batch."""
    def iterate():
        for feedback in sample_iterator:
            inputs = feedback.features.inputs
            (pos,) = [p for p in inputs if p.name == "pos"]
            batch_size, num_nodes = pos.data.shape
            values = rng.uniform(size=(batch_size, num_nodes))
            new = np.empty_like(values)
            for b in range(batch_size):
                if pos.data[b, 0] != 0:   # every segment (string) starts at position 0
                    raise ValueError("process_random_pos needs CLRS's own pos (each string "
                                     "starting at 0); was it applied twice?")
                starts = np.concatenate([np.flatnonzero(pos.data[b] == 0), [num_nodes]])
                for lo, hi in zip(starts[:-1], starts[1:]):
                    new[b, lo:hi] = np.sort(values[b, lo:hi])
            pos = pos._replace(data=new)
            inputs = [pos if p.name == "pos" else p for p in inputs]
            yield feedback._replace(features=feedback.features._replace(inputs=inputs))
    return iterate()


def process_pred_as_input(spec, sample_iterator: Iterator[Feedback]):
    """Move a constant ``pred_h`` hint to a ``pred`` input; returns
    ``(new_spec, iterator)``."""
    if "pred_h" in spec and tuple(spec["pred_h"]) != (Stage.HINT, Location.NODE, Type.POINTER):
        raise ValueError(f"pred_h must be a node pointer hint, got {spec['pred_h']}")

    def iterate():
        for feedback in sample_iterator:
            features = feedback.features
            found = [h for h in features.hints if h.name == "pred_h"]
            if found:
                (pred_h,) = found
                for b, length in enumerate(np.asarray(features.lengths).astype(int)):
                    if np.any(pred_h.data[1:length, b] != pred_h.data[0, b]):
                        raise ValueError(f"sample {b}: pred_h changes over time; it cannot "
                                         "become an input")
                inputs = tuple(features.inputs) + (
                    DataPoint("pred", pred_h.location, pred_h.type_, pred_h.data[0]),)
                hints = tuple(h for h in features.hints if h.name != "pred_h")
                feedback = feedback._replace(
                    features=features._replace(inputs=inputs, hints=hints))
            yield feedback

    new_spec = {("pred" if k == "pred_h" else k):
                ((Stage.INPUT, Location.NODE, Type.POINTER) if k == "pred_h" else v)
                for k, v in spec.items()}
    return new_spec, iterate()


def _permutations(points, enforce: bool) -> list:
    out = []
    for p in points:
        if p.type_ != Type.SHOULD_BE_PERMUTATION:
            out.append(p)
            continue
        if p.location != Location.NODE:
            raise ValueError(f"{p.name}: should_be_permutation probes must be node probes")
        if enforce:
            perm, first = predecessor_to_cyclic_predecessor_and_first(p.data)
            out.append(DataPoint(p.name, p.location, Type.PERMUTATION_POINTER, perm))
            out.append(DataPoint(p.name + "_mask", p.location, Type.MASK_ONE, first))
        else:
            out.append(DataPoint(p.name, p.location, Type.POINTER, p.data))
    return out


def process_permutations(spec, sample_iterator: Iterator[Feedback], enforce_permutations: bool):
    """Turn ``should_be_permutation`` probes into one-hot cyclic
    ``permutation_pointer`` matrices ``(..., N, N)`` plus a ``<name>_mask``
    ``mask_one`` (float32, as the published package hands them to models),
    or into plain pointers when not enforced; returns ``(new_spec, iterator)``."""
    def iterate():
        for feedback in sample_iterator:
            features = feedback.features
            features = features._replace(
                inputs=tuple(_permutations(features.inputs, enforce_permutations)),
                hints=tuple(_permutations(features.hints, enforce_permutations)))
            yield feedback._replace(features=features,
                                    outputs=_permutations(feedback.outputs, enforce_permutations))

    new_spec = {}
    for name, (stage, location, type_) in spec.items():
        if location == Location.NODE and type_ == Type.SHOULD_BE_PERMUTATION:
            new_spec.update(permutation_probes(name, stage, location, enforce_permutations))
        else:
            new_spec[name] = (stage, location, type_)
    return new_spec, iterate()

