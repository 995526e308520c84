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
back in 16-sample blocks taken from the shards in turn; :mod:`.tfds` models
that too, from each sample's serialized size (ten canonical splits, e.g.
quickselect's test split in 16 shards).

"Published" here is a CLRS30 copy built by dm-clrs 2.0.3 with TFDS; the
downloadable ``CLRS30_v1.0.0`` archive was made by an earlier release.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..specs import SPECS, Stage, check_algorithm, split_size
from .probing import DataPoint
from .samplers import PUBLISHED_DTYPES, Features, Feedback
from .tfds import (TFDS_MIN_SHARD_BYTES, TFDS_RECORD_OVERHEAD, columns, payload_bytes,
                   serialized_bytes, tfds_order)

__all__ = ["create_dataset", "create_chunked_dataset", "chunkify", "Dataset"]


class Dataset:
    """The endless stream ``create_dataset`` returns. Iterate it, or call
    :meth:`as_numpy_iterator` as published code does on the TFDS dataset.
    Batches are built from the memory-mapped split as they are asked for."""

    def __init__(self, split, order: np.ndarray, batch_size: int):
        self.split, self.order, self.batch_size = split, order, batch_size
        self.steps = int(np.max(split.lengths))   # hints are padded split-wide

    def as_numpy_iterator(self) -> Iterator[Feedback]:
        n = len(self.order)
        start = 0
        while True:
            indices = self.order[(start + np.arange(self.batch_size)) % n]
            start = (start + self.batch_size) % n
            yield self.batch(indices)

    __iter__ = as_numpy_iterator

    def batch(self, indices) -> Feedback:
        """The samples ``indices`` (sampler order) in the published layout."""
        return _published_batch(self.split, np.asarray(indices), self.steps)


def _published_batch(split, indices: np.ndarray, steps: int) -> Feedback:
    """Samples of a stored split as the published dataset hands them out:
    probes sorted by name within each stage, hints padded to ``steps``,
    published dtypes, float values rounded to float32."""
    batch = split.batch(indices, min_steps=steps)
    algorithm = batch.algorithm
    stores = {Stage.INPUT: batch.inputs, Stage.HINT: batch.hints, Stage.OUTPUT: batch.outputs}
    stages = {Stage.INPUT: [], Stage.HINT: [], Stage.OUTPUT: []}
    for name in sorted(SPECS[algorithm]):
        stage, location, type_ = SPECS[algorithm][name]
        data = np.asarray(stores[stage][name])
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


def _split_example_bytes(split, steps: int, chunk: int = 256,
                         min_shard_bytes: int = TFDS_MIN_SHARD_BYTES) -> np.ndarray | None:
    """Each sample's serialized TFDS size, or ``None`` when even a generous
    bound keeps the split in one shard (then the sizes cannot matter).

    Float features take 4 bytes a value whatever the value, so only the
    integer inputs and outputs are read, chunk by chunk."""
    first = _published_batch(split, np.arange(1), steps)
    features = columns(first)
    # at most 10 bytes per value (a varint) and 128 per feature's key and framing
    bound = sum(10 * np.asarray(data).size + 128 for _, data, _ in features) + 128
    n = len(split)
    if (bound + TFDS_RECORD_OVERHEAD) * n < 2 * min_shard_bytes:
        return None
    payloads = {key: np.repeat(payload_bytes(data, axis), n) for key, data, axis in features}
    integers = [key for key, data, _ in features if np.asarray(data).dtype.kind != "f"]
    for start in range(0, n, chunk):
        indices = np.arange(start, min(start + chunk, n))
        batch = split.batch(indices)
        stores = {"input_": batch.inputs, "output_": batch.outputs}
        for key in integers:       # only inputs and outputs: hints are float64
            prefix, name = key[:key.index("_") + 1], key[key.index("_") + 1:]
            data = stores[prefix][name]
            dtype = PUBLISHED_DTYPES.get((split.algorithm, name))
            payloads[key][indices] = payload_bytes(data.astype(dtype) if dtype else data)
    return serialized_bytes(payloads)


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
    from ..data import load_split

    stored = load_split(algorithm, split, root=folder)
    if len(stored) != num_samples:
        raise ValueError(f"{algorithm} {split} in {folder or 'the default data root'} holds "
                         f"{len(stored)} samples, the canonical split {num_samples}")
    steps = int(np.max(stored.lengths))
    order = tfds_order(split, num_samples, _split_example_bytes(stored, steps))
    return Dataset(stored, order, int(batch_size)), num_samples, SPECS[algorithm]


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
