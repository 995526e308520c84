"""Rendering traces as text for a terminal (``openclrs show``).

Numbers in one probe share one format: integers when every value is a whole
number (masks, pointers, classes), otherwise three decimals throughout, so
that columns line up. Vectors print as ``[a b c]``; matrices as rows under
the probe's name, right-aligned; no line ends in spaces.
"""

from __future__ import annotations

import numpy as np

from .probes import Trace
from .specs import Location, Type

DECIMALS = 3
INDENT = "    "  # matrix rows, under the probe's name


def _number_format(values: np.ndarray):
    """One formatter for every number of ``values``: whole numbers as
    integers when all are whole, else fixed decimals."""
    finite = values[np.isfinite(values)]
    whole = bool(np.all(finite == np.round(finite)))

    def fmt(x: float) -> str:
        if np.isnan(x):
            return "nan"
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
        return str(int(x)) if whole else f"{x:.{DECIMALS}f}"
    return fmt


def _vector(values) -> str:
    values = np.asarray(values, dtype=float)
    fmt = _number_format(values)
    return "[" + " ".join(fmt(x) for x in values) + "]"


def _matrix(cells: list[list[str]]) -> str:
    """Right-aligned columns, one row per line, under the probe's name."""
    width = max((len(c) for row in cells for c in row), default=0)
    return "\n" + "\n".join(INDENT + " ".join(c.rjust(width) for c in row) for row in cells)


def format_value(value: np.ndarray, location: str, type_: str) -> str:
    """One probe value (no time axis) as a compact string; a matrix starts
    with a newline (its rows go under the name)."""
    value = np.asarray(value)
    if type_ == Type.MASK_ONE and location == Location.NODE:
        return f"node {int(np.argmax(value))}"
    if type_ == Type.CATEGORICAL:  # one-hot over the last axis: print the class
        classes = np.argmax(value, axis=-1)
        if location == Location.GRAPH:
            return f"class {int(classes)}"
        if location == Location.NODE:
            return "[" + " ".join(str(int(c)) for c in classes) + "]"
        masked = (value == -1).any(axis=-1) | (np.abs(value).sum(-1) == 0)
        return _matrix([["." if masked[i, j] else str(int(classes[i, j]))
                         for j in range(classes.shape[1])] for i in range(classes.shape[0])])
    if location == Location.EDGE:
        fmt = _number_format(value.astype(float))
        return _matrix([[fmt(x) for x in row] for row in value.astype(float)])
    if value.ndim == 0:
        return _number_format(value.astype(float).reshape(1))(float(value))
    return _vector(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render(trace: Trace, steps: list[int] | None = None) -> str:
    """Inputs, then the hints step by step, then the outputs."""
    lines = [f"{trace.algorithm}: {_count(trace.num_nodes, 'node')}, "
             f"{_count(trace.length, 'hint step')}"]

    def block(title, store, index=None):
        lines.append(title)
        width = max((len(k) for k in store), default=0)
        for name, value in store.items():
            _, location, type_ = trace.spec[name]
            text = format_value(value if index is None else value[index], location, type_)
            if text.startswith("\n"):  # a matrix: the name alone, rows below
                lines.append(f"  {name}{text}")
            else:
                lines.append(f"  {name:<{width}}  {text}")

    block("inputs", trace.inputs)
    for t in steps if steps is not None else range(trace.length):
        block(f"hints, step {t}", trace.hints, t)
    block("outputs", trace.outputs)
    return "\n".join(lines)
