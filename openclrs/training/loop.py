"""Train a neural algorithmic reasoner with the published recipe.

nanoGPT style, top to bottom: a :class:`TrainConfig`, the data (training
batches derived from ``(seed, step)``, a fixed validation set, the
canonical test split), scoring, checkpoints, then :func:`train`.

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

Run directory::

    config.json            the resolved TrainConfig (+ model config)
    last.safetensors       model weights at the latest checkpoint
    last.state.pt          optimizer, RNG states, step, best-val bookkeeping
    best.safetensors       weights with the best validation score so far
    best.state.pt
    metrics.jsonl          one JSON record per logged train step / evaluation
    results.json           per algorithm: val and test score and per-output metrics
    test_scores.png        test scores beside the published Triplet-GMPNN ones
    tb/                    TensorBoard events (if tensorboard is installed)

Every file is written to a temporary name and renamed. A run killed at any
moment resumes from ``last`` (run the same command again) and ends with the
same metrics as an uninterrupted run: the batch of step ``s`` and the torch
RNG of step ``s`` are both derived from ``(seed, s)``, and metric records
past the checkpoint are dropped on resume.

Devices: ``device="cuda"``, ``bf16=True`` (bfloat16 autocast) and
``compile=True`` (``torch.compile`` of the processor and decoders). Several GPUs (or
CPU processes): launch with ``torchrun``, see :mod:`openclrs.training.distributed`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from .. import transforms
from . import distributed
from ..data.batching import collate
from .metrics import OutputScorer, algorithm_mean, family_mean
from ..models.model import ModelConfig, Reasoner, count_parameters
from ..samplers import Sampler
from ..specs import NUM_SAMPLES_MULTIPLIER, check_algorithm


# ----------------------------------------------------------------- config

@dataclass
class TrainConfig:
    algorithms: list[str] = field(default_factory=lambda: ["bfs"])
    out_dir: str = "runs/bfs"
    steps: int = 10_000
    batch_size: int = 32
    learning_rate: float = 1e-3
    grad_clip: float = 1.0           # global norm; 0 disables
    seed: int = 42
    # model (the rest of ModelConfig goes through model_options)
    processor: str = "triplet_gmpnn"
    hidden_size: int = 128
    hint_teacher_forcing: float = 0.0
    model_options: dict = field(default_factory=dict)
    # data
    train_lengths: list[int] | None = None   # None: transforms.train_lengths(alg)
    random_pos: bool = True
    enforce_permutations: bool = True
    pred_as_input: bool = True
    # evaluation
    eval_every: int = 50
    test_every: int = 500            # 0: test only at the end
    val_set: str = "sampled"         # "sampled" (as published run.py) or "canonical"
    eval_batch_size: int = 32
    log_every: int = 10              # train-loss records in metrics.jsonl
    data_root: str | None = None     # stored splits (default: openclrs default root)
    # devices
    device: str = "cpu"
    bf16: bool = False
    compile: bool = False
    progress: bool = True

    def model_config(self) -> ModelConfig:
        options = {"hidden_size": self.hidden_size, "processor": self.processor,
                   "hint_teacher_forcing": self.hint_teacher_forcing, **self.model_options}
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(ModelConfig)})
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}")
        return ModelConfig(**options).validate()

    def validate(self) -> "TrainConfig":
        if isinstance(self.algorithms, str):
            self.algorithms = [self.algorithms]
        if not self.algorithms:
            raise ValueError("TrainConfig: no algorithm to train on")
        self.algorithms = [check_algorithm(a) for a in self.algorithms]
        if len(set(self.algorithms)) != len(self.algorithms):
            raise ValueError(f"TrainConfig: repeated algorithm in {self.algorithms}")
        for name in ("steps", "batch_size", "eval_every", "eval_batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig: {name} must be a positive integer, got {value!r}")
        if self.test_every < 0:
            raise ValueError(f"TrainConfig: test_every must be >= 0, got {self.test_every}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig: learning_rate must be positive, "
                             f"got {self.learning_rate}")
        if self.val_set not in ("sampled", "canonical"):
            raise ValueError(f"TrainConfig: val_set must be 'sampled' or 'canonical', "
                             f"got {self.val_set!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("TrainConfig: device 'cuda' asked for but CUDA is not available")
        self.model_config()  # raises on a bad processor, hidden size, ...
        return self

    def lengths(self, algorithm: str) -> tuple[int, ...]:
        if self.train_lengths:
            return transforms.train_lengths(algorithm, tuple(self.train_lengths))
        return transforms.train_lengths(algorithm)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -------------------------------------------------------------------- data

def derive_seed(*keys: int) -> int:
    """A 32-bit seed from integer keys, e.g. (seed, algorithm index, step)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def train_batch(config: TrainConfig, index: int, step: int, shard: slice = slice(None)):
    """The training batch of algorithm ``index`` at ``step``: a function of
    ``(seed, index, step)`` only, so a resumed run sees the same data.
    ``shard`` keeps part of it (one torchrun process's share)."""
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


