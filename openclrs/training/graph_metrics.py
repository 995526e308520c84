"""Per-graph metrics of SALSA-CLRS (Minder et al. 2023), beside the CLRS score.

SALSA-CLRS scores every test graph on its own and averages over graphs, each
graph weighing the same however many nodes it has (its
``baselines/core/metrics.py``). Per output probe and graph, over the
graph's items (its nodes, or edges for an edge probe):

* ``node_accuracy``: the fraction of items predicted right. A pointer is
  right when it names the true node; a mask when ``pred > 1/2`` equals the
  truth (SALSA's ``sigmoid > 0.5`` on logits); a categorical probe when the
  argmax over its classes does; a ``mask_one`` node probe (one node per
  graph) when the argmax over the graph's nodes does, counted once per graph.
* ``graph_accuracy``: 1 when every item is right, else 0.
* ``node_f1`` (masks): the F1 of the positive class within the graph,
  ``2 tp / (2 tp + fp + fn)``. A graph with no true and no predicted
  positive has ``0 / 0``: SALSA uses sklearn's default there, **0** (a
  perfect prediction of an all-negative graph scores 0); ``f1_empty``
  chooses another value (1.0 counts it as perfect).
* scalars: ``mse`` (mean squared error of the graph's items) and
  ``graph_accuracy`` = every item rounds to its truth (SALSA's
  ``round(pred) == truth`` for eccentricity).

Items whose truth is -1 (masked) are skipped, as in :mod:`.metrics`. The
metrics of a split are the means over its graphs (:class:`GraphScorer`
accumulates them batch by batch). The CLRS score (:func:`.metrics.evaluate`)
instead pools a split's mask F1 over all its nodes.

Predictions and truths come in a batch's format, numpy: a dense batch
(batch-major, every graph one row) or a sparse one (graphs concatenated,
``node_ptr``/``edge_ptr`` giving each graph's rows, pointers as node
indices in either convention as long as both agree).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..specs import Location, Stage, Type
from .metrics import MASKED, OutputScorer

F1_EMPTY = 0.0  # sklearn's (and so SALSA's) F1 of a graph without positives


def _segments(location: str, node_ptr, edge_ptr):
    """(graph of each item, number of graphs) for a probe of a sparse batch."""
    ptr = np.asarray(edge_ptr if location == Location.EDGE else node_ptr)
    b = len(ptr) - 1
    if location == Location.GRAPH:
        return np.arange(b), b
    return np.repeat(np.arange(b), np.diff(ptr)), b


def _per_graph(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def probe_graph_metrics(location: str, type_: str, pred, truth, node_ptr=None, edge_ptr=None,
                        f1_empty: float = F1_EMPTY) -> dict[str, np.ndarray]:
    """One probe's metrics per graph, ``{metric: (B,)}`` (module docstring)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if type_ == Type.MASK_ONE and location == Location.NODE:
        # One item per graph: the argmax over the graph's nodes.
        if node_ptr is None:
            right = pred.argmax(axis=-1) == truth.argmax(axis=-1)
        else:
            ptr = np.asarray(node_ptr)
            right = np.array([pred[a:b].argmax() == truth[a:b].argmax()
                              for a, b in zip(ptr[:-1], ptr[1:])], dtype=bool)
        right = right.astype(np.float64)
        return {"node_accuracy": right, "graph_accuracy": right}
    if type_ in (Type.POINTER, Type.PERMUTATION_POINTER) and pred.ndim == truth.ndim + 1:
        pred = pred.argmax(axis=-1)
    if type_ in (Type.CATEGORICAL, Type.MASK_ONE):
        labelled = np.all(truth != MASKED, axis=-1)
        pred, truth = pred.argmax(axis=-1), truth.argmax(axis=-1)
    else:
        labelled = truth != MASKED
    if node_ptr is None:
        b = truth.shape[0]
        pred, truth, labelled = (x.reshape(b, -1) for x in (pred, truth, labelled))
        graph = np.broadcast_to(np.arange(b)[:, None], truth.shape).ravel()
        pred, truth, labelled = pred.ravel(), truth.ravel(), labelled.ravel()
    else:
        graph, b = _segments(location, node_ptr, edge_ptr)
    count = np.bincount(graph, weights=labelled, minlength=b)

    def total(x):
        return np.bincount(graph, weights=np.where(labelled, x, 0).astype(np.float64),
                           minlength=b)

    if type_ == Type.SCALAR:
        right = np.round(pred) == np.round(truth)
        return {"mse": _per_graph(total((pred - truth) ** 2), count),
                "graph_accuracy": (total(~right) == 0).astype(np.float64)}
    if type_ == Type.MASK:
        yes, pos = pred > 0.5, truth > 0.5
        right = yes == pos
        tp, fp, fn = total(yes & pos), total(yes & ~pos), total(~yes & pos)
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), f1_empty)
        metrics = {"node_accuracy": _per_graph(total(right), count), "node_f1": f1}
    else:
        right = pred == truth
        metrics = {"node_accuracy": _per_graph(total(right), count)}
    metrics["graph_accuracy"] = (total(~right) == 0).astype(np.float64)
    return metrics


