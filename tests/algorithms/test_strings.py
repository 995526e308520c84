"""String matching traces against independent truths: str.find, a
brute-force prefix function, the textbook's worked examples and the
invariants the matchers' cursors must keep."""

import numpy as np
import pytest

import openclrs
from openclrs.algorithms import ALGORITHMS, strings
from openclrs.probes import validate_trace

MATCHERS = ["naive_string_matcher", "kmp_matcher"]


def text(chars):
    return "".join("abcd"[c] for c in chars)


def codes(s):
    return np.array(["abcd".index(c) for c in s])


def borders(P):
    """Length of the longest proper border of each prefix P[:q + 1], by brute force."""
    s = text(P)
    return [max(b for b in range(q + 1) if s[:b] == s[q + 1 - b:q + 1]) for q in range(len(s))]


def random_pairs(seed, count=150):
    rng = np.random.RandomState(seed)
    for _ in range(count):
        chars = rng.randint(1, 5)
        t, m = rng.randint(1, 30), rng.randint(1, 8)
        T, P = rng.randint(0, chars, size=t), rng.randint(0, chars, size=m)
        if m <= t and rng.rand() < 0.5:
            start = rng.randint(0, t - m + 1)
            T[start:start + m] = P
        yield T, P


@pytest.mark.parametrize("name", MATCHERS)
def test_match_is_first_occurrence(name):
    for T, P in random_pairs(1):
        if name == "naive_string_matcher" and len(P) > len(T):
            continue
        trace = ALGORITHMS[name](T, P)
        found = text(T).find(text(P))
        expected = found if found >= 0 else len(T)  # "not found": the needle's head
        assert trace.outputs["match"].tolist() == np.eye(len(T) + len(P))[expected].tolist()


@pytest.mark.parametrize("name", MATCHERS)
def test_inputs_describe_both_strings(name):
    T, P = codes("abcabdab"), codes("dab")
    trace = ALGORITHMS[name](T, P)
    np.testing.assert_array_equal(trace.inputs["string"], [0] * 8 + [1] * 3)
    np.testing.assert_allclose(trace.inputs["pos"], [i / 8 for i in range(8)] + [0, 1 / 3, 2 / 3])
    np.testing.assert_array_equal(trace.inputs["key"].argmax(axis=1), np.concatenate([T, P]))
    assert trace.inputs["key"].sum() == 11
    # Haystack and needle are two chains of predecessors.
    expected = [0, 0, 1, 2, 3, 4, 5, 6, 8, 8, 9]
    for step in trace.hints["pred_h"]:
        assert step.tolist() == expected


def test_naive_textbook_example():
    # CLRS Figure 32.1: P = aab occurs in T = acaabc with shift 2.
    trace = strings.naive_string_matcher(codes("acaabc"), codes("aab"))
    assert trace.outputs["match"].argmax() == 2
    # Shift 0 matches one character, shift 1 none, shift 2 all three.
    assert trace.hints["s"].argmax(axis=1).tolist() == [0, 0, 1, 2, 2, 2]
    assert (trace.hints["j"].argmax(axis=1) - 6).tolist() == [0, 1, 0, 0, 1, 2]
    assert trace.hints["i"].argmax(axis=1).tolist() == [0, 1, 1, 2, 3, 4]


def test_naive_steps_are_the_characters_compared():
    for T, P in random_pairs(2):
        if len(P) > len(T):
            continue
        trace = strings.naive_string_matcher(T, P)
        t, m = len(T), len(P)
        found = text(T).find(text(P))
        last = found if found >= 0 else t - m
        expected = []  # (shift, cursor) per step, by brute force
        for s in range(last + 1):
            j = 0
            while j < m - 1 and T[s + j] == P[j]:
                j += 1
            expected += [(s, c) for c in range(j + 1)]
        shifts = trace.hints["s"].argmax(axis=1)
        cursors = trace.hints["j"].argmax(axis=1) - t
        assert list(zip(shifts.tolist(), cursors.tolist())) == expected
        np.testing.assert_array_equal(trace.hints["i"].argmax(axis=1), shifts + cursors)


