"""Reasoners that decide when they are done.

Every published CLRS score unrolls the processor for each sample's true
number of steps T = max(1, L − 1) (L hint states; :func:`processor_steps`),
read off the ground-truth trace. A :class:`HaltingReasoner` wraps a
:class:`~openclrs.models.model.Reasoner` and a halting head per algorithm
(NEGA's per-algorithm termination readout, :class:`~.termination.TerminationHead`:
a max over nodes of a linear score plus a linear map of the nodes' mean),
reading the node states h^(n) after each processor step n, so that at
evaluation each sample stops when its model decides, capped at
``ceil(max_steps_factor · n)`` steps (default 5·n), and its outputs are
read at that step.

``kind="learned"`` — PonderNet (Banino et al. 2021) over processor steps::

    λ_n = σ(head(h^(n)))                     halting probability at step n
    p_n = λ_n Π_{j<n} (1 − λ_j)              (truncated: the rest on the last step)
    L   = mean_b [ Σ_n p_n 𝓛_out(y, ŷ_n) + β KL(p ‖ p_G(λ_p)) ] + Σ hint losses

with 𝓛_out the sample's output loss of the outputs decoded at step n
(:func:`sample_output_losses`: per sample, as :func:`~openclrs.models.losses.output_loss`
does per batch) and the hint losses those of the usual training loss, over
the ground-truth trace only. Training unrolls every sample of the batch to
the first step N at which every sample's cumulative halting probability
exceeds 1 − ε, but never fewer than the batch's longest trace (whose hints
are supervised) and never more than the cap (or the trace, if longer);
each sample's p and prior are truncated at its own min(max(cap, T), N)
steps (:func:`capped_ponder_loss`).
Past the end of a sample's trace it is fed its own hint predictions.
Evaluation (default ``evaluation="threshold"``): a sample halts at the
first step whose cumulative halting probability 1 − Π_{j≤n}(1 − λ_j)
reaches 0.5 (the median of p; deterministic); ``"sample"`` draws
Bernoulli(λ_n) from a seeded generator.

``kind="termination"`` — supervised (NEGA, Veličković et al. 2020):
τ_n = σ(head(h^(n))) is trained with binary cross-entropy on "n is the last
step" for n = 1..T (:func:`~.termination.termination_loss`), added to the
usual training loss (outputs at T, hints); evaluation halts at the first
τ_n > 0.5.

``predict(batch, oracle=True)`` is the Reasoner's own prediction with the
trace lengths (what every published score is); ``mode="fixed", budget=c``
runs every sample for ceil(c · n) steps. Multi-task: one processor, one
head per algorithm (as NEGA's T_A).
"""

from __future__ import annotations

import math

from typing import Mapping, NamedTuple

import numpy as np
import torch
from torch import nn

from ..models.decoders import DecoderInputs
from ..models.losses import DENSE, hint_loss
from ..models.model import Reasoner, hard_predictions, processor_steps
from ..specs import Stage, Type
from ..training import memory
from ..training.metrics import OutputScorer
from .config import HaltingConfig
from .ponder import geometric_log_prior_per_sample, halting_distribution, ponder_loss
from .termination import TerminationHead, termination_loss

MODES = ("learned", "oracle", "fixed")


# ------------------------------------------------------------ the losses