def _batches(traces, size):
    return [collate(traces[i:i + size]) for i in range(0, len(traces), size)]


def validation_batches(config: TrainConfig, algorithm: str):
    """The fixed validation set of ``algorithm`` (see the module docstring)."""
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
    """The canonical test split (n = 64) of ``algorithm``, no random ``pos``."""
    from ..data.datasets import load_split

    split = load_split(algorithm, "test", root=config.data_root)
    return _batches([_apply_eval(t, config) for t in split], config.eval_batch_size)


# ------------------------------------------------------------------ scoring

def score(model: Reasoner, batches, autocast=nullcontext) -> dict[str, float]:
    """Pooled output metrics (``score`` = their mean) of ``model`` on batches."""
    was_training = model.training
    model.eval()
    scorer = OutputScorer(model.specs[batches[0].algorithm])
    try:
        for batch in batches:
            with autocast():
                predictions = model.predict(batch)
            scorer.update(batch.outputs, predictions)
    finally:
        model.train(was_training)
    return scorer.result()


def summarize(per_algorithm: dict[str, dict[str, float]]) -> dict[str, float]:
    scores = {a: m["score"] for a, m in per_algorithm.items()}
    return {"family_mean": family_mean(scores), "algorithm_mean": algorithm_mean(scores)}


# ------------------------------------------------------------ checkpoints

def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, data) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
    atomic_write(path, write)


def _torch_save(obj, path: str) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)


def checkpoint_metadata(config: TrainConfig) -> dict[str, str]:
    """What a checkpoint must agree on to be loaded into a model."""
    return {"format": "openclrs-reasoner-1",
            "algorithms": json.dumps(list(config.algorithms)),
            "model_config": json.dumps(config.model_config().to_dict(), sort_keys=True),
            "pred_as_input": json.dumps(config.pred_as_input),
            "enforce_permutations": json.dumps(config.enforce_permutations)}


def save_checkpoint(run_dir: str, name: str, model: Reasoner, config: TrainConfig,
                    state: dict) -> None:
    """``name.safetensors`` (weights + metadata), then ``name.state.pt``."""
    from safetensors.torch import save_file

    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = checkpoint_metadata(config)
    atomic_write(os.path.join(run_dir, f"{name}.safetensors"),
                 lambda tmp: save_file(weights, tmp, metadata=meta))
    atomic_write(os.path.join(run_dir, f"{name}.state.pt"), lambda tmp: _torch_save(state, tmp))


