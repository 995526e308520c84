"""SALSA-CLRS's per-graph metrics (openclrs.training.graph_metrics) against
hand-computed values, on dense and sparse (concatenated) batches."""

import numpy as np
import pytest

from openclrs.specs import SPECS
from openclrs.training.graph_metrics import GraphScorer, graph_metrics, probe_graph_metrics
from openclrs.training.metrics import evaluate


def test_pointer_node_and_graph_accuracy_sparse():
    # Two graphs, 3 and 2 nodes, pointers as batch-wide node indices.
    node_ptr = np.array([0, 3, 5])
    truth = np.array([0, 0, 1, 3, 3])
    pred = np.array([0, 2, 1, 3, 3])          # graph 0: 2 of 3 right; graph 1: all right
    m = probe_graph_metrics("node", "pointer", pred, truth, node_ptr=node_ptr)
    np.testing.assert_allclose(m["node_accuracy"], [2 / 3, 1.0])
    np.testing.assert_array_equal(m["graph_accuracy"], [0.0, 1.0])
    # The split's metric is the mean over graphs (each weighs the same), not over nodes.
    scorer = GraphScorer(SPECS["bfs"]).update({"pi": truth}, {"pi": pred}, node_ptr)
    result = scorer.result()
    assert result["pi/node_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["node_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["graph_accuracy"] == 0.5 and result["graphs"] == 2
    assert result["score"] == pytest.approx(4 / 5)   # CLRS: pooled over nodes


def test_pointer_dense_rows_and_logits():
    truth = np.array([[0, 0, 1], [2, 2, 2]])
    pred = np.array([[0, 0, 1], [2, 0, 2]])
    m = probe_graph_metrics("node", "pointer", pred, truth)
    np.testing.assert_allclose(m["node_accuracy"], [1.0, 2 / 3])
    np.testing.assert_array_equal(m["graph_accuracy"], [1.0, 0.0])
    scores = np.eye(3)[pred] * 5.0             # rows of scores are read by argmax
    m2 = probe_graph_metrics("node", "pointer", scores, truth)
    np.testing.assert_allclose(m2["node_accuracy"], m["node_accuracy"])


def test_mask_f1_per_graph_and_empty_graph_convention():
    node_ptr = np.array([0, 4, 7, 9])
    truth = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0], dtype=float)
    pred = np.array([1, 0, 1, 0, 0, 0, 0, 1, 0], dtype=float)
    m = probe_graph_metrics("node", "mask", pred, truth, node_ptr=node_ptr)
    # graph 0: tp=1, fp=1, fn=1 -> F1 = 2/(2+1+1) = 0.5; accuracy 2/4
    # graph 1: no positives at all, predicted none -> sklearn's 0 (SALSA); accuracy 1
    # graph 2: tp=1 -> F1 1
    np.testing.assert_allclose(m["node_f1"], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(m["node_accuracy"], [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(m["graph_accuracy"], [0.0, 1.0, 1.0])
    m1 = probe_graph_metrics("node", "mask", pred, truth, node_ptr=node_ptr, f1_empty=1.0)
    np.testing.assert_allclose(m1["node_f1"], [0.5, 1.0, 1.0])
    # masked (-1) truths are skipped
    truth2 = truth.copy()
    truth2[2] = -1
    m2 = probe_graph_metrics("node", "mask", pred, truth2, node_ptr=node_ptr)
    np.testing.assert_allclose(m2["node_accuracy"][0], 2 / 3)
    np.testing.assert_allclose(m2["node_f1"][0], 2 / 3)   # tp=1, fp=0, fn=1


def test_edge_probe_uses_edge_ptr_and_scalars():
    edge_ptr = np.array([0, 2, 5])
    node_ptr = np.array([0, 1, 3])
    truth = np.array([1, 0, 1, 1, 0], dtype=float)
    pred = np.array([1, 0, 0, 1, 0], dtype=float)
    m = probe_graph_metrics("edge", "mask", pred, truth, node_ptr, edge_ptr)
    np.testing.assert_allclose(m["node_accuracy"], [1.0, 2 / 3])
    s = probe_graph_metrics("graph", "scalar", np.array([2.4, 3.6]), np.array([2.0, 3.0]),
                            node_ptr, edge_ptr)
    np.testing.assert_allclose(s["mse"], [0.16, 0.36])
    np.testing.assert_array_equal(s["graph_accuracy"], [1.0, 0.0])  # round(3.6) = 4 != 3


def test_mask_one_counts_once_per_graph():
    node_ptr = np.array([0, 3, 5])
    truth = np.array([0, 1, 0, 1, 0], dtype=float)
    pred = np.array([0, 1, 0, 0, 1], dtype=float)
    m = probe_graph_metrics("node", "mask_one", pred, truth, node_ptr=node_ptr)
    np.testing.assert_array_equal(m["node_accuracy"], [1.0, 0.0])


def test_graph_accuracy_needs_every_output_and_matches_clrs_on_one_graph():
    spec = {"a": ("output", "node", "pointer"), "b": ("output", "node", "mask")}
    outputs = {"a": np.array([[0, 1]]), "b": np.array([[1.0, 0.0]])}
    preds = {"a": np.array([[0, 1]]), "b": np.array([[1.0, 1.0]])}
    m = graph_metrics(spec, outputs, preds)
    assert m["a"]["graph_accuracy"][0] == 1.0 and m["b"]["graph_accuracy"][0] == 0.0
    assert m["all"]["graph_accuracy"][0] == 0.0
    # a single graph's F1 is the CLRS pooled F1 (tp=1, fp=1 -> 2/3)
    assert m["b"]["node_f1"][0] == pytest.approx(evaluate(spec, outputs, preds)["b"])


def test_clrs_score_takes_one_mask_one_argmax_per_graph_on_sparse_batches():
    # topological_sort's topo_head: two 3-node graphs, the second predicted wrong.
    # The CLRS score must take the argmax within each graph (as on a dense
    # batch), not one over all six nodes (which would score 1.0 here).
    spec = SPECS["topological_sort"]
    node_ptr = np.array([0, 3, 6])
    truth = {"topo": np.array([0, 0, 1, 3, 3, 4]),
             "topo_head": np.array([0, 1, 0, 0, 0, 1], dtype=float)}
    pred = {"topo": truth["topo"].copy(),
            "topo_head": np.array([0.1, 0.9, 0.0, 0.0, 0.6, 0.3])}
    result = GraphScorer(spec).update(truth, pred, node_ptr).result()
    assert result["topo_head/graph_accuracy"] == 0.5
    assert result["score"] == pytest.approx((1.0 + 0.5) / 2)
    # Same numbers as the dense batch of the same two graphs.
    dense_truth = {k: v.reshape(2, 3) - (np.array([[0], [3]]) if k == "topo" else 0)
                   for k, v in truth.items()}
    dense_pred = {k: v.reshape(2, 3) - (np.array([[0], [3]]) if k == "topo" else 0)
                  for k, v in pred.items()}
    assert evaluate(spec, dense_truth, dense_pred)["score"] == pytest.approx(result["score"])
    # Graphs of different sizes pad their rows; a pad is never the argmax.
    ptr = np.array([0, 2, 6])
    truth2 = {"topo": np.array([0, 0, 2, 2, 3, 4]),
              "topo_head": np.array([0, 1, 0, 0, 1, 0], dtype=float)}
    pred2 = {"topo": truth2["topo"], "topo_head": np.array([-5.0, -4.0, -9, -9, -1, -9])}
    assert GraphScorer(spec).update(truth2, pred2, ptr).result()["score"] == 1.0
