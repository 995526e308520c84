"""Adaptive Computation Time (Graves 2016, "Adaptive Computation Time for
Recurrent Neural Networks"), the baseline PonderNet is compared with.

Tensors are step-major, ``(N, B)``; n is 1-based in the equations.

At each step n a halting unit h_n ∈ (0, 1) is emitted (a sigmoid). The
computation stops at::

    N(t) = min{ n : Σ_{j≤n} h_j ≥ 1 − ε }           (capped at the M steps given)
    R    = 1 − Σ_{n<N(t)} h_n                       the remainder
    p_n  = h_n for n < N(t),   p_N(t) = R,   0 after
    ρ    = N(t) + R                                  the ponder cost

The output (and, in Graves' RNN, the state) is the mean-field average
y = Σ_n p_n y_n, and the training loss is L(y) + τ · ρ. N(t) is discrete, so
ρ's gradient reaches the halting units only through R (∂ρ/∂h_n = −1 for
n < N(t)); that is the bias PonderNet's appendix points out. Graves uses
ε = 0.01.

Use::

    halting = act_halting(torch.sigmoid(halting_logits))   # (N, B) -> ACTHalting
    logits = weighted_output(halting.p, step_logits)       # Σ p_n y_n
    loss = task_loss(logits, y) + tau * halting.ponder_cost.mean()
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class ACTHalting(NamedTuple):
    p: Tensor            # (N, B) the step weights: h_n before N(t), R at N(t), 0 after
    steps: Tensor        # (B,) long: N(t), 1-based
    remainder: Tensor    # (B,) R
    ponder_cost: Tensor  # (B,) ρ = N(t) + R


def act_halting(halting_units: Tensor, epsilon: float = 0.01) -> ACTHalting:
    """ACT's halting step, remainder, weights and ponder cost from the
    halting units ``h`` (N, B) in [0, 1]. If Σ h never reaches 1 − ε, N(t) is
    the last step given (Graves' cap M)."""
    if halting_units.dim() != 2 or halting_units.shape[0] < 1:
        raise ValueError(f"halting_units must be (steps, batch); got shape "
                         f"{tuple(halting_units.shape)}")
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must lie in [0, 1); got {epsilon}")
    steps = halting_units.shape[0]
    cumulative = torch.cumsum(halting_units, dim=0)
    index = torch.arange(steps, device=halting_units.device)[:, None]
    reached = cumulative >= 1 - epsilon
    last = torch.where(reached, index, torch.full_like(index, steps - 1)).min(0).values  # 0-based N(t)−1
    before = index < last[None, :]                                                       # n < N(t)
    remainder = 1 - (halting_units * before).sum(0)
    p = torch.where(before, halting_units, torch.zeros_like(halting_units))
    p = torch.where(index == last[None, :], remainder[None, :].expand_as(p), p)
    number = last + 1
    return ACTHalting(p=p, steps=number, remainder=remainder,
                      ponder_cost=number.to(remainder.dtype) + remainder)


def weighted_output(p: Tensor, outputs: Tensor) -> Tensor:
    """Σ_n p_n y_n: ``p`` (N, B), ``outputs`` (N, B, ...) -> (B, ...)."""
    weights = p.view(*p.shape, *([1] * (outputs.dim() - 2)))
    return (weights * outputs).sum(0)


def act_loss(task_loss: Tensor, ponder_cost: Tensor, tau: float) -> Tensor:
    """L + τ · mean_b ρ_b (``task_loss`` already reduced to a scalar)."""
    if tau < 0:
        raise ValueError(f"tau must be >= 0; got {tau}")
    return task_loss + tau * ponder_cost.mean()
