"""On-disk format: one safetensors file per (algorithm, split).

A dataset is a folder::

    DATASET/
      manifest.json                 # every part: recipe, file, size, sha256
      bfs/train.safetensors
      bfs/val.safetensors
      ...

Each ``.safetensors`` file (the standard format: an 8-byte header size, a
JSON header, raw little-endian tensors; readable by ``safetensors.numpy``)
holds one split of one algorithm:

* ``input.NAME`` and ``output.NAME``: ``(N, ...)``, one row per sample;
* ``hint.NAME``: ``(sum of lengths, ...)``, the samples' hints concatenated on
  the time axis, without padding; sample ``i`` owns rows
  ``offsets[i]:offsets[i + 1]`` with ``offsets = [0, *cumsum(lengths)]``;
* ``lengths``: ``(N,)`` int64, hint steps per sample.

Values are stored compactly and decoded on reading (to the in-memory arrays
of :mod:`openclrs.probes`):

* ``mask_one``: the index of the hot node (one axis fewer);
* ``categorical``: the index ``c`` of the nonzero class, or ``-1 - c`` where
  that entry is -1 (a masked cell), one axis fewer; the class count is in
  the metadata (``classes``);
* pointers: node indices; masks: 0/1 (-1); both in the smallest signed
  integer type that holds them (int8 for up to 127 nodes);
* scalars: float64, exactly.

The header's ``__metadata__`` records the format, algorithm, spec (JSON),
class counts and the sampling recipe. Files are written through
:mod:`openclrs.files` (a temporary name, then a rename), so a reader never
sees half a file; the manifest's sha256 catches corruption
(:class:`~openclrs.files.CorruptFileError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Mapping

import numpy as np

from .. import files
from ..files import CorruptFileError  # noqa: F401  (one class for every damaged file)
from ..probes import Trace, dtype_of
from ..specs import POINTER_TYPES, Type

FORMAT = "openclrs-traces-v1"

_ST_DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32",
              np.dtype(np.int64): "I64", np.dtype(np.int32): "I32",
              np.dtype(np.int16): "I16", np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8"}
_NP_DTYPES = {v: k for k, v in _ST_DTYPES.items()}


def _int_type(largest: int):
    for dtype in (np.int8, np.int16, np.int32):
        if largest <= np.iinfo(dtype).max:
            return dtype
    return np.int64


def encode(values: np.ndarray, type_: str, num_nodes: int) -> np.ndarray:
    """Compact on-disk form of a probe's values (see the module docstring)."""
    if type_ == Type.SCALAR:
        return np.asarray(values, dtype=np.float64)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
        # mask_one holds only 0/1; categorical may mark masked cells with -1.
        magnitude = values if type_ == Type.MASK_ONE else np.abs(values)
        index = magnitude.argmax(axis=-1)
        hot = np.take_along_axis(values, index[..., None], axis=-1)[..., 0]
        # |hot| = 1 and total magnitude 1 leave no room for another nonzero.
        if not (np.all(np.abs(hot) == 1) and np.all(magnitude.sum(axis=-1) == 1)):
            raise ValueError(f"{type_} values are not one-hot")
        code = index if type_ == Type.MASK_ONE else np.where(hot > 0, index, -1 - index)
        return code.astype(_int_type(values.shape[-1]))
    largest = num_nodes if type_ in POINTER_TYPES else 1
    stored = np.asarray(values).astype(_int_type(largest))
    if not np.array_equal(stored, values):
        raise ValueError(f"{type_} values are not integers in range")
    return stored


def decode(stored: np.ndarray, type_: str, classes: int | None, num_nodes: int) -> np.ndarray:
    """In-memory values from :func:`encode`'s form."""
    if type_ == Type.SCALAR:
        return np.array(stored, dtype=np.float64)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
        width = num_nodes if type_ == Type.MASK_ONE else classes
        code = np.asarray(stored, dtype=np.int64)
        out = np.zeros(code.shape + (width,))
        np.put_along_axis(out, np.where(code >= 0, code, -1 - code)[..., None],
                          np.where(code >= 0, 1.0, -1.0)[..., None], axis=-1)
        return out
    return np.asarray(stored, dtype=dtype_of(type_))


# --------------------------------------------------------------------------
# safetensors, written and memory-mapped without extra dependencies
# --------------------------------------------------------------------------

def write_safetensors(path: str, tensors: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str]) -> tuple[int, str]:
    """Write ``tensors`` in safetensors format, atomically (through
    :func:`openclrs.files.atomic_write`); returns the file's size and sha256."""
    result = []
    files.atomic_write(path, lambda tmp: result.append(
        write_safetensors_file(tmp, tensors, metadata)))
    return result[0]


