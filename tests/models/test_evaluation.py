"""Metrics against hand-computed values (the published semantics)."""

import numpy as np
import pytest

from openclrs.training.metrics import (OutputScorer, algorithm_mean, evaluate, evaluate_hints,
                                 family_mean, family_scores, fuse_permutation, probe_score)
from openclrs.specs import CLRS_30_ALGS, FAMILIES
from openclrs.transforms import cyclic_predecessors

SPEC = {
    "m": ("output", "node", "mask"),
    "one": ("output", "node", "mask_one"),
    "ptr": ("output", "node", "pointer"),
    "x": ("output", "graph", "scalar"),
}


def test_mask_f1_is_pooled_over_the_split():
    spec = {"m": SPEC["m"]}
    # batch 1: tp 1, fp 1, fn 1; the -1 entry is unlabelled (its 1 ignored)
    t1, p1 = np.array([[1, 0, 1, -1.0]]), np.array([[1, 1, 0, 1.0]])
    # batch 2: tp 1 and nothing else
    t2, p2 = np.array([[1, 0, 0, 0.0]]), np.array([[1, 0, 0, 0.0]])
    assert evaluate(spec, {"m": t1}, {"m": p1})["m"] == pytest.approx(0.5)
    assert evaluate(spec, {"m": t2}, {"m": p2})["m"] == pytest.approx(1.0)
    # pooled: tp 2, fp 1, fn 1 -> P = R = 2/3, F1 = 2/3 (not the 0.75 of a mean)
    scorer = OutputScorer(spec).update({"m": t1}, {"m": p1}).update({"m": t2}, {"m": p2})
    assert scorer.result()["m"] == pytest.approx(2 / 3)
    joined = evaluate(spec, {"m": np.concatenate([t1, t2])}, {"m": np.concatenate([p1, p2])})
    assert joined["m"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("truth,pred,f1", [
    ([0, 0, 0], [0, 0, 0], 1.0),     # nothing to find, nothing claimed: P = R = 1
    ([0, 0, 0], [1, 0, 0], 0.0),     # P = 0, R = 1
    ([1, 0, 0], [0, 0, 0], 0.0),     # P = 1, R = 0
    ([1, 1, 0], [1, 0, 1], 0.5),     # tp 1, fp 1, fn 1
    ([-1, -1, 1], [1, 1, 1], 1.0),   # only the labelled entry counts
])
def test_mask_f1_edge_cases(truth, pred, f1):
    assert probe_score("mask", np.array(pred, float), np.array(truth, float)) == pytest.approx(f1)


def test_accuracies_mse_and_score():
    outputs = {
        "m": np.array([[1, 0, 1], [0, 0, 1.0]]),
        "one": np.array([[0, 1, 0], [1, 0, 0.0]]),
        "ptr": np.array([[0, 0, 1], [2, 2, 2]]),
        "x": np.array([1.0, 2.0]),
    }
    preds = {
        "m": np.array([[1, 0, 1], [0, 0, 1.0]]),           # F1 1
        "one": np.array([[0, 1, 0], [0, 0, 1.0]]),         # 1 of 2
        "ptr": np.array([[0, 2, 1], [2, 2, 2]]),           # 5 of 6
        "x": np.array([1.5, 2.0]),                          # (0.25 + 0) / 2
    }
    scores = evaluate(SPEC, outputs, preds)
    assert scores["m"] == pytest.approx(1.0)
    assert scores["one"] == pytest.approx(0.5)
    assert scores["ptr"] == pytest.approx(5 / 6)
    assert scores["x"] == pytest.approx(0.125)
    assert scores["score"] == pytest.approx((1.0 + 0.5 + 5 / 6 + 0.125) / 4)


def test_mask_one_skips_rows_with_masked_targets_and_reads_argmax():
    truth = np.array([[0, 1, 0], [1, 0, 0], [0, -1, 1]], float)
    pred = np.array([[0.1, 0.7, 0.2], [0, 0, 1], [0, 1, 0]], float)   # logits work too
    assert probe_score("mask_one", pred, truth) == pytest.approx(0.5)
    assert probe_score("categorical", pred, truth) == pytest.approx(0.5)


def test_pointer_given_as_scores_is_read_by_argmax():
    truth = np.array([[1, 0, 2]])
    scores = np.array([[[0.1, 0.8, 0.1], [0.9, 0, 0.1], [0.3, 0.6, 0.1]]])
    assert probe_score("pointer", scores, truth) == pytest.approx(2 / 3)


def test_permutations_are_fused_before_scoring():
    spec = {"pred": ("output", "node", "permutation_pointer"),
            "pred_mask": ("output", "node", "mask_one")}
    original = np.array([0, 0, 1, 2])                 # 0 first, then 1, 2, 3
    cyclic, first = cyclic_predecessors(original)
    np.testing.assert_array_equal(cyclic, [3, 0, 1, 2])
    np.testing.assert_array_equal(fuse_permutation(cyclic, first), original)
    truth = {"pred": cyclic[None], "pred_mask": first[None]}
    # right first node, nodes 2 and 3 wrong -> fused [0, 0, 2, 1]: 2 of 4
    pred = {"pred": np.array([[3, 0, 2, 1]]), "pred_mask": np.array([[1.0, 0, 0, 0]])}
    scores = evaluate(spec, truth, pred)
    assert set(scores) == {"pred", "score"}           # the mask is folded in
    assert scores["pred"] == pytest.approx(0.5)
    # a permutation matrix is read by argmax; a wrong first node costs it too
    matrix = np.eye(4)[[3, 0, 1, 2]][None]
    assert evaluate(spec, truth, {"pred": matrix, "pred_mask": first[None]})["pred"] == 1.0
    wrong_first = {"pred": matrix, "pred_mask": np.array([[0, 1.0, 0, 0]])}
    assert evaluate(spec, truth, wrong_first)["pred"] == pytest.approx(2 / 4)


def test_soft_first_node_masks_fuse_as_the_published_evaluation():
    """Every node whose mask is above 1/2 points to itself, none when no
    probability passes 1/2 (the published ``fuse_perm_and_mask``), not only
    the argmax."""
    perm = np.array([[3, 0, 1, 2], [3, 0, 1, 2], [3, 0, 1, 2]])
    soft = np.array([[0.9, 0.1, 0.0, 0.0],     # one node above 1/2: as one-hot
                     [0.4, 0.3, 0.2, 0.1],     # none: every pointer kept
                     [0.6, 0.0, 0.7, 0.0]])    # two: both point to themselves
    np.testing.assert_array_equal(fuse_permutation(perm, soft),
                                  [[0, 0, 1, 2], [3, 0, 1, 2], [0, 0, 2, 2]])
    # exactly 1/2 is not above it
    np.testing.assert_array_equal(fuse_permutation(perm[:1], [[0.5, 0.5, 0, 0]]), perm[:1])
    # the same on a permutation given as a score matrix
    matrix = np.eye(4)[perm] * 0.7
    np.testing.assert_array_equal(fuse_permutation(matrix, soft), fuse_permutation(perm, soft))


def test_scorer_pools_batches_of_different_sizes():
    spec = {"ptr": SPEC["ptr"]}
    scorer = OutputScorer(spec)
    scorer.update({"ptr": np.array([[0, 1]])}, {"ptr": np.array([[0, 0]])})            # 1/2
    scorer.update({"ptr": np.array([[0, 1, 2, 3]])}, {"ptr": np.array([[0, 1, 2, 3]])})  # 4/4
    assert scorer.result()["ptr"] == pytest.approx(5 / 6)


def test_missing_prediction_is_an_error():
    with pytest.raises(KeyError, match="ptr"):
        evaluate({"ptr": SPEC["ptr"]}, {"ptr": np.zeros((1, 2), int)}, {})
    with pytest.raises(ValueError, match="no batch"):
        OutputScorer(SPEC).result()


def test_hints_are_scored_per_step_and_weighted_by_running_samples():
    spec = {"h": ("hint", "node", "mask_one")}
    lengths = np.array([3, 2])
    truth = np.zeros((3, 2, 2))
    truth[1] = [[1, 0], [0, 1]]
    truth[2] = [[0, 1], [0, 0]]                 # sample 1 has ended (padding)
    preds = np.zeros((2, 2, 2))
    preds[0] = [[1, 0], [1, 0]]                 # step 0: 1 of 2
    preds[1] = [[0, 1], [1, 0]]                 # step 1: only sample 0 runs: 1 of 1
    evals = evaluate_hints(spec, {"h": truth}, lengths, {"h": preds})
    np.testing.assert_allclose(evals["h_along_time"], [0.5, 1.0])
    assert evals["h"] == pytest.approx((0.5 * 2 + 1.0 * 1) / 3)


def test_family_and_algorithm_means():
    scores = {"insertion_sort": 1.0, "bubble_sort": 0.5, "bfs": 0.0}
    assert family_scores(scores) == {"sorting": 0.75, "graphs": 0.0}
    assert family_mean(scores) == pytest.approx(0.375)     # families weigh the same
    assert algorithm_mean(scores) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown algorithm"):
        family_mean({"bfz": 1.0})
    with pytest.raises(ValueError, match="unknown algorithm"):
        algorithm_mean({"bfz": 1.0})
    with pytest.raises(ValueError):
        family_mean({})


def test_clrs30_covers_the_eight_families():
    scores = {a: float(i) for i, a in enumerate(CLRS_30_ALGS)}
    assert set(family_scores(scores)) == set(FAMILIES)
    expected = np.mean([np.mean([scores[a] for a in algs if a in scores])
                        for algs in FAMILIES.values()])
    assert family_mean(scores) == pytest.approx(expected)
    assert algorithm_mean(scores) == pytest.approx(np.mean(list(scores.values())))


def test_published_scores_reproduce_the_papers_family_table():
    from openclrs.training.metrics import family_scores
    from openclrs.training.published_scores import TABLE1_FAMILY_MEANS, TABLE1_OVERALL, TRIPLET_GMPNN

    assert set(TRIPLET_GMPNN) == set(CLRS_30_ALGS)
    families = family_scores(TRIPLET_GMPNN)
    for family, published in TABLE1_FAMILY_MEANS.items():
        assert abs(families[family] - published) <= 0.0051, family
    assert round(family_mean(TRIPLET_GMPNN), 2) == TABLE1_OVERALL
    assert round(algorithm_mean(TRIPLET_GMPNN), 2) == 75.98
