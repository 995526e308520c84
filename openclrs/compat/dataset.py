"""``create_dataset``: the published CLRS-30 dataset iteration, from openclrs'
stored canonical splits instead of TensorFlow Datasets.

The published ``create_dataset(folder, algorithm, split, batch_size)`` reads
a TFDS copy of a canonical split, repeats it forever and batches it. What a
training loop sees from it, and what this module reproduces:

* the samples of the split in TFDS' stored order: TFDS writes examples
  sorted by the md5 hash of ``split name + example key`` (keys are the
  sample indices ``"0"``, ``"1"``...), so the order is a fixed permutation
  of the sampler's order (:func:`tfds_order`);
* batches of ``batch_size`` that run across epoch boundaries (repeat, then
  batch), endlessly;
* every sample's hints padded to the longest trace of the whole split;
* probes sorted by name within each stage (TFDS' feature dict order), as
  tuples; dtypes as the published sampler stores them, float values rounded
  to float32 precision (TFDS stores float64 tensors as float32), unlike the
  samples of ``build_sampler``, which keep full float64 precision.

The published split is read back from up to a few TFDS shards; a split of
more than 128 MiB is written in several shards and then read in 16-sample
blocks taken from the shards in turn, which this module does not model (it
reads such a split in plain hash order). Such splits are large test splits
(e.g. graph algorithms at 64 nodes with big edge hints).
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np

from ..specs import SPECS, Stage, check_algorithm, split_size
from .probing import DataPoint
from .samplers import PUBLISHED_DTYPES, Features, Feedback

__all__ = ["create_dataset", "tfds_order", "Dataset"]


def tfds_order(split: str, num_samples: int) -> np.ndarray:
    """The order in which TFDS stores (and reads back) the samples of a split:
    sample indices sorted by ``md5(split + str(index))`` as a 128-bit number."""
    def key(index: int) -> int:
        return int(hashlib.md5(f"{split}{index}".encode()).hexdigest(), 16)
    return np.array(sorted(range(num_samples), key=key), dtype=np.int64)


class Dataset:
    """The endless stream ``create_dataset`` returns. Iterate it, or call
    :meth:`as_numpy_iterator` as published code does on the TFDS dataset."""

    def __init__(self, pool: Feedback, order: np.ndarray, batch_size: int):
        self.pool, self.order, self.batch_size = pool, order, batch_size

    def as_numpy_iterator(self) -> Iterator[Feedback]:
        n = len(self.order)
        start = 0
        while True:
            indices = self.order[(start + np.arange(self.batch_size)) % n]
            start = (start + self.batch_size) % n
            yield self._take(indices)

    __iter__ = as_numpy_iterator

    def _take(self, indices) -> Feedback:
        def take(points, axis):
            return tuple(DataPoint(p.name, p.location, p.type_, np.take(p.data, indices, axis))
                         for p in points)
        features = self.pool.features
        return Feedback(Features(take(features.inputs, 0), take(features.hints, 1),
                                 features.lengths[indices]), take(self.pool.outputs, 0))


def _published_pool(algorithm: str, split: str, folder: str | None) -> Feedback:
    """A whole stored split as one published-layout Feedback, probes sorted
    by name within each stage."""
    from ..data import load_split

    batch = load_split(algorithm, split, root=folder).batch()
    spec = SPECS[algorithm]
    stages = {Stage.INPUT: [], Stage.HINT: [], Stage.OUTPUT: []}
    for name in sorted(spec):
        stage, location, type_ = spec[name]
        data = np.asarray({Stage.INPUT: batch.inputs, Stage.HINT: batch.hints,
                           Stage.OUTPUT: batch.outputs}[stage][name])
        dtype = np.float64 if stage == Stage.HINT else PUBLISHED_DTYPES.get((algorithm, name))
        if dtype is not None:
            data = data.astype(dtype)
        if data.dtype == np.float64:
            # TFDS stores float64 tensors as float32 lists and reads them back
            # as float64: the published dataset's values are float32-rounded.
            data = data.astype(np.float32).astype(np.float64)
        stages[stage].append(DataPoint(name, location, type_, data))
    lengths = np.asarray(batch.lengths, dtype=np.float64)
    return Feedback(Features(tuple(stages[Stage.INPUT]), tuple(stages[Stage.HINT]), lengths),
                    tuple(stages[Stage.OUTPUT]))


def create_dataset(folder: str | None, algorithm: str, split: str, batch_size: int):
    """``(dataset, num_samples, spec)`` for a canonical split, as published.

    ``folder`` is the openclrs data root (``None``: ``$OPENCLRS_DATA_DIR`` or
    ``~/.cache/openclrs``); a missing canonical split is generated there
    first (``openclrs generate`` makes them all ahead of time).
    """
    algorithm = check_algorithm(algorithm)
    num_samples = split_size(algorithm, split)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pool = _published_pool(algorithm, split, folder)
    return Dataset(pool, tfds_order(split, num_samples), int(batch_size)), num_samples, \
        SPECS[algorithm]
