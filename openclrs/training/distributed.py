"""Data-parallel training under ``torchrun``.

``torchrun --nproc_per_node=K -m openclrs train ...`` starts K copies of the
training loop. Each builds the same global batch of a step (it is a function
of ``(seed, algorithm, step)``), keeps its own contiguous slice of
``batch_size / K`` samples, and :class:`~torch.nn.parallel.DistributedDataParallel`
averages the gradients, so every rank applies the same update. Rank 0 alone
evaluates, logs and writes the run directory; the others wait for it at the
next update. Backend: NCCL on CUDA, gloo on the CPU (which is what the tests
use). A plain ``python`` run is the one-process case of the same code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def shard(self, count: int) -> slice:
        """This rank's slice of a global batch of ``count`` samples."""
        if count % self.world_size:
            raise ValueError(f"batch size {count} is not divisible by the "
                             f"{self.world_size} processes of this torchrun")
        size = count // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def device(self, requested: str) -> torch.device:
        """``cuda`` becomes this process's own GPU (``cuda:LOCAL_RANK``)."""
        if self.enabled and requested == "cuda":
            return torch.device("cuda", self.local_rank)
        return torch.device(requested)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average a few floats (the step's losses) over the ranks."""
        if not self.enabled:
            return values
        total = torch.tensor(list(values.values()), dtype=torch.float64)
        if dist.get_backend() == "nccl":
            total = total.cuda()
        dist.all_reduce(total)
        return dict(zip(values, (total / self.world_size).tolist()))

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str) -> Context:
    """Join the process group that ``torchrun`` describes in the environment
    (no-op outside it)."""
    if not launched_by_torchrun():
        return Context()
    context = Context(rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]),
                      local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(context.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
    return context


def teardown(context: Context) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def _model_loss(model: nn.Module, batch):
    return model.loss(batch)


class TrainingLoss(nn.Module):
    """``loss(model, batch)`` as a module's ``forward``: DDP synchronises
    gradients of what runs through a wrapped module's ``forward``."""

    def __init__(self, model: nn.Module, loss=_model_loss):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch):
        return self.loss(self.model, batch)[0]


def loss_function(model: nn.Module, context: Context, loss=None):
    """``batch -> loss``; under torchrun, gradients are averaged over ranks.
    ``loss(model, batch) -> (total, terms)``: default ``model.loss(batch)``
    (sparse training passes :func:`openclrs.models.sparse.sparse_loss`).

    ``find_unused_parameters``: in multi-algorithm training an update runs
    one algorithm's encoders and decoders only.
    """
    loss = _model_loss if loss is None else loss
    if not context.enabled:
        return lambda batch: loss(model, batch)[0]
    device_ids = [context.local_rank] if next(model.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(TrainingLoss(model, loss), device_ids=device_ids,
                                               find_unused_parameters=True)