def load_weights(path: str, model: Reasoner, config: TrainConfig) -> None:
    """Load a weights file into ``model``, with a clear error when it belongs
    to another model (other algorithms or model config)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    expected = checkpoint_metadata(config)
    differ = [k for k in expected if k in meta and meta[k] != expected[k]]
    if differ:
        lines = [f"  {k}: checkpoint {meta[k]} vs expected {expected[k]}" for k in differ]
        raise ValueError(f"{path} is a checkpoint of another model:\n" + "\n".join(lines))
    weights = load_file(path, device=str(next(model.parameters()).device))
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shapes = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path} does not fit this model ({config.algorithms}, "
            f"processor {config.processor}, hidden size {config.hidden_size}): "
            f"{len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(shapes)} mis-shaped tensors (e.g. {(missing + unexpected + shapes)[:3]})")
    model.load_state_dict(weights)


class MetricsLog:
    """``metrics.jsonl``, rewritten atomically on every append (it is small)."""

    def __init__(self, path: str, resume_step: int | None):
        self.path = path
        self.records: list[dict] = []
        if resume_step is not None and os.path.exists(path):
            with open(path) as f:
                records = [json.loads(line) for line in f if line.strip()]
            # Records past the checkpoint will be produced again.
            self.records = [r for r in records if r["step"] <= resume_step]
        self._flush()

    def append(self, record: dict) -> None:
        self.records.append(record)
        self._flush()

    def _flush(self) -> None:
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)

        def write(tmp):
            with open(tmp, "w") as f:
                f.write(text)
        atomic_write(self.path, write)


def tensorboard_writer(run_dir: str, resume_step: int | None, log=sys.stderr):
    """A SummaryWriter on ``run_dir/tb``; on resume, TensorBoard drops the
    events past the checkpoint (``purge_step``) as the metrics log does."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("openclrs: tensorboard is not installed; no TensorBoard events written",
              file=log)
        return None
    return SummaryWriter(os.path.join(run_dir, "tb"),
                         purge_step=None if resume_step is None else resume_step + 1)


# -------------------------------------------------------------- the loop

