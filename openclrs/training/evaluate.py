"""Re-evaluate a training run's checkpoint on stored splits.

``evaluate_run(run_dir, split="test")`` rebuilds the model from the run's
``config.json``, reads the ``best`` checkpoint (or ``last``, or any
checkpoint folder), verified against its manifest, refuses with a clear
message a checkpoint of another model, and scores it: ``test`` is the
canonical test split (n = 64), ``val`` the run's validation set (see
:mod:`openclrs.training.loop`).

:func:`load_run` is the one way to load a run folder's model (evaluation,
sparse evaluation, pictures, TransNAR's reasoner): every check once, the
model in eval mode. :func:`evaluate_and_report` is ``openclrs evaluate``
on a stored split (what it writes and prints); a run whose model a
capability built is handled through that capability's :class:`RunKind`,
and the worst-sample pictures through a hook, so that this core module
imports no capability.
"""

from __future__ import annotations

from contextlib import nullcontext

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

from .. import files
from . import runs
from .config import TrainConfig

SPLITS = ("test", "val")
#: What a plain reasoner run's ``config.json`` holds; a further key is the
#: settings of a capability that built the model
#: (:class:`~openclrs.training.loop.ModelFactory`, e.g. ``halting``).
PLAIN_RUN_KEYS = ("train", "parameters", "processes")
CHECKPOINT_FIX = "train the run again, or use another --checkpoint"


def _read_run_config(run_dir: str, path: str):
    """The JSON of a run's ``config.json``; another trainer's run (text LM,
    parity, TransNAR: their configs name a format) is refused by that
    format, not called damaged (deleting it is not the fix)."""
    data = files.read_json(path, "run config", runs.FIX)
    if isinstance(data, dict) and isinstance(data.get("format"), str):
        raise ValueError(f"{run_dir} is a run of another kind ({data['format']}); only "
                         "`openclrs train` runs are read here")
    return data


def load_run_config(run_dir: str) -> TrainConfig:
    """The :class:`TrainConfig` a run was made with."""
    path = os.path.join(run_dir, runs.CONFIG)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a training run (no {runs.CONFIG})")
    data = _read_run_config(run_dir, path)
    try:
        return TrainConfig.from_dict(data["train"])
    except (KeyError, TypeError, ValueError) as e:
        raise files.CorruptFileError(f"{path} is not a run config of this openclrs version "
                                     f"({e}); {runs.FIX}") from None


def run_capability(run_dir: str) -> dict[str, Any]:
    """The settings of the capabilities that built a run's model, by the
    key they are saved under in its ``config.json`` (empty: a plain
    reasoner run, or no config, which :func:`load_run_config` reports)."""
    path = os.path.join(run_dir, runs.CONFIG)
    if not os.path.exists(path):
        return {}
    data = _read_run_config(run_dir, path)
    if not isinstance(data, dict):
        raise files.CorruptFileError(f"{path} is not a run config ({runs.FIX})")
    return {k: v for k, v in data.items() if k not in PLAIN_RUN_KEYS}


class LoadedRun(NamedTuple):
    """A run folder's model with its checkpoint's weights (in eval mode), its
    config (``device`` set, progress off) and the checkpoint it came from."""

    model: Any   # a Reasoner, or the model a capability's factory built
    config: TrainConfig
    saved: runs.Checkpoint

    @property
    def step(self) -> int:
        return self.saved.step


def load_run(run_dir: str, checkpoint: str = "best", device: str = "cpu",
             factory=None) -> LoadedRun:
    """A run's checkpoint (``best``, ``last`` or a checkpoint folder) in a
    fresh model on ``device``, every check made: the folder exists and is of
    this format (no pickles), its config is valid here (the device among the
    rest), the model is one this loader can build (a plain reasoner, or with
    ``factory``, the :class:`~openclrs.training.loop.ModelFactory` whose
    ``name`` the run's ``config.json`` holds), the checkpoint matches its
    manifest and the model."""
    from .loop import build_model, load_weights

    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"no run folder at {run_dir}")
    runs.refuse_old_format(run_dir, "train it again (openclrs train --restart)")
    config = load_run_config(run_dir)
    config.device, config.progress = device, False
    config.validate()
    built_by = sorted(run_capability(run_dir))
    if factory is None and built_by:
        raise ValueError(f"{run_dir} trained a model of its own kind ({', '.join(built_by)}: "
                         f"settings in its {runs.CONFIG}); only that capability rebuilds it, "
                         "not the plain reasoner's loader")
    if factory is not None and built_by != [factory.name]:
        raise ValueError(f"{run_dir} is not a {factory.name} run (its {runs.CONFIG} holds "
                         f"{', '.join(built_by) or 'a plain reasoner'}'s settings)")
    saved = runs.load_checkpoint(run_dir, checkpoint, fix=CHECKPOINT_FIX)
    model = (build_model if factory is None else factory.build)(config).to(device)
    load_weights(saved, model, config)
    model.eval()
    return LoadedRun(model, config, saved)


