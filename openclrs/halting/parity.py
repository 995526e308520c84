"""The parity benchmark of PonderNet (Banino et al. 2021, §3.1), after Graves
(2016): PonderNet, ACT and a fixed-step RNN on the same task and model.

Task
----
A vector of ``size`` elements; a random number k of them (k uniform in a
range, 1..size by default), at random positions, are set to +1 or −1 at
random, the rest are 0. The target is 1 if "the number of ones" is odd.
Graves and the PonderNet paper leave open whether "ones" are the +1 entries
or all non-zero entries; ``ones="positive"`` (the default) counts the +1
entries, as both public implementations do; ``ones="nonzero"`` counts all
non-zero entries (then the target is k mod 2). Batches are a function of
``(seed, step)`` only, so a resumed run sees exactly the batches of an
uninterrupted one.

Model
-----
An RNN cell of ``hidden`` tanh units whose input at every step is the vector
(the paper does not say how x is fed)::

    h_n = tanh(W_x x + W_h h_{n−1} + b),   h_0 = 0
    ŷ_n = w_y · h_n + b_y                  (a logit; logistic output, BCE)
    λ_n = σ(w_λ · h_n + b_λ)               (PonderNet's λ, or ACT's halting unit)

so step 1 already sees x (the jankrepl implementation reads λ_1 and ŷ_1 off
h_0, before x is seen).

Methods
-------
* ``ponder``: L = Σ_n p_n BCE(ŷ_n, y) + β KL(p ‖ p_G(λ_p)) (openclrs.halting.ponder);
  training unrolls until every sample's cumulative halting probability
  exceeds 1 − ε or N steps, the remainder on the last step unrolled;
  evaluation unrolls N steps and reads ŷ at a sampled (or thresholded) halt.
* ``act``: L = BCE(Σ_n p_n ŷ_n, y) + τ ρ (openclrs.halting.act), the same
  rule in training and evaluation.
* ``fixed``: BCE(ŷ_T, y) after a fixed T = ``fixed_steps``.

Use::

    from openclrs.halting.parity import train
    from openclrs.halting.parity_config import ParityConfig
    model, results = train(ParityConfig(out="runs/p", method="ponder", size=16, steps=20000))
    results["accuracy"], results["by_nonzeros"]      # also in runs/p/results.json, parity.png

The run folder is :mod:`openclrs.training.runs`' (config.json, metrics.jsonl,
verified safetensors checkpoints; running again resumes).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import files
from ..training.runs import (Run, TrainingDiverged, derive_seed, load_checkpoint,
                             load_optimizer_state, optimizer_state)
from .act import act_halting, weighted_output
from .parity_config import ParityConfig
from .ponder import (HaltingHead, gather_steps, halting_distribution, ponder_loss,
                     sample_halting_step, threshold_halting_step)

MODEL_FORMAT = "openclrs-parity/1"
RESULTS, PLOT = "results.json", "parity.png"
# Settings a resumed run may change: how long, how often, where, how fast.
RESUMABLE_CHANGES = ("steps", "out", "threads", "device", "progress", "eval_every",
                     "eval_samples", "log_every", "checkpoint_every")


# --------------------------------------------------------------------------
# The task.
# --------------------------------------------------------------------------

def parity_vectors(counts: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """(B, size) float vectors with exactly ``counts[b]`` non-zero entries
    (±1 with equal odds) at uniformly random positions."""
    counts = torch.as_tensor(counts, dtype=torch.long)
    if bool((counts < 0).any()) or bool((counts > size).any()):
        raise ValueError(f"the numbers of non-zeros must lie in 0..{size}")
    batch = counts.shape[0]
    # a random permutation per row: the first counts[b] positions in it are set
    ranks = torch.rand(batch, size, generator=generator).argsort(1).argsort(1)
    signs = torch.randint(0, 2, (batch, size), generator=generator) * 2 - 1
    return ((ranks < counts[:, None]) * signs).to(torch.get_default_dtype())


def parity_targets(x: Tensor, ones: str = "positive") -> Tensor:
    """(B,) float: 1 if the count of +1 entries (``"positive"``) or of
    non-zero entries (``"nonzero"``) is odd."""
    if ones == "positive":
        counted = (x == 1).sum(1)
    elif ones == "nonzero":
        counted = (x != 0).sum(1)
    else:
        raise ValueError(f"ones must be 'positive' or 'nonzero'; got {ones!r}")
    return (counted % 2).to(x.dtype)


def parity_batch(size: int, nonzeros: tuple[int, int], batch: int, seed: int,
                 ones: str = "positive") -> tuple[Tensor, Tensor, Tensor]:
    """``(x, y, counts)`` of ``batch`` vectors whose numbers of non-zeros are
    uniform in ``nonzeros`` = (lo, hi), inclusive; a function of ``seed``."""
    lo, hi = nonzeros
    if not 1 <= lo <= hi <= size:
        raise ValueError(f"nonzeros must be (lo, hi) with 1 <= lo <= hi <= size ({size}); "
                         f"got {nonzeros}")
    generator = torch.Generator().manual_seed(seed)
    counts = torch.randint(lo, hi + 1, (batch,), generator=generator)
    x = parity_vectors(counts, size, generator)
    return x, parity_targets(x, ones), counts


# --------------------------------------------------------------------------
# The model.
# --------------------------------------------------------------------------

class ParityRNN(nn.Module):
    """The step function: (x, h_{n−1}) -> (h_n, logit ŷ_n, halting λ_n)."""

    def __init__(self, size: int, hidden: int = 128):
        super().__init__()
        self.hidden = hidden
        self.cell = nn.RNNCell(size, hidden, nonlinearity="tanh")
        self.output = nn.Linear(hidden, 1)
        self.halting = HaltingHead(hidden, initial_lambda=0.1)

    def initial_state(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden)

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.cell(x, h)
        return h, self.output(h).squeeze(-1), self.halting(h)

    def unroll(self, x: Tensor, steps: int, stop=None) -> tuple[Tensor, Tensor]:
        """``(logits, lambdas)``, both (n, B): up to ``steps`` steps, fewer if
        ``stop(lambdas so far)`` says so after a step."""
        h = self.initial_state(x)
        logits, lambdas = [], []
        for _ in range(steps):
            h, logit, lam = self(x, h)
            logits.append(logit)
            lambdas.append(lam)
            if stop is not None and stop(lambdas):
                break
        return torch.stack(logits), torch.stack(lambdas)


# --------------------------------------------------------------------------
# The three methods: training loss and evaluation.
# --------------------------------------------------------------------------

def _ponder_stop(epsilon: float):
    """Stop unrolling once every sample's Π_{j≤n} (1 − λ_j) < ε, i.e. its
    cumulative halting probability exceeds 1 − ε (ε = 0: never)."""
    if epsilon <= 0:
        return None

    def stop(lambdas):
        survival = torch.stack(lambdas).detach().neg().add(1).prod(0)
        return bool((survival < epsilon).all())
    return stop


def _act_stop(epsilon: float):
    """Stop unrolling once every sample's halting units sum to 1 − ε: the
    steps after N(t) get weight 0, so the result is that of the full unroll."""
    def stop(units):
        return bool((torch.stack(units).detach().cumsum(0)[-1] >= 1 - epsilon).all())
    return stop


def training_loss(model: ParityRNN, x: Tensor, y: Tensor, cfg: ParityConfig) -> tuple[Tensor, dict]:
    """The method's loss on one batch and what to log: ``loss``,
    ``accuracy`` (of the prediction the method outputs in training: the
    expected one for ponder), ``steps`` (mean ponder steps) and ``unrolled``."""
    if cfg.method == "ponder":
        logits, lambdas = model.unroll(x, cfg.max_steps, _ponder_stop(cfg.epsilon))
        p = halting_distribution(lambdas)
        step_losses = F.binary_cross_entropy_with_logits(logits, y.expand_as(logits), reduction="none")
        loss, parts = ponder_loss(p, step_losses, lambda_p=cfg.lambda_p, beta=cfg.beta)
        correct = ((logits > 0).to(y.dtype) == y).to(p.dtype)
        stats = {"accuracy": (p * correct).sum(0).mean(), "steps": parts["expected_steps"],
                 "kl": parts["kl"], "reconstruction": parts["reconstruction"]}
    elif cfg.method == "act":
        logits, units = model.unroll(x, cfg.max_steps, _act_stop(cfg.act_epsilon))
        halting = act_halting(units, cfg.act_epsilon)
        output = weighted_output(halting.p, logits)
        task = F.binary_cross_entropy_with_logits(output, y)
        loss = task + cfg.tau * halting.ponder_cost.mean()
        stats = {"accuracy": ((output > 0).to(y.dtype) == y).float().mean(),
                 "steps": halting.steps.float().mean(), "ponder_cost": halting.ponder_cost.mean(),
                 "task": task}
    else:
        logits, _ = model.unroll(x, cfg.fixed_steps)
        loss = F.binary_cross_entropy_with_logits(logits[-1], y)
        stats = {"accuracy": ((logits[-1] > 0).to(y.dtype) == y).float().mean(),
                 "steps": torch.tensor(float(cfg.fixed_steps))}
    stats = {k: float(v.detach()) for k, v in stats.items()}
    return loss, {"loss": float(loss.detach()), **stats, "unrolled": logits.shape[0]}


@torch.no_grad()
def predict(model: ParityRNN, x: Tensor, cfg: ParityConfig,
            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``(logits (B,), steps (B,) long)``: each method's output and the
    number of steps it used (ponder: the halting step, sampled with
    ``generator`` or thresholded; act: N(t); fixed: T)."""
    if cfg.method == "ponder":
        logits, lambdas = model.unroll(x, cfg.max_steps)
        if cfg.eval_halting == "sample":
            halt = sample_halting_step(lambdas, generator)
        else:
            halt = threshold_halting_step(lambdas)
        return gather_steps(logits, halt), halt + 1
    if cfg.method == "act":
        logits, units = model.unroll(x, cfg.max_steps)
        halting = act_halting(units, cfg.act_epsilon)
        return weighted_output(halting.p, logits), halting.steps
    logits, _ = model.unroll(x, cfg.fixed_steps)
    return logits[-1], torch.full((x.shape[0],), cfg.fixed_steps, dtype=torch.long)


