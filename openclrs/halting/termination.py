"""A supervised termination head in the style of NEGA (Veličković, Ying,
Padovano, Hadsell & Blundell 2020, "Neural Execution of Graph Algorithms").

NEGA's termination network is τ^(t) = σ(T(H^(t), H̄^(t))): a learnt readout T
of the node states H^(t) after step t and of their mean H̄^(t) = (1/|V|) Σ_i
h_i^(t), trained with binary cross-entropy. The exact readout was not read in
the primary text (see shared/papers/termination.md); here it is::

    logit^(t) = max_i ( w_node · h_i^(t) ) + w_mean · H̄^(t) + b
    τ^(t)     = σ(logit^(t))          the probability that step t is the last

A plain linear map of every node followed by a mean would collapse into a
function of H̄ alone, so the node term is max-pooled: one node that is still
"busy" can keep the algorithm running. Mean and max run over one graph's
nodes only (``mask``), so padding never changes a graph's τ.

Convention: τ is a **halt** probability, and the training target at step t is
1 iff t is the sample's last step (:func:`termination_loss`). At evaluation the
sample stops at the first step with τ > 0.5 (:func:`termination_step`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TerminationHead(nn.Module):
    """node states (B, V, H), mask (B, V) bool or None -> halting logits (B,).
    Every graph needs at least one node (one True in its mask row)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.node = nn.Linear(hidden_size, 1, bias=False)
        self.mean = nn.Linear(hidden_size, 1)

    def forward(self, node_states: Tensor, mask: Tensor | None = None) -> Tensor:
        if node_states.dim() != 3:
            raise ValueError(f"node_states must be (batch, nodes, hidden); got shape "
                             f"{tuple(node_states.shape)}")
        scores = self.node(node_states).squeeze(-1)                       # (B, V)
        if mask is None:
            mean = node_states.mean(1)
            top = scores.max(1).values
        else:
            mask = mask.to(torch.bool)
            if mask.shape != scores.shape:
                raise ValueError(f"mask must be (batch, nodes) = {tuple(scores.shape)}; got "
                                 f"{tuple(mask.shape)}")
            empty = ~mask.any(1)
            if bool(empty.any()):
                # No node to pool: the max would be −inf and the loss NaN.
                raise ValueError(f"mask leaves no node in graph(s) "
                                 f"{empty.nonzero().flatten().tolist()} of the batch; every "
                                 "graph needs at least one unmasked node")
            weights = mask.to(node_states.dtype)
            count = weights.sum(1, keepdim=True).clamp_min(1)
            mean = (node_states * weights[..., None]).sum(1) / count
            top = scores.masked_fill(~mask, float("-inf")).max(1).values
        return top + self.mean(mean).squeeze(-1)


def termination_targets(lengths: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """(targets, valid), both (N, B): target 1 at each sample's last step
    (0-based index ``lengths − 1``), 0 before it; ``valid`` marks the steps
    the sample has (n < lengths)."""
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(f"lengths must be (batch,) with values in 1..{steps}; got {lengths.tolist()}")
    index = torch.arange(steps, device=lengths.device)[:, None]
    return index == (lengths - 1)[None, :], index < lengths[None, :]


def termination_loss(logits_per_step: Tensor, lengths: Tensor) -> Tensor:
    """Binary cross-entropy of the halting logits (N, B) against "this is
    the sample's last step", averaged over the (step, sample) pairs the
    sample has (steps after its last are ignored)."""
    if logits_per_step.dim() != 2:
        raise ValueError(f"logits_per_step must be (steps, batch); got shape "
                         f"{tuple(logits_per_step.shape)}")
    targets, valid = termination_targets(torch.as_tensor(lengths).to(logits_per_step.device),
                                         logits_per_step.shape[0])
    losses = F.binary_cross_entropy_with_logits(logits_per_step, targets.to(logits_per_step.dtype),
                                                reduction="none")
    return (losses * valid).sum() / valid.sum()


def termination_step(logits_per_step: Tensor, threshold: float = 0.5) -> Tensor:
    """(B,) long, 0-based: the first step with τ = σ(logit) > threshold, the
    last step if none (the cap)."""
    steps = logits_per_step.shape[0]
    index = torch.arange(steps, device=logits_per_step.device)[:, None].expand_as(logits_per_step)
    halt = torch.sigmoid(logits_per_step) > threshold
    return torch.where(halt, index, torch.full_like(index, steps - 1)).min(0).values
