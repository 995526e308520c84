"""Greedy algorithms against textbook examples, brute force and an
independent re-statement of each greedy rule."""

import itertools

import numpy as np
import pytest

import openclrs
from openclrs.algorithms.greedy import activity_selector, task_scheduling
from openclrs.probes import validate_trace


def selected(trace):
    return set(np.flatnonzero(trace.outputs["selected"]).tolist())


def compatible(s, f, chosen):
    return all(s[a] >= f[b] or s[b] >= f[a] for a, b in itertools.combinations(chosen, 2))


# -------------------------------------------------------------- activity selection

def test_activity_selector_clrs_figure_16_1():
    s = [1, 3, 0, 5, 3, 5, 6, 8, 8, 2, 12]
    f = [4, 5, 6, 7, 9, 9, 10, 11, 12, 14, 16]
    trace = activity_selector(np.array(s, float), np.array(f, float))
    assert selected(trace) == {0, 3, 7, 10}  # a1, a4, a8, a11
    assert trace.length == len(s) + 1


@pytest.mark.parametrize("seed", range(30))
def test_activity_selector_is_a_maximum_compatible_set(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    a, b = rng.random(n), rng.random(n)
    s, f = np.minimum(a, b), np.maximum(a, b)
    chosen = selected(activity_selector(s, f))
    assert compatible(s, f, chosen)
    best = max(len(c) for r in range(n + 1) for c in itertools.combinations(range(n), r)
               if compatible(s, f, c))
    assert len(chosen) == best


def test_activity_selector_hints_follow_the_scan():
    rng = np.random.default_rng(3)
    a, b = rng.random(12), rng.random(12)
    s, f = np.minimum(a, b), np.maximum(a, b)
    trace = activity_selector(s, f)
    by_finish = sorted(range(12), key=lambda i: f[i])
    h = trace.hints
    assert h["selected_h"][0].sum() == 0
    assert np.flatnonzero(h["m"][0]).tolist() == [0]
    assert [int(np.argmax(row)) for row in h["m"][1:]] == by_finish
    last, kept = None, []
    for t, act in enumerate(by_finish, start=1):
        if last is None or s[act] >= f[last]:
            last = act
            kept.append(act)
        assert int(np.argmax(h["k"][t])) == last
        assert set(np.flatnonzero(h["selected_h"][t]).tolist()) == set(kept)
    np.testing.assert_array_equal(h["selected_h"][-1], trace.outputs["selected"])
    # the input order never changes
    assert (h["pred_h"] == np.maximum(np.arange(12) - 1, 0)).all()


# ----------------------------------------------------------------- task scheduling

def test_task_scheduling_clrs_section_16_5_example():
    # CLRS 16.5's tasks. The benchmark's rule appends each task, by
    # decreasing penalty, if the slots taken so far end before its deadline
    # (a4, deadline 3, finds 3 slots taken), so it keeps a1 a2 a3 a6 a7.
    d = np.array([4, 2, 4, 3, 1, 4, 6])
    w = np.array([70, 60, 50, 40, 30, 20, 10], float)
    trace = task_scheduling(d, w)
    assert selected(trace) == {0, 1, 2, 5, 6}
    assert trace.hints["t"].tolist() == [0, 1, 2, 3, 3, 3, 4, 5]
    assert [int(np.argmax(r)) for r in trace.hints["i"][1:]] == list(range(7))


@pytest.mark.parametrize("seed", range(20))
def test_task_scheduling_matches_the_append_rule(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20))
    d = rng.integers(1, n + 1, n)
    w = rng.permutation(n) / n + 0.01  # distinct penalties: no ties to order
    trace = task_scheduling(d, w)
    kept = []
    for task in sorted(range(n), key=lambda i: -w[i]):
        if not kept or len(kept) < d[task]:
            kept.append(task)
    assert selected(trace) == set(kept)
    assert trace.hints["t"][-1] == len(kept)
    # every kept task, run in penalty order, is on time (the first always runs)
    assert all(slot <= d[task] for slot, task in enumerate(kept[1:], start=2))


# ------------------------------------------------------------ sampled

@pytest.mark.parametrize("algorithm", ["activity_selector", "task_scheduling"])
@pytest.mark.parametrize("length", [1, 4, 16])
def test_one_step_per_item_on_sampled_inputs(algorithm, length):
    for trace in openclrs.sample(algorithm, length=length, seed=length, num_samples=3):
        validate_trace(trace)
        assert trace.length == length + 1
        assert trace.hints["m" if algorithm == "activity_selector" else "i"].shape == \
            (length + 1, length)


def test_task_scheduling_is_the_published_greedy_not_the_optimum():
    """Documented quirk: a task is kept while fewer tasks than its deadline
    are kept, and kept tasks are never rescheduled. Both tasks below fit
    (task 1 in slot 1, task 0 in slot 2), but task 1 is dropped."""
    trace = task_scheduling([2, 1], [5.0, 4.0])
    assert trace.outputs["selected"].tolist() == [1.0, 0.0]
