"""Edge features kept in factored form, and linear maps that read them so.

The encoders are affine in the probes, so the edge features of a step are
``x @ weight + bias`` where ``x`` (B, N, N, D) holds the raw edge probes of
the step side by side (a node pointer is one channel, a categorical edge
probe one per class) and ``weight`` (D, H) their encoders' weights stacked.
D is at most 7 on the 30 algorithms, against H = 128. Every consumer of the
edge features (the processor's message, triplet and attention maps, the
decoders) applies a linear map to them, and a linear map of affine features
is affine in ``x`` again, with a (D, out) matrix. Applying that directly
never forms the (B, N, N, H) features nor multiplies them by an (H, out)
matrix, forward or backward: for the Triplet-GMPNN, a third of its
floating-point work. The values are the same up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class AffineFeatures:
    """Features ``x @ weight + bias`` not yet multiplied out.

    ``x``: (..., D), ``weight``: (D, H), ``bias``: (H,). Indexing selects
    samples (``fts[:n]``); the weight and bias are shared by all of them.
    """

    x: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    @property
    def width(self) -> int:
        """H, the width of the features this stands for."""
        return self.weight.shape[1]

    @property
    def shape(self) -> torch.Size:
        return torch.Size((*self.x.shape[:-1], self.width))

    def __getitem__(self, index) -> "AffineFeatures":
        return AffineFeatures(self.x[index], self.weight, self.bias)

    def dense(self) -> torch.Tensor:
        """The features themselves, (..., H)."""
        return _affine(self.x, self.weight, self.bias)

    @staticmethod
    def concat(parts: Sequence["AffineFeatures"]) -> "AffineFeatures":
        """The sum of the features of ``parts`` (their channels side by side)."""
        if len(parts) == 1:
            return parts[0]
        return AffineFeatures(torch.cat([p.x for p in parts], dim=-1),
                              torch.cat([p.weight for p in parts]),
                              sum(p.bias for p in parts[1:]) + parts[0].bias)

    @staticmethod
    def cat(parts: Sequence["AffineFeatures"]) -> "AffineFeatures":
        """Samples of ``parts`` (which share weight and bias) one after another."""
        return AffineFeatures(torch.cat([p.x for p in parts]), parts[0].weight, parts[0].bias)


Features = torch.Tensor | AffineFeatures

def self_edges(edge_fts: Features) -> Features:
    """The features of the edges (i, i), (B, N, ...), in the same form."""
    if isinstance(edge_fts, AffineFeatures):
        return AffineFeatures(self_edges(edge_fts.x), edge_fts.weight, edge_fts.bias)
    return edge_fts.diagonal(dim1=1, dim2=2).movedim(-1, 1)


# Up to this many input channels, a bias rides along as one more channel of
# ones in the matrix product rather than costing a pass over the result.
FEW_CHANNELS = 16


def project(layer: nn.Linear, *parts: Features | None,
            add: torch.Tensor | None = None) -> torch.Tensor:
    """``layer(torch.cat(parts, dim=-1)) + add`` without the concatenation,
    each part a tensor or :class:`AffineFeatures` (None parts are skipped):
    the layer's weight is split by columns, one block per part, and each part
    is multiplied by its block, affine parts through their (D, out)
    composite. ``add`` (of the result's shape) is summed in by the first
    matrix product, which saves a pass over the result."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1 and isinstance(parts[0], torch.Tensor):
        return layer(parts[0]) if add is None else layer(parts[0]) + add
    weight, out, start = layer.weight, add, 0
    for k, part in enumerate(parts):
        width = part.width if isinstance(part, AffineFeatures) else part.shape[-1]
        block = weight[:, start:start + width]
        start += width
        layer_bias = layer.bias if k == 0 else None  # added once, with the first part
        if isinstance(part, AffineFeatures):
            x, w = part.x, part.weight @ block.T
            bias = part.bias @ block.T
            if layer_bias is not None:
                bias = bias + layer_bias
        else:
            x, w, bias = part, block.T, layer_bias
        out = _affine(x, w, bias, out)
    if start != weight.shape[1]:
        raise ValueError(f"parts of total width {start} for a layer reading {weight.shape[1]}")
    return out


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
            add: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight (+ bias) (+ add)`` on the last axis, as one matrix product."""
    rows = x.flatten(0, -2)
    shape = (*x.shape[:-1], weight.shape[1])
    if add is not None:
        if bias is not None and rows.shape[1] <= FEW_CHANNELS:
            rows = torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1)
            weight = torch.cat([weight, bias[None]])
        elif bias is not None:
            add = add + bias
        return torch.addmm(add.reshape(-1, shape[-1]), rows, weight).view(shape)
    if bias is None:
        return (rows @ weight).view(shape)
    return torch.addmm(bias, rows, weight).view(shape)
