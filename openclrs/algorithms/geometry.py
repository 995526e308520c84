"""Computational geometry (CLRS chapter 33): segment intersection, and the
convex hull by Graham's scan and by Jarvis's march.

Points are nodes; their coordinates are the inputs ``x`` and ``y``. The
orientation tests use exactly the published benchmark's floating-point
expressions (in Python floats, which are IEEE doubles like numpy's), so that
near-collinear triples are decided the same way.

The hull algorithms change one node's state per step. Rather than copying
whole arrays at every step, the run logs ``(step, node, value)`` events and
:func:`_replay` rebuilds the per-step arrays from them in a few vectorised
operations.
"""

from __future__ import annotations

import math

import numpy as np

from ..probes import Trace, identity_pointers, make_trace, positions
from . import _checks

__all__ = ["segments_intersect", "graham_scan", "jarvis_march"]


def _coordinates(v, name: str) -> np.ndarray:
    """A float64 copy of one coordinate vector; the NaN check is left to the
    caller for float64 arrays (the common case, checked more cheaply there)."""
    if isinstance(v, np.ndarray) and v.dtype == np.float64 and v.ndim == 1 and len(v):
        return v.copy()
    return _checks.vector(v, name).astype(np.float64)


def _points(xs, ys, *, exactly: int | None = None):
    """Checked float64 copies of the coordinates, and the same as lists of
    Python floats (IEEE doubles, like numpy's) for the scalar loops."""
    xs = _coordinates(xs, "xs")
    ys = _coordinates(ys, "ys")
    if exactly is not None:
        for name, arr in (("xs", xs), ("ys", ys)):
            if len(arr) != exactly:
                raise ValueError(f"{name} must hold exactly {exactly} coordinates, "
                                 f"got {len(arr)}")
    _checks.same_length("xs", xs, "ys", ys)
    x, y = xs.tolist(), ys.tolist()
    # A NaN or an infinity makes the sum non-finite; so may an overflow of
    # finite values, hence the closer look before complaining.
    if not math.isfinite(sum(x) + sum(y)):
        for name, values in (("xs", x), ("ys", y)):
            if any(map(math.isnan, values)):
                raise ValueError(f"{name} must not contain NaN")
            if not all(map(math.isfinite, values)):
                raise ValueError(f"{name} must hold finite coordinates")
    return xs, ys, x, y


def _replay(initial, steps: int, ev_step, ev_node, ev_value) -> np.ndarray:
    """Per-step snapshots ``(steps, n)`` of an array that starts as
    ``initial`` and where event ``e`` sets ``[ev_node[e]] = ev_value[e]``
    from step ``ev_step[e]`` on. Events must come in step order, at most one
    per (step, node)."""
    initial = np.asarray(initial)
    n = initial.shape[0]
    latest = np.full((steps, n), -1, dtype=np.int64)
    latest[ev_step, ev_node] = np.arange(len(ev_step))
    np.maximum.accumulate(latest, axis=0, out=latest)
    values = np.asarray(ev_value, dtype=initial.dtype)
    if len(values) == 0:
        return np.repeat(initial[None], steps, axis=0)
    return np.where(latest >= 0, values[latest], initial[None, :])


def _lowest(x: list, y: list) -> int:
    """The lowest point, the leftmost among equally low ones (first on ties)."""
    best = 0
    for i in range(1, len(x)):
        if y[i] < y[best] or (y[i] == y[best] and x[i] < x[best]):
            best = i
    return best


# ----------------------------------------------------------------------------
# Segment intersection (CLRS 33.1)
# ----------------------------------------------------------------------------

# Which orientation test each step performs: (i, j, k) asks on which side of
# the directed segment p_i -> p_j the point p_k lies. Step 0 is the blank
# state before any test.
_SEGMENT_TESTS = ((0, 0, 0), (2, 3, 0), (2, 3, 1), (0, 1, 2), (0, 1, 3))
# The i, j and k hints, which never vary: (3, steps, 4).
_SEGMENT_IJK = np.eye(4)[np.array(_SEGMENT_TESTS).T]
# _DONE[t, p]: whether the test about endpoint p has run by step t.
_DONE = np.arange(4)[None, :] < np.arange(5)[:, None]