def score_split(model, batches, max_memory: int | None = None, autocast=nullcontext):
    """``(metrics, per_sample)`` of ``model`` on one algorithm's batches in
    one pass (under ``autocast()``, as training scores a bf16 run): the
    pooled metrics of :func:`openclrs.training.loop.score` and each sample's
    own output scores
    (:func:`openclrs.training.metrics.sample_scores`, in order)."""
    import numpy as np

    from . import memory
    from .metrics import OutputScorer, sample_scores

    scorer, parts = None, []
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            spec = model.specs[batch.algorithm]
            if scorer is None:
                scorer = OutputScorer(spec)
            for chunk in memory.chunks(model, batch, max_memory):
                with autocast():
                    predictions = model.predict(chunk)
                scorer.update(chunk.outputs, predictions)
                parts.append(sample_scores(spec, chunk.outputs, predictions))
    finally:
        model.train(was_training)
    if scorer is None:
        raise ValueError("no batch to score")
    return scorer.result(), {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@dataclass
class Evaluation:
    """What :func:`evaluate_loaded` gives: the ``results`` (the layout of
    :func:`evaluate_run`), the loaded run, and with ``per_sample`` the
    split's batches and every sample's scores per algorithm (what the worst
    sample pictures read, so they neither reload nor rescore)."""

    results: dict
    run: LoadedRun
    split: str
    batches: dict | None = None
    sample_scores: dict | None = None


def evaluate_loaded(run_dir: str, run: LoadedRun, split: str = "test",
                    algorithms: Sequence[str] | None = None, max_memory: int | None = None,
                    factory=None, per_sample: bool = False) -> Evaluation:
    """Score the run loaded from ``run_dir`` (:func:`load_run`) on ``split``;
    see :func:`evaluate_run`.
    ``per_sample`` (plain reasoners only) also keeps the batches and the
    per-sample scores (:func:`score_split`, the same pass)."""
    from .loop import autocast_of, score, summarize, test_batches, validation_batches
    from .sparse_train import SparseBatches

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected 'test' or 'val'")
    config = run.config
    if max_memory is not None:
        config.max_memory = max_memory
        config.validate()
    algorithms = list(algorithms or config.algorithms)
    for a in algorithms:
        if a not in config.algorithms:
            raise ValueError(f"this run was trained on {config.algorithms}, not {a!r}")
    custom = factory is not None and factory.score is not None
    if per_sample and custom:
        raise ValueError("per-sample scores are a plain reasoner's; this run's model "
                         f"is scored by {factory.name}")
    get = test_batches if split == "test" else validation_batches
    scores, kept, samples = {}, {}, {}
    for a in algorithms:
        batches = get(config, a)
        if per_sample and isinstance(batches, SparseBatches):
            raise ValueError(f"--plot-worst draws dense samples; {a}'s {split} set is "
                             "sparse graphs (a --sparse run)")
        if per_sample:
            scores[a], samples[a] = score_split(run.model, batches, config.max_memory,
                                                autocast_of(config))
            kept[a] = batches
        elif custom:
            scores[a] = factory.score(run.model, batches, max_memory=config.max_memory)
        else:  # as training scored it: under bf16 autocast if the run trained so
            scores[a] = score(run.model, batches, autocast_of(config),
                              max_memory=config.max_memory)
    results = {"run": run_dir, "checkpoint": run.saved.path, "step": run.step,
               "split": split,
               "algorithms": {a: {f"{split}_score": m["score"], f"{split}_metrics": m}
                              for a, m in scores.items()}}
    if len(algorithms) > 1 and summarize(scores):
        results[split] = summarize(scores)
    return Evaluation(results, run, split, kept if per_sample else None,
                      samples if per_sample else None)


def evaluate_run(run_dir: str, split: str = "test", checkpoint: str = "best",
                 device: str = "cpu", algorithms: Sequence[str] | None = None,
                 max_memory: int | None = None, factory=None) -> dict:
    """Score a run's checkpoint (``best``, ``last``, or a checkpoint folder)
    on ``split``. Returns, in the layout of the run's ``results.json``::

        {"run": ..., "checkpoint": folder, "step": step, "split": split,
         "algorithms": {algorithm: {"<split>_score": mean, "<split>_metrics": {...}}},
         "<split>": {"family_mean": ..., "algorithm_mean": ...}}   # several algorithms

    ``max_memory`` (bytes; default: the run's ``max_memory``, else half the
    available memory) bounds what the batches take: each runs in chunks of
    samples that fit it (:mod:`openclrs.training.memory`), same scores.
    ``factory``: the :class:`~openclrs.training.loop.ModelFactory` of a run
    a capability trained (its model and scoring).
    """
    if split not in SPLITS:  # (before anything is loaded)
        raise ValueError(f"unknown split {split!r}; expected 'test' or 'val'")
    run = load_run(run_dir, checkpoint, device, factory)
    return evaluate_loaded(run_dir, run, split, algorithms, max_memory, factory).results


# ------------------------------------------------------ openclrs evaluate

@dataclass(frozen=True)
class RunKind:
    """How ``openclrs evaluate`` handles a run whose model a capability built:
    ``name`` is the key of its settings in the run's ``config.json``;
    ``factory(settings)`` gives the run's
    :class:`~openclrs.training.loop.ModelFactory`, ``finish(results, split,
    settings)`` the results with the capability's own figures, ``table(results,
    split)`` the lines printed after the scores. ``sparse_scorer(model,
    algorithm)``, if given, scores its model on fresh sparse graphs
    (``evaluate --graph``: an object with ``update(batch, progress)`` and
    ``result()``, as :class:`~openclrs.training.sparse_evaluate.SparseScorer`)
    and ``sparse_table(results)`` gives the lines printed after that table."""

    name: str
    factory: Callable[[Any], Any]
    finish: Callable[[dict, str, Any], dict] | None = None
    table: Callable[[dict, str], str] | None = None
    sparse_scorer: Callable[[Any, str], Any] | None = None
    sparse_table: Callable[[dict], str] | None = None


def run_kind_of(run_dir: str, kinds: Sequence[RunKind]):
    """``(kind, factory, settings)`` of a run folder: the :class:`RunKind`
    in ``kinds`` whose capability built its model, that kind's
    :class:`~openclrs.training.loop.ModelFactory` and its settings (all
    None for a plain reasoner run); a run no kind here rebuilds is refused."""
    settings = run_capability(run_dir) if os.path.isdir(run_dir) else {}
    if not settings:
        return None, None, None
    known = {k.name: k for k in kinds}
    names = sorted(settings)
    if len(names) > 1 or names[0] not in known:
        raise ValueError(f"{run_dir} trained a model this command cannot rebuild "
                         f"({', '.join(names)} settings in its {runs.CONFIG})")
    kind = known[names[0]]
    try:
        factory = kind.factory(settings[kind.name])
    except (TypeError, ValueError) as e:
        raise files.CorruptFileError(
            f"{os.path.join(run_dir, runs.CONFIG)}: bad {kind.name} settings ({e}); "
            f"{runs.FIX}") from None
    return kind, factory, settings[kind.name]


def evaluate_and_report(run_dir: str, split: str = "test", checkpoint: str = "best",
                        device: str = "cpu", max_memory: int | None = None,
                        json_path: str | None = None, kinds: Sequence[RunKind] = (),
                        worst: Callable[[Evaluation], str] | None = None,
                        out=None) -> dict:
    """``openclrs evaluate`` on a stored split: load the run (through its
    :class:`RunKind` in ``kinds`` if a capability built its model; another
    capability's run is refused), score it, write the results to
    ``json_path`` before anything is printed (a closed pipe loses nothing),
    print the scores table to ``out`` (default: stdout), then ``worst``'s
    line (``worst(evaluation)``: the worst-sample pictures, drawn from this
    evaluation's model and per-sample scores), then the kind's table.
    Returns the results."""
    from .allocator import keep_freed_memory
    from .loop import results_table

    out = sys.stdout if out is None else out
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected 'test' or 'val'")
    kind, factory, settings = run_kind_of(run_dir, kinds)
    if kind is not None:
        if worst is not None:
            raise ValueError(f"--plot-worst draws a plain reasoner's predictions, not a "
                             f"{kind.name} run's")
    keep_freed_memory()
    run = load_run(run_dir, checkpoint, device, factory)
    evaluation = evaluate_loaded(run_dir, run, split, max_memory=max_memory, factory=factory,
                                 per_sample=worst is not None)
    results = evaluation.results
    if kind is not None and kind.finish is not None:
        results = evaluation.results = kind.finish(results, split, settings)
    if json_path:
        files.write_json(json_path, results)
    print(f"checkpoint: {results['checkpoint']} (step {results['step']})\n"
          f"{results_table(results)}", file=out, flush=True)
    if worst is not None:
        print(worst(evaluation), file=out, flush=True)
    if kind is not None and kind.table is not None:
        print(kind.table(results, split), file=out, flush=True)
    return results