def test_kmp_textbook_prefix_function():
    # CLRS Figure 32.10: P = ababaca has prefix function 0 0 1 2 3 0 1. The
    # benchmark stores, per position, the index of the border's last
    # character (0 when the border is empty, flagged by is_reset).
    P = codes("ababaca")
    trace = strings.kmp_matcher(codes("bacbababaabcbab"), P)
    t = 15
    assert trace.outputs["match"].argmax() == 15  # not found: the needle's head
    pi = trace.hints["pi"][-1, t:] - t
    is_reset = trace.hints["is_reset"][-1, t:]
    assert pi.tolist() == [0, 0, 0, 1, 2, 0, 0]
    assert is_reset.tolist() == [1, 1, 0, 0, 0, 1, 0]
    # The haystack part of pi points to itself, and is never reset.
    assert trace.hints["pi"][:, :t].tolist() == [list(range(t))] * trace.length
    assert not trace.hints["is_reset"][:, :t].any()


def test_kmp_prefix_function_matches_brute_force():
    for T, P in random_pairs(3):
        trace = strings.kmp_matcher(T, P)
        t = len(T)
        b = borders(P)
        assert (trace.hints["is_reset"][-1, t:] == [bq == 0 for bq in b]).all()
        assert (trace.hints["pi"][-1, t:] - t).tolist() == [max(bq - 1, 0) for bq in b]


def test_kmp_scan_cursor_is_a_matched_prefix():
    """Whenever the scan looks at haystack character i, the cursor holds a
    needle prefix that ends just before i in the haystack."""
    for T, P in random_pairs(4):
        trace = strings.kmp_matcher(T, P)
        t, m = len(T), len(P)
        phase = trace.hints["phase"]
        assert (np.diff(phase) >= 0).all() and phase[0] == 0  # phase 0, then 1
        scan = phase == 1
        i = trace.hints["i"][scan].argmax(axis=1)
        q = trace.hints["q"][scan].argmax(axis=1) - t
        matched = np.where(trace.hints["q_reset"][scan] == 1, 0, q + 1)
        assert (np.diff(i) >= 0).all() and i[0] == 0
        for ii, length in zip(i.tolist(), matched.tolist()):
            assert length < m
            assert text(T[ii - length:ii]) == text(P[:length])
        # The shift hint is where the needle would start, ending at i.
        np.testing.assert_array_equal(trace.hints["s"][scan].argmax(axis=1),
                                      np.maximum(i - m + 1, 0))
        # k and the prefix function are frozen while scanning.
        for name in ("k", "k_reset", "pi", "is_reset"):
            assert (trace.hints[name][scan] == trace.hints[name][scan][0]).all()


@pytest.mark.parametrize("name", MATCHERS)
@pytest.mark.parametrize("length,kwargs", [(5, {}), (16, {}), (64, {}),
                                           (20, {"length_needle": -8})])
def test_sampled_needles_are_found(name, length, kwargs):
    for trace in openclrs.sample(name, length=length, seed=length, num_samples=10, **kwargs):
        validate_trace(trace)
        assert trace.num_nodes == length
        t = int((trace.inputs["string"] == 0).sum())
        T = trace.inputs["key"][:t].argmax(axis=1)
        P = trace.inputs["key"][t:].argmax(axis=1)
        # The sampler plants the needle, so there is always a match.
        assert trace.outputs["match"].argmax() == text(T).find(text(P))


def test_needle_longer_than_haystack():
    with pytest.raises(ValueError, match="must not be longer than the haystack"):
        strings.naive_string_matcher([0, 1], [0, 1, 2])
    # KMP still scans the haystack, and finds nothing.
    trace = strings.kmp_matcher([0, 1], [0, 1, 2])
    validate_trace(trace)
    assert trace.outputs["match"].argmax() == 2
