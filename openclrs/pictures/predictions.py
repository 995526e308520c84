"""A reasoner's predictions beside the truth, one sample at a time (data, no drawing).

:func:`predict_trace` runs a model on one trace in evaluation mode (its own
hint predictions fed back, no dropout, no noise: ``Reasoner.forward(...,
repred=True)``) and returns a :class:`PredictedTrace`: the true trace, the
predicted one in the same numpy format (pointers as node indices, masks 0/1,
one-hot rows, scalars), and, per probe, which elements the scorer counts as
wrong and the scores per step. :func:`predict_run_sample` does the same for
a trained run folder and a sample of one of its splits;
:func:`split_sample_scores` scores every sample of a split (for "the k worst").

Alignment. The model is given the true hints of step 0 and predicts, from
each step t, the hints of step t + 1 (``hints[t]`` of its logits). Here
predicted hints are laid out like the true ones, ``(T, ...)``: row 0 *is*
the truth (given, not predicted, never wrong, its scores NaN) and row t >= 1
the prediction of step t. Outputs come from each sample's last step.

What is scored. As :mod:`openclrs.training.metrics` does, a permutation
pointer and its ``<name>_mask`` are first fused back into the original
pointer (the first node points to itself); the truth and the prediction
here are both in that fused form (``<name>`` a plain pointer, no
``<name>_mask``), so what is drawn is what is scored.

"Wrong", per type, exactly the elements the scorer's statistics count
against the prediction (:func:`wrong_elements`):

=====================  ===================================================
mask                   a false positive (prediction > 1/2, truth < 1/2) or
                       a false negative (prediction < 1/2, truth > 1/2);
                       cells whose truth is -1 are not scored
mask_one, categorical  a row whose argmax differs from the truth's (the
                       class axis is dropped: one flag per row); rows
                       holding a -1 are not scored. A node ``mask_one`` is
                       one row: one flag for the whole probe
pointer                a node (or edge) pointing elsewhere than the truth
scalar                 ``|prediction - truth| > scalar_tolerance`` (absolute,
                       default :data:`SCALAR_TOLERANCE`): the scorer's squared
                       error is nonzero for any difference, so a tolerance
                       says which differences are worth marking
=====================  ===================================================

Scores: ``output_scores`` is :func:`~openclrs.training.metrics.evaluate` of
this sample alone (``score``: the mean over the fused outputs, MSE of
scalar outputs included, as published); ``hint_scores[name][t]`` the
metric of hint ``name`` at step t (what ``evaluate_hints`` gives a split of
this one sample, per step); ``step_scores[t]`` the mean of the step's hint
metrics other than scalars' MSE (on another scale), NaN where there is none.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .. import transforms
from ..data.batching import collate, uncollate
from ..probes import Trace
from ..specs import Stage, Type, check_algorithm
from ..training import metrics

SCALAR_TOLERANCE = 1e-2
SPLITS = ("test", "val", "sampled")


@dataclass
class PredictedTrace:
    """One sample: the truth, the model's prediction, what is wrong, the scores.

    ``truth`` and ``predicted`` are :class:`~openclrs.probes.Trace` objects
    with the same spec and inputs (the scored form: permutation pointers
    fused); ``predicted.hints[name][0]`` is the truth of step 0. ``wrong``:
    ``{"hints": {name: bool (T, ...)}, "outputs": {name: bool (...)}}``,
    shaped as the probe (without the class axis for ``mask_one`` and
    ``categorical``). ``hint_scores``: ``{name: (T,)}``, NaN at step 0;
    ``step_scores``: ``(T,)``; ``output_scores``: ``{name: metric, "score":
    mean}``. ``source`` says where the sample comes from (for titles)."""

    algorithm: str
    truth: Trace
    predicted: Trace
    wrong: dict
    hint_scores: dict
    step_scores: np.ndarray
    output_scores: dict
    source: str = ""
    scalar_tolerance: float = SCALAR_TOLERANCE
    types: Mapping[str, str] = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def length(self) -> int:
        return self.truth.length

    @property
    def score(self) -> float:
        """The sample's output score (the mean of its output metrics)."""
        return float(self.output_scores["score"])

    def wrong_count(self, stage: str, step: int | None = None) -> int:
        """How many elements are wrong: ``stage`` ``"outputs"`` or ``"hints"``
        (at ``step``, or over all steps)."""
        arrays = self.wrong[stage].values()
        if stage == "hints" and step is not None:
            return int(sum(np.sum(a[step]) for a in arrays))
        return int(sum(np.sum(a) for a in arrays))


