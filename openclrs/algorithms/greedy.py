"""Greedy algorithms (CLRS chapter 16): activity selection and unit-task
scheduling with deadlines.

Both scan the items once in a fixed greedy order and keep or drop each one,
so a run is fully described by that order and by the step at which each item
was kept. The functions record just that and expand it into the per-step
``selected_h`` masks at the end, instead of copying the mask at every step.
"""

from __future__ import annotations

import numpy as np

from ..probes import Trace, identity_pointers, make_trace, one_hot, one_hots, positions
from . import _checks

__all__ = ["activity_selector", "task_scheduling"]


def _sortable(a: np.ndarray) -> np.ndarray:
    # numpy cannot negate booleans; as 0/1 they order the same way.
    return a.astype(np.float64) if a.dtype.kind == "b" else a


def _selection_masks(kept_at: list) -> np.ndarray:
    """``selected_h``: item ``v`` is selected from step ``kept_at[v]`` on
    (``kept_at[v]`` is the number of steps for an item never kept)."""
    return np.greater_equal.outer(np.arange(len(kept_at) + 1), kept_at) * 1.0


def activity_selector(s, f) -> Trace:
    """Greedy activity selection (CLRS 16.1): keep each activity, in order of
    finish time, that starts no earlier than the last kept one finishes.

    Step 0 is the state before the scan; step ``t >= 1`` has just considered
    the ``t``-th activity by finish time (``m``), ``k`` being the last kept.
    """
    s = _checks.vector(s, "s")
    f = _checks.vector(f, "f")
    _checks.same_length("s", s, "f", f)
    early = np.flatnonzero(f < s)
    if len(early):
        i = int(early[0])
        raise ValueError(f"activity {i} ends before it starts: f[{i}]={f[i].item()!r} < "
                         f"s[{i}]={s[i].item()!r} (every f must be >= its s)")
    n = len(s)
    # The default (unstable) argsort on the caller's dtype: equal finish times
    # must come out in the published order.
    order = np.argsort(_sortable(f)).tolist()
    start = s.astype(np.float64).tolist()
    finish = f.astype(np.float64).tolist()

    steps = n + 1
    kept_at = [steps] * n
    m_steps, k_steps = [0], [0]
    k = order[0]
    kept_at[k] = 1
    m_steps.append(k)
    k_steps.append(k)
    for t in range(1, n):
        a = order[t]
        if start[a] >= finish[k]:
            kept_at[a] = t + 1
            k = a
        m_steps.append(a)
        k_steps.append(k)

    selected = _selection_masks(kept_at)
    m_hint, k_hint = one_hots(n, m_steps, k_steps)
    return make_trace(
        "activity_selector",
        inputs={"pos": positions(n), "s": s, "f": f},
        hints={"pred_h": identity_pointers(n, steps), "selected_h": selected,
               "m": m_hint, "k": k_hint},
        outputs={"selected": selected[-1].copy()},
    )


def task_scheduling(d, w) -> Trace:
    """Unit-time task scheduling with deadlines ``d`` and penalties ``w``
    (CLRS 16.5): take tasks by decreasing penalty and keep each one that
    still fits before its deadline, ``t`` counting the tasks kept so far.

    Step 0 is the state before the scan; step ``t >= 1`` has just considered
    the ``t``-th task by penalty (``i``).

    This is the published greedy, not the optimum (nor CLRS's independence
    test): a task is kept only while fewer tasks than its deadline are kept,
    and kept tasks are never rescheduled, so ``d=[2, 1]``, ``w=[5, 4]`` keeps
    only task 0 although both fit. Deadlines must be whole slots ``>= 1``.
    """
    d = _checks.vector(d, "d")
    w = _checks.vector(w, "w")
    _checks.same_length("d", d, "w", w)
    days = d.astype(np.float64)
    bad = np.flatnonzero(~(np.isfinite(days) & (days >= 1) & (days == np.floor(days))))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"d must hold deadlines that are whole time slots >= 1 (every "
                         f"task takes one slot), got d[{i}]={d[i].item()!r}")
    n = len(d)
    # Same argsort call as the published code, so equal penalties tie alike.
    order = np.argsort(-_sortable(w)).tolist()
    deadline = d.astype(np.float64).tolist()

    steps = n + 1
    kept_at = [steps] * n
    i_steps, t_steps = [0, order[0]], [0, 1]
    kept_at[order[0]] = 1
    t = 1
    for step in range(1, n):
        task = order[step]
        if t < deadline[task]:
            kept_at[task] = step + 1
            t += 1
        i_steps.append(task)
        t_steps.append(t)

    selected = _selection_masks(kept_at)
    return make_trace(
        "task_scheduling",
        inputs={"pos": positions(n), "d": d, "w": w},
        hints={"pred_h": identity_pointers(n, steps), "selected_h": selected,
               "i": one_hot(i_steps, n), "t": np.array(t_steps, dtype=np.float64)},
        outputs={"selected": selected[-1].copy()},
    )
