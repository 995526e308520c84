"""Scoring predictions the way the published CLRS benchmark does.

Everything here is numpy: predictions and targets are dicts of arrays in
the batch format (``Batch.outputs``), batch-major (hints: time-major).
Predictions should be *hard*, as :meth:`Reasoner.predict` gives them
(pointer indices, 0/1 masks, one-hot rows), but one-hot rows are read by
argmax, masks by thresholding at 1/2, and a pointer given as a row of
scores (one more axis than its target) by argmax, so probabilities work too.

Per output probe:

=====================================  ==============================
type                                   metric
=====================================  ==============================
mask                                   F1 of the positive class
mask_one, categorical                  accuracy of the argmax (rows
                                       whose target holds a -1 skipped)
pointer                                accuracy
permutation_pointer + ``<name>_mask``  fused back into the original
                                       pointer first (every node whose
                                       mask is above 1/2 points to
                                       itself, as published), then
                                       accuracy
scalar                                 mean squared error
=====================================  ==============================

An algorithm's ``score`` is the mean over its (fused) outputs. Metrics pool
over a whole split: F1 is computed from the split's total true and false
positives, not averaged over batches; :class:`OutputScorer` accumulates
batch by batch and gives exactly the numbers of one call on the
concatenated split (batches may even differ in size).

Across algorithms, :func:`family_mean` averages per family, then over the
eight families (the CLRS-30 paper's headline average, e.g. 74.14% for the
Triplet-GMPNN of Ibarz et al.); :func:`algorithm_mean` averages the
algorithms directly (75.98% there).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..specs import FAMILIES, FAMILY_OF, Stage, Type, check_algorithm

MASKED = -1


# ------------------------------------------------------------ permutations

def fuse_permutation(perm: np.ndarray, first: np.ndarray) -> np.ndarray:
    """A cyclic permutation pointer and its first-node mask -> the original
    predecessor pointer (the first node points to itself).

    ``perm``: node indices ``(..., N)`` or a matrix ``(..., N, N)`` read by
    argmax; ``first``: ``(..., N)``, one-hot or probabilities. As in the
    published evaluation, every node whose mask is above 1/2 points to
    itself: none when no probability passes 1/2, several when several do
    (a one-hot mask marks exactly its node)."""
    first = np.asarray(first)
    n = first.shape[-1]
    perm = np.asarray(perm)
    if perm.ndim == first.ndim + 1:
        perm = perm.argmax(axis=-1)
    return np.where(first > 0.5, np.arange(n), perm)


def reduce_permutations(spec: Mapping[str, tuple],
                        arrays: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    """Fuse every permutation pointer in ``arrays`` with its ``_mask`` probe.

    Returns ``(types, arrays)`` keyed by the remaining probe names, the
    fused ones typed as plain pointers."""
    types, out = {}, {}
    for name, value in arrays.items():
        type_ = spec[name][2]
        base = name[:-len("_mask")] if name.endswith("_mask") else None
        if base is not None and base in arrays and spec[base][2] == Type.PERMUTATION_POINTER:
            continue          # consumed with its permutation
        if type_ == Type.PERMUTATION_POINTER:
            mask = arrays.get(name + "_mask")
            if mask is not None:
                value = fuse_permutation(value, mask)
            type_ = Type.POINTER
        types[name], out[name] = type_, np.asarray(value)
    return types, out


# -------------------------------------------------------------- statistics

def _statistics(type_: str, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Sufficient statistics of one probe's metric on some samples; they add
    up over batches."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if type_ == Type.SCALAR:
        return np.array([np.sum((pred - truth) ** 2, dtype=np.float64), truth.size])
    if type_ == Type.MASK:
        labelled = truth != MASKED
        yes, pos = pred > 0.5, truth > 0.5
        tp = np.sum(yes & pos & labelled)
        fp = np.sum(yes & (truth < 0.5) & labelled)
        fn = np.sum((pred < 0.5) & pos & labelled)
        return np.array([tp, fp, fn], dtype=np.float64)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
        labelled = np.all(truth != MASKED, axis=-1)
        hits = (pred.argmax(axis=-1) == truth.argmax(axis=-1)) & labelled
        return np.array([hits.sum(), labelled.sum()], dtype=np.float64)
    if type_ in (Type.POINTER, Type.PERMUTATION_POINTER):
        if pred.ndim == truth.ndim + 1:
            pred = pred.argmax(axis=-1)
        return np.array([np.sum(pred == truth), truth.size], dtype=np.float64)
    raise ValueError(f"no metric for type {type_!r}")


def _metric(type_: str, stats: np.ndarray) -> float:
    if type_ == Type.MASK:
        tp, fp, fn = stats
        precision = tp / (tp + fp) if tp + fp > 0 else 1.0
        recall = tp / (tp + fn) if tp + fn > 0 else 1.0
        if precision + recall <= 0:
            return 0.0
        return float(2 * precision * recall / (precision + recall))
    total, count = stats
    return float(total / count) if count else float("nan")


def probe_score(type_: str, pred: np.ndarray, truth: np.ndarray) -> float:
    """The metric of one probe over all the samples given."""
    return _metric(type_, _statistics(type_, pred, truth))


class OutputScorer:
    """Accumulates output metrics over a split, batch by batch.

    ``update(outputs, predictions)`` per batch, then ``result()``:
    ``{probe: metric, ..., "score": mean of them}``.
    """

    def __init__(self, spec: Mapping[str, tuple]):
        self.spec = spec
        self.stats: dict[str, np.ndarray] = {}
        self.types: dict[str, str] = {}

    def update(self, outputs: Mapping[str, np.ndarray],
               predictions: Mapping[str, np.ndarray]) -> "OutputScorer":
        names = [k for k, v in self.spec.items() if v[0] == Stage.OUTPUT]
        missing = [k for k in names if k not in predictions or k not in outputs]
        if missing:
            raise KeyError(f"no prediction or target for output(s) {missing}")
        types, truth = reduce_permutations(self.spec, {k: outputs[k] for k in names})
        _, preds = reduce_permutations(self.spec, {k: predictions[k] for k in names})
        for name, type_ in types.items():
            stats = _statistics(type_, preds[name], truth[name])
            self.stats[name] = self.stats[name] + stats if name in self.stats else stats
            self.types[name] = type_
        return self

    def result(self) -> dict[str, float]:
        if not self.stats:
            raise ValueError("no batch was scored")
        evals = {k: _metric(self.types[k], s) for k, s in self.stats.items()}
        evals["score"] = float(np.mean(list(evals.values())))
        return evals


def evaluate(spec: Mapping[str, tuple], outputs: Mapping[str, np.ndarray],
             predictions: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Output metrics and their mean ``score``, over all the samples given."""
    return OutputScorer(spec).update(outputs, predictions).result()