def evaluate(model: ParityRNN, cfg: ParityConfig, samples: int | None = None) -> dict:
    """Accuracy and mean steps per number of non-zeros, over the training
    and the test ranges (``samples`` vectors each, the same vectors for every
    run with the same ``eval_seed``), and the means over each range."""
    samples = samples or cfg.eval_samples
    device = next(model.parameters()).device
    lo = min(cfg.train_nonzeros[0], cfg.test_nonzeros[0])
    hi = max(cfg.train_nonzeros[1], cfg.test_nonzeros[1])
    was_training = model.training
    model.eval()
    rows = []
    for k in range(lo, hi + 1):
        generator = torch.Generator().manual_seed(derive_seed(cfg.eval_seed, cfg.size, k))
        x = parity_vectors(torch.full((samples,), k), cfg.size, generator)
        y = parity_targets(x, cfg.ones)
        halting = torch.Generator(device=device).manual_seed(derive_seed(cfg.eval_seed, k, 1))
        logits, steps = predict(model, x.to(device), cfg, halting)
        rows.append({"nonzeros": k,
                     "accuracy": float(((logits > 0).float().cpu() == y).float().mean()),
                     "steps": float(steps.float().mean())})
    model.train(was_training)

    def mean_over(pair):
        chosen = [r for r in rows if pair[0] <= r["nonzeros"] <= pair[1]]
        return (sum(r["accuracy"] for r in chosen) / len(chosen),
                sum(r["steps"] for r in chosen) / len(chosen))

    train_acc, train_steps = mean_over(cfg.train_nonzeros)
    test_acc, test_steps = mean_over(cfg.test_nonzeros)
    return {"accuracy": test_acc, "steps": test_steps, "train_range_accuracy": train_acc,
            "train_range_steps": train_steps, "samples_per_count": samples, "by_nonzeros": rows}