def graph_metrics(spec: Mapping[str, tuple], outputs: Mapping[str, np.ndarray],
                  predictions: Mapping[str, np.ndarray], node_ptr=None, edge_ptr=None,
                  f1_empty: float = F1_EMPTY) -> dict[str, dict[str, np.ndarray]]:
    """``{probe: {metric: (B,)}}`` for every output probe, plus ``"all"``:
    ``graph_accuracy`` (every item of every output right) per graph."""
    result = {}
    for name, (stage, location, type_) in spec.items():
        if stage != Stage.OUTPUT:
            continue
        if name not in predictions or name not in outputs:
            raise KeyError(f"no prediction or target for output {name!r}")
        result[name] = probe_graph_metrics(location, type_, predictions[name], outputs[name],
                                           node_ptr, edge_ptr, f1_empty)
    result["all"] = {"graph_accuracy": np.prod(
        [m["graph_accuracy"] for m in result.values()], axis=0)}
    return result


def _graph_rows(spec: Mapping[str, tuple], arrays: Mapping[str, np.ndarray],
                node_ptr) -> dict[str, np.ndarray]:
    """``arrays`` with every node ``mask_one`` output of a sparse batch as one
    row per graph, ``(B, max nodes)``, so the pooled CLRS scorer takes one
    argmax per graph (as on a dense batch) rather than one over all the
    batch's nodes. Rows are padded with -inf, which no argmax picks and
    which is not the -1 that marks a row unlabelled."""
    ptr = np.asarray(node_ptr)
    sizes = np.diff(ptr)
    out = dict(arrays)
    for name, (stage, location, type_) in spec.items():
        if stage != Stage.OUTPUT or location != Location.NODE or type_ != Type.MASK_ONE:
            continue
        if name not in arrays:
            continue
        values = np.asarray(arrays[name], dtype=np.float64)
        rows = np.full((len(sizes), int(sizes.max(initial=0))), -np.inf)
        column = np.arange(len(values)) - np.repeat(ptr[:-1], sizes)
        rows[np.repeat(np.arange(len(sizes)), sizes), column] = values
        out[name] = rows
    return out


class GraphScorer:
    """SALSA-CLRS's metrics and the CLRS score over a split, batch by batch.

    ``update(outputs, predictions, node_ptr=None, edge_ptr=None)`` per
    batch, then ``result()``: ``{"<probe>/<metric>": mean over graphs, ...,
    "node_accuracy": mean over the outputs' node accuracies,
    "graph_accuracy": graphs with every output right, "score": the CLRS
    score, "graphs": how many}``.
    """

    def __init__(self, spec: Mapping[str, tuple], f1_empty: float = F1_EMPTY):
        self.spec, self.f1_empty = spec, f1_empty
        self.clrs = OutputScorer(spec)
        self.parts: dict[str, dict[str, list[np.ndarray]]] = {}

    def update(self, outputs, predictions, node_ptr=None, edge_ptr=None) -> "GraphScorer":
        per_graph = graph_metrics(self.spec, outputs, predictions, node_ptr, edge_ptr,
                                  self.f1_empty)
        for probe, metrics in per_graph.items():
            for metric, values in metrics.items():
                self.parts.setdefault(probe, {}).setdefault(metric, []).append(values)
        if node_ptr is not None:
            outputs, predictions = (_graph_rows(self.spec, x, node_ptr)
                                    for x in (outputs, predictions))
        self.clrs.update(outputs, predictions)
        return self

    def result(self) -> dict[str, float]:
        if not self.parts:
            raise ValueError("no batch was scored")
        out: dict[str, float] = {}
        accuracies = []
        for probe, metrics in self.parts.items():
            for metric, values in metrics.items():
                value = float(np.nanmean(np.concatenate(values)))
                if probe == "all":
                    out[metric] = value
                else:
                    out[f"{probe}/{metric}"] = value
                    if metric == "node_accuracy":
                        accuracies.append(value)
        if accuracies:
            out["node_accuracy"] = float(np.mean(accuracies))
        out["score"] = self.clrs.result()["score"]
        out["graphs"] = int(sum(len(v) for v in self.parts["all"]["graph_accuracy"]))
        return out