def sample_scores(spec: Mapping[str, tuple], outputs: Mapping[str, np.ndarray],
                  predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Output metrics of every sample on its own: ``{probe: (B,), "score": (B,)}``.

    A sample's metric is the one :func:`evaluate` gives a split holding that
    sample alone (same permutation fusing, same metric per type), and its
    ``score`` the mean over its (fused) outputs. The split's published
    metric is the mean of these per-sample metrics for pointers and scalars
    (every sample of a split has the same number of elements), and for
    ``mask_one``/``categorical`` when every sample has the same number of
    labelled rows; it is *not* for masks, whose F1 pools the true and false
    positives of the whole split (a sample with no positive, predicted none,
    scores 1 here). Use it to rank samples ("the k worst"), not to rebuild
    the split's score."""
    names = [k for k, v in spec.items() if v[0] == Stage.OUTPUT]
    missing = [k for k in names if k not in predictions or k not in outputs]
    if missing:
        raise KeyError(f"no prediction or target for output(s) {missing}")
    types, truth = reduce_permutations(spec, {k: outputs[k] for k in names})
    _, preds = reduce_permutations(spec, {k: predictions[k] for k in names})
    result = {}
    for name, type_ in types.items():
        result[name] = np.array([_metric(type_, _statistics(type_, p, t))
                                 for p, t in zip(preds[name], truth[name])])
    result["score"] = np.mean([result[name] for name in types], axis=0)
    return result


def evaluate_hints(spec: Mapping[str, tuple], hints: Mapping[str, np.ndarray],
                   lengths: np.ndarray, predictions: Mapping[str, np.ndarray]
                   ) -> dict[str, float | np.ndarray]:
    """Hint metrics, as published: ``predictions[name][t]`` is scored against
    ``hints[name][t + 1]`` on the samples still running (``t + 1 < length``);
    ``<name>`` is the average over steps weighted by how many samples each
    step scores, ``<name>_along_time`` the per-step metrics (0 where no
    sample runs). Scalar hints get an MSE, so no overall hint score is
    formed."""
    lengths = np.asarray(lengths)
    types, truth = reduce_permutations(spec, dict(hints))
    _, preds = reduce_permutations(spec, dict(predictions))
    evals: dict[str, float | np.ndarray] = {}
    for name, type_ in types.items():
        steps = len(preds[name])
        along = np.zeros(steps)
        for t in range(steps):
            running = t + 1 < lengths
            if running.any() and t + 1 < len(truth[name]):
                along[t] = probe_score(type_, preds[name][t][running],
                                       truth[name][t + 1][running])
        weights = np.array([np.sum(t + 1 < lengths) for t in range(steps)])
        evals[name] = float(np.sum(along * weights) / np.sum(lengths - 1))
        evals[name + "_along_time"] = along
    return evals


def score_is_loss(spec: Mapping[str, tuple]) -> bool:
    """Whether the score of an algorithm with this spec is a loss (lower is
    better): every output a scalar, whose metric is its mean squared error
    (dm-clrs's metric; SALSA-CLRS's eccentricity). No CLRS-30 algorithm has
    a scalar output."""
    types = [t for stage, _, t in spec.values() if stage == Stage.OUTPUT]
    return bool(types) and all(t == Type.SCALAR for t in types)


def selection_score(spec: Mapping[str, tuple], metrics: Mapping[str, float]) -> float:
    """The number that picks a run's best checkpoint, higher better: the
    score, negated where it is a loss (:func:`score_is_loss`)."""
    return -metrics["score"] if score_is_loss(spec) else metrics["score"]


# ------------------------------------------------------ across algorithms

def family_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Mean score of each family with at least one scored algorithm."""
    grouped: dict[str, list[float]] = {}
    for algorithm, value in scores.items():
        grouped.setdefault(FAMILY_OF[check_algorithm(algorithm)], []).append(float(value))
    return {family: float(np.mean(grouped[family])) for family in FAMILIES if family in grouped}


def family_mean(scores: Mapping[str, float]) -> float:
    """Average of the per-family averages (each family weighs the same,
    however many algorithms it has): the paper's headline number."""
    if not scores:
        raise ValueError("no scores to average")
    return float(np.mean(list(family_scores(scores).values())))


def algorithm_mean(scores: Mapping[str, float]) -> float:
    """Plain average over algorithms."""
    if not scores:
        raise ValueError("no scores to average")
    for algorithm in scores:
        check_algorithm(algorithm)
    return float(np.mean([float(v) for v in scores.values()]))