def build_model(config: TrainConfig) -> Reasoner:
    return Reasoner.from_algorithms(config.algorithms, config.model_config(),
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


def autocast_of(config: TrainConfig):
    """A context factory: bfloat16 autocast on the config's device if ``bf16``."""
    if not config.bf16:
        return nullcontext
    device_type = "cuda" if config.device.startswith("cuda") else "cpu"
    return lambda: torch.autocast(device_type, dtype=torch.bfloat16)


def _check_resumable(run_dir: str, config: TrainConfig) -> None:
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        old = json.load(f)["train"]
    ignore = {"steps", "progress", "device", "data_root", "out_dir", "compile", "test_every",
              "eval_every", "log_every"}
    differ = sorted(k for k in old if k not in ignore and old[k] != config.to_dict().get(k))
    if differ:
        raise ValueError(f"{run_dir} holds a run with another config (differs on {differ}); "
                         "use another --out or delete it")


def train(config: TrainConfig, hook: Callable[[int], None] | None = None,
          log=sys.stderr) -> dict:
    """Train (or resume) the run in ``config.out_dir``; returns the results
    (on every rank but 0 of a torchrun: ``{}``).

    ``hook(step)``, if given, is called after every step (tests use it to
    kill a run).
    """
    config.validate()
    context = distributed.setup(config.device)
    try:
        return _train(config, context, hook, log)
    finally:
        distributed.teardown(context)


def _train(config: TrainConfig, context: distributed.Context, hook, log) -> dict:
    run_dir = config.out_dir
    main = context.is_main
    shard = context.shard(config.batch_size)
    if main:
        os.makedirs(run_dir, exist_ok=True)
    context.barrier()
    _check_resumable(run_dir, config)
    device = context.device(config.device)
    autocast = autocast_of(config)

    # Model and optimizer.
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = make_optimizer(model, config)
    if main:
        write_json(os.path.join(run_dir, "config.json"),
                   {"train": config.to_dict(), "model": config.model_config().to_dict(),
                    "parameters": count_parameters(model), "processes": context.world_size})

    # Resume from `last`, if there is one.
    step, best = 0, {"score": -math.inf, "step": 0}
    last_state = os.path.join(run_dir, "last.state.pt")
    resumed = os.path.exists(last_state) and os.path.exists(
        os.path.join(run_dir, "last.safetensors"))
    if resumed:
        state = torch.load(last_state, map_location=device, weights_only=False)
        load_weights(os.path.join(run_dir, "last.safetensors"), model, config)
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        step, best = state["step"], state["best"]
        if main:
            print(f"openclrs: resuming {run_dir} from step {step}", file=log)
    context.barrier()  # every rank has read `last` before rank 0 rewrites it
    metrics = tb = None
    if main:
        metrics = MetricsLog(os.path.join(run_dir, "metrics.jsonl"), step if resumed else None)
        tb = tensorboard_writer(run_dir, step if resumed else None, log)

    if config.compile:
        model.compile()  # the per-step modules; see Reasoner.compile
    loss_of = distributed.loss_function(model, context)

    val_sets = {a: validation_batches(config, a) for a in config.algorithms} if main else {}
    test_sets: dict = {}

    def evaluate_all(sets) -> dict[str, dict[str, float]]:
        return {a: score(model, b, autocast) for a, b in sets.items()}

    def tests():
        if not test_sets:
            test_sets.update({a: test_batches(config, a) for a in config.algorithms})
        return evaluate_all(test_sets)

    def state_dict() -> dict:
        return {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                "numpy_rng": np.random.get_state(), "step": step, "best": best,
                "config": config.to_dict(), "train_seconds": time.perf_counter() - start}

    def log_train(total: float, losses: dict) -> None:
        if step % config.log_every == 0 or step == 1:
            metrics.append({"kind": "train", "step": step, "loss": total, "losses": losses})
            if tb is not None:
                tb.add_scalar("train/loss", total, step)

    def validate() -> float:
        """Validation (+ test every ``test_every``), then best/last checkpoints."""
        val = evaluate_all(val_sets)
        val_score = float(np.mean([m["score"] for m in val.values()]))
        record = {"kind": "val", "step": step, "score": val_score, "metrics": val}
        if config.test_every and step % config.test_every == 0:
            test = tests()
            record["test_score"] = float(np.mean([m["score"] for m in test.values()]))
            record["test_metrics"] = test
        metrics.append(record)
        if tb is not None:
            tb.add_scalar("val/score", val_score, step)
            for a, m in val.items():
                tb.add_scalar(f"val/{a}", m["score"], step)
        if val_score > best["score"]:
            best.update(score=val_score, step=step)
            save_checkpoint(run_dir, "best", model, config, state_dict())
        save_checkpoint(run_dir, "last", model, config, state_dict())
        return val_score

    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=step, disable=not (config.progress and main),
               file=log, desc="+".join(config.algorithms)[:40], dynamic_ncols=True)
    model.train()
    latest_val = best["score"] if resumed else float("nan")
    start = time.perf_counter() - (state.get("train_seconds", 0.0) if resumed else 0.0)
    try:
        while step < config.steps:
            # The step's randomness (Gumbel noise, dropout) is a function of
            # (seed, step) and, under torchrun, of the rank.
            torch.manual_seed(derive_seed(config.seed, 1 << 20, step,
                                          *([context.rank] if context.enabled else [])))
            losses = {}
            for index, algorithm in enumerate(config.algorithms):
                batch = train_batch(config, index, step, shard).to_torch(device=device)
                losses[algorithm] = update(model, optimizer, loss_of, batch, config, autocast)
                if not math.isfinite(losses[algorithm]):
                    raise RuntimeError(f"step {step + 1}: {algorithm} loss is "
                                       f"{losses[algorithm]}; training diverged")
            step += 1
            losses = context.mean(losses)
            total = sum(losses.values())
            if main:  # rank 0 alone logs, evaluates and checkpoints
                log_train(total, losses)
                if step % config.eval_every == 0 or step == config.steps:
                    latest_val = validate()
                bar.set_postfix(loss=f"{total:.4f}", val=f"{latest_val:.3f}", refresh=False)
                bar.update(1)
            if hook is not None:
                hook(step)
    finally:  # an interrupted run keeps the events it logged
        bar.close()
        if tb is not None:
            tb.flush()
    elapsed = time.perf_counter() - start
    if not main:
        context.barrier()  # wait for rank 0's final evaluation
        return {}
    if not os.path.exists(os.path.join(run_dir, "best.safetensors")):  # val was NaN
        save_checkpoint(run_dir, "best", model, config, state_dict())

    # Final evaluation of the best-validation checkpoint.
    load_weights(os.path.join(run_dir, "best.safetensors"), model, config)
    results = final_results(model, config, evaluate_all(val_sets), tests(), best)
    results["train_seconds"] = elapsed
    write_json(os.path.join(run_dir, "results.json"), results)
    if tb is not None:
        for a, r in results["algorithms"].items():
            tb.add_scalar(f"test/{a}", r["test_score"], step)
        tb.close()
    print(results_table(results), file=log)
    plot = os.path.join(run_dir, "test_scores.png")
    if plot_test_scores(results, plot, log=log):
        print(f"plot: {plot}", file=log)
    context.barrier()
    return results


