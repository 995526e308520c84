"""The order in which TFDS stores and reads back a CLRS-30 split.

The published ``create_dataset`` reads a TFDS copy of each split. TFDS
writes the examples (keys ``"0"``, ``"1"``...: the sampler's order) sorted by
the md5 hash of ``split name + key``; a split large enough for several shard
files is cut into equal shards in that order and read back interleaved.
These are facts about TFDS' file layout, reproduced here so that openclrs'
stored splits can be served in the published order without TFDS.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .samplers import Feedback

__all__ = ["tfds_order", "tfds_num_shards", "example_bytes", "serialized_bytes",
           "payload_bytes", "columns"]

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


def columns(feedback: Feedback) -> list[tuple[str, np.ndarray, int]]:
    """The TFDS features of a batch: ``(key, data, batch axis)``, keys
    ``input_``/``hint_``/``output_`` + probe name, and ``lengths``."""
    features = feedback.features
    return ([("input_" + p.name, p.data, 0) for p in features.inputs]
            + [("hint_" + p.name, p.data, 1) for p in features.hints]
            + [("output_" + p.name, p.data, 0) for p in feedback.outputs]
            + [("lengths", features.lengths, 0)])


def payload_bytes(data: np.ndarray, axis: int = 0) -> np.ndarray:
    """Bytes of each sample's values in a packed list: 4 per float (stored
    as float32), a varint per integer."""
    data = np.moveaxis(np.asarray(data), axis, 0)
    data = data.reshape(len(data), -1)
    if data.dtype.kind == "f":
        return np.full(len(data), 4 * data.shape[1], dtype=np.int64)
    return _varint_bytes(data).sum(axis=1)


def serialized_bytes(payloads: dict[str, np.ndarray]) -> np.ndarray:
    """Serialized size of each sample as a ``tf.train.Example`` whose
    features have these payload sizes (key -> bytes per sample)."""
    total = 0
    for key, payload in payloads.items():
        payload = np.asarray(payload, dtype=np.int64)
        values = np.where(payload > 0, _field_bytes(payload), 0)    # packed list
        feature = _field_bytes(values)                             # Feature{list}
        entry = _field_bytes(np.full(payload.shape, len(key))) + _field_bytes(feature)
        total = total + _field_bytes(entry)                        # map entry
    return _field_bytes(np.asarray(total, dtype=np.int64))         # Example{Features}


def example_bytes(pool: Feedback) -> np.ndarray:
    """Serialized size of each sample of a batch as TFDS writes it."""
    return serialized_bytes({key: payload_bytes(data, axis)
                             for key, data, axis in columns(pool)})
