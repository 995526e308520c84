"""Argument checks shared by the algorithms: bad input fails early, with a
message that names the argument and what was wrong with it."""

from __future__ import annotations

import numpy as np

_NUMERIC = "biuf"  # bool, signed, unsigned, float dtype kinds


def vector(x, name: str, *, min_len: int = 1, integer: bool = False) -> np.ndarray:
    """A 1-D numeric array of at least ``min_len`` entries (a copy)."""
    arr = np.array(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if len(arr) < min_len:
        raise ValueError(f"{name} must have at least {min_len} element(s), got {len(arr)}")
    kind = arr.dtype.kind
    if kind not in _NUMERIC:
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if integer and kind not in "iu":
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integers")
        arr = arr.astype(np.int64)
    if kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN")
    return arr


def square(A, name: str = "A", *, min_len: int = 1) -> np.ndarray:
    """A square 2-D numeric matrix (a copy)."""
    arr = np.array(A, order="C")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {arr.shape}")
    if arr.shape[0] < min_len:
        raise ValueError(f"{name} must have at least {min_len} node(s), got {arr.shape[0]}")
    if arr.dtype.kind not in _NUMERIC:
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN")
    return arr


def node(s, n: int, name: str = "s") -> int:
    """A node index in ``[0, n)``."""
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) and not (
            isinstance(s, np.ndarray) and s.ndim == 0 and np.issubdtype(s.dtype, np.integer)):
        raise ValueError(f"{name} must be an integer node index, got {s!r}")
    s = int(s)
    if not 0 <= s < n:
        raise ValueError(f"{name}={s} is not a node of a {n}-node graph")
    return s


def same_length(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length, "
                         f"got {len(a)} and {len(b)}")


def non_negative(a: np.ndarray, name: str, what: str) -> None:
    """Refuse negative entries (``what`` says why they cannot be)."""
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must be non-negative ({what}), got {a.min().item()!r} "
                         f"at index {int(np.argmin(a))}")


def finite(a: np.ndarray, name: str, why: str = "") -> None:
    """Refuse infinite entries (NaN is refused by :func:`vector`)."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite{why}, got {a[~np.isfinite(a)][0].item()!r} "
                         f"at index {int(np.flatnonzero(~np.isfinite(a))[0])}")


def number(x, name: str) -> float:
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {x!r}")
    if x != x:
        raise ValueError(f"{name} must not be NaN")
    return x
