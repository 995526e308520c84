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

A split of 128 MiB or more is written in several shard files and read
back in 16-sample blocks taken from the shards in turn; :func:`tfds_order`
models that too, from each sample's serialized size (:func:`example_bytes`,
exact to the byte). Only large 64-node test splits are affected.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np

from ..specs import SPECS, Stage, check_algorithm, split_size
from .probing import DataPoint
from .samplers import PUBLISHED_DTYPES, Features, Feedback

__all__ = ["create_dataset", "create_chunked_dataset", "chunkify", "tfds_order",
           "tfds_num_shards", "example_bytes", "Dataset"]


# TFDS' sharding: a split is written in several files once it is large
# enough, and read back interleaved (tf.data interleave of the shard files,
# cycle length 16, block length 16, in file order).
TFDS_MIN_SHARD_BYTES = 64 << 20
TFDS_MAX_SHARD_BYTES = 1 << 30
TFDS_RECORD_OVERHEAD = 16
TFDS_INTERLEAVE = 16


def _hash_order(split: str, num_samples: int) -> list[int]:
    def key(index: int) -> int:
        return int(hashlib.md5(f"{split}{index}".encode()).hexdigest(), 16)
    return sorted(range(num_samples), key=key)


def tfds_num_shards(total_bytes: int, num_samples: int,
                    min_shard_bytes: int = TFDS_MIN_SHARD_BYTES,
                    max_shard_bytes: int = TFDS_MAX_SHARD_BYTES) -> int:
    """How many shard files TFDS writes for ``num_samples`` examples of
    ``total_bytes`` serialized bytes (a power of two between the counts that
    keep every shard between the minimum and maximum size)."""
    total = total_bytes + num_samples * TFDS_RECORD_OVERHEAD
    most, fewest = total // min_shard_bytes, total // max_shard_bytes
    if fewest <= 1024 <= most and num_samples >= 1024:
        return 1024
    if fewest > 1024:
        count = 2048
        while not (count >= fewest and num_samples >= count):
            count += 1024
        return count
    for count in (512, 256, 128, 64, 32, 16, 8, 4, 2):
        if fewest <= count <= most and num_samples >= count:
            return count
    return 1


def _interleave(shards: list[list[int]], cycle: int = TFDS_INTERLEAVE,
                block: int = TFDS_INTERLEAVE) -> list[int]:
    """tf.data's deterministic interleave: ``cycle`` open shards, ``block``
    examples from each in turn; an exhausted slot opens the next shard when
    the cycle comes back to it."""
    slots: list = [None] * cycle
    waiting = iter(shards)
    inputs_left, open_slots, index, taken, out = True, 0, 0, 0, []

    def advance():
        nonlocal index, taken
        index, taken = (index + 1) % cycle, 0

    while inputs_left or open_slots:
        if slots[index] is not None:
            element = next(slots[index], None)
            if element is not None:
                out.append(element)
                taken += 1
                if taken == block:
                    advance()
                continue
            slots[index] = None
            open_slots -= 1
            advance()
        elif inputs_left:
            shard = next(waiting, None)
            if shard is None:
                inputs_left = False
            else:
                slots[index] = iter(shard)
                open_slots += 1
        else:
            advance()
    return out


def tfds_order(split: str, num_samples: int, example_bytes=None, **shard_sizes) -> np.ndarray:
    """The order in which the published ``create_dataset`` reads a split.

    TFDS writes the examples (keys ``"0"``, ``"1"``...: the sampler's order)
    sorted by the md5 hash of ``split + key``. Given each example's
    serialized size (``example_bytes``), a split large enough for several
    shard files is cut into equal shards in that order and read back
    interleaved. ``shard_sizes``: ``min_shard_bytes``/``max_shard_bytes``
    (TFDS' defaults unless testing)."""
    order = _hash_order(split, num_samples)
    if example_bytes is not None:
        count = tfds_num_shards(int(np.sum(example_bytes)), num_samples, **shard_sizes)
        if count > 1:
            ends = [round(num_samples * k / count) for k in range(1, count + 1)]
            order = _interleave([order[a:b] for a, b in zip([0] + ends[:-1], ends)])
    return np.array(order, dtype=np.int64)


def _varint_bytes(values: np.ndarray) -> np.ndarray:
    """Bytes of each value as a protobuf varint (negatives take 10)."""
    unsigned = np.asarray(values, dtype=np.int64).astype(np.uint64)
    size = np.ones(unsigned.shape, dtype=np.int64)
    for k in range(1, 10):
        size += unsigned >= (np.uint64(1) << np.uint64(7 * k))
    return size


def _field_bytes(payload: np.ndarray) -> np.ndarray:
    """A length-delimited protobuf field: tag, varint length, payload."""
    return 1 + _varint_bytes(payload) + payload