def final_results(model, config, val, test, best) -> dict:
    results = {"algorithms": {a: {"val_score": val[a]["score"], "test_score": test[a]["score"],
                                  "val_metrics": val[a], "test_metrics": test[a]}
                              for a in config.algorithms},
               "best_step": best["step"], "best_val_score": best["score"],
               "steps": config.steps, "parameters": count_parameters(model),
               "val_set": config.val_set}
    if len(config.algorithms) > 1:
        results["val"] = summarize(val)
        results["test"] = summarize(test)
    return results


# ---------------------------------------------------------- reporting

def results_table(results: dict) -> str:
    from .published_scores import published_score

    lines = [f"{'':<32}{'':>8}{'test':>8}{'published':>11}",
             f"{'algorithm':<32}{'val':>8}{'(n=64)':>8}{'(n=64)':>11}"]
    for a, r in results["algorithms"].items():
        pub = published_score(a)
        pub = f"{100 * pub:>10.2f}%" if pub is not None else f"{'-':>11}"
        lines.append(f"{a:<32}{100 * r['val_score']:>7.2f}%{100 * r['test_score']:>7.2f}%{pub}")
    for key in ("family_mean", "algorithm_mean"):
        if "test" in results:
            lines.append(f"{key:<32}{100 * results['val'][key]:>7.2f}%"
                         f"{100 * results['test'][key]:>7.2f}%")
    return "\n".join(lines)


def plot_test_scores(results: dict, path: str, log=sys.stderr) -> bool:
    """Bar plot of this run's test scores beside the published Triplet-GMPNN
    ones; returns False (with a message) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("openclrs: matplotlib is not installed; test_scores.png not drawn", file=log)
        return False
    from .published_scores import SOURCE, published_score

    algs = list(results["algorithms"])
    ours = [100 * results["algorithms"][a]["test_score"] for a in algs]
    pub = [published_score(a) for a in algs]
    x = np.arange(len(algs))
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(algs) + 2.5), 4.2))
    bars = ax.bar(x - 0.2, ours, 0.4, label="this run", color="#3b75af")
    ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    known = [i for i, p in enumerate(pub) if p is not None]
    bars = ax.bar(x[known] + 0.2, [100 * pub[i] for i in known], 0.4,
                  label="Triplet-GMPNN, published", color="#bbbbbb")
    ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    tilt = len(algs) > 3
    ax.set_xticks(x, algs, rotation=25 if tilt else 0, ha="right" if tilt else "center",
                  rotation_mode="anchor", fontsize=8)
    ax.set_ylabel("test score, n = 64 (%)")
    ax.set_ylim(0, 124)
    ax.set_yticks(range(0, 101, 20))
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"Out-of-distribution test score after {results['steps']:,} steps", fontsize=10)
    ax.legend(loc="upper center", ncol=2, frameon=False, fontsize=8)
    fig.text(0.99, 0.01, f"published: {SOURCE}", ha="right", va="bottom", fontsize=6,
             color="#666666")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return True