def segments_intersect(xs, ys) -> Trace:
    """Whether segment p0p1 meets segment p2p3, touching included.

    ``xs`` and ``ys`` hold the four endpoints' coordinates. Four steps, each
    computing one endpoint's orientation relative to the other segment (the
    cross product ``dir``) and whether it lies in the other segment's bounding
    box (``on_seg``): the segments meet when each straddles the other's line,
    or when an endpoint is collinear with, and within, the other segment.
    """
    xs, ys, x, y = _points(xs, ys, exactly=4)
    dirs, on_seg = [], []
    for i, j, k in _SEGMENT_TESTS[1:]:
        dirs.append((x[k] - x[i]) * (y[j] - y[i]) - (x[j] - x[i]) * (y[k] - y[i]))
        on_seg.append(1.0 if (min(x[i], x[j]) <= x[k] <= max(x[i], x[j])
                              and min(y[i], y[j]) <= y[k] <= max(y[i], y[j])) else 0.0)
    d0, d1, d2, d3 = dirs
    straddle = ((d0 > 0 and d1 < 0) or (d0 < 0 and d1 > 0)) and \
        ((d2 > 0 and d3 < 0) or (d2 < 0 and d3 > 0))
    touching = any(d == 0 and on for d, on in zip(dirs, on_seg))
    # Results appear one endpoint per step; cells not yet computed stay 0.
    dir_h, on_seg_h = np.where(_DONE, np.array([dirs, on_seg])[:, None, :], 0.0)
    i_h, j_h, k_h = _SEGMENT_IJK.copy()
    return make_trace(
        "segments_intersect",
        inputs={"pos": positions(4), "x": xs, "y": ys},
        hints={"i": i_h, "j": j_h, "k": k_h, "dir": dir_h, "on_seg": on_seg_h},
        outputs={"intersect": 1.0 if straddle or touching else 0.0},
    )


# ----------------------------------------------------------------------------
# Convex hull (CLRS 33.3)
# ----------------------------------------------------------------------------

def _clockwise_or_straight(x, y, a, b, c) -> bool:
    """Whether a -> b -> c fails to turn left (cross product <= 0)."""
    return (x[b] - x[a]) * (y[c] - y[a]) - (y[b] - y[a]) * (x[c] - x[a]) <= 0


def graham_scan(xs, ys) -> Trace:
    """Graham's scan: sort the points by polar angle around the lowest one,
    then sweep them, popping the stack while the last turn is not a strict
    left turn (so collinear boundary points are left out).

    Phases (the categorical ``phase`` hint): 0 start, 1 lowest point found,
    2 angles computed, 3 a pop, 4 a push. The stack is kept as pointers
    ``stack_prev`` from each stacked point to the one below it.

    Degenerate inputs (duplicates of, or points collinear with, the lowest
    point along the first sorted direction) can make the published code pop
    the anchor and loop forever; here the anchor is never popped.
    """
    xs, ys, x, y = _points(xs, ys)
    n = len(xs)
    best = _lowest(x, y)

    atans = np.zeros(n)
    for p in range(n):
        if p != best:
            atans[p] = math.atan2(y[p] - y[best], x[p] - x[best])
    atans[best] = -123456789.0  # sorts the anchor first
    order = np.argsort(atans).tolist()
    atans[best] = 0.0

    stack_prev = list(range(n))
    # Steps 0-2 are the set-up; events (step, node, value) follow the sweep.
    top_h, cur_h, phase_h = [0, best, best], [0, best, best], [0, 1, 2]
    hull_ev_step, hull_ev_node, hull_ev_val = [1], [best], [1.0]
    prev_ev_step, prev_ev_node, prev_ev_val = [], [], []
    top = best
    for pos in range(1, n):
        p = order[pos]
        if pos >= 3:
            while top != best and _clockwise_or_straight(x, y, stack_prev[top], top, p):
                popped, top = top, stack_prev[top]
                stack_prev[popped] = popped
                step = len(top_h)
                hull_ev_step.append(step); hull_ev_node.append(popped); hull_ev_val.append(0.0)
                prev_ev_step.append(step); prev_ev_node.append(popped); prev_ev_val.append(popped)
                top_h.append(top); cur_h.append(p); phase_h.append(3)
        stack_prev[p] = top
        step = len(top_h)
        hull_ev_step.append(step); hull_ev_node.append(p); hull_ev_val.append(1.0)
        prev_ev_step.append(step); prev_ev_node.append(p); prev_ev_val.append(top)
        top = p
        top_h.append(top); cur_h.append(p); phase_h.append(4)

    steps = len(top_h)
    eye = np.eye(n)
    atans_h = np.repeat(atans[None], steps, axis=0)
    atans_h[:2] = 0.0
    in_hull_h = _replay(np.zeros(n), steps, hull_ev_step, hull_ev_node, hull_ev_val)
    best_h = np.repeat(eye[best][None], steps, axis=0)
    best_h[0] = eye[0]
    return make_trace(
        "graham_scan",
        inputs={"pos": positions(n), "x": xs, "y": ys},
        hints={"best": best_h, "atans": atans_h, "in_hull_h": in_hull_h,
               "stack_prev": _replay(np.arange(n), steps, prev_ev_step, prev_ev_node,
                                     prev_ev_val),
               "last_stack": eye[top_h], "i": eye[cur_h], "phase": np.eye(5)[phase_h]},
        outputs={"in_hull": in_hull_h[-1].copy()},
    )