# --------------------------------------------------------------------------
# Checkpoints, training, results.
# --------------------------------------------------------------------------

# settings added after runs were made with their defaults: left out of a
# run's config while at the default, so that those runs still resume
LATER_DEFAULTS = {"lr_decay_steps": 0, "final_lr": 3e-4}


def run_config(cfg: ParityConfig) -> dict:
    settings = asdict(cfg)
    if not cfg.lr_decay_steps:
        settings = {k: v for k, v in settings.items() if k not in LATER_DEFAULTS}
    return {"format": MODEL_FORMAT, **settings}


def config_from_run(folder: str, **changes) -> ParityConfig:
    """The :class:`ParityConfig` a run folder was trained with."""
    from ..training.runs import CONFIG

    saved = files.read_json(f"{folder}/{CONFIG}", "parity run config",
                            "give a folder made by `openclrs ponder train`")
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{folder} is not a parity run (no {MODEL_FORMAT} config.json); give a "
                         "folder made by `openclrs ponder train`")
    known = {f.name for f in dataclasses.fields(ParityConfig)}
    unknown = sorted(set(saved) - known - {"format"})
    if unknown:
        # A setting this version does not know would be dropped silently and
        # the run evaluated as if trained without it: refuse instead.
        raise ValueError(f"{folder}/{CONFIG} has settings this version of openclrs does not "
                         f"know: {', '.join(unknown)}; it was made by another version (use "
                         "that version, or retrain the run)")
    return ParityConfig(**{**{k: v for k, v in saved.items() if k != "format"}, **changes})


