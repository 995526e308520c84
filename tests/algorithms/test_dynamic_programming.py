"""Dynamic programming against the CLRS worked examples and against brute
force over every parenthesisation, subsequence and search tree."""

import itertools

import numpy as np
import pytest

import openclrs
from openclrs.algorithms.dynamic_programming import (
    _bst_tables_by_cell, _bst_tables_by_diagonal, lcs_length, matrix_chain_order, optimal_bst)

# ---------------------------------------------------------------- matrix chain


def all_chain_costs(p, i, j):
    """Cost of every parenthesisation of matrices i..j (matrix k is p[k-1] x p[k])."""
    if i == j:
        return [0]
    return [a + b + p[i - 1] * p[k] * p[j] for k in range(i, j)
            for a in all_chain_costs(p, i, k) for b in all_chain_costs(p, k + 1, j)]


def test_matrix_chain_clrs_figure_15_5():
    trace = matrix_chain_order(np.array([30, 35, 15, 5, 10, 20, 25], float))
    m, s = trace.hints["m"][-1], trace.outputs["s"]
    assert m[1, 6] == 15125 and m[2, 5] == 7125 and m[1, 3] == 7875
    # ((A1 (A2 A3)) ((A4 A5) A6))
    assert (s[1, 6], s[1, 3], s[4, 6], s[4, 5], s[2, 3]) == (3, 1, 5, 4, 2)


@pytest.mark.parametrize("seed", range(12))
def test_matrix_chain_costs_are_the_best_parenthesisations(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 8))
    p = rng.integers(1, 30, n).astype(float)  # integers: exact float arithmetic
    trace = matrix_chain_order(p)
    m, s = trace.hints["m"][-1], trace.outputs["s"]
    for i in range(1, n):
        for j in range(i + 1, n):
            assert m[i, j] == min(all_chain_costs(p, i, j))
            k = s[i, j]
            assert i <= k < j
            assert m[i, k] + m[k + 1, j] + p[i - 1] * p[k] * p[j] == m[i, j]
    upper_from_row_1 = np.triu(np.ones((n, n)))
    upper_from_row_1[0] = 0
    np.testing.assert_array_equal(trace.hints["msk"][-1], upper_from_row_1)


def test_matrix_chain_hints_relax_towards_the_optimum():
    trace = openclrs.sample("matrix_chain_order", length=12, seed=1)[0]
    m, msk = trace.hints["m"], trace.hints["msk"]
    assert trace.length > 2
    for t in range(1, trace.length):
        was = msk[t - 1] == 1
        assert (m[t][was] <= m[t - 1][was]).all()  # known costs only improve
        assert (msk[t] >= msk[t - 1]).all()
    np.testing.assert_array_equal(trace.hints["s_h"][-1], trace.outputs["s"])


def test_matrix_chain_zero_cost_chain_still_gets_its_split():
    # A2 (0 x 2 times 2 x 1) costs 0: pricing it leaves m unchanged, so the run
    # stops after one step, but the published output keeps the split found.
    trace = matrix_chain_order(np.array([0.0, 2.0, 1.0]))
    assert trace.length == 1
    assert (trace.hints["s_h"] == 0).all() and (trace.hints["msk"][0, 1, 2] == 0)
    assert trace.outputs["s"][1, 2] == 1


# ------------------------------------------------------------------------- LCS

def is_subsequence(sub, seq):
    it = iter(seq)
    return all(ch in it for ch in sub)


def brute_lcs(x, y):
    for r in range(min(len(x), len(y)), 0, -1):
        if any(is_subsequence(c, y) for c in itertools.combinations(x, r)):
            return r
    return 0


def follow_arrows(b, x):
    """The subsequence read off the arrows (0: diagonal, 1: up, 2: left)."""
    i, j, out = b.shape[0] - 1, b.shape[1] - 1, []
    while i >= 0 and j >= 0:
        if b[i, j] == 0:
            out.append(x[i])
            i, j = i - 1, j - 1
        elif b[i, j] == 1:
            i -= 1
        else:
            j -= 1
    return out[::-1]


def lcs_tables(trace, n):
    c = trace.hints["c"][-1][:n, n:]
    b = trace.outputs["b"][:n, n:, :3].argmax(-1)
    return c, b


def test_lcs_clrs_figure_15_8():
    A, B, C, D = range(4)
    x, y = [A, B, C, B, D, A, B], [B, D, C, A, B, A]
    trace = lcs_length(np.array(x), np.array(y))
    c, b = lcs_tables(trace, len(x))
    assert c[-1, -1] == 4
    lcs = follow_arrows(b, x)
    assert len(lcs) == 4 and is_subsequence(lcs, x) and is_subsequence(lcs, y)


@pytest.mark.parametrize("seed", range(25))
def test_lcs_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, int(rng.integers(1, 5)), int(rng.integers(1, 8)))
    y = rng.integers(0, 4, int(rng.integers(1, 8)))
    trace = lcs_length(x, y)
    c, b = lcs_tables(trace, len(x))
    for i in range(len(x)):
        for j in range(len(y)):
            assert c[i, j] == brute_lcs(x[:i + 1].tolist(), y[:j + 1].tolist())
    lcs = follow_arrows(b, x.tolist())
    assert len(lcs) == c[-1, -1]
    assert is_subsequence(lcs, x.tolist()) and is_subsequence(lcs, y.tolist())