def example_bytes(pool: Feedback) -> np.ndarray:
    """Serialized size of each sample as a TFDS ``tf.train.Example``: one
    feature per probe (``input_``/``hint_``/``output_`` + name, and
    ``lengths``), floats as packed float32, integers as packed varints."""
    features = pool.features
    num_samples = len(features.lengths)
    total = np.zeros(num_samples, dtype=np.int64)
    columns = ([("input_" + p.name, p.data, 0) for p in features.inputs]
               + [("hint_" + p.name, p.data, 1) for p in features.hints]
               + [("output_" + p.name, p.data, 0) for p in pool.outputs]
               + [("lengths", features.lengths, 0)])
    for key, data, axis in columns:
        data = np.moveaxis(np.asarray(data), axis, 0).reshape(num_samples, -1)
        if data.dtype.kind == "f":
            payload = np.full(num_samples, 4 * data.shape[1], dtype=np.int64)
        else:
            payload = _varint_bytes(data).sum(axis=1)
        values = np.where(payload > 0, _field_bytes(payload), 0)    # packed list
        feature = _field_bytes(values)                             # Feature{list}
        entry = _field_bytes(np.full(num_samples, len(key))) + _field_bytes(feature)
        total += _field_bytes(entry)                               # map entry
    return _field_bytes(total)                                     # Example{Features}


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
    order = tfds_order(split, num_samples, example_bytes(pool))
    return Dataset(pool, order, int(batch_size)), num_samples, SPECS[algorithm]


# ----------------------------------------------------------------------------
# Fixed-length chunks of a stream of full-trajectory batches.
# ----------------------------------------------------------------------------

def chunkify(dataset: Iterator[Feedback], chunk_length: int) -> Iterator[Feedback]:
    """Cut a stream of batches into chunks of ``chunk_length`` time steps.

    Each batch column runs through its samples back to back, so a chunk may
    end one sample and start the next; ``is_first`` and ``is_last``
    ``(chunk_length, B)`` int arrays mark where samples begin and end. Inputs
    and outputs get the time axis too: each is repeated over its sample's
    steps. Yields ``Feedback(FeaturesChunked(inputs, hints, is_first,
    is_last), outputs)``, as the published ``chunkify``.
    """
    from .samplers import FeaturesChunked

    if isinstance(chunk_length, bool) or not isinstance(chunk_length, (int, np.integer)) \
            or chunk_length < 1:
        raise ValueError(f"chunk_length must be a positive integer, got {chunk_length!r}")
    pending = []   # [inputs, hints, outputs, lengths, steps left] per batch not used up

    def pull():
        feedback = next(dataset)
        lengths = np.asarray(feedback.features.lengths).astype(int)
        pending.append([feedback.features.inputs, feedback.features.hints, feedback.outputs,
                        lengths, lengths.copy()])

    pull()
    inputs, hints, outputs = pending[0][:3]
    batch_size = next(p.data.shape[0] for p in inputs if p.location in ("node", "edge"))

    def empty(points, shape_of):
        return type(points)(p._replace(data=np.zeros(shape_of(p.data), p.data.dtype))
                            for p in points)

    while True:
        chunk_inputs = empty(inputs, lambda x: (chunk_length,) + x.shape)
        chunk_outputs = empty(outputs, lambda x: (chunk_length,) + x.shape)
        chunk_hints = empty(hints, lambda x: (chunk_length,) + x.shape[1:])
        is_first = np.zeros((chunk_length, batch_size), dtype=int)
        is_last = np.zeros((chunk_length, batch_size), dtype=int)
        while np.any(np.sum([p[4] for p in pending], axis=0) < chunk_length):
            pull()
        for i in range(batch_size):
            filled = 0
            for source in pending:
                if filled == chunk_length:
                    break
                src_inputs, src_hints, src_outputs, lengths, left = source
                take = min(left[i], chunk_length - filled)
                if not take:
                    continue
                start = lengths[i] - left[i]
                span = slice(filled, filled + take)
                for dest, src in zip(chunk_inputs, src_inputs):
                    dest.data[span, i] = src.data[i]
                for dest, src in zip(chunk_outputs, src_outputs):
                    dest.data[span, i] = src.data[i]
                for dest, src in zip(chunk_hints, src_hints):
                    dest.data[span, i] = src.data[start:start + take, i]
                if start == 0:
                    is_first[filled, i] = 1
                filled += take
                left[i] -= take
                if left[i] == 0:
                    is_last[filled - 1, i] = 1
        while pending and not np.any(pending[0][4]):
            pending.pop(0)
        yield Feedback(FeaturesChunked(chunk_inputs, chunk_hints, is_first, is_last),
                       chunk_outputs)


def create_chunked_dataset(folder: str | None, algorithm: str, split: str, batch_size: int,
                           chunk_length: int):
    """``(chunks, spec)``: :func:`create_dataset` cut by :func:`chunkify`."""
    dataset, _, spec = create_dataset(folder, algorithm, split, batch_size)
    return chunkify(dataset.as_numpy_iterator(), chunk_length), spec