def jarvis_march(xs, ys) -> Trace:
    """Jarvis's march (gift wrapping): from the lowest point, repeatedly scan
    all points for the next hull point, the one with every other point on
    its left (ties on a line go to the later point), until the wrap returns
    to a point already in the hull.

    On collinear points the result depends on the points' order, as in the
    published code: a point in the middle of a hull edge is on the hull only
    if it comes later than the edge's far end, and on all-collinear inputs an
    inner point can be marked (the samplers redraw inputs with collinear
    triples).

    One step per point examined in each scan, plus one per hull point found;
    ``phase`` is 0 only at the blank first step. ``pred_h`` never changes
    (the points' input order) and is kept for the published spec.
    """
    xs, ys, x, y = _points(xs, ys)
    n = len(xs)
    best = _lowest(x, y)

    # Per step: last hull point, candidate endpoint, point examined.
    last_h, end_h, cur_h = [0, best], [0, 0], [0, 0]
    added_at = [-1] * n  # the step from which each point is in the hull
    added_at[best] = 1
    last = best
    while True:
        end = 0
        xl, yl = x[last], y[last]
        for i in range(n):
            if end == last:
                end = i
            elif i != last and i != end:
                # The published orientation test, with last fixed.
                if (x[end] - xl) * (y[i] - yl) - (y[end] - yl) * (x[i] - xl) <= 0:
                    end = i
            end_h.append(end)
        last_h.extend([last] * n)
        cur_h.extend(range(n))
        if added_at[end] >= 0:
            break
        added_at[end] = len(last_h)
        last = end
        last_h.append(last); end_h.append(0); cur_h.append(0)

    steps = len(last_h)
    added = np.array(added_at)
    eye = np.eye(n)
    in_hull_h = ((np.arange(steps)[:, None] >= added[None, :]) & (added >= 0)[None, :]) * 1.0
    best_h = np.repeat(eye[best][None], steps, axis=0)
    best_h[0] = eye[0]
    phase = np.zeros((steps, 2))
    phase[0, 0] = 1.0
    phase[1:, 1] = 1.0
    return make_trace(
        "jarvis_march",
        inputs={"pos": positions(n), "x": xs, "y": ys},
        hints={"pred_h": identity_pointers(n, steps),
               "in_hull_h": in_hull_h, "best": best_h, "last_point": eye[last_h],
               "endpoint": eye[end_h], "i": eye[cur_h], "phase": phase},
        outputs={"in_hull": (added >= 0) * 1.0},
    )
