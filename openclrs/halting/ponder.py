"""PonderNet's halting distribution, prior, loss and evaluation rules
(Banino, Balaguer & Blundell 2021, "PonderNet: Learning to Ponder").

Every tensor here is **step-major**: ``(N, B)`` = (steps, batch). Step ``n``
is 1-based in the equations and 0-based as a tensor index.

A step function gives, at step n, a prediction ŷ_n and λ_n, the probability
of halting at n given that no earlier step halted. The halting distribution
(the paper's Eq. 2) is a generalised geometric distribution::

    p_n = λ_n · Π_{j<n} (1 − λ_j)                                    n = 1..N

It sums to 1 only as N → ∞; cut at N, the remainder 1 − Σ_{n≤N} p_n is
either given to the last step (``truncate="last"``: p_N = Π_{j<N} (1 − λ_j),
i.e. λ_N is taken to be 1) or the p_n are renormalised (``"renormalise"``:
conditioned on halting by N). The paper does not say which its experiments
used; ``"last"`` is the default because it never divides.

The loss (Eq. 3)::

    L = Σ_n p_n · 𝓛(y, ŷ_n)  +  β · KL(p ‖ p_G(λ_p))

with p_G the geometric prior p_G(n) = λ_p (1 − λ_p)^{n−1}, **renormalised
over 1..N** (the paper says only "truncated at N"; the community code leaves
it unnormalised, an option here). The direction is KL(p ‖ p_G) =
Σ_n p_n (log p_n − log p_G(n)), as in the paper; PyTorch's ``KLDivLoss(log p,
p_G)``, which two public implementations use, computes the reverse.

Training unrolls until the first n whose cumulative p exceeds 1 − ε
(ε = 0.05; :func:`training_steps`); evaluation halts at the first success of
Bernoulli(λ_n) draws (:func:`sample_halting_step`) or at the first step whose
cumulative p passes a threshold (:func:`threshold_halting_step`).

Typical use::

    lambdas = torch.stack(step_lambdas)            # (N, B), from a HaltingHead
    losses = torch.stack(step_losses)              # (N, B), the task loss of each step
    p = halting_distribution(lambdas)              # (N, B), sums to 1 per sample
    loss, parts = ponder_loss(p, losses, lambda_p=0.2, beta=0.01)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

TRUNCATIONS = ("last", "renormalise")


def _check_steps_first(name: str, tensor: Tensor) -> None:
    if tensor.dim() != 2 or tensor.shape[0] < 1:
        raise ValueError(f"{name} must be (steps, batch) with at least one step; got shape "
                         f"{tuple(tensor.shape)}")


def _step_mask(lengths: Tensor, steps: int) -> Tensor:
    """(N, B) bool: step n (0-based) is one of sample b's ``lengths[b]`` steps."""
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be (batch,); got shape {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"lengths must lie in 1..{steps} (the number of steps); got "
                         f"{lengths.min().item()}..{lengths.max().item()}")
    return torch.arange(steps, device=lengths.device)[:, None] < lengths[None, :]


def halting_distribution(lambdas: Tensor, *, truncate: str = "last", lengths: Tensor | None = None) -> Tensor:
    """p_n = λ_n Π_{j<n} (1 − λ_j) over the N steps of ``lambdas`` (N, B),
    made to sum to 1 per sample.

    ``truncate="last"``: p_N = 1 − Σ_{n<N} p_n = Π_{j<N} (1 − λ_j) (λ_N is
    ignored). ``"renormalise"``: p_n / Σ_m p_m; a sample whose p is all zero
    (every λ = 0) gets all its mass on its last step, as under ``"last"``.

    ``lengths`` (B,), optional: sample b has only its first ``lengths[b]``
    steps (a per-sample cap); the truncation happens at its own last step
    and p is 0 after it.
    """
    _check_steps_first("lambdas", lambdas)
    if truncate not in TRUNCATIONS:
        raise ValueError(f"truncate must be one of {TRUNCATIONS}; got {truncate!r}")
    steps = lambdas.shape[0]
    if lengths is None:
        last = torch.zeros_like(lambdas, dtype=torch.bool)
        last[-1] = True
        valid = torch.ones_like(last)
    else:
        valid = _step_mask(torch.as_tensor(lengths).to(lambdas.device), steps)
        last = valid & ~torch.cat([valid[1:], torch.zeros_like(valid[:1])])
    # survival_n = Π_{j<n} (1 − λ_j): the probability of reaching step n.
    continue_ = 1 - lambdas
    survival = torch.cumprod(torch.cat([torch.ones_like(lambdas[:1]), continue_[:-1]]), dim=0)
    p = lambdas * survival
    if truncate == "last":
        p = torch.where(last, survival, p)
        return torch.where(valid, p, torch.zeros_like(p))
    p = torch.where(valid, p, torch.zeros_like(p))
    total = p.sum(0, keepdim=True)
    empty = total == 0
    p = p / torch.where(empty, torch.ones_like(total), total)
    return torch.where(empty & last, torch.ones_like(p), p)


