"""Rendering traces as text for a terminal (``openclrs show``)."""

from __future__ import annotations

import numpy as np

from .probes import Trace
from .specs import POINTER_TYPES, Location, Type


def _number(x: float) -> str:
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.3f}"


def format_value(value: np.ndarray, location: str, type_: str) -> str:
    """One probe value (no time axis) as a compact string."""
    if type_ == Type.MASK_ONE and location == Location.NODE:
        return f"node {int(np.argmax(value))}"
    if type_ == Type.CATEGORICAL and location != Location.EDGE:
        value = np.asarray(value)
        return str(np.argmax(value, axis=-1).tolist()) if value.ndim > 1 \
            else f"class {int(np.argmax(value))}"
    if type_ == Type.CATEGORICAL:  # edge: class per cell, '.' where masked
        cls = np.argmax(value, axis=-1)
        masked = (value == -1).any(axis=-1) | (np.abs(value).sum(-1) == 0)
        rows = [" ".join("." if masked[i, j] else str(cls[i, j]) for j in range(len(cls)))
                for i in range(len(cls))]
        return "\n" + "\n".join("    " + r for r in rows)
    if location == Location.EDGE:
        rows = [" ".join(f"{_number(x):>6}" if type_ == Type.SCALAR else str(int(x))
                         for x in row) for row in np.asarray(value)]
        return "\n" + "\n".join("    " + r for r in rows)
    if np.ndim(value) == 0:
        return _number(float(value))
    if type_ in POINTER_TYPES or type_ in (Type.MASK, Type.MASK_ONE):
        return "[" + " ".join(str(int(x)) for x in value) + "]"
    return "[" + " ".join(_number(float(x)) for x in value) + "]"


def render(trace: Trace, steps: list[int] | None = None) -> str:
    """Inputs, then the hints step by step, then the outputs."""
    lines = [f"{trace.algorithm}: {trace.num_nodes} nodes, {trace.length} hint steps"]

    def block(title, store, index=None):
        lines.append(title)
        width = max((len(k) for k in store), default=0)
        for name, value in store.items():
            _, location, type_ = trace.spec[name]
            v = value if index is None else value[index]
            lines.append(f"  {name:<{width}}  {format_value(v, location, type_)}")

    block("inputs", trace.inputs)
    for t in steps if steps is not None else range(trace.length):
        block(f"hints, step {t}", trace.hints, t)
    block("outputs", trace.outputs)
    return "\n".join(lines)
