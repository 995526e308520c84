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

Masks, one-hots and categories are stored as int8, pointers as int32, scalars
as float64; reading restores the in-memory dtypes of :mod:`openclrs.probes`.
The header's ``__metadata__`` records the format, algorithm, spec (JSON) and
the sampling recipe. Files are written to a temporary name and renamed, so
a reader never sees half a file; the manifest's sha256 catches corruption.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from typing import Mapping

import numpy as np

from ..probes import Trace, dtype_of
from ..specs import POINTER_TYPES, Type

FORMAT = "openclrs-traces-v1"

_ST_DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32",
              np.dtype(np.int64): "I64", np.dtype(np.int32): "I32",
              np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8"}
_NP_DTYPES = {v: k for k, v in _ST_DTYPES.items()}


class CorruptFileError(IOError):
    """A stored file is truncated, corrupted or not what the manifest says."""


def storage_dtype(type_: str, num_nodes: int):
    if type_ in POINTER_TYPES:
        return np.int32 if num_nodes < 2 ** 31 else np.int64
    if type_ in (Type.MASK, Type.MASK_ONE, Type.CATEGORICAL):
        return np.int8
    return np.float64


# --------------------------------------------------------------------------
# safetensors, written and memory-mapped without extra dependencies
# --------------------------------------------------------------------------

def write_safetensors(path: str, tensors: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str]) -> tuple[int, str]:
    """Write ``tensors`` atomically (temp file + rename) in safetensors
    format; returns the file's size and sha256."""
    header: dict = {"__metadata__": dict(metadata)}
    offset = 0
    for name, array in tensors.items():
        nbytes = array.size * array.dtype.itemsize
        header[name] = {"dtype": _ST_DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    blob += b" " * (-len(blob) % 8)  # keep tensor data 8-byte aligned
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".safetensors")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as f:
            chunks = [struct.pack("<Q", len(blob)), blob]
            chunks += [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
                       for a in tensors.values()]
            for chunk in chunks:
                f.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        os.replace(tmp, path)
        return size, digest.hexdigest()
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    metadata = header.pop("__metadata__", {}) or {}
    start = 8 + header_len
    end = max((h["data_offsets"][1] for h in header.values()), default=0)
    if start + end > size:
        raise CorruptFileError(f"{path}: truncated ({size} bytes, header needs {start + end})")
    buffer = (np.memmap(path, dtype=np.uint8, mode="r") if mmap
              else np.fromfile(path, dtype=np.uint8))
    tensors = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        dtype = _NP_DTYPES[h["dtype"]].newbyteorder("<")
        tensors[name] = buffer[start + lo:start + hi].view(dtype).reshape(h["shape"])
    return tensors, metadata


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# traces <-> tensors
# --------------------------------------------------------------------------

def traces_to_tensors(traces: list[Trace]) -> dict[str, np.ndarray]:
    if not traces:
        raise ValueError("no traces to store")
    first = traces[0]
    n = first.num_nodes
    tensors: dict[str, np.ndarray] = {}
    for name, stage, _, type_, _ in first.probes():
        dtype = storage_dtype(type_, n)
        if stage == "hint":
            values = np.concatenate([t.hints[name] for t in traces])
        else:
            values = np.stack([getattr(t, stage + "s")[name] for t in traces])
        stored = values.astype(dtype)
        if dtype != np.float64 and not np.array_equal(stored, values):
            raise ValueError(f"{first.algorithm}.{name}: values do not fit {np.dtype(dtype)}")
        tensors[f"{stage}.{name}"] = stored
    tensors["lengths"] = np.array([t.length for t in traces], dtype=np.int64)
    return tensors


class StoredSplit:
    """A stored split, memory-mapped: ``len()``, ``[i]`` -> Trace, ``batch()``."""

    def __init__(self, path: str, expected_sha256: str | None = None, mmap: bool = True):
        self.path = path
        if expected_sha256 is not None and sha256_of(path) != expected_sha256:
            raise CorruptFileError(f"{path}: checksum mismatch (corrupted or modified)")
        self.tensors, self.metadata = read_safetensors(path, mmap=mmap)
        if self.metadata.get("format") != FORMAT:
            raise CorruptFileError(f"{path}: not an openclrs trace file")
        self.algorithm = self.metadata["algorithm"]
        self.spec = {k: tuple(v) for k, v in json.loads(self.metadata["spec"]).items()}
        self.lengths = np.asarray(self.tensors["lengths"])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self._dtypes = {name: dtype_of(t) for name, (_, _, t) in self.spec.items()}

    def __len__(self) -> int:
        return len(self.lengths)

    def _get(self, stage: str, name: str, index):
        data = self.tensors[f"{stage}.{name}"]
        if stage == "hint":
            data = data[self.offsets[index]:self.offsets[index + 1]]
        else:
            data = data[index]
        return np.asarray(data, dtype=self._dtypes[name])

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

        indices = np.arange(len(self)) if indices is None else np.asarray(indices)
        lengths = self.lengths[indices]
        steps = max(int(lengths.max()) if len(lengths) else 0, min_steps)
        inputs, hints, outputs = {}, {}, {}
        for name, (stage, _, _) in self.spec.items():
            data = self.tensors[f"{stage}.{name}"]
            dtype = self._dtypes[name]
            if stage == "hint":
                padded = np.zeros((steps, len(indices)) + data.shape[1:], dtype=dtype)
                for b, i in enumerate(indices.tolist()):
                    lo, hi = self.offsets[i], self.offsets[i + 1]
                    padded[:hi - lo, b] = data[lo:hi]
                hints[name] = padded
            else:
                (inputs if stage == "input" else outputs)[name] = np.asarray(
                    data[indices], dtype=dtype)
        return Batch(self.algorithm, inputs, hints, outputs, lengths.copy(), self.spec)