def _check_lambda_p(lambda_p: float) -> None:
    if not 0 < lambda_p < 1:
        raise ValueError(f"lambda_p must lie in (0, 1) (1 puts the whole prior on step 1: "
                         f"an infinite KL for any other); got {lambda_p}")


def geometric_log_prior(lambda_p: float, steps: int, *, device=None,
                        normalise: bool = True) -> Tensor:
    """(N,) float64 log p_G(n) = log λ_p + (n − 1) log(1 − λ_p) (− log Z,
    Z = Σ_{n≤N} p_G(n), when renormalised): in closed form, so no step's
    prior underflows to 0 (which would make the KL infinite), however long
    the horizon."""
    _check_lambda_p(lambda_p)
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}")
    n = torch.arange(steps, dtype=torch.float64, device=device)
    log_prior = math.log(lambda_p) + n * math.log1p(-lambda_p)
    return log_prior - torch.logsumexp(log_prior, 0) if normalise else log_prior


def geometric_prior(lambda_p: float, steps: int, *, dtype=None, device=None,
                    normalise: bool = True) -> Tensor:
    """(N,) the geometric prior p_G(n) = λ_p (1 − λ_p)^{n−1}, n = 1..N,
    renormalised over 1..N (``normalise=False``: left as is, summing to
    1 − (1 − λ_p)^N, as the public implementations do). Its untruncated mean
    is 1/λ_p. Late steps of a long horizon underflow to 0: the losses use
    :func:`geometric_log_prior`."""
    _check_lambda_p(lambda_p)
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}")
    n = torch.arange(steps, dtype=torch.float64)
    prior = lambda_p * (1 - lambda_p) ** n
    if normalise:
        prior = prior / prior.sum()
    return prior.to(dtype=dtype or torch.get_default_dtype(), device=device)


def geometric_log_prior_per_sample(lambda_p: float, lengths: Tensor, steps: int, *,
                                   normalise: bool = True) -> Tensor:
    """(N, B) float64: sample b's log prior truncated (and renormalised) at
    its own ``lengths[b]`` steps, −inf after them."""
    lengths = torch.as_tensor(lengths)
    mask = _step_mask(lengths, steps)
    log_prior = geometric_log_prior(lambda_p, steps, device=lengths.device,
                                    normalise=False)[:, None].expand(steps, mask.shape[1])
    log_prior = torch.where(mask, log_prior, torch.full_like(log_prior, -math.inf))
    return log_prior - torch.logsumexp(log_prior, 0, keepdim=True) if normalise else log_prior


def geometric_prior_per_sample(lambda_p: float, lengths: Tensor, steps: int, *,
                               dtype=None, normalise: bool = True) -> Tensor:
    """(N, B): sample b's prior truncated (and renormalised) at its own
    ``lengths[b]`` steps, zero after them."""
    lengths = torch.as_tensor(lengths)
    mask = _step_mask(lengths, steps)
    prior = geometric_prior(lambda_p, steps, dtype=torch.float64, device=lengths.device,
                            normalise=False)[:, None] * mask
    if normalise:
        prior = prior / prior.sum(0, keepdim=True)
    return prior.to(dtype or torch.get_default_dtype())