# ------------------------------------------------------------ what is wrong

def wrong_elements(type_: str, pred: np.ndarray, truth: np.ndarray,
                   scalar_tolerance: float = SCALAR_TOLERANCE) -> np.ndarray:
    """The elements of one (fused) probe that the scorer counts as wrong
    (see the module's table); bool, shaped as ``truth`` (less the class
    axis for ``mask_one``/``categorical``)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if type_ == Type.SCALAR:
        return np.abs(pred - truth) > scalar_tolerance
    if type_ == Type.MASK:
        labelled = truth != metrics.MASKED
        false_positive = (pred > 0.5) & (truth < 0.5)
        false_negative = (pred < 0.5) & (truth > 0.5)
        return labelled & (false_positive | false_negative)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
        labelled = np.all(truth != metrics.MASKED, axis=-1)
        return labelled & (pred.argmax(axis=-1) != truth.argmax(axis=-1))
    if type_ in (Type.POINTER, Type.PERMUTATION_POINTER):
        if pred.ndim == truth.ndim + 1:
            pred = pred.argmax(axis=-1)
        return pred != truth
    raise ValueError(f"no metric for type {type_!r}")


def _scored_spec(spec: Mapping[str, tuple], truth: Trace) -> dict:
    """The spec of the fused (scored) form of ``truth``: permutation pointers
    typed as plain pointers, their ``<name>_mask`` gone."""
    kept = {}
    for store in (truth.hints, truth.outputs):
        kept.update(metrics.reduce_permutations(spec, store)[0])
    return {name: (stage, location, kept.get(name, type_))
            for name, (stage, location, type_) in spec.items()
            if stage == Stage.INPUT or name in kept}


# ------------------------------------------------------------- prediction

def model_transforms(model, algorithm: str) -> dict:
    """The :func:`openclrs.transforms.apply` options (``pred_as_input``,
    ``enforce_permutations``) whose spec is the one ``model`` was built for."""
    algorithm = check_algorithm(algorithm)
    if algorithm not in model.specs:
        raise ValueError(f"this model was built for {list(model.specs)}, not {algorithm!r}")
    for pred_as_input in (True, False):
        for enforce in (True, False):
            spec = transforms.training_spec(algorithm, pred_as_input=pred_as_input,
                                            enforce_permutations=enforce)
            if dict(spec) == dict(model.specs[algorithm]):
                return {"pred_as_input": pred_as_input, "enforce_permutations": enforce}
    raise ValueError(f"{algorithm}: the model's spec is none that openclrs.transforms makes; "
                     "give predict_trace a trace in the model's spec")


def prepare_trace(model, trace: Trace) -> Trace:
    """``trace`` (as sampled or stored) in the spec ``model`` reads: the
    evaluation transforms (no random ``pos``) with the model's options; a
    trace already in that spec is returned as it is."""
    if dict(trace.spec) == dict(model.specs.get(trace.algorithm, {})):
        return trace
    return transforms.apply(trace, **model_transforms(model, trace.algorithm))


def predict_trace(model, trace: Trace, source: str = "",
                  scalar_tolerance: float = SCALAR_TOLERANCE) -> PredictedTrace:
    """Run ``model`` (a :class:`~openclrs.models.model.Reasoner`) on one trace
    in evaluation mode and compare. ``trace`` may be raw (the model's
    transforms are applied, :func:`prepare_trace`) or already transformed."""
    import torch

    from ..models.model import hard_predictions

    trace = prepare_trace(model, trace)
    algorithm = trace.algorithm
    spec = model.specs[algorithm]
    batch = collate([trace])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(batch, algorithm, repred=True, hints=True)
    finally:
        model.train(was_training)
    settings = dict(sinkhorn_steps=model.config.predict_sinkhorn_steps,
                    sinkhorn_temperature=model.config.sinkhorn_temperature)
    outputs = {k: v[0].astype(trace.outputs[k].dtype)
               for k, v in hard_predictions(spec, logits.outputs, **settings).items()}
    steps = trace.length
    hints = {}
    for name, value in hard_predictions(spec, logits.hints, **settings).items():
        truth = trace.hints[name]
        predicted = truth.copy()            # row 0: the given truth
        predicted[1:] = value[:steps - 1, 0]
        hints[name] = predicted
    predicted = Trace(algorithm, dict(trace.inputs), hints, outputs, spec)
    return compare(trace, predicted, source, scalar_tolerance)


def compare(truth: Trace, predicted: Trace, source: str = "",
            scalar_tolerance: float = SCALAR_TOLERANCE) -> PredictedTrace:
    """A :class:`PredictedTrace` from a true trace and a predicted one in the
    same spec and format (hints laid out as the truth's, row 0 ignored).
    Hints the prediction lacks (a model that decodes none) are not scored."""
    spec = truth.spec
    if dict(predicted.spec) != dict(spec):
        raise ValueError("the prediction's spec differs from the truth's")
    out_types, out_truth = metrics.reduce_permutations(spec, truth.outputs)
    _, out_pred = metrics.reduce_permutations(spec, predicted.outputs)
    shared = {k: v for k, v in truth.hints.items() if k in predicted.hints}
    hint_types, hint_truth = metrics.reduce_permutations(spec, shared)
    _, hint_pred = metrics.reduce_permutations(spec, dict(predicted.hints))

    steps = truth.length
    wrong = {"outputs": {k: wrong_elements(t, out_pred[k], out_truth[k], scalar_tolerance)
                         for k, t in out_types.items()},
             "hints": {}}
    hint_scores = {}
    for name, type_ in hint_types.items():
        flags = wrong_elements(type_, hint_pred[name], hint_truth[name], scalar_tolerance)
        flags[:1] = False                   # step 0 is given, not predicted
        wrong["hints"][name] = flags
        hint_scores[name] = np.array([np.nan] + [
            metrics.probe_score(type_, hint_pred[name][t], hint_truth[name][t])
            for t in range(1, steps)])
    comparable = [hint_scores[k] for k, t in hint_types.items() if t != Type.SCALAR]
    step_scores = np.full(steps, np.nan)
    if comparable:
        with warnings.catch_warnings():  # a step whose metrics are all NaN stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            step_scores[1:] = np.nanmean(np.stack(comparable)[:, 1:], axis=0)
    output_scores = metrics.evaluate(
        spec, {k: np.asarray(v)[None] for k, v in truth.outputs.items()},
        {k: np.asarray(v)[None] for k, v in predicted.outputs.items()})

    scored = _scored_spec(spec, truth)

    def fused(trace, hints, outputs):
        keep = {**hints, **outputs}
        trace_spec = {k: v for k, v in scored.items() if v[0] == Stage.INPUT or k in keep}
        return Trace(trace.algorithm, dict(trace.inputs),
                     {k: hints[k] for k in trace_spec if k in hints},
                     {k: outputs[k] for k in trace_spec if k in outputs},
                     MappingProxyType(trace_spec))

    _, all_truth_hints = metrics.reduce_permutations(spec, dict(truth.hints))
    return PredictedTrace(
        truth.algorithm, fused(truth, all_truth_hints, out_truth),
        fused(predicted, hint_pred, out_pred), wrong, hint_scores, step_scores,
        output_scores, source, scalar_tolerance,
        MappingProxyType({**hint_types, **out_types}))


# ------------------------------------------------------------- run folders

def load_run_model(run_dir: str, checkpoint: str = "best", device: str = "cpu"):
    """``(model, config, step)``: a run's checkpoint (``best``, ``last`` or a
    checkpoint folder), loaded and verified as ``openclrs evaluate`` does
    (:func:`openclrs.training.evaluate.load_run`)."""
    from ..training.evaluate import load_run

    refuse_other_models(run_dir)  # (the message of pictures)
    model, config, saved = load_run(run_dir, checkpoint, device)
    return model, config, saved.step


def refuse_other_models(run_dir: str) -> None:
    """A clear error for a run whose model a capability supplied
    (:class:`openclrs.training.loop.ModelFactory`): its ``config.json`` holds
    that capability's settings beside ``train``, and pictures cannot rebuild
    its model."""
    from ..training.evaluate import run_capability

    other = sorted(run_capability(run_dir))
    if other:
        raise ValueError(f"{run_dir} trained a model of its own kind ({', '.join(other)}); "
                         "its predictions cannot be drawn here, only a plain reasoner's")


def run_algorithm(config, algorithm: str | None) -> str:
    """``algorithm``, checked against the run's; the run's only one if None."""
    if algorithm is None:
        if len(config.algorithms) > 1:
            raise ValueError(f"this run was trained on {config.algorithms}; name one "
                             "(--algorithm)")
        return config.algorithms[0]
    if algorithm not in config.algorithms:
        raise ValueError(f"this run was trained on {config.algorithms}, not {algorithm!r}")
    return algorithm


def split_batches(config, algorithm: str, split: str):
    """The batches evaluation scores for ``split`` (``test``: the canonical
    n = 64 split; ``val``: the run's validation set), built by the training
    loop's own functions (same transforms, same order)."""
    from ..training.loop import test_batches, validation_batches

    if split == "test":
        return test_batches(config, algorithm)
    if split == "val":
        return validation_batches(config, algorithm)
    raise ValueError(f"unknown split {split!r}; expected 'test' or 'val' "
                     "(or 'sampled' with a length)")


def split_trace(batches, index: int, split: str = "split") -> Trace:
    """Sample ``index`` of evaluation batches (all of one size but the last)."""
    size = batches[0].batch_size
    count = (len(batches) - 1) * size + batches[len(batches) - 1].batch_size
    if not 0 <= index < count:
        raise ValueError(f"--index {index} is out of range: the {split} split has {count} "
                         f"samples (0 to {count - 1})")
    return uncollate(batches[index // size])[index % size]


def sampled_trace(algorithm: str, length: int, seed: int = 0, index: int = 0,
                  options: Mapping | None = None) -> Trace:
    """Trace ``index`` of the stream ``Sampler(algorithm, length, seed, **options)``."""
    from ..samplers import Sampler

    sampler = Sampler(algorithm, length, seed, **dict(options or {}))
    for _ in range(index):
        sampler.draw_inputs()
    return next(sampler)


def predict_run_sample(run_dir: str, algorithm: str | None = None, split: str = "test",
                       index: int = 0, checkpoint: str = "best", device: str = "cpu",
                       length: int | None = None, seed: int = 0, options=None,
                       scalar_tolerance: float = SCALAR_TOLERANCE) -> PredictedTrace:
    """A run's prediction of one sample. ``split``: ``test`` (the canonical
    n = 64 split, as ``openclrs evaluate`` reads it), ``val`` (the run's
    validation set) or ``sampled`` (trace ``index`` of a fresh
    ``Sampler(algorithm, length, seed, **options)``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    model, config, step = load_run_model(run_dir, checkpoint, device)
    algorithm = run_algorithm(config, algorithm)
    if split == "sampled":
        if length is None:
            raise ValueError("a sampled trace needs a length (--length)")
        trace = sampled_trace(algorithm, length, seed, index, options)
        where = f"sampled n={length} seed={seed} #{index}"
    else:
        trace = split_trace(split_batches(config, algorithm, split), index, split)
        where = f"{split} split #{index}"
    source = f"{run_dir} ({checkpoint} checkpoint, step {step}), {where}"
    return predict_trace(model, trace, source, scalar_tolerance)


# ------------------------------------------------------------ whole splits

def split_sample_scores(model, batches, max_memory: int | None = None
                        ) -> dict[str, np.ndarray]:
    """Per-sample output scores (:func:`openclrs.training.metrics.sample_scores`)
    of every sample of ``batches``, in order: ``{probe: (S,), "score": (S,)}``.
    Predictions as evaluation makes them (``Reasoner.predict``, batches in
    chunks that fit ``max_memory``; :func:`openclrs.training.evaluate.score_split`)."""
    from ..training.evaluate import score_split

    return score_split(model, batches, max_memory)[1]


def worst_samples(scores: np.ndarray, k: int) -> list[int]:
    """The indices of the ``k`` lowest scores, lowest first (ties: the
    earlier sample first; NaN scores last)."""
    return [int(i) for i in np.argsort(np.asarray(scores), kind="stable")[:k]]