def write_safetensors_file(path: str, tensors: Mapping[str, np.ndarray],
                           metadata: Mapping[str, str]) -> tuple[int, str]:
    """Write ``tensors`` to ``path`` itself (a temporary file of
    :func:`openclrs.files.atomic_write` or of the dataset builder); returns
    the size and sha256 of what was written."""
    header: dict = {"__metadata__": dict(metadata)}
    offset = 0
    for name, array in tensors.items():
        nbytes = array.size * array.dtype.itemsize
        header[name] = {"dtype": _ST_DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    blob += b" " * (-len(blob) % 8)  # keep tensor data 8-byte aligned
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as f:
        chunks = [struct.pack("<Q", len(blob)), blob]
        # Arrays are written from their own memory (no copy) when they
        # already are contiguous and little-endian.
        chunks += [memoryview(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")))
                   .cast("B") for a in tensors.values()]
        for chunk in chunks:
            f.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def read_safetensors(path: str, mmap: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors (memory-mapped, read-only, by default) and metadata of a file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise CorruptFileError(f"{path}: truncated (no header)")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len > size - 8:
            raise CorruptFileError(f"{path}: truncated header")
        try:
            header = json.loads(f.read(header_len))
        except ValueError as e:
            raise CorruptFileError(f"{path}: unreadable header ({e})") from None
    if not isinstance(header, dict):
        raise CorruptFileError(f"{path}: the header is not a safetensors header")
    metadata = header.pop("__metadata__", {}) or {}
    start = 8 + header_len
    spans = _checked_spans(path, header)
    end = max((hi for _, hi in spans.values()), default=0)
    if start + end > size:
        raise CorruptFileError(f"{path}: truncated ({size} bytes, header needs {start + end})")
    buffer = (np.memmap(path, dtype=np.uint8, mode="r") if mmap
              else np.fromfile(path, dtype=np.uint8))
    tensors = {}
    for name, h in header.items():
        lo, hi = spans[name]
        dtype = _NP_DTYPES[h["dtype"]].newbyteorder("<")
        tensors[name] = buffer[start + lo:start + hi].view(dtype).reshape(h["shape"])
    return tensors, metadata


def _checked_spans(path: str, header: dict) -> dict[str, tuple[int, int]]:
    """Each tensor's byte span, after checking what the header says of it
    (a known dtype, a shape, a span of exactly its size, no two spans
    overlapping): a foreign or damaged file is named, not read wrongly."""
    spans = {}
    for name, h in header.items():
        ok = (isinstance(h, dict) and h.get("dtype") in _NP_DTYPES
              and isinstance(h.get("shape"), list)
              and all(isinstance(d, int) and d >= 0 for d in h["shape"])
              and isinstance(h.get("data_offsets"), list) and len(h["data_offsets"]) == 2
              and all(isinstance(o, int) for o in h["data_offsets"]))
        if ok:
            lo, hi = h["data_offsets"]
            ok = 0 <= lo <= hi and hi - lo == int(np.prod(h["shape"], dtype=np.int64)) \
                * _NP_DTYPES[h["dtype"]].itemsize
        if not ok:
            raise CorruptFileError(f"{path}: the header's entry for {name!r} is not one "
                                   "openclrs reads (dtype, shape and byte span)")
        spans[name] = (lo, hi)
    ordered = sorted(spans.values())
    if any(b[0] < a[1] for a, b in zip(ordered, ordered[1:])):
        raise CorruptFileError(f"{path}: two tensors of the header share bytes")
    return spans


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# traces <-> tensors
# --------------------------------------------------------------------------

class TraceEncoder:
    """Encodes traces into stored tensors a chunk at a time.

    Feeding traces in chunks of a few MB (see :meth:`encode_stream`) keeps
    memory small and reused: holding a whole split's float64 one-hot hints,
    or concatenating them in one piece, costs more in fresh memory than the
    encoding itself.
    """

    def __init__(self):
        self.pieces: dict[str, list[np.ndarray]] = {}
        self.lengths: list[int] = []
        self.classes: dict[str, int] = {}
        self.algorithm = None

    def add(self, traces: list[Trace]) -> None:
        if not traces:
            return
        first = traces[0]
        if self.algorithm is None:
            self.algorithm = first.algorithm
        n = first.num_nodes
        for name, stage, _, type_, value in first.probes():
            store = stage + "s"
            values = (np.concatenate if stage == "hint" else np.stack)(
                [getattr(t, store)[name] for t in traces])
            if type_ == Type.CATEGORICAL:
                self.classes[name] = value.shape[-1]
            try:
                encoded = encode(values, type_, n)
            except ValueError as e:
                raise ValueError(f"{first.algorithm}.{name}: {e}") from None
            self.pieces.setdefault(f"{stage}.{name}", []).append(encoded)
        self.lengths.extend(t.length for t in traces)

    def encode_stream(self, traces, chunk_bytes: int = 8 << 20) -> None:
        """Add traces from an iterable, encoding every ``chunk_bytes`` of them."""
        chunk, size = [], 0
        for trace in traces:
            chunk.append(trace)
            size += sum(v.nbytes for v in trace.hints.values())
            if size >= chunk_bytes:
                self.add(chunk)
                chunk, size = [], 0
        self.add(chunk)

    def tensors(self) -> dict[str, np.ndarray]:
        if not self.lengths:
            raise ValueError("no traces to store")
        out = {k: (v[0] if len(v) == 1 else np.concatenate(v)) for k, v in self.pieces.items()}
        out["lengths"] = np.array(self.lengths, dtype=np.int64)
        return out


def traces_to_tensors(traces) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Encoded tensors of traces, and the class count of each categorical probe."""
    encoder = TraceEncoder()
    encoder.encode_stream(traces)
    return encoder.tensors(), encoder.classes


def read_checked(path: str, expected_sha256: str | None, mmap: bool, format_: str,
                 what: str) -> tuple[dict, dict]:
    """``(tensors, metadata)`` of a stored file of ``format_`` (a
    ``CorruptFileError`` naming ``what`` the file should hold otherwise),
    its sha256 checked first if ``expected_sha256`` is given."""
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise CorruptFileError(f"{path}: checksum mismatch (corrupted or modified)")
    tensors, metadata = read_safetensors(path, mmap=mmap)
    if metadata.get("format") != format_:
        raise CorruptFileError(f"{path}: not an openclrs {what} file")
    return tensors, metadata


class StoredSplit:
    """A stored split, memory-mapped: ``len()``, ``[i]`` -> Trace, ``batch()``."""

    def __init__(self, path: str, expected_sha256: str | None = None, mmap: bool = True):
        self.path = path
        self.tensors, self.metadata = read_checked(path, expected_sha256, mmap, FORMAT, "trace")
        self.algorithm = self.metadata["algorithm"]
        self.spec = {k: tuple(v) for k, v in json.loads(self.metadata["spec"]).items()}
        self.lengths = np.asarray(self.tensors["lengths"])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.classes = json.loads(self.metadata.get("classes", "{}"))
        self.num_nodes = int(self.tensors["input.pos"].shape[1])

    def __len__(self) -> int:
        return len(self.lengths)

    def _get(self, stage: str, name: str, index):
        data = self.tensors[f"{stage}.{name}"]
        if stage == "hint":
            data = data[self.offsets[index]:self.offsets[index + 1]]
        else:
            data = data[index]
        return self._decode(name, data)

    def _decode(self, name, data):
        return decode(data, self.spec[name][2], self.classes.get(name), self.num_nodes)

    def __getitem__(self, index: int) -> Trace:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index %= len(self)
        stores = {"input": {}, "hint": {}, "output": {}}
        for name, (stage, _, _) in self.spec.items():
            stores[stage][name] = self._get(stage, name, index)
        return Trace(self.algorithm, stores["input"], stores["hint"], stores["output"],
                     self.spec)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def batch(self, indices=None, min_steps: int = 0):
        """A padded :class:`~openclrs.data.batching.Batch` of some samples
        (all by default), built straight from the stored arrays."""
        from .batching import Batch

        # as numpy reads them (negative, boolean, ...) then as plain sample numbers:
        # the hint rows are cut by sample number
        everything = np.arange(len(self))
        indices = everything if indices is None else everything[np.asarray(indices)]
        lengths = self.lengths[indices]
        steps = max(int(lengths.max()) if len(lengths) else 0, min_steps)
        # Row r of the concatenated hints goes to (time[r], column[r]).
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1])
                               for i in indices.tolist()] or [np.zeros(0, np.int64)])
        time = np.concatenate([np.arange(k) for k in lengths.tolist()] or [rows])
        column = np.repeat(np.arange(len(indices)), lengths)
        stores = {"input": {}, "hint": {}, "output": {}}
        for name, (stage, _, _) in self.spec.items():
            data = self.tensors[f"{stage}.{name}"]
            if stage == "hint":
                values = self._decode(name, data[rows])
                padded = np.zeros((steps, len(indices)) + values.shape[1:], values.dtype)
                padded[time, column] = values
                stores[stage][name] = padded
            else:
                stores[stage][name] = self._decode(name, data[indices])
        return Batch(self.algorithm, stores["input"], stores["hint"], stores["output"],
                     lengths.copy(), self.spec)
