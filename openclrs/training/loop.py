"""Train a neural algorithmic reasoner with the published recipe.

nanoGPT style, top to bottom: the data (training batches derived from
``(seed, step)``, a fixed validation set, the canonical test split),
scoring, checkpoints, the loop (:func:`train`), then reporting. The settings
are a :class:`~openclrs.training.config.TrainConfig` (the model's own are
``config.model``, a :class:`~openclrs.models.model.ModelConfig`).

The defaults are the recipe of Ibarz et al. (2022), "A Generalist Neural
Algorithmic Learner" (the published ``examples/run.py``): Triplet-GMPNN,
hidden size 128, Adam at 1e-3, batch 32, 10,000 steps, gradient clipping
at a global norm of 1.0, train lengths 4/7/11/13/16 (the string matchers: a
single length of 20 with random needle lengths up to 8), randomized
``pos``, enforced permutations, ``pred`` hints as inputs, no teacher
forcing. Several algorithms train one shared model: each step draws one
batch per algorithm and, as the published ``run.py`` does, applies one Adam
update per batch in algorithm order. Gradients of parameters a batch does
not reach are zeros, not skipped (optax semantics: Adam's moments still move
them), so a run follows the published update rule exactly.

Validation: every ``eval_every`` steps on a fixed set sampled as the
published ``run.py`` does: at the largest train length, with the
generalist sampler options and randomized ``pos``, ``32 x 2 x multiplier``
samples (``val_set="canonical"`` uses the stored canonical val split at
n = 16 instead). Test: the stored canonical test split (n = 64), every
``test_every`` steps and at the end with the best-validation checkpoint.

The run folder is :mod:`openclrs.training.runs`' (``config.json``,
``metrics.jsonl``, ``checkpoints.json`` naming the ``last`` and ``best``
checkpoints, ``checkpoints/step-NNNNNNN/``), plus this trainer's outputs:
``results.json`` (per algorithm: val and test score and per-output
metrics), ``test_scores.png`` (beside the published Triplet-GMPNN scores),
``training_curves.png`` (loss, validation and test scores by step)
and ``tb/`` (TensorBoard events, if tensorboard is installed). A checkpoint
is written at every validation. A run killed at any moment resumes from
``last`` (run the same command again) and ends with the same metrics as an
uninterrupted run: the batch of step ``s`` and the torch RNG of step ``s``
are both derived from ``(seed, s)``, and metric records past the checkpoint
are dropped on resume.

Devices: ``device="cuda"``, ``bf16=True`` (bfloat16 autocast) and
``compile=True`` (``torch.compile`` of the processor and decoders). Several
GPUs (or CPU processes): launch with ``torchrun``, see
:mod:`openclrs.training.distributed`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Callable

import numpy as np
import torch

from .. import files, transforms
from ..extras import MissingDependency, install_hint, pyplot
from ..data.batching import collate
from ..models.model import Reasoner, count_parameters
from ..samplers import Sampler
from ..specs import NUM_SAMPLES_MULTIPLIER
from . import distributed, memory, runs, sparse_train
from .config import TrainConfig
from .graph_metrics import GraphScorer
from .metrics import (OutputScorer, algorithm_mean, family_mean, score_is_loss,
                      selection_score)
from .runs import TrainingDiverged, derive_seed

# What a restart removes besides the run machinery's own files (worst/: the
# pictures `openclrs evaluate --plot-worst` draws of this run's model).
OUTPUTS = ("results.json", "test_scores.png", "training_curves.png", "tb", "worst")


# -------------------------------------------------------------------- data

def train_batch(config: TrainConfig, index: int, step: int, shard: slice = slice(None)):
    """The training batch of algorithm ``index`` at ``step``: a function of
    ``(seed, index, step)`` only, so a resumed run sees the same data.
    ``shard`` keeps part of it (one torchrun process's share). With
    ``config.sparse``, SALSA-CLRS's sparse graphs (:mod:`.sparse_train`)."""
    if config.sparse:
        return sparse_train.train_batch(config, index, step, shard)
    algorithm = config.algorithms[index]
    lengths = config.lengths(algorithm)
    length = lengths[step % len(lengths)]
    seed = derive_seed(config.seed, index, step)
    sampler = Sampler(algorithm, length, seed=seed,
                      **transforms.generalist_sampler_kwargs(algorithm))
    pos_rng = np.random.RandomState(derive_seed(config.seed, index, step, 1))
    traces = [transforms.apply(t, rng=pos_rng, random_pos=config.random_pos,
                               pred_as_input=config.pred_as_input,
                               enforce_permutations=config.enforce_permutations)
              for t in sampler.take(config.batch_size)]
    return collate(traces[shard])


def _apply_eval(trace, config: TrainConfig, rng=None):
    return transforms.apply(trace, rng=rng, random_pos=rng is not None,
                            pred_as_input=config.pred_as_input,
                            enforce_permutations=config.enforce_permutations)


class _Batches(Sequence):
    """Traces in batches of ``size``, each collated when it is read: a split
    of 2,048 kmp_matcher samples at n = 64 would hold a second copy of its
    hints, padded, if all its batches were collated at once."""

    def __init__(self, traces, size: int):
        self.traces, self.size = list(traces), size

    def __len__(self) -> int:
        return -(-len(self.traces) // self.size)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        start = (index % len(self)) * self.size
        return collate(self.traces[start:start + self.size])


def _batches(traces, size):
    return _Batches(traces, size)


def validation_batches(config: TrainConfig, algorithm: str):
    """The fixed validation set of ``algorithm`` (see the module docstring;
    with ``config.sparse``, :func:`.sparse_train.validation_batches`)."""
    if config.sparse:
        return sparse_train.validation_batches(config, algorithm)
    if config.val_set == "canonical":
        from ..data.datasets import load_split

        split = load_split(algorithm, "val", root=config.data_root)
        traces = [_apply_eval(t, config) for t in split]
    else:
        index = config.algorithms.index(algorithm)
        count = 32 * 2 * NUM_SAMPLES_MULTIPLIER.get(algorithm, 1)
        sampler = Sampler(algorithm, max(config.lengths(algorithm)),
                          seed=derive_seed(config.seed, index, 2**31 - 1),
                          **transforms.generalist_sampler_kwargs(algorithm))
        rng = np.random.RandomState(derive_seed(config.seed, index, 2**31 - 2))
        traces = [_apply_eval(t, config, rng if config.random_pos else None)
                  for t in sampler.take(count)]
    return _batches(traces, config.eval_batch_size)


def test_batches(config: TrainConfig, algorithm: str):
    """The test set of ``algorithm``: its canonical CLRS-30 test split
    (n = 64, no random ``pos``) where CLRS-30 defines one, as for every CLRS
    algorithm, dense or ``--sparse``; otherwise (SALSA-CLRS's own
    algorithms) SALSA's test graphs, sparse (:func:`.sparse_train.test_batches`)."""
    from ..data.datasets import has_canonical_splits, load_split

    if not has_canonical_splits(algorithm):
        return sparse_train.test_batches(config, algorithm)
    split = load_split(algorithm, "test", root=config.data_root)
    return _batches([_apply_eval(t, config) for t in split], config.eval_batch_size)


# ------------------------------------------------------------------ scoring

def score(model: Reasoner, batches, autocast=nullcontext,
          max_memory: int | None = None) -> dict[str, float]:
    """Pooled output metrics (``score`` = their mean) of ``model`` on batches.

    A batch runs in chunks of samples that fit ``max_memory`` bytes (default:
    half the memory available; :mod:`openclrs.training.memory`): the same
    predictions and metrics whatever the chunks. Sparse batches
    (:class:`.sparse_train.SparseBatches`) run sparse, whole, and get
    SALSA-CLRS's per-graph metrics too (:func:`.sparse_train.score_batch`)."""
    sparse = isinstance(batches, sparse_train.SparseBatches)
    was_training = model.training
    model.eval()
    scorer = None
    try:
        for batch in batches:
            if scorer is None:
                scorer = (GraphScorer if sparse else OutputScorer)(model.specs[batch.algorithm])
            if sparse:
                sparse_train.score_batch(model, batch, scorer, autocast)
                continue
            for chunk in memory.chunks(model, batch, max_memory):
                with autocast():
                    predictions = model.predict(chunk)
                scorer.update(chunk.outputs, predictions)
    finally:
        model.train(was_training)
    if scorer is None:
        raise ValueError("no batch to score")
    return scorer.result()


def score_all(model: Reasoner, sets: dict, autocast=nullcontext,
              max_memory: int | None = None, scorer: Callable | None = None
              ) -> dict[str, dict[str, float]]:
    """:func:`score` (or ``scorer``, its signature) of every algorithm's batches in ``sets``."""
    scorer = score if scorer is None else scorer
    return {a: scorer(model, batches, autocast, max_memory) for a, batches in sets.items()}


def summarize(per_algorithm: dict[str, dict[str, float]]) -> dict[str, float]:
    """CLRS-30's means over a run's algorithms: those of the CLRS table
    (SALSA-CLRS's own have no family, and eccentricity's score is an MSE);
    empty if there are none."""
    from ..specs import SPECS

    scores = {a: m["score"] for a, m in per_algorithm.items() if a in SPECS}
    if not scores:
        return {}
    return {"family_mean": family_mean(scores), "algorithm_mean": algorithm_mean(scores)}


class EvaluationSets:
    """The validation batches of every algorithm (built at once) and the
    test batches (built when first needed)."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.val = {a: validation_batches(config, a) for a in config.algorithms}
        self._test: dict | None = None

    @property
    def test(self) -> dict:
        if self._test is None:
            self._test = {a: test_batches(self.config, a) for a in self.config.algorithms}
        return self._test


# ------------------------------------------------------------ checkpoints

def checkpoint_metadata(config: TrainConfig) -> dict[str, str]:
    """What a checkpoint's weights must agree on to be loaded into a model."""
    return {"format": "openclrs-reasoner-1",
            "algorithms": json.dumps(list(config.algorithms)),
            "model_config": json.dumps(config.model.to_dict(), sort_keys=True),
            "pred_as_input": json.dumps(config.pred_as_input),
            "enforce_permutations": json.dumps(config.enforce_permutations)}


@dataclass
class RunState:
    """What the loop carries from step to step (and a checkpoint restores)."""

    step: int = 0
    best_score: float = -math.inf   # best validation score so far
    best_step: int = 0
    train_seconds: float = 0.0      # training time before this session

    def to_dict(self) -> dict:
        best = None if self.best_score == -math.inf else self.best_score
        return {"step": self.step, "best_score": best, "best_step": self.best_step,
                "train_seconds": self.train_seconds}

    @classmethod
    def from_dict(cls, data: dict) -> "RunState":
        best = data["best_score"]
        return cls(step=data["step"], best_score=-math.inf if best is None else best,
                   best_step=data["best_step"], train_seconds=data["train_seconds"])


def save_checkpoint(run: runs.Run, model: Reasoner, optimizer, config: TrainConfig,
                    state: RunState, pointers=("last",)) -> None:
    """Weights, optimizer and RNG states, run state: one checkpoint of ``run``."""
    optimizer_tensors, optimizer_json = runs.optimizer_state(optimizer)
    run.save(state.step, weights=model.state_dict(), metadata=checkpoint_metadata(config),
             tensors={**optimizer_tensors, "rng.torch": torch.get_rng_state()},
             state={**state.to_dict(), "optimizer": optimizer_json,
                    "rng_numpy": runs.numpy_rng_state()},
             pointers=pointers)


def resume(checkpoint: runs.Checkpoint, model: Reasoner, optimizer,
           config: TrainConfig) -> RunState:
    """Put model, optimizer and RNGs back as ``checkpoint`` saved them."""
    load_weights(checkpoint, model, config)
    runs.load_optimizer_state(optimizer, checkpoint.tensors, checkpoint.state["optimizer"])
    torch.set_rng_state(checkpoint.tensors["rng.torch"])
    runs.set_numpy_rng_state(checkpoint.state["rng_numpy"])
    return RunState.from_dict(checkpoint.state)


def load_weights(checkpoint: runs.Checkpoint, model: Reasoner, config: TrainConfig) -> None:
    """Load a checkpoint's weights into ``model``, with a clear error when
    they belong to another model (other algorithms or model config)."""
    path = f"{checkpoint.path}/{runs.MODEL}"
    meta, expected = checkpoint.metadata, checkpoint_metadata(config)
    differ = [k for k in expected if k in meta and meta[k] != expected[k]]
    if differ:
        lines = [f"  {k}: checkpoint {meta[k]} vs expected {expected[k]}" for k in differ]
        raise ValueError(f"{path} is a checkpoint of another model:\n" + "\n".join(lines))
    weights, own = checkpoint.weights, model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shapes = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path} does not fit this model ({config.algorithms}, "
            f"processor {config.model.processor}, hidden size {config.model.hidden_size}): "
            f"{len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(shapes)} mis-shaped tensors (e.g. {(missing + unexpected + shapes)[:3]})")
    model.load_state_dict(weights)


# ------------------------------------------------------------- the step

@dataclass(frozen=True)
class ModelFactory:
    """How a capability built on this trainer supplies the model a run
    trains (e.g. :mod:`openclrs.halting`'s reasoners that decide when they
    are done), without the trainer knowing about it.

    ``build(config)`` gives the model: a module with the Reasoner's ``loss``,
    ``predict``, ``specs`` (and what :mod:`.memory` reads: ``config``,
    ``edge_size``, ``categories``), its weights in its ``state_dict``.
    ``settings`` (JSON) are saved in the run's ``config.json`` under
    ``name`` and covered by its config check, so a resumed or re-evaluated
    run rebuilds the same model. ``score``, if given, replaces :func:`score`
    (same signature; its metrics must hold ``score``, which validation
    and ``test_score`` use; further keys are kept in the metrics; with
    ``--sparse`` it is handed :class:`.sparse_train.SparseBatches` to
    validate on). A model that trains ``--sparse`` has its own
    ``sparse_loss(batch)`` (:func:`.sparse_train.loss`).
    """

    name: str
    settings: dict
    build: Callable[[TrainConfig], torch.nn.Module]
    score: Callable | None = None


def build_model(config: TrainConfig) -> Reasoner:
    return Reasoner.from_algorithms(config.algorithms, config.model,
                                    pred_as_input=config.pred_as_input,
                                    enforce_permutations=config.enforce_permutations)


def make_optimizer(model: Reasoner, config: TrainConfig) -> torch.optim.Adam:
    """Adam over every parameter, each holding a gradient tensor from the
    start (zeros where an update does not reach it), so Adam moves them all
    as optax does instead of skipping the ones without a gradient."""
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    return torch.optim.Adam(model.parameters(), lr=config.learning_rate)


def update(model: Reasoner, optimizer, loss_of: Callable, batch, config: TrainConfig,
           autocast=nullcontext) -> float:
    """One Adam update on one batch; ``loss_of(batch)`` gives the loss (under
    torchrun, a DDP module that averages the gradients over ranks)."""
    optimizer.zero_grad(set_to_none=False)
    with autocast():
        loss = loss_of(batch)
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return float(loss.detach())  # waits for the device


def train_step(model: Reasoner, optimizer, loss_of: Callable, config: TrainConfig, step: int,
               context: distributed.Context, device, autocast=nullcontext) -> dict[str, float]:
    """Step ``step`` (0-based): one update per algorithm; returns the losses."""
    # The step's randomness (Gumbel noise, dropout) is a function of
    # (seed, step) and, under torchrun, of the rank.
    torch.manual_seed(derive_seed(config.seed, 1 << 20, step,
                                  *([context.rank] if context.enabled else [])))
    shard = context.shard(config.batch_size)
    losses = {}
    for index, algorithm in enumerate(config.algorithms):
        batch = train_batch(config, index, step, shard).to_torch(device=device)
        losses[algorithm] = update(model, optimizer, loss_of, batch, config, autocast)
        if not math.isfinite(losses[algorithm]):
            raise TrainingDiverged(f"step {step + 1}: {algorithm} loss is {losses[algorithm]}; "
                                   "training diverged (try a lower --lr, or --grad-clip)")
    return losses


def autocast_of(config: TrainConfig):
    """A context factory: bfloat16 autocast on the config's device if ``bf16``."""
    if not config.bf16:
        return nullcontext
    device_type = "cuda" if config.device.startswith("cuda") else "cpu"
    return lambda: torch.autocast(device_type, dtype=torch.bfloat16)


# -------------------------------------------------------------- the loop

def train(config: TrainConfig, hook: Callable[[int], None] | None = None,
          log=None, restart: bool = False, factory: ModelFactory | None = None) -> dict:
    """Train (or resume) the run in ``config.out_dir``; returns the results
    (on every rank but 0 of a torchrun: ``{}``).

    Every setting is checked before the run folder is touched; a run that
    fails before its first checkpoint leaves no folder behind.
    ``restart=True`` starts afresh in an existing run folder (its
    checkpoints, logs and results are removed). ``hook(step)``, if given, is
    called after every step (tests use it to kill a run). ``factory``: the
    model of a capability instead of the Reasoner (:class:`ModelFactory`).
    """
    config.validate()
    # stderr as it is now (a default bound at import would keep a stream
    # that was replaced and closed since: a test's capture)
    log = sys.stderr if log is None else log
    context = distributed.setup(config.device)
    try:
        return _train(config, context, hook, log, restart, factory)
    finally:
        distributed.teardown(context)


def _train(config: TrainConfig, context: distributed.Context, hook, log, restart,
           factory: ModelFactory | None = None) -> dict:
    main = context.is_main
    context.shard(config.batch_size)  # refuse a batch the ranks cannot split, early
    device = context.device(config.device)
    autocast = autocast_of(config)
    torch.manual_seed(config.seed)
    # np.random's global state is saved in every checkpoint; seeded, it is the same bytes
    np.random.seed(config.seed % 2**32)
    model = (build_model if factory is None else factory.build)(config).to(device)
    if config.sparse:
        sparse_train.check_model(model, factory)  # before the run folder is touched
    optimizer = make_optimizer(model, config)
    scorer = None if factory is None else factory.score

    run = runs.Run(config.out_dir,
                   {"train": config.to_dict(), "parameters": count_parameters(model),
                    "processes": context.world_size,
                    **({} if factory is None else {factory.name: factory.settings})},
                   # the parameter count follows from the model config, compared already
                   ignore=[f"train.{k}" for k in TrainConfig.RESUMABLE_CHANGES]
                   + ["processes", "parameters"],
                   outputs=OUTPUTS, writer=main, log=log)
    with run.session(restart=restart):
        context.barrier()  # rank 0 has checked (and maybe cleared) the folder
        checkpoint = run.load("last")
        state = RunState() if checkpoint is None else resume(checkpoint, model, optimizer,
                                                             config)
        if state.step > config.steps:
            raise ValueError(f"{config.out_dir} has trained {state.step} steps already; "
                             f"--steps {config.steps} would train none and misreport them: "
                             f"give --steps >= {state.step}")
        if checkpoint is not None and main:
            print(f"openclrs: resuming {config.out_dir} from step {state.step}", file=log)
        context.barrier()  # every rank has read `last` before rank 0 writes another
        report = sets = None
        if main:
            report = Report(run, config, None if checkpoint is None else state.step, log)
            sets = EvaluationSets(config)
        elapsed = _loop(model, optimizer, config, context, device, autocast, run, state,
                        report, sets, hook, scorer)
        if not main:
            context.barrier()  # wait for rank 0's final evaluation
            return {}
        results = _finish(model, config, run, state, report, sets, elapsed, autocast, scorer)
        context.barrier()
        return results


def _loop(model, optimizer, config, context, device, autocast, run, state: RunState,
          report: Report | None, sets: EvaluationSets | None, hook, scorer=None) -> float:
    """Steps ``state.step + 1 .. config.steps``; rank 0 logs, validates and
    checkpoints. Returns the training seconds (all sessions)."""
    if config.compile:
        model.compile()  # the per-step modules; see Reasoner.compile
    loss_of = distributed.loss_function(model, context,
                                        sparse_train.loss if config.sparse else None)
    start = time.perf_counter() - state.train_seconds
    model.train()
    try:
        while state.step < config.steps:
            losses = context.mean(train_step(model, optimizer, loss_of, config, state.step,
                                             context, device, autocast))
            state.step += 1
            if report is not None:  # rank 0 alone logs, evaluates and checkpoints
                report.train(state.step, losses)
                if state.step % config.eval_every == 0 or state.step == config.steps:
                    state.train_seconds = time.perf_counter() - start
                    improved = validate(model, config, sets, state, report, autocast, scorer)
                    save_checkpoint(run, model, optimizer, config, state,
                                    ("last", "best") if improved else ("last",))
            if hook is not None:
                hook(state.step)
    finally:  # an interrupted run keeps the events it logged
        if report is not None:
            report.pause()
    return time.perf_counter() - start


def validate(model, config: TrainConfig, sets: EvaluationSets, state: RunState,
             report: Report, autocast, scorer=None) -> bool:
    """Validation (+ test every ``test_every``) at ``state.step``; returns
    whether the score beats the best so far (and records it as the best)."""
    val = score_all(model, sets.val, autocast, config.max_memory, scorer)
    # higher is better: an algorithm scored by a loss (eccentricity's MSE) counts negated
    val_score = float(np.mean([selection_score(model.specs[a], m) for a, m in val.items()]))
    test = None
    if config.test_every and state.step % config.test_every == 0:
        test = score_all(model, sets.test, autocast, config.max_memory, scorer)
    report.validation(state.step, val_score, val, test)
    if val_score > state.best_score:
        state.best_score, state.best_step = val_score, state.step
        return True
    return False


def _finish(model, config, run: runs.Run, state: RunState, report: Report,
            sets: EvaluationSets, elapsed: float, autocast, scorer=None) -> dict:
    """Final evaluation of the best-validation checkpoint; results, table, plot."""
    if "best" not in run.pointers():  # validation was never a number
        run.point("best", at="last")
    load_weights(run.load("best"), model, config)
    val = score_all(model, sets.val, autocast, config.max_memory, scorer)
    test = score_all(model, sets.test, autocast, config.max_memory, scorer)
    results = final_results(model, config, val, test, state)
    results["train_seconds"] = elapsed
    files.write_json(run.path("results.json"), results)
    report.finish(results, state.step)
    return results


def final_results(model, config: TrainConfig, val, test, state: RunState) -> dict:
    results = {"algorithms": {a: {"val_score": val[a]["score"], "test_score": test[a]["score"],
                                  "val_metrics": val[a], "test_metrics": test[a]}
                              for a in config.algorithms},
               "best_step": state.best_step, "best_val_score": state.best_score,
               "steps": config.steps, "parameters": count_parameters(model),
               "val_set": config.val_set}
    if len(config.algorithms) > 1 and summarize(val):
        results["val"] = summarize(val)
        results["test"] = summarize(test)
    return results


# ---------------------------------------------------------- reporting

class Report:
    """What rank 0 shows and logs: the progress bar, ``metrics.jsonl``,
    TensorBoard; at the end the table and the plot."""

    def __init__(self, run: runs.Run, config: TrainConfig, resume_step, log=sys.stderr):
        from tqdm.auto import tqdm

        self.config, self.log, self.run = config, log, run
        self.metrics = run.metrics(resume_step)
        self.tb = tensorboard_writer(run.path("tb"), resume_step, log)
        self.latest_val = float("nan")
        if resume_step is not None:
            vals = [r for r in self.metrics.records if r["kind"] == "val"]
            self.latest_val = vals[-1]["score"] if vals else float("nan")
        self.bar = tqdm(total=config.steps, initial=resume_step or 0,
                        disable=not config.progress, file=log,
                        desc="+".join(config.algorithms)[:40], dynamic_ncols=True)

    def train(self, step: int, losses: dict[str, float]) -> None:
        total = sum(losses.values())
        if step % self.config.log_every == 0 or step == 1:
            self.metrics.append({"kind": "train", "step": step, "loss": total, "losses": losses})
            if self.tb is not None:
                self.tb.add_scalar("train/loss", total, step)
        self.bar.set_postfix(loss=f"{total:.4f}", val=f"{self.latest_val:.3f}", refresh=False)
        self.bar.update(1)

    def validation(self, step: int, val_score: float, val: dict, test: dict | None) -> None:
        record = {"kind": "val", "step": step, "score": val_score, "metrics": val}
        if test is not None:
            record["test_score"] = float(np.mean([m["score"] for m in test.values()]))
            record["test_metrics"] = test
        self.metrics.append(record)
        self.latest_val = val_score
        if self.tb is not None:
            self.tb.add_scalar("val/score", val_score, step)
            for a, m in val.items():
                self.tb.add_scalar(f"val/{a}", m["score"], step)
            # on disk before this step's checkpoint: a resume purges events after it
            self.tb.flush()

    def pause(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.flush()

    def finish(self, results: dict, step: int) -> None:
        if self.tb is not None:
            for a, r in results["algorithms"].items():
                self.tb.add_scalar(f"test/{a}", r["test_score"], step)
            self.tb.close()
        print(results_table(results), file=self.log)
        plot = self.run.path("test_scores.png")
        if plot_test_scores(results, plot, log=self.log):
            print(f"plot: {plot}", file=self.log)
            plot_training_curves(self.metrics.records, self.run.path("training_curves.png"))


def tensorboard_writer(folder: str, resume_step: int | None, log=sys.stderr):
    """A SummaryWriter on ``folder``; on resume, TensorBoard drops the
    events past the checkpoint (``purge_step``) as the metrics log does."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("openclrs: tensorboard is not installed, so no TensorBoard events are written "
              f"({install_hint('tensorboard')})", file=log)
        return None
    return SummaryWriter(folder, purge_step=None if resume_step is None else resume_step + 1)


def results_table(results: dict) -> str:
    """Val and test score of each algorithm (the splits ``results`` has:
    ``<split>_score`` per algorithm) beside the published test score."""
    from ..sparse import spec_of
    from .published_scores import published_score
    from .sparse_train import test_set_name

    first = next(iter(results["algorithms"].values()))
    splits = [s for s in ("val", "test") if f"{s}_score" in first]
    canonical = _tests_on_clrs_splits(results["algorithms"])
    heads = {"val": ("", "val"), "test": ("test", "(n=64)" if canonical else "")}
    lines = [f"{'':<32}" + "".join(f"{heads[s][0]:>8}" for s in splits) + f"{'published':>11}",
             f"{'algorithm':<32}" + "".join(f"{heads[s][1]:>8}" for s in splits)
             + f"{'(n=64)':>11}"]
    losses = [a for a in results["algorithms"] if score_is_loss(spec_of(a))]

    def cell(a, value):  # a loss (MSE) as a number, a score in percent
        return f"{value:>8.3f}" if a in losses else f"{100 * value:>7.2f}%"

    for a, r in results["algorithms"].items():
        pub = published_score(a)
        pub = f"{100 * pub:>10.2f}%" if pub is not None else f"{'-':>11}"
        lines.append(f"{a:<32}" + "".join(cell(a, r[f"{s}_score"]) for s in splits) + pub)
    for key in ("family_mean", "algorithm_mean"):
        if all(key in results.get(s, {}) for s in splits):
            lines.append(f"{key:<32}" + "".join(f"{100 * results[s][key]:>7.2f}%"
                                                for s in splits))
    if losses:
        lines.append(f"({', '.join(losses)}: the score is the output's mean squared error, "
                     "lower is better)")
    if "test" in splits and not canonical:
        lines.append("test sets: " + "; ".join(f"{a}: {test_set_name(a)}"
                                               for a in results["algorithms"]))
    for s, title in (("val", "validation"), ("test", "test")):
        salsa = {a: r[f"{s}_metrics"] for a, r in results["algorithms"].items()
                 if "graph_accuracy" in r.get(f"{s}_metrics", {})}
        if salsa:  # a sparse set: SALSA-CLRS's per-graph metrics too
            lines.append(f"{title}, per graph (SALSA-CLRS):")
            lines += [f"  {a:<30}{_salsa_line(m)}" for a, m in salsa.items()]
    return "\n".join(lines)


def _tests_on_clrs_splits(algorithms) -> bool:
    """Whether every algorithm's test set is CLRS-30's n = 64 split (not so
    for SALSA-CLRS's own: :func:`test_batches`)."""
    from ..data.datasets import has_canonical_splits

    return all(has_canonical_splits(a) for a in algorithms)


def _salsa_line(m: dict) -> str:
    """SALSA-CLRS's per-graph metrics of one algorithm on one set, in words."""
    first = (f"node accuracy {100 * m['node_accuracy']:.2f}%" if "node_accuracy" in m
             else "MSE " + ", ".join(f"{m[k]:.4f}" for k in m if k.endswith("/mse")))
    return (f"{first}, graph accuracy {100 * m['graph_accuracy']:.2f}% "
            f"({m['graphs']} graphs)")


def _percent(algorithm: str, metrics: dict) -> float:
    """What the plots draw of an algorithm's metrics, in percent: its score,
    or where that is a loss (eccentricity's MSE) SALSA's graph accuracy."""
    from ..sparse import spec_of

    if score_is_loss(spec_of(algorithm)):
        return 100 * metrics["graph_accuracy"]
    return 100 * metrics["score"]


def plot_training_curves(records: list[dict], path: str) -> None:
    """The training loss (left, log scale) and the validation scores, with
    the periodic test scores dashed (right), per algorithm, from the
    records of ``metrics.jsonl`` (for those who do not run TensorBoard)."""
    plt = pyplot("draw the training curves")

    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    algorithms = sorted({a for r in train for a in r["losses"]} |
                        {a for r in val for a in r["metrics"]})
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, algorithm in enumerate(algorithms):
        colour = f"C{k % 10}"
        steps = [r["step"] for r in train if algorithm in r["losses"]]
        loss_ax.plot(steps, [r["losses"][algorithm] for r in train if algorithm in r["losses"]],
                     color=colour, lw=1, label=algorithm)
        score_ax.plot([r["step"] for r in val],
                      [_percent(algorithm, r["metrics"][algorithm]) for r in val], color=colour,
                      marker=".", lw=1, label=f"{algorithm}, validation")
        tested = [r for r in val if algorithm in r.get("test_metrics", {})]
        if tested:
            score_ax.plot([r["step"] for r in tested],
                          [_percent(algorithm, r["test_metrics"][algorithm]) for r in tested],
                          color=colour, ls="--", marker="s", ms=3, lw=1,
                          label=f"{algorithm}, test")
    loss_ax.set_yscale("log")
    loss_ax.set(xlabel="step", ylabel="training loss", title="loss")
    score_ax.set(xlabel="step", ylabel="score (%)", title="validation and test scores",
                 ylim=(0, 102))
    for ax in (loss_ax, score_ax):
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    files.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def plot_test_scores(results: dict, path: str, log=sys.stderr) -> bool:
    """Bar plot of this run's test scores beside the published Triplet-GMPNN
    ones; returns False (with a message) when matplotlib is missing."""
    try:
        plt = pyplot("draw test_scores.png")
    except MissingDependency:
        print("openclrs: matplotlib is not installed, so test_scores.png is not drawn "
              f"({install_hint('matplotlib')})", file=log)
        return False
    from ..sparse import spec_of
    from .published_scores import SOURCE, published_score

    algs = list(results["algorithms"])
    ours = [_percent(a, {"score": results["algorithms"][a]["test_score"],
                         **results["algorithms"][a].get("test_metrics", {})}) for a in algs]
    pub = [published_score(a) for a in algs]
    x = np.arange(len(algs))
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(algs) + 2.5), 4.2))
    bars = ax.bar(x - 0.2, ours, 0.4, label="this run", color="#3b75af")
    ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    known = [i for i, p in enumerate(pub) if p is not None]
    if known:  # (none for SALSA-CLRS's own algorithms)
        bars = ax.bar(x[known] + 0.2, [100 * pub[i] for i in known], 0.4,
                      label="Triplet-GMPNN, published", color="#bbbbbb")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    tilt = len(algs) > 3
    names = [f"{a}\n(graph accuracy)" if score_is_loss(spec_of(a)) else a for a in algs]
    ax.set_xticks(x, names, rotation=25 if tilt else 0, ha="right" if tilt else "center",
                  rotation_mode="anchor", fontsize=8)
    ax.set_ylabel("test score, n = 64 (%)" if _tests_on_clrs_splits(algs)
                  else "test score (%)")
    ax.set_ylim(0, 124)
    ax.set_yticks(range(0, 101, 20))
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"Out-of-distribution test score after {results['steps']:,} steps", fontsize=10)
    ax.legend(loc="upper center", ncol=2, frameon=False, fontsize=8)
    fig.text(0.99, 0.01, f"published: {SOURCE}", ha="right", va="bottom", fontsize=6,
             color="#666666")
    fig.tight_layout()
    files.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return True