def model_from_checkpoint(checkpoint, cfg: ParityConfig, device="cpu") -> ParityRNN:
    if checkpoint.metadata.get("format") != MODEL_FORMAT:
        raise ValueError(f"{checkpoint.path} is not a parity checkpoint")
    model = ParityRNN(cfg.size, cfg.hidden)
    model.load_state_dict(checkpoint.weights)
    return model.to(device)


def train(cfg: ParityConfig, resume: bool = True, log=None) -> tuple[ParityRNN, dict]:
    """Train (resuming from ``cfg.out``'s last checkpoint unless
    ``resume=False``) to ``cfg.steps``, evaluate, write ``results.json`` and
    ``parity.png``; returns ``(model, results)``."""
    if cfg.threads:
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
        try:
            return train(dataclasses.replace(cfg, threads=None), resume, log)
        finally:
            torch.set_num_threads(threads)
    from tqdm.auto import tqdm

    from ..devices import check_device

    log = log or sys.stderr
    check_device(cfg.device, "device (--device)")
    run = Run(cfg.out, run_config(cfg), ignore=RESUMABLE_CHANGES, outputs=(RESULTS, PLOT), log=log)
    with run.session(restart=not resume):
        torch.manual_seed(cfg.seed)
        model = ParityRNN(cfg.size, cfg.hidden).to(cfg.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        step, seconds = 0, 0.0
        last = run.load("last")
        if last is not None:
            model = model_from_checkpoint(last, cfg, cfg.device)
            optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            load_optimizer_state(optimizer, last.tensors, last.state["optimizer"])
            step, seconds = last.step, last.state.get("train_seconds", 0.0)
            print(f"resuming {cfg.out} from step {step}", file=log)
        model.train()
        metrics = run.metrics(resume_step=step if last is not None else None)

        def save(step, start):
            tensors, optimizer_json = optimizer_state(optimizer)
            run.save(step, weights=model.state_dict(),
                     metadata={"format": MODEL_FORMAT, "config": json.dumps(asdict(cfg))},
                     tensors=tensors, state={"optimizer": optimizer_json,
                                             "train_seconds": time.perf_counter() - start})

        bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, dynamic_ncols=True,
                   desc=f"parity {cfg.method}", file=log)
        start = time.perf_counter() - seconds
        try:
            while step < cfg.steps:
                step += 1
                x, y, _ = parity_batch(cfg.size, cfg.train_nonzeros, cfg.batch,
                                       derive_seed(cfg.seed, step), cfg.ones)
                loss, stats = training_loss(model, x.to(cfg.device), y.to(cfg.device), cfg)
                if not math.isfinite(stats["loss"]):
                    raise TrainingDiverged(f"step {step}: the loss is {stats['loss']}; training "
                                           "diverged (try a lower --lr or --grad-clip)")
                for group in optimizer.param_groups:
                    group["lr"] = cfg.learning_rate(step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['accuracy']:.2f}",
                                steps=f"{stats['steps']:.1f}")
                record = {}
                if step % cfg.log_every == 0 or step == cfg.steps:
                    record.update({"step": step, **stats, "seconds": time.perf_counter() - start})
                if cfg.eval_every and step % cfg.eval_every == 0 and step != cfg.steps:
                    scores = evaluate(model, cfg)
                    record.update({"step": step, "eval_accuracy": scores["accuracy"],
                                   "eval_steps": scores["steps"]})
                if record:
                    metrics.append(record)
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    save(step, start)
        finally:
            bar.close()
        results = {"config": asdict(cfg), "step": step, **evaluate(model, cfg)}
        files.write_json(run.path(RESULTS), results)
        plot_results({cfg.method: results}, run.path(PLOT), cfg)
    return model, results