def test_lcs_node_layout():
    trace = lcs_length(np.array([0, 3, 1]), np.array([2, 1]))
    np.testing.assert_array_equal(trace.inputs["string"], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(trace.inputs["pos"], [0, 1 / 3, 2 / 3, 0, 0.5])
    np.testing.assert_array_equal(trace.inputs["key"].argmax(-1), [0, 3, 1, 2, 1])
    np.testing.assert_array_equal(trace.hints["pred_h"][0], [0, 0, 1, 3, 3])
    b = trace.outputs["b"]
    # only string-1 -> string-2 edges carry a class; the rest is masked
    assert (b[:3, 3:, 3] == 0).all() and (b[:3, 3:, :3].sum(-1) == 1).all()
    assert (b[:3, :3, 3] == -1).all() and (b[3:, :, 3] == -1).all()


# ----------------------------------------------------------------- optimal BST

def all_tree_costs(p, q, i, j, depth=0):
    """Expected search cost of every BST over keys i..j-1 (dummies i..j)."""
    if i == j:
        return [q[i] * (depth + 1)]
    return [p[r] * (depth + 1) + a + b for r in range(i, j)
            for a in all_tree_costs(p, q, i, r, depth + 1)
            for b in all_tree_costs(p, q, r + 1, j, depth + 1)]


def test_optimal_bst_clrs_figure_15_10():
    trace = optimal_bst(np.array([0.15, 0.10, 0.05, 0.10, 0.20]),
                        np.array([0.05, 0.10, 0.05, 0.05, 0.05, 0.10]))
    e, w, root = trace.hints["e"][-1], trace.hints["w"][-1], trace.outputs["root"]
    assert e[0, 5] == pytest.approx(2.75) and e[1, 5] == pytest.approx(2.0)
    assert w[0, 5] == pytest.approx(1.0)
    # CLRS root[i, j] (1-based keys) is root[i - 1, j] + 1 here
    clrs_root = {(1, 1): 1, (1, 2): 1, (1, 3): 2, (1, 4): 2, (1, 5): 2, (2, 2): 2,
                 (2, 3): 2, (2, 4): 2, (2, 5): 4, (3, 3): 3, (3, 4): 4, (3, 5): 5,
                 (4, 4): 4, (4, 5): 5, (5, 5): 5}
    assert {(i, j): root[i - 1, j] + 1 for i, j in clrs_root} == clrs_root


@pytest.mark.parametrize("seed", range(12))
def test_optimal_bst_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    pq = rng.random(2 * n + 1)
    p, q = pq[:n] / pq.sum(), pq[n:] / pq.sum()
    trace = optimal_bst(p, q)
    e, root = trace.hints["e"][-1], trace.outputs["root"]
    for i in range(n + 1):
        for j in range(i + 1, n + 1):
            assert e[i, j] == pytest.approx(min(all_tree_costs(p, q, i, j)), abs=1e-12)
            r = root[i, j]
            assert i <= r < j
            best_with_root = min(all_tree_costs(p, q, i, r, 1)) + p[r] \
                + min(all_tree_costs(p, q, r + 1, j, 1))
            assert best_with_root == pytest.approx(e[i, j], abs=1e-12)


def test_optimal_bst_hints_fill_one_diagonal_per_step():
    trace = optimal_bst(np.full(4, 0.1), np.full(5, 0.12))
    assert trace.length == 5
    width = np.arange(5)[None, :] - np.arange(5)[:, None]
    for t in range(5):
        done = (width >= 0) & (width <= t)
        np.testing.assert_array_equal(trace.hints["msk"][t], done * 1.0)
        assert (trace.hints["e"][t][~done] == 0).all()
        assert (trace.hints["e"][t][done] > 0).all()
        np.testing.assert_array_equal(trace.hints["e"][t][done], trace.hints["e"][-1][done])
    np.testing.assert_array_equal(trace.inputs["p"], [0.1] * 4 + [0])


@pytest.mark.parametrize("seed", range(8))
def test_optimal_bst_table_builders_agree_bit_for_bit(seed):
    # Small trees are built cell by cell, larger ones a diagonal at a time;
    # both must give identical tables, ties (coarse values) and sentinel
    # costs (huge values) included.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 30))
    scale = 1e9 if seed % 2 else 0.1
    p, q = rng.integers(0, 3, n) * scale, rng.integers(0, 3, n + 1) * scale
    for one, other in zip(_bst_tables_by_cell(p, q), _bst_tables_by_diagonal(p, q)):
        assert one.dtype == other.dtype
        np.testing.assert_array_equal(one, other)


def test_optimal_bst_costs_at_the_sentinel_keep_root_zero():
    # Every subtree costs more than the published 1e9 "infinity", so no root
    # ever beats it: costs stay 1e9 and roots 0.
    trace = optimal_bst(np.array([1e9, 1e9]), np.array([0.0, 0.0, 0.0]))
    e = trace.hints["e"][-1]
    assert e[0, 1] == e[1, 2] == e[0, 2] == 1e9
    assert (trace.outputs["root"] == 0).all()


# ------------------------------------------------------------ sampled and argument checks

def test_tiny_inputs():
    assert matrix_chain_order(np.array([0.5])).length == 1
    assert matrix_chain_order(np.array([0.5, 0.7])).length == 1
    trace = optimal_bst(np.zeros(0), np.array([1.0]))
    assert trace.length == 1 and trace.hints["e"][0, 0, 0] == 1.0
    trace = lcs_length(np.array([2]), np.array([2]))
    assert trace.hints["c"][-1][0, 1] == 1
