"""String matching (CLRS chapter 32): the naive matcher and Knuth-Morris-Pratt.

Both algorithms see one graph of ``len(T) + len(P)`` nodes: the haystack's
characters first, then the needle's. Each half is a chain (every character
points to the one before it), positions run from 0 to 1 within each half,
and characters are one-hot over a fixed four-letter alphabet, as in the
published benchmark. The output ``match`` marks the haystack node where the
first occurrence of the needle starts, or the needle's first node when there
is none.

As elsewhere in openclrs the run keeps only integers per step (cursor
positions, flags); the probe arrays are built from them once at the end.
"""

from __future__ import annotations

import functools

import numpy as np

from ..probes import Trace, make_trace, one_hot
from . import _checks

__all__ = ["naive_string_matcher", "kmp_matcher"]

# The published benchmark one-hot encodes characters over a fixed alphabet.
ALPHABET_SIZE = 4
_KEYS = np.eye(ALPHABET_SIZE)


def _strings(T, P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked copies of haystack and needle, and the two joined end to end."""
    T = _checks.vector(T, "T", integer=True).astype(np.int64, copy=False)
    P = _checks.vector(P, "P", integer=True).astype(np.int64, copy=False)
    keys = np.concatenate([T, P])
    # A character outside [0, 4) has a bit set above the lowest two (a
    # negative one has them all): one vectorised test instead of min and max.
    if (keys & ~(ALPHABET_SIZE - 1)).any():
        name, arr = ("T", T) if (T & ~(ALPHABET_SIZE - 1)).any() else ("P", P)
        raise ValueError(f"{name} must hold characters in [0, {ALPHABET_SIZE}), "
                         f"got values in [{arr.min()}, {arr.max()}]")
    return T, P, keys


@functools.lru_cache(maxsize=256)
def _layout(t: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What depends only on the two lengths: the needle mask, the positions
    (restarting in the needle, each half spanning [0, 1)) and the predecessor
    pointers making each half a chain. Cached; callers copy."""
    is_needle = np.zeros(t + m)
    is_needle[t:] = 1.0
    pos = np.concatenate([np.arange(t) * 1.0 / t, np.arange(m) * 1.0 / m])
    pred = np.arange(-1, t + m - 1)
    pred[0] = 0
    pred[t] = t
    return is_needle, pos, pred[None]


def _inputs_and_chains(t: int, m: int, keys: np.ndarray, steps: int):
    is_needle, pos, pred = _layout(t, m)
    inputs = {"string": is_needle.copy(), "pos": pos.copy(), "key": _KEYS[keys]}
    return inputs, np.repeat(pred, steps, axis=0)


def naive_string_matcher(T, P) -> Trace:
    """Try every shift of the needle against the haystack, left to right.

    One step per shift tried and one per extra character matched at that
    shift; the run stops at the first full match. ``T`` and ``P`` are 1-D
    integer arrays of characters in ``[0, 4)``, and ``P`` may not be longer
    than ``T`` (there would be no shift to try, hence no steps).
    """
    T, P, keys = _strings(T, P)
    t, m = len(T), len(P)
    if m > t:
        raise ValueError(f"the needle P ({m} characters) must not be longer than "
                         f"the haystack T ({t}): no shift could be tried")
    text, pat = T.tolist(), P.tolist()
    # Per step: the shift s, the haystack cursor s + j and the needle cursor
    # t + j, flattened into one list (one C-level extend per step).
    log: list[int] = []
    record = log.extend
    match = t  # the needle's first node: the convention for "not found"
    last = m - 1
    for s in range(t - m + 1):
        j = 0
        record((s, s, t))
        while text[s + j] == pat[j]:
            if j == last:
                match = s
                break
            j += 1
            record((s, s + j, t + j))
        if match < t:
            break
    idx = np.array(log).reshape(-1, 3)
    steps = len(idx)
    s_h, i_h, j_h = one_hot(idx.T, t + m)
    inputs, pred_h = _inputs_and_chains(t, m, keys, steps)
    return make_trace(
        "naive_string_matcher",
        inputs=inputs,
        hints={"pred_h": pred_h, "s": s_h, "i": i_h, "j": j_h},
        outputs={"match": one_hot(match, t + m)},
    )


def kmp_matcher(T, P) -> Trace:
    """Knuth-Morris-Pratt: build the needle's prefix function (phase 0), then
    scan the haystack once, falling back along it on mismatches (phase 1).

    Follows the published benchmark's formulation: the prefix function
    ``pi[q]`` holds the index of the last character of the longest proper
    border of ``P[:q + 1]``, and ``is_reset[q]`` marks the needle positions
    whose border is empty (so ``pi[q] = 0`` there means "nothing matched").
    The cursors ``k`` (phase 0) and ``q`` (phase 1) use the same convention,
    with ``k_reset``/``q_reset`` flagging "nothing matched yet" (the cursor
    then sits at 0).

    One step per prefix-function entry and per fallback while building it,
    then one per haystack character and per fallback while scanning; the run
    stops at the first full match. ``T`` and ``P`` are 1-D integer arrays of
    characters in ``[0, 4)``.
    """
    T, P, keys = _strings(T, P)
    t, m = len(T), len(P)
    text, pat = T.tolist(), P.tolist()
    pi = list(range(m))
    is_reset = [False] * m
    is_reset[0] = True
    pi_set_at = [0] * m  # the step from which pi[q] and is_reset[q] hold

    # Cursors are logged with a reset folded in as -1 (a reset cursor is 0),
    # as flat pairs per step: (k, q) in phase 0; (q, i) in phase 1, where k
    # is frozen and the shift s follows from the haystack index i.
    log0 = [-1, 1 if m > 1 else 0]
    record = log0.extend
    k = -1
    for q in range(1, m):
        c = pat[q]
        while k >= 0 and pat[k + 1] != c:
            k = -1 if is_reset[k] else pi[k]
            record((k, q))
        # A reset cursor compares the needle's first character.
        if pat[k + 1] == c:
            k += 1
        if k == -1:
            is_reset[q] = True
        pi[q] = max(k, 0)
        pi_set_at[q] = len(log0) // 2
        record((k, q))
    phase0 = len(log0) // 2

    log1: list[int] = []
    record = log1.extend
    match = t  # the needle's first node: the convention for "not found"
    q = -1
    for i in range(t):
        c = text[i]
        record((q, i))
        while q >= 0 and pat[q + 1] != c:
            q = -1 if is_reset[q] else pi[q]
            record((q, i))
        if pat[q + 1] == c:
            if q == m - 2:
                match = i - m + 1
                break
            q += 1

    steps = phase0 + len(log1) // 2
    N = t + m
    idx = np.zeros((4, steps), dtype=np.int64)  # rows: k, q, s, i
    idx[:2, :phase0] = np.array(log0).reshape(-1, 2).T
    idx[0, phase0:] = k
    idx[1:4:2, phase0:] = np.array(log1).reshape(-1, 2).T
    flags = np.zeros((3, steps))  # k_reset, q_reset, phase
    flags[:2] = idx[:2] < 0
    flags[1, :phase0] = 1.0
    flags[2, phase0:] = 1.0
    np.maximum(idx[:2], 0, out=idx[:2])
    idx[:2] += t
    np.maximum(idx[3, phase0:] - (m - 1), 0, out=idx[2, phase0:])
    k_h, q_h, s_h, i_h = one_hot(idx, N)

    settled = np.arange(steps)[:, None] >= np.array(pi_set_at)[None, :]  # (steps, m)
    pi_h = np.empty((steps, N), dtype=np.int64)
    pi_h[:, :t] = np.arange(t)
    pi_h[:, t:] = t + np.where(settled, np.array(pi)[None, :], np.arange(m)[None, :])
    is_reset_h = np.zeros((steps, N))
    is_reset_h[:, t:] = settled & np.array(is_reset)[None, :]

    inputs, pred_h = _inputs_and_chains(t, m, keys, steps)
    return make_trace(
        "kmp_matcher",
        inputs=inputs,
        hints={"pred_h": pred_h, "pi": pi_h, "is_reset": is_reset_h, "k": k_h,
               "k_reset": flags[0], "q": q_h, "q_reset": flags[1], "s": s_h, "i": i_h,
               "phase": flags[2]},
        outputs={"match": one_hot(match, N)},
    )