def _per_sample_mean(x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    dims = tuple(range(1, x.dim()))
    if weight is None:
        return x.mean(dims) if dims else x
    weight = weight.to(x.dtype).expand_as(x)
    total = torch.where(weight > 0, x, 0.0).mul(weight).sum(dims)
    return total / weight.sum(dims).clamp(min=1e-12)


def sample_output_loss(type_: str, truth: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """(B,) the loss of one output probe per sample: each sample's entries
    reduced the way :func:`~openclrs.models.losses.output_loss` reduces the
    whole batch's (so on a batch of one sample the two agree)."""
    if type_ == Type.SCALAR:
        return _per_sample_mean((pred - truth) ** 2)
    if type_ == Type.MASK:
        bce = pred.clamp(min=0) - pred * truth + torch.log1p(torch.exp(-pred.abs()))
        return _per_sample_mean(bce, truth != -1)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
        labelled = truth * (truth != -1)
        dims = tuple(range(1, truth.dim()))
        total = -(labelled * torch.log_softmax(pred, dim=-1)).sum(dims)
        return total / (truth == 1).sum(dims).clamp(min=1)
    if type_ == Type.POINTER:
        nll = -torch.log_softmax(pred, dim=-1).gather(-1, truth.long()[..., None]).squeeze(-1)
        return _per_sample_mean(nll)
    if type_ == Type.PERMUTATION_POINTER:
        return _per_sample_mean(-pred.gather(-1, truth.long()[..., None]).squeeze(-1))
    raise ValueError(f"no loss for output type {type_!r}")


def sample_output_losses(spec: Mapping[str, tuple], outputs: Mapping[str, torch.Tensor],
                         preds: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B,) the sum over output probes of :func:`sample_output_loss`."""
    terms = [sample_output_loss(type_, outputs[name], preds[name])
             for name, (stage, _, type_) in spec.items() if stage == Stage.OUTPUT]
    if not terms:
        raise ValueError("nothing to compute a loss on: the spec has no output")
    return torch.stack(terms).sum(0)


def capped_ponder_loss(cfg: HaltingConfig, lambdas: list[torch.Tensor],
                       losses: list[torch.Tensor], caps: torch.Tensor,
                       true_steps: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """PonderNet's loss ``(loss, terms)`` of an unroll of N steps (``lambdas``
    and ``losses``: one (B,) tensor per step), each sample's halting
    distribution and geometric prior truncated at its own last step::

        N_b = min(max(cap_b, T_b), N)

    the last step it can be read at (evaluation stops it at its cap
    ``cap_b``; its trace's T_b steps are unrolled whatever the cap), so
    that no mass lies on steps a longer batch-mate made the batch unroll.
    ``terms``: ``reconstruction``, ``kl``, ``expected_steps`` and
    ``unrolled_steps`` (N)."""
    lambdas, losses = torch.stack(lambdas), torch.stack(losses)
    steps = lambdas.shape[0]
    lengths = torch.maximum(caps, true_steps).clamp(max=steps).to(lambdas.device)
    p = halting_distribution(lambdas, truncate=cfg.truncate, lengths=lengths)
    log_prior = geometric_log_prior_per_sample(cfg.lambda_p, lengths, steps)
    loss, parts = ponder_loss(p, losses, lambda_p=cfg.lambda_p, beta=cfg.beta,
                              log_prior=log_prior)
    return loss, {**parts, "unrolled_steps": torch.tensor(float(steps))}


def hint_terms(spec, batch, history: list[dict], layout_of=None) -> dict[str, torch.Tensor]:
    """The usual hint losses of the hint predictions of the steps unrolled
    (``layout_of(location, type)``: each probe's
    :class:`~openclrs.models.losses.Layout`, a sparse batch's; default dense)."""
    return {name: hint_loss(type_, batch.hints[name], torch.stack([h[name] for h in history]),
                            batch.lengths,
                            DENSE if layout_of is None else layout_of(location, type_))
            for name, (stage, location, type_) in spec.items()
            if stage == Stage.HINT and history and name in history[0]}


def _rows(state: DecoderInputs, index: torch.Tensor) -> DecoderInputs:
    return DecoderInputs(*(None if x is None else x[index] for x in state))


def check_mode(mode: str, budget: float | None) -> None:
    """A halting evaluation's ``mode`` and ``budget``, or a clear error."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if (mode == "fixed") != (budget is not None):
        raise ValueError("give budget=c (steps = ceil(c * n)) with mode='fixed', and only then")
    if budget is not None and not (isinstance(budget, (int, float)) and budget > 0
                                   and math.isfinite(budget)):
        raise ValueError(f"budget must be a finite number > 0, got {budget!r}")


class HaltingDecision:
    """Which samples stop at each step, for :meth:`HaltingReasoner.halt` and
    :func:`openclrs.halting.sparse.sparse_halt`. ``learned``: the first step
    whose cumulative halting probability 1 − Π_{j≤n}(1 − λ_j) reaches the
    threshold (a Bernoulli(λ_n) success under ``evaluation="sample"``, one
    draw per sample and step from one seeded generator; termination: the
    first τ_n > threshold), or the sample's cap ceil(c · n_b); ``oracle``:
    its true step count T; ``fixed``: ceil(budget · n_b).

    ``stop(n, logits)`` (logits: the halting logits of step n, read only by
    ``learned``) marks and returns the samples stopping at step n (1-based);
    ``steps`` holds each one's halting step, ``capped`` the ones the cap
    stopped, ``cap`` the largest cap (the steps to unroll)."""

    def __init__(self, config: HaltingConfig, mode: str, budget: float | None,
                 nodes: list[int], true_steps: torch.Tensor):
        check_mode(mode, budget)
        device = true_steps.device
        if mode == "learned":
            caps = torch.tensor([config.cap(n) for n in nodes], device=device)
        elif mode == "oracle":
            caps = true_steps.clone()
        else:
            rule = HaltingConfig(max_steps_factor=budget).validate()
            caps = torch.tensor([rule.cap(n) for n in nodes], device=device)
        self.config, self.mode, self.true_steps, self.caps = config, mode, true_steps, caps
        self.cap = int(caps.max())
        self.steps = caps.clone()
        self.halted = torch.zeros(len(caps), dtype=torch.bool, device=device)
        self.by_head = torch.zeros_like(self.halted)
        self.survival = torch.ones(len(caps), dtype=torch.float64, device=device)
        self.generator = None
        if mode == "learned" and config.kind == "learned" and config.evaluation == "sample":
            # seeded by the batch too (its sizes and trace lengths): one seed for
            # every batch gave row b the same draws in each, correlating the errors
            from ..training.runs import derive_seed

            batch_key = derive_seed(len(nodes), *map(int, nodes),
                                    *map(int, true_steps.tolist()))
            self.generator = torch.Generator(device=device).manual_seed(
                derive_seed(config.sample_seed, batch_key))

    @property
    def learned(self) -> bool:
        return self.mode == "learned"

    def stop(self, n: int, logits: torch.Tensor | None = None) -> torch.Tensor:
        cfg, halted = self.config, self.halted
        if self.mode == "learned":
            if cfg.kind == "termination":
                decide = torch.sigmoid(logits) > cfg.threshold
            elif cfg.evaluation == "sample":
                draws = torch.rand(len(halted), generator=self.generator, dtype=torch.float64,
                                   device=halted.device)
                decide = draws < torch.sigmoid(logits.double())
            else:
                self.survival = self.survival * (1 - torch.sigmoid(logits.double()))
                decide = 1 - self.survival >= cfg.threshold
            stop = ~halted & (decide | (self.caps == n))
            self.by_head |= ~halted & decide
        elif self.mode == "oracle":
            stop = ~halted & (self.true_steps == n)
        else:
            stop = ~halted & (self.caps == n)
        self.steps[stop] = n
        self.halted |= stop
        return stop

    @property
    def done(self) -> bool:
        return bool(self.halted.all())

    @property
    def capped(self) -> torch.Tensor:
        return ~self.by_head if self.mode == "learned" else torch.zeros_like(self.halted)


class Halted(NamedTuple):
    """What a halting run of a batch gives, in the batch's order: the output
    logits read at each sample's halting step, that step count ``steps``
    (B,), the true one ``true_steps`` (B,), whether the cap stopped it
    ``capped`` (B,) and the cap."""

    outputs: dict[str, torch.Tensor]
    steps: torch.Tensor
    true_steps: torch.Tensor
    capped: torch.Tensor
    cap: int


# ------------------------------------------------------------- the model

class HaltingReasoner(nn.Module):
    """A :class:`~openclrs.models.model.Reasoner` with a halting head per
    algorithm (see the module docstring)."""

    def __init__(self, reasoner: Reasoner, config: HaltingConfig | None = None):
        super().__init__()
        self.reasoner = reasoner
        self.halting = (HaltingConfig() if config is None else config).validate()
        h = reasoner.config.hidden_size
        self.heads = nn.ModuleDict()
        bias = float(np.log(self.halting.initial_lambda / (1 - self.halting.initial_lambda)))
        for algorithm in reasoner.algorithms:
            head = TerminationHead(h)
            with torch.no_grad():  # λ (or τ) starts at initial_lambda for every state
                head.node.weight.zero_()
                head.mean.weight.zero_()
                head.mean.bias.fill_(bias)
            self.heads[algorithm] = head
        dtype = next(reasoner.parameters()).dtype
        self.heads.to(dtype=dtype, device=next(reasoner.parameters()).device)

    # what the trainer and the memory estimate read, as the Reasoner's
    @property
    def specs(self):
        return self.reasoner.specs

    @property
    def config(self):
        return self.reasoner.config

    @property
    def categories(self):
        return self.reasoner.categories

    @property
    def edge_size(self) -> int:
        return self.reasoner.edge_size

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self.reasoner.algorithms

    @property
    def processor(self):
        return self.reasoner.processor

    def compile(self, *args, **kwargs) -> None:
        self.reasoner.compile(*args, **kwargs)

    def halt_logits(self, algorithm: str, hidden: torch.Tensor) -> torch.Tensor:
        """(B,) the halting logit of every sample from its node states
        ``(B, N, H)`` after a step (every node of a batch's graphs is real)."""
        return self.heads[algorithm](hidden)

    # ---------------------------------------------------------- training

    def loss(self, batch, algorithm: str | None = None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss ``(total, terms)`` (the module docstring's)."""
        algorithm, spec, batch = self.reasoner.prepare(batch, algorithm)
        if self.halting.kind == "learned":
            return self._ponder_loss(algorithm, spec, batch)
        return self._termination_loss(algorithm, spec, batch)

    def sparse_loss(self, batch, algorithm: str | None = None
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss on a sparse batch (``train --sparse``):
        :func:`openclrs.halting.sparse.sparse_halting_loss`."""
        from .sparse import sparse_halting_loss

        return sparse_halting_loss(self, batch, algorithm)

    def _ponder_loss(self, algorithm, spec, batch):
        cfg = self.halting
        true_steps = processor_steps(batch.lengths)
        longest = int(true_steps.max())
        nodes = Reasoner._num_nodes(spec, batch)
        limit = max(cfg.cap(nodes), longest)
        lambdas, losses, history = [], [], []
        survival = torch.ones(batch.batch_size, dtype=torch.float64,
                              device=true_steps.device)
        for step in self.reasoner.unroll(batch, algorithm, steps=limit, repred=False):
            # float32 under autocast too: the halting distribution is a long product
            lam = torch.sigmoid(self.halt_logits(algorithm, step.hidden).float())
            outputs = self.reasoner.decode_outputs(step.state, algorithm, repred=False)
            losses.append(sample_output_losses(spec, batch.outputs, outputs))
            lambdas.append(lam)
            history.append(step.hints)
            # the ε rule on the cumulative halting probability 1 − Π(1 − λ)
            survival = survival * (1 - lam.detach().double())
            if step.index + 1 >= longest and bool((1 - survival > 1 - cfg.epsilon).all()):
                break
        caps = torch.full_like(true_steps, cfg.cap(nodes))
        loss, terms = capped_ponder_loss(cfg, lambdas, losses, caps, true_steps)
        if self.reasoner.config.decode_hints:
            hints = hint_terms(spec, batch, history)
            terms.update(hints)
            if hints:
                loss = loss + torch.stack(list(hints.values())).sum()
        return loss, terms

    def _termination_loss(self, algorithm, spec, batch):
        from ..models.losses import total_loss

        true_steps = processor_steps(batch.lengths)
        logits, history, finished = [], [], []
        for step in self.reasoner.unroll(batch, algorithm, steps=int(true_steps.max()),
                                         repred=False):
            logits.append(self.halt_logits(algorithm, step.hidden))
            history.append(step.hints)
            rows = torch.nonzero(true_steps == step.index + 1).squeeze(1)
            if rows.numel():
                outputs = self.reasoner.decode_outputs(_rows(step.state, rows), algorithm,
                                                       repred=False)
                finished.append((rows, outputs))
        outputs = _in_batch_order(finished)
        hints = None
        if self.reasoner.config.decode_hints and history and history[0]:
            hints = {k: torch.stack([h[k] for h in history]) for k in history[0]}
        loss, terms = total_loss(spec, batch, outputs, hints)
        terms["termination"] = termination_loss(torch.stack(logits), true_steps)
        return loss + terms["termination"], terms

    # -------------------------------------------------------- evaluation

    @torch.no_grad()
    def halt(self, batch, algorithm: str | None = None, *, mode: str = "learned",
             budget: float | None = None) -> Halted:
        """Run ``batch`` in evaluation mode and read each sample's outputs at
        the step it stops: ``learned`` (its head decides, capped),
        ``oracle`` (its true step count T, through the step-level unroll),
        or ``fixed`` (ceil(budget · n) steps for every sample)."""
        check_mode(mode, budget)
        was_training = self.training
        self.eval()
        try:
            return self._halt(batch, algorithm, mode, budget)
        finally:
            self.train(was_training)

    def _halt(self, batch, algorithm, mode, budget) -> Halted:
        algorithm, spec, batch = self.reasoner.prepare(batch, algorithm)
        true_steps = processor_steps(batch.lengths)
        nodes = [Reasoner._num_nodes(spec, batch)] * batch.batch_size
        decision = HaltingDecision(self.halting, mode, budget, nodes, true_steps)
        finished = []
        for step in self.reasoner.unroll(batch, algorithm, steps=decision.cap, repred=True):
            logits = self.halt_logits(algorithm, step.hidden) if decision.learned else None
            rows = torch.nonzero(decision.stop(step.index + 1, logits)).squeeze(1)
            if rows.numel():
                finished.append((rows, self.reasoner.decode_outputs(
                    _rows(step.state, rows), algorithm, repred=True)))
            if decision.done:
                break
        return Halted(_in_batch_order(finished), decision.steps, true_steps, decision.capped,
                      decision.cap)

    @torch.no_grad()
    def predict(self, batch, algorithm: str | None = None, *, oracle: bool = False,
                mode: str | None = None, budget: float | None = None) -> dict[str, np.ndarray]:
        """Hard output predictions (the Reasoner's format) with learned
        halting; ``oracle=True``: the Reasoner's own :meth:`predict`, with the
        trace lengths; ``mode``/``budget`` as :meth:`halt`."""
        if oracle:
            return self.reasoner.predict(batch, algorithm)
        algorithm, spec, batch = self.reasoner.prepare(batch, algorithm)
        result = self.halt(batch, algorithm, mode=mode or "learned", budget=budget)
        return self._hard(spec, result.outputs)

    def _hard(self, spec, outputs):
        cfg = self.reasoner.config
        return hard_predictions(spec, outputs, sinkhorn_steps=cfg.predict_sinkhorn_steps,
                                sinkhorn_temperature=cfg.sinkhorn_temperature)


def _in_batch_order(finished: list[tuple[torch.Tensor, dict]]) -> dict[str, torch.Tensor]:
    """Outputs decoded for groups of rows, put back in the batch's order."""
    order = torch.cat([rows for rows, _ in finished])
    unsort = torch.argsort(order)
    return {k: torch.cat([outputs[k] for _, outputs in finished]).index_select(0, unsort)
            for k in finished[0][1]}


# ------------------------------------------------------------- scoring

class HaltingStatistics:
    """Accumulates, over a split, how far learned halting is from the true
    step count T: mean |T̂ − T| / T, the fractions stopped early (T̂ < T),
    late (T̂ > T) and by the cap, mean T̂ and mean T."""

    # a table's columns of them (halting_table, sparse_halting_table)
    HEADER = f"{'|T^-T|/T':>10}{'early':>7}{'late':>7}{'capped':>8}{'mean T^':>9}{'mean T':>8}"

    @staticmethod
    def cells(h: dict) -> str:
        """One row's statistics (:meth:`result`'s) under :attr:`HEADER`."""
        return (f"{h['halting_error']:>10.3f}{100 * h['early']:>6.1f}%"
                f"{100 * h['late']:>6.1f}%{100 * h['capped']:>7.1f}%"
                f"{h['mean_steps']:>9.2f}{h['mean_true_steps']:>8.2f}")

    def __init__(self):
        self.count = 0
        self.sums = dict.fromkeys(("halting_error", "early", "late", "capped", "mean_steps",
                                   "mean_true_steps"), 0.0)
        self.cap = 0

    def update(self, result: Halted) -> None:
        steps = result.steps.double().cpu()
        true = result.true_steps.double().cpu()
        self.count += len(steps)
        self.sums["halting_error"] += float(((steps - true).abs() / true).sum())
        self.sums["early"] += float((steps < true).sum())
        self.sums["late"] += float((steps > true).sum())
        self.sums["capped"] += float(result.capped.sum())
        self.sums["mean_steps"] += float(steps.sum())
        self.sums["mean_true_steps"] += float(true.sum())
        self.cap = max(self.cap, result.cap)

    def result(self) -> dict[str, float]:
        return {**{k: v / max(self.count, 1) for k, v in self.sums.items()},
                "max_steps": self.cap}


def score_halting(model: HaltingReasoner, batches, autocast=None,
                  max_memory: int | None = None, *, budgets: tuple[float, ...] = ()
                  ) -> dict[str, float]:
    """Output metrics of ``model`` on ``batches`` with learned halting
    (``score`` and the per-output metrics, as :func:`openclrs.training.loop.score`),
    the score with the trace lengths (``oracle_score``: the Reasoner's own
    prediction), the halting statistics (:class:`HaltingStatistics`) and,
    for each ``c`` in ``budgets``, ``fixed_{c}_score`` (ceil(c · n) steps).
    Batches run in chunks that fit ``max_memory``, as in training. Sparse
    batches (a run trained ``--sparse``) are scored by
    :func:`openclrs.halting.sparse.score_halting_sparse`, fixed budgets
    included; they run whole, as :func:`openclrs.training.loop.score` runs
    them (``max_memory`` chunks only dense batches)."""
    from contextlib import nullcontext

    from ..training.sparse_train import SparseBatches

    if isinstance(batches, SparseBatches):
        from .sparse import score_halting_sparse

        return score_halting_sparse(model, batches, autocast, budgets=budgets)

    autocast = autocast or nullcontext
    scorers: dict[str, OutputScorer] = {}
    stats = HaltingStatistics()
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            spec = model.specs[batch.algorithm]
            if not scorers:
                scorers = {k: OutputScorer(spec)
                           for k in ["learned", "oracle", *[f"fixed_{c:g}" for c in budgets]]}
            # the step-level unroll holds no more per step than forward does
            for chunk in memory.chunks(model.reasoner, batch, max_memory):
                with autocast():
                    result = model.halt(chunk)
                    scorers["learned"].update(chunk.outputs, model._hard(spec, result.outputs))
                    scorers["oracle"].update(chunk.outputs, model.predict(chunk, oracle=True))
                    for c in budgets:
                        scorers[f"fixed_{c:g}"].update(
                            chunk.outputs, model.predict(chunk, mode="fixed", budget=c))
                stats.update(result)
    finally:
        model.train(was_training)
    if not scorers:
        raise ValueError("no batch to score")
    metrics = scorers["learned"].result()
    metrics["oracle_score"] = scorers["oracle"].result()["score"]
    for c in budgets:
        metrics[f"fixed_{c:g}_score"] = scorers[f"fixed_{c:g}"].result()["score"]
    metrics.update(stats.result())
    return metrics
