"""Padding traces of different lengths into batches, and back.

A :class:`Batch` holds ``inputs`` and ``outputs`` with a leading batch axis
``(B, ...)``, ``hints`` time-major ``(T, B, ...)`` zero-padded to the longest
trace, and ``lengths`` ``(B,)``: the same layout as the published sampler's
``Feedback``. All traces of a batch share their algorithm, spec and number
of nodes. ``Batch.to_torch()`` turns it into tensors (torch is imported only
then).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..probes import Trace


@dataclass
class Batch:
    algorithm: str
    inputs: dict[str, Any]
    hints: dict[str, Any]
    outputs: dict[str, Any]
    lengths: Any
    spec: Mapping[str, tuple] = field(repr=False)

    @property
    def batch_size(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def num_steps(self) -> int:
        """Padded number of hint steps."""
        return int(next(iter(self.hints.values())).shape[0]) if self.hints else 0

    def to_torch(self, device=None, float_dtype=None) -> "Batch":
        """The same batch as torch tensors: pointers as int64, the rest as
        ``float_dtype`` (float32 by default)."""
        import torch

        from ..specs import POINTER_TYPES

        float_dtype = float_dtype or torch.float32

        def convert(name, array):
            dtype = torch.int64 if self.spec[name][2] in POINTER_TYPES else float_dtype
            return torch.as_tensor(np.asarray(array), device=device).to(dtype)

        return Batch(self.algorithm,
                     {k: convert(k, v) for k, v in self.inputs.items()},
                     {k: convert(k, v) for k, v in self.hints.items()},
                     {k: convert(k, v) for k, v in self.outputs.items()},
                     # int64 even from float lengths (the published Feedback's)
                     torch.as_tensor(np.asarray(self.lengths), device=device).long(),
                     self.spec)


def collate(traces: Sequence[Trace], min_steps: int = 0) -> Batch:
    """Stack traces into a :class:`Batch`, padding hints with zeros to the
    longest trace (or ``min_steps``, if longer)."""
    if not traces:
        raise ValueError("cannot collate an empty list of traces")
    first = traces[0]
    for t in traces[1:]:
        if t.algorithm != first.algorithm or dict(t.spec) != dict(first.spec):
            raise ValueError(f"cannot batch {t.algorithm} traces with {first.algorithm} "
                             "traces, or traces with different specs")
        if t.num_nodes != first.num_nodes:
            raise ValueError(f"cannot batch traces of {t.num_nodes} and {first.num_nodes} "
                             "nodes; batch equal sizes together")
    lengths = np.array([t.length for t in traces], dtype=np.int64)
    steps = max(int(lengths.max()), min_steps)
    hints = {}
    for name, value in first.hints.items():
        padded = np.zeros((steps, len(traces)) + value.shape[1:], dtype=value.dtype)
        for b, t in enumerate(traces):
            padded[:t.length, b] = t.hints[name]
        hints[name] = padded
    return Batch(
        first.algorithm,
        {k: _stack_inputs(k, [t.inputs[k] for t in traces], steps) for k in first.inputs},
        hints,
        {k: np.stack([t.outputs[k] for t in traces]) for k in first.outputs},
        lengths,
        first.spec,
    )


def _stack_inputs(name: str, values, steps: int) -> np.ndarray:
    """One input of every trace, stacked; a step input (fast_mis's
    ``randomness``, ``(n, T)``: :data:`openclrs.sparse.STEP_INPUTS`) padded
    with zeros to the batch's steps, as the sparse batches pad it."""
    from ..sparse import STEP_INPUTS

    if name not in STEP_INPUTS:
        return np.stack(values)
    width = max([steps] + [v.shape[-1] for v in values])
    out = np.zeros((len(values),) + values[0].shape[:-1] + (width,), values[0].dtype)
    for b, v in enumerate(values):
        out[b, ..., :v.shape[-1]] = v
    return out


def batch_rows(batch, start: int, stop: int):
    """Samples ``start:stop`` of a batch (numpy or torch), its hints cut to
    the longest of them, as :func:`collate` of those
    samples alone would pad them."""
    lengths = batch.lengths[start:stop]
    steps = int(lengths.max()) if len(lengths) else 0
    return replace(
        batch,
        inputs={k: v[start:stop] for k, v in batch.inputs.items()},
        hints={k: v[:steps, start:stop] for k, v in batch.hints.items()},
        outputs={k: v[start:stop] for k, v in batch.outputs.items()},
        lengths=lengths)


def uncollate(batch: Batch) -> list[Trace]:
    """The traces of a numpy :class:`Batch`, hints (and step inputs) cut to
    their lengths."""
    from ..sparse import STEP_INPUTS

    traces = []
    for b, length in enumerate(np.asarray(batch.lengths).tolist()):
        traces.append(Trace(
            batch.algorithm,
            {k: np.asarray(v[b][..., :length] if k in STEP_INPUTS else v[b])
             for k, v in batch.inputs.items()},
            {k: np.asarray(v[:length, b]) for k, v in batch.hints.items()},
            {k: np.asarray(v[b]) for k, v in batch.outputs.items()},
            batch.spec))
    return traces
