"""Layers shared by encoders, processors and decoders.

Initialisation follows Haiku's (see :class:`Linear`), so an untrained model
starts from the same distribution as the published one.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import LinearFromNarrow, LinearToOne, autocasting

Activation = Callable[[torch.Tensor], torch.Tensor]

# Up to this many input features, Linear differentiates through
# LinearFromNarrow (see kernels.py).
NARROW_INPUT = 16


def activation(fn: Activation | str | None) -> Activation | None:
    """Accept a callable, a name in ``torch.nn.functional`` or None (identity)."""
    if fn is None or callable(fn):
        return fn
    if isinstance(fn, str) and callable(getattr(F, fn, None)):
        return getattr(F, fn)
    raise ValueError(f"unknown activation {fn!r}")


def haiku_init_(weight: torch.Tensor, fan_in: int) -> None:
    """Haiku's default weight initialiser, in place: a normal of std
    ``1/sqrt(fan_in)`` truncated at two standard deviations."""
    std = 1.0 / math.sqrt(fan_in)
    nn.init.trunc_normal_(weight, std=std, a=-2.0 * std, b=2.0 * std)


class Linear(nn.Linear):
    """``nn.Linear`` initialised as Haiku's ``hk.Linear``.

    Weights are drawn from a normal of std ``1/sqrt(in_features)`` truncated at
    two standard deviations, biases are constant (``bias_init``, zero unless
    asked): PyTorch's default (Kaiming-uniform weights, uniform biases) would
    change where training starts from, and the gated processors rely on a
    constant bias. ``reset_parameters`` re-applies the same scheme.

    Layers to one output or from few inputs differentiate through the
    hand-written backward passes of ``kernels.py`` (same values).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0, **factory_kwargs):
        self.bias_init = float(bias_init)  # read by reset_parameters below
        super().__init__(in_features, out_features, bias=bias, **factory_kwargs)

    def reset_parameters(self) -> None:
        haiku_init_(self.weight, self.in_features)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and not autocasting(x):
            if self.out_features == 1:
                return LinearToOne.apply(x, self.weight[0],
                                         self.bias if self.bias is not None else None)
            if self.in_features <= NARROW_INPUT:
                return LinearFromNarrow.apply(x, self.weight, self.bias)
        return super().forward(x)

    def extra_repr(self) -> str:
        extra = f", bias_init={self.bias_init}" if self.bias is not None and self.bias_init else ""
        return super().extra_repr() + extra


def mlp(in_size: int, sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them but not after the last (``hk.nets.MLP``)."""
    layers: list[nn.Module] = []
    for k, size in enumerate(sizes):
        if k:
            layers.append(nn.ReLU())
        layers.append(Linear(in_size, size))
        in_size = size
    return nn.Sequential(*layers)