def evaluate_run(folder: str, samples: int | None = None, device: str = "cpu") -> dict:
    """Evaluate a parity run folder's last checkpoint (no lock needed):
    rewrites its ``results.json`` and ``parity.png``."""
    cfg = config_from_run(folder, out=folder, device=device)
    checkpoint = load_checkpoint(folder, "last")
    model = model_from_checkpoint(checkpoint, cfg, device)
    results = {"config": asdict(cfg), "step": checkpoint.step, **evaluate(model, cfg, samples)}
    files.write_json(f"{folder}/{RESULTS}", results)
    plot_results({cfg.method: results}, f"{folder}/{PLOT}", cfg)
    return results


def format_table(results: dict) -> str:
    """A run's results as text: the means, then one row per number of non-zeros."""
    cfg = results["config"]
    lines = [f"parity {cfg['method']}, size {cfg['size']}, train non-zeros "
             f"{cfg['train_nonzeros'][0]}-{cfg['train_nonzeros'][1]}, test "
             f"{cfg['test_nonzeros'][0]}-{cfg['test_nonzeros'][1]}, step {results['step']}",
             f"test accuracy {100 * results['accuracy']:.2f}%, mean steps {results['steps']:.2f}",
             "non-zeros  accuracy  steps"]
    lines += [f"{r['nonzeros']:9d}  {100 * r['accuracy']:7.2f}%  {r['steps']:5.2f}"
              for r in results["by_nonzeros"]]
    return "\n".join(lines)


def plot_results(curves: dict, path: str, cfg: ParityConfig | None = None,
                 title: str | None = None) -> None:
    """Accuracy and mean ponder steps against the number of non-zeros, one
    line per entry of ``curves`` (label -> results); the training range
    shaded when ``cfg`` is given."""
    from ..extras import pyplot

    plt = pyplot("the parity plot")
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True)
    for label, results in curves.items():
        rows = results["by_nonzeros"]
        counts = [r["nonzeros"] for r in rows]
        top.plot(counts, [100 * r["accuracy"] for r in rows], marker=".", label=label)
        bottom.plot(counts, [r["steps"] for r in rows], marker=".", label=label)
    if cfg is not None:
        for axis in (top, bottom):
            axis.axvspan(cfg.train_nonzeros[0] - 0.5, cfg.train_nonzeros[1] + 0.5, color="0.92",
                         zorder=0)
    top.axhline(50, color="0.5", linestyle=":", linewidth=1)
    top.set_ylabel("accuracy (%)")
    bottom.set_ylabel("ponder steps (mean)")
    bottom.set_xlabel("non-zero entries")
    top.legend(fontsize=7, loc="lower left")
    if title:
        top.set_title(title, fontsize=9)
    figure.tight_layout()
    data = _figure_bytes(figure)
    plt.close(figure)
    files.write_bytes(path, data)


def _figure_bytes(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