def kl_divergence(p: Tensor, prior: Tensor | None = None, *,
                  log_prior: Tensor | None = None) -> Tensor:
    """(B,) KL(p ‖ prior) = Σ_n p_n (log p_n − log prior_n) per sample: the
    paper's direction (the halting distribution first). ``p`` is (N, B);
    ``prior`` is (N,) (one for every sample) or (N, B), or give its log as
    ``log_prior`` (what the losses do: no underflow). Computed in float64
    (bfloat16 loses up to half the value), returned in ``p``'s dtype.

    Terms with p_n = 0 contribute 0 (0 log 0 = 0; log p is taken of p clamped
    at the smallest positive float, so the gradient stays finite there),
    also where prior_n = 0 too: the steps after a sample's own cap, where
    both p (:func:`halting_distribution` with ``lengths``) and the prior
    (:func:`geometric_prior_per_sample`) are 0, would otherwise give
    0 · (log tiny − log 0) = 0 · ∞ = NaN, in the value and the gradient. A
    step with p_n > 0 but prior_n = 0 gives +inf, as it should. Note that
    ``kl_divergence(prior, p)`` is the reverse KL and differs in general.
    """
    _check_steps_first("p", p)
    if (prior is None) == (log_prior is None):
        raise ValueError("give prior or log_prior (one of them)")
    if log_prior is None:
        log_prior = torch.log(prior.to(device=p.device, dtype=torch.float64))
    log_prior = log_prior.to(device=p.device, dtype=torch.float64)
    if log_prior.dim() == 1:
        log_prior = log_prior[:, None]
    p64 = p.double()
    tiny = torch.finfo(torch.float64).tiny
    # log prior = 0 where p = prior = 0, so the term is 0 and its gradient
    # finite (a masked torch.where on the result would still back-propagate 0 · ∞).
    both_zero = (p64 == 0) & torch.isneginf(log_prior)
    log_prior = torch.where(both_zero, torch.zeros_like(log_prior), log_prior)
    return (p64 * (torch.log(p64.clamp_min(tiny)) - log_prior)).sum(0).to(p.dtype)


def expected_steps(p: Tensor) -> Tensor:
    """(B,) Σ_n n · p_n with n = 1..N: the mean ponder time, exactly
    differentiable in the λ's (it falls when any λ_n, n < N, rises)."""
    _check_steps_first("p", p)
    n = torch.arange(1, p.shape[0] + 1, dtype=p.dtype, device=p.device)
    return (n[:, None] * p).sum(0)


def ponder_loss(p: Tensor, step_losses: Tensor, *, lambda_p: float, beta: float,
                prior: Tensor | None = None,
                log_prior: Tensor | None = None) -> tuple[Tensor, dict]:
    """PonderNet's loss (Eq. 3), averaged over the batch::

        L = mean_b [ Σ_n p_n,b 𝓛_n,b  +  β · KL(p_·,b ‖ p_G) ]

    ``step_losses`` (N, B) is the task loss of each step's prediction (per
    sample, not reduced). The prior defaults to :func:`geometric_log_prior`
    (λ_p, N), renormalised; pass ``log_prior=``
    :func:`geometric_log_prior_per_sample` for per-sample caps (or a
    ``prior``). Returns the loss and a dict of detached 0-d tensors:
    ``reconstruction`` (the expected task loss), ``kl`` and
    ``expected_steps`` (batch means).
    """
    _check_steps_first("p", p)
    if step_losses.shape != p.shape:
        raise ValueError(f"step_losses must have p's shape {tuple(p.shape)}; got "
                         f"{tuple(step_losses.shape)}")
    if prior is None and log_prior is None:
        log_prior = geometric_log_prior(lambda_p, p.shape[0], device=p.device)
    reconstruction = (p * step_losses).sum(0).mean()
    kl = kl_divergence(p, prior, log_prior=log_prior).mean()
    loss = reconstruction + beta * kl
    parts = {"reconstruction": reconstruction.detach(), "kl": kl.detach(),
             "expected_steps": expected_steps(p.detach()).mean()}
    return loss, parts


