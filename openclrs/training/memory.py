"""How much memory evaluating a reasoner takes, and chunks that fit a budget.

Evaluation (:func:`openclrs.training.loop.score`) runs the model on a batch
without gradients and keeps, of its hint predictions, only the current
step's (``Reasoner.predict``). What it holds at its peak then grows with
the number of samples computed together: per sample, a few edge tensors of
the hidden size (``N * N * H`` floats: the processor's messages, the
decoders' pair features, the edge messages), the logits of each decoded
probe and their hard (one-hot) form (``N**3`` for an edge pointer such as
Floyd-Warshall's ``Pi_h``), and the batch itself (its hints, ``T`` steps).
:func:`sample_bytes` adds these up from the spec and the model's sizes;
:func:`chunk_size` turns a budget into how many samples to compute at once.

Every sample's predictions are the same whatever the chunk: the model's
operations act on each sample alone (it already computes each step on a
varying prefix of the batch), so chunking changes how much is held at once,
not what is computed. The pooled metrics (F1 of masks over the whole split)
add up sufficient statistics chunk by chunk (:class:`~.metrics.OutputScorer`).

The constants below were measured (peak RSS of ``openclrs evaluate``,
``benchmarks/eval_memory.py``) and are rounded up: the estimate is an upper
bound for the default Triplet-GMPNN, with room for the allocator's slack.

Torch-free (the command line parses ``--max-memory`` before torch loads).
"""

from __future__ import annotations

import math
import re
from typing import Mapping

from ..data.batching import batch_rows
from ..specs import Location, Stage, Type

FLOAT = 4                 # bytes of a float32
INDEX = 8                 # bytes of an int64 (pointer indices, argmaxes, one_hot's output)
EDGE_TENSORS = 12         # (N, N, H) float tensors alive at once per sample, measured
DEFAULT_FRACTION = 0.5    # of the available memory, when no budget is given
FALLBACK_BUDGET = 4 << 30  # when the available memory cannot be read
MIN_BUDGET = 1 << 20

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from ``"2G"``, ``"1.5GB"``, ``"500MiB"``, ``"800m"`` or a plain
    number of bytes (units are powers of 1024). Raises ValueError."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*",
                         str(text))
    if not match:
        raise ValueError(f"not a memory size: {text!r} (examples: 2G, 500M, 1.5GB)")
    number, unit = match.groups()
    value = float(number) * _UNITS[unit.lower()]
    if not math.isfinite(value):
        raise ValueError(f"not a memory size: {text!r}")
    return int(value)


def format_size(num_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError


def default_budget(device=None) -> int:
    """:data:`DEFAULT_FRACTION` of the memory available now: on a CUDA
    ``device`` its free memory, else the least of the system's, a
    container's and ``ulimit -v``'s room."""
    from ..footprint import available_memory

    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        return max(int(DEFAULT_FRACTION * torch.cuda.mem_get_info(device)[0]), MIN_BUDGET)
    available = available_memory()
    if available is None:
        return FALLBACK_BUDGET
    return max(int(DEFAULT_FRACTION * available), MIN_BUDGET)


def _logits(location: str, type_: str, nodes: int, classes: int) -> int:
    """Numbers in one sample's logits of a probe (see the decoders' table)."""
    width = classes if type_ == Type.CATEGORICAL else 1
    pointer = type_ in (Type.POINTER, Type.PERMUTATION_POINTER)
    if location == Location.NODE:
        return nodes * (nodes if pointer else width)
    if location == Location.EDGE:
        return nodes * nodes * (nodes if pointer else width)
    return nodes if pointer else width


def sample_bytes(spec: Mapping[str, tuple], nodes: int, steps: int, hidden_size: int,
                 edge_size: int, categories: Mapping[str, int] | None = None,
                 decode_hints: bool = True) -> int:
    """Peak bytes one sample of ``nodes`` nodes and ``steps`` hint steps
    adds to an evaluation (an upper bound; see the module docstring).
    ``edge_size``: the decoders' edge width (hidden size + edge messages)."""
    categories = categories or {}
    edges = EDGE_TENSORS * nodes * nodes * max(hidden_size, edge_size) * FLOAT
    held, transient = 0, 0
    data = 0
    for name, (stage, location, type_) in spec.items():
        numbers = _logits(location, type_, nodes, categories.get(name, 1))
        # the batch: stored as read, as tensors, reordered (hints: every step)
        per_step = numbers // nodes if type_ in (Type.POINTER, Type.PERMUTATION_POINTER) \
            else numbers
        data += 3 * INDEX * per_step * (steps if stage == Stage.HINT else 1)
        if stage == Stage.HINT and decode_hints or stage == Stage.OUTPUT:
            # logits and their fed-back (or predicted) dense form, held per step;
            # one_hot's int64 output while one of them is made hard
            held += 2 * FLOAT * numbers
            transient = max(transient, INDEX * numbers)
        if stage == Stage.HINT:  # the ground truth of step 0, densified
            transient = max(transient, (INDEX + FLOAT) * numbers)
    return edges + held + transient + data


def model_sample_bytes(model, algorithm: str, nodes: int, steps: int) -> int:
    """:func:`sample_bytes` of a :class:`~openclrs.models.model.Reasoner`."""
    return sample_bytes(model.specs[algorithm], nodes, steps, model.config.hidden_size,
                        model.edge_size, model.categories[algorithm],
                        model.config.decode_hints)


def chunk_size(per_sample: int, budget: int, limit: int) -> int:
    """How many samples of ``per_sample`` bytes to compute at once within
    ``budget`` (at least one, at most ``limit``)."""
    return max(1, min(limit, budget // max(per_sample, 1)))


def chunks(model, batch, budget: int | None):
    """``batch`` split into consecutive chunks that fit ``budget`` bytes
    (``None``: :func:`default_budget`); the batch itself if it fits."""
    if budget is None:
        budget = default_budget(next(model.parameters()).device)
    nodes = _num_nodes(model.specs[batch.algorithm], batch)
    per_sample = model_sample_bytes(model, batch.algorithm, nodes, max(batch.num_steps, 1))
    size = chunk_size(per_sample, budget, batch.batch_size)
    if size >= batch.batch_size:
        return [batch]
    return [batch_rows(batch, i, min(i + size, batch.batch_size))
            for i in range(0, batch.batch_size, size)]


def _num_nodes(spec, batch) -> int:
    for name, value in batch.inputs.items():
        if spec[name][1] in (Location.NODE, Location.EDGE):
            return int(value.shape[1])
    return 1
