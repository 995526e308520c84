"""Training losses, per probe type, as in the published models.

Targets are batch tensors as :meth:`Batch.to_torch` gives them: pointers
(and permutation pointers) as int64 node indices, everything else float;
``-1`` in a mask marks an entry that carries no label. Predictions are the
decoders' logits (for permutation pointers: log doubly stochastic matrices).

============  ===============================================================
type          loss
============  ===============================================================
scalar        squared error
mask          binary cross-entropy on logits, entries labelled -1 left out
mask_one,     cross-entropy over the last axis; for outputs, entries labelled
categorical   -1 are left out and the sum is divided by the number of
              positive labels (one per row for well-formed data)
pointer       cross-entropy over the candidate nodes
permutation   cross-entropy between the target permutation matrix and the
              predicted log doubly stochastic matrix
============  ===============================================================

Output losses average over every entry of the batch. A hint loss compares
the prediction made at step t with the hint of step t + 1 and averages over
the steps each sample actually has (``t + 1 < length``), so padding never
counts. The total loss is the plain sum over output probes and, when hints
are decoded, over hint probes: no probe is weighted, as published.

Where a probe's candidates are (the nodes a pointer may name, the items a
mask_one picks one of) and which sample each row of its loss belongs to is
a :class:`Layout`: in a dense batch, the last axis and the batch axis
(:data:`DENSE`). A sparse batch (:mod:`.sparse`) passes layouts whose
candidates are segments of an edge or node list (a node's out-edges, a
graph's nodes), so the same losses run on it.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from ..specs import Stage, Type

EPS = 1e-12


def _bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise, in the overflow-free form (any target value is accepted;
    callers mask out the -1 labels)."""
    return logits.clamp(min=0) - logits * target + torch.log1p(torch.exp(-logits.abs()))


def _pointer_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -torch.log_softmax(logits, dim=-1).gather(-1, target.long()[..., None]).squeeze(-1)


class Layout:
    """Where a batch holds one probe's candidates, and the sample of each
    row of its loss. This one is the dense batch's: candidates on the last
    axis, hint rows on axis 1 (the samples). Losses call only these four."""

    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-probabilities over each row's candidates."""
        return torch.log_softmax(logits, dim=-1)

    def total(self, values: torch.Tensor) -> torch.Tensor:
        """The sum over each row's candidates (one value per row)."""
        return values.sum(-1, keepdim=True)

    def pointer_nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``-log p(target)`` per pointer, ``target`` the node indices."""
        return _pointer_nll(logits, target)

    def row_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """The trace length of each row of a hint's per-row loss (axis 1)."""
        return lengths


DENSE = Layout()


def _masked_mean(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(loss.dtype).expand_as(loss)
    # where, not a product: a non-finite loss on an unlabelled entry must not
    # leak into the mean.
    return torch.where(mask > 0, loss, 0.0).mul(mask).sum() / mask.sum().clamp(min=EPS)


def output_loss(type_: str, truth: torch.Tensor, pred: torch.Tensor,
                layout: Layout = DENSE) -> torch.Tensor:
    """Loss of one output probe, ``truth`` and ``pred`` batch-major (or as
    ``layout`` holds them)."""
    if type_ == Type.SCALAR:
        return ((pred - truth) ** 2).mean()
    if type_ == Type.MASK:
        return _masked_mean(_bce_with_logits(pred, truth), truth != -1)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
        labelled = truth * (truth != -1)
        log_p = layout.log_softmax(pred) if type_ == Type.MASK_ONE else torch.log_softmax(
            pred, dim=-1)  # a categorical's candidates are its classes, in any batch
        # clamped: a chunk without a labelled row gives 0, not 0/0 (as MASK does)
        return -(labelled * log_p).sum() / (truth == 1).sum().clamp(min=1)
    if type_ == Type.POINTER:
        return layout.pointer_nll(pred, truth).mean()
    if type_ == Type.PERMUTATION_POINTER:
        return -pred.gather(-1, truth.long()[..., None]).mean()
    raise ValueError(f"no loss for output type {type_!r}")


def _hint_terms(type_: str, truth: torch.Tensor, pred: torch.Tensor,
                layout: Layout) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Elementwise loss of hint predictions and which entries count (None: all)."""
    if type_ == Type.SCALAR:
        return (pred - truth) ** 2, None
    if type_ == Type.MASK:
        return _bce_with_logits(pred, truth), truth != -1
    if type_ == Type.MASK_ONE:
        return -layout.total(truth * layout.log_softmax(pred)), None
    if type_ == Type.CATEGORICAL:
        return (-(truth * torch.log_softmax(pred, dim=-1)).sum(-1),
                (truth == 1).any(dim=-1))
    if type_ == Type.POINTER:
        return layout.pointer_nll(pred, truth), None
    if type_ == Type.PERMUTATION_POINTER:
        return -pred.gather(-1, truth.long()[..., None]).squeeze(-1), None
    raise ValueError(f"no loss for hint type {type_!r}")


def hint_loss(type_: str, truth: torch.Tensor, preds: torch.Tensor,
              lengths: torch.Tensor, layout: Layout = DENSE) -> torch.Tensor:
    """Loss of one hint probe.

    ``truth`` is time-major ``(T, B, ...)``; ``preds[t]`` predicts
    ``truth[t + 1]``. Only steps with ``t + 1 < lengths[b]`` count (``b``
    the sample of the row, ``layout.row_lengths``).
    """
    steps = truth.shape[0] - 1
    if steps <= 0:
        return preds.sum() * 0.0
    loss, mask = _hint_terms(type_, truth[1:], preds[:steps], layout)
    t = torch.arange(steps, device=lengths.device)[:, None]
    rows = layout.row_lengths(lengths.to(t.device))
    valid = (rows[None, :] > t + 1).to(loss.dtype)
    valid = valid.view(*valid.shape, *([1] * (loss.dim() - 2)))
    if mask is not None:
        valid = valid * mask.to(loss.dtype)
    return _masked_mean(loss, valid)


def total_loss(spec: Mapping[str, tuple], batch, output_preds: Mapping[str, torch.Tensor],
               hint_preds: Mapping[str, torch.Tensor] | None = None,
               layout_of: Callable[[str, str], Layout] | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sum of the output losses and (if ``hint_preds`` is given) hint losses.

    ``layout_of(location, type)`` gives each probe's :class:`Layout`
    (default: the dense batch's). Returns ``(total, terms)`` with one term
    per probe name.
    """
    terms: dict[str, torch.Tensor] = {}
    for name, (stage, location, type_) in spec.items():
        layout = DENSE if layout_of is None else layout_of(location, type_)
        if stage == Stage.OUTPUT:
            terms[name] = output_loss(type_, batch.outputs[name], output_preds[name], layout)
        elif stage == Stage.HINT and hint_preds is not None:
            terms[name] = hint_loss(type_, batch.hints[name], hint_preds[name], batch.lengths,
                                    layout)
    if not terms:
        raise ValueError("nothing to compute a loss on: the spec has no output")
    return torch.stack(list(terms.values())).sum(), terms