def _cumulative_halt(lambdas: Tensor) -> Tensor:
    """(N, B) P(halted by step n) = 1 − Π_{j≤n} (1 − λ_j) (untruncated)."""
    return 1 - torch.cumprod(1 - lambdas, dim=0)


def _first_true(condition: Tensor) -> Tensor:
    """(B,) the 0-based index of the first True along steps; the last step if none."""
    steps = condition.shape[0]
    index = torch.arange(steps, device=condition.device)[:, None].expand_as(condition)
    return torch.where(condition, index, torch.full_like(index, steps - 1)).min(0).values


def training_steps(lambdas_or_p: Tensor, epsilon: float = 0.05, *, given: str = "lambdas") -> Tensor:
    """(B,) long: the number of steps to unroll in training, the first n
    (1-based) whose cumulative halting probability exceeds 1 − ε, capped at
    N (the number of rows given). The batch's unroll is the max over it.

    ``given="lambdas"`` (default): the input is λ (N, B) and the cumulative
    probability is 1 − Π_{j≤n} (1 − λ_j), so it works on the steps seen so
    far. ``given="p"``: the input is a halting distribution and the
    cumulative probability is Σ_{j≤n} p_j.
    """
    _check_steps_first("lambdas_or_p", lambdas_or_p)
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must lie in (0, 1); got {epsilon}")
    if given == "lambdas":
        cumulative = _cumulative_halt(lambdas_or_p)
    elif given == "p":
        cumulative = torch.cumsum(lambdas_or_p, dim=0)
    else:
        raise ValueError(f"given must be 'lambdas' or 'p'; got {given!r}")
    return _first_true(cumulative > 1 - epsilon) + 1


def sample_halting_step(lambdas: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """(B,) long, 0-based: the first step n whose draw Λ_n ~ Bernoulli(λ_n)
    is 1 (halt), the last step if none is (the paper's evaluation, §2.5).
    λ = 1 halts at once; λ = 0 never halts early. Reproducible with a seeded
    ``generator`` (on the lambdas' device)."""
    _check_steps_first("lambdas", lambdas)
    draws = torch.rand(lambdas.shape, generator=generator, dtype=lambdas.dtype,
                       device=lambdas.device)
    return _first_true(draws < lambdas)


def threshold_halting_step(lambdas: Tensor, threshold: float = 0.5) -> Tensor:
    """(B,) long, 0-based: the first step n whose cumulative halting
    probability 1 − Π_{j≤n} (1 − λ_j) reaches ``threshold`` (≥; with 0.5 the
    median of the halting distribution), the last step if none does."""
    _check_steps_first("lambdas", lambdas)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold}")
    return _first_true(_cumulative_halt(lambdas) >= threshold)


def gather_steps(values: Tensor, steps: Tensor) -> Tensor:
    """``values`` (N, B, ...) at each sample's 0-based step -> (B, ...)."""
    index = steps.to(values.device).view(1, -1, *([1] * (values.dim() - 2)))
    return values.gather(0, index.expand(1, *values.shape[1:]))[0]


class HaltingHead(nn.Module):
    """λ = σ(w · h + b): the probability of halting at this step, from a
    state ``h`` (..., hidden) -> (...).

    The weight starts at zero and the bias at logit(``initial_lambda``), so
    that λ starts at exactly ``initial_lambda`` for every input (by default
    0.1: p starts near a geometric distribution of mean 10 and most of the
    unroll gets gradient early on); gradients still reach w from the first
    step because the states vary.
    """

    def __init__(self, hidden_size: int, *, initial_lambda: float = 0.1):
        super().__init__()
        if not 0 < initial_lambda < 1:
            raise ValueError(f"initial_lambda must lie in (0, 1); got {initial_lambda}")
        self.linear = nn.Linear(hidden_size, 1)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.fill_(math.log(initial_lambda / (1 - initial_lambda)))

    def logits(self, h: Tensor) -> Tensor:
        return self.linear(h).squeeze(-1)

    def forward(self, h: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(h))
