"""Encoders: one small linear map per probe, chosen by the probe's spec.

Every input probe (and every hint probe, when hints are encoded) is embedded
to the hidden size and *added* into one of three feature tensors: node
``(B, N, H)``, edge ``(B, N, N, H)`` or graph ``(B, H)``. Where a probe goes
depends only on its (location, type), never on the algorithm:

==================================  =============================================
probe                               goes to
==================================  =============================================
node pointer / permutation pointer  edge features: ``one_hot(ptr)[b, i, j]`` is
                                    a 0/1 "edge" i -> ptr[i], embedded per pair
edge pointer                        edge features, through two maps (see below)
graph pointer                       node features
any other node probe                node features
any other edge probe                edge features
any other graph probe               graph features
==================================  =============================================

Edge embeddings are not summed out: the model keeps the edge features in
factored form, the probes' raw features times their encoders' weights
(:meth:`ProbeEncoder.affine`, ``features.py``), since every reader of them
applies a linear map.

Pointers reach the encoders *dense*: one-hot rows for ground truth, softmax
rows for softly re-predicted hints, so both share one code path (see
:func:`densify`). Node pointers (and edge masks) also add edges to the
adjacency the processor sees (:func:`adjacency_contribution`).

Initialisation is Haiku's, as published: ``encoder_init="default"`` gives
every map the fan-in truncated normal (std 1 for the one-feature maps);
``"xavier_on_scalars"`` narrows the scalar *hint* maps to std
``1/sqrt(hidden_size)``, which keeps large re-predicted scalars from
swamping the hidden state early in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..specs import Location, Stage, Type
from .config import ENCODER_INITS
from .features import AffineFeatures
from .layers import Linear, haiku_init_

NODE_POINTERS = (Type.POINTER, Type.PERMUTATION_POINTER)


def split_step_inputs(inputs):
    """``(fixed, per_step)``: the inputs encoded once, and the step inputs
    (:data:`openclrs.sparse.STEP_INPUTS`, fast_mis's ``randomness``), node
    scalars with a trailing step axis ``(..., T)`` that step ``t`` is fed
    column ``t`` of (:func:`step_columns`), as SALSA-CLRS's processor reads
    ``randomness[:, step]`` at each step."""
    from ..sparse import STEP_INPUTS

    fixed = {k: v for k, v in inputs.items() if k not in STEP_INPUTS}
    return fixed, {k: v for k, v in inputs.items() if k in STEP_INPUTS}


def step_columns(per_step, step: int, rows: int) -> dict[str, torch.Tensor]:
    """Column ``step`` of each step input, its first ``rows`` rows (samples of
    a dense batch, nodes of a sparse one); zeros past its last column (a step
    no trace has: SALSA's loader pads with zeros too)."""
    out = {}
    for name, value in per_step.items():
        value = value[:rows]
        out[name] = (value[..., step] if step < value.shape[-1]
                     else value.new_zeros(value.shape[:-1]))
    return out


def densify(type_: str, data: torch.Tensor, num_nodes: int,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Batch data -> the dense float form encoders, decoders' feedback and
    teacher forcing all share: pointer indices become one-hot rows over the
    nodes (a permutation pointer becomes its permutation matrix); everything
    else is cast to ``dtype`` (the model's)."""
    if type_ in NODE_POINTERS or type_ == Type.SHOULD_BE_PERMUTATION:
        return F.one_hot(data.long(), num_nodes).to(dtype)
    return data.to(dtype)


def target_of(location: str, type_: str) -> str:
    """Which feature tensor ("node", "edge" or "graph") a probe is added to."""
    if location == Location.NODE:
        return "edge" if type_ in NODE_POINTERS else "node"
    if location == Location.GRAPH and type_ == Type.POINTER:
        return "node"
    return location


def adjacency_contribution(location: str, type_: str,
                           data: torch.Tensor) -> torch.Tensor | None:
    """The edges a dense probe adds to the processor's graph, symmetrised,
    or None. Node pointers count where ``p + p^T`` exceeds 1/2 (so soft
    pointers count where they are confident), edge masks wherever
    ``m + m^T`` is positive, as published."""
    if location == Location.NODE and type_ in NODE_POINTERS:
        return (data + data.transpose(1, 2)) > 0.5
    if location == Location.EDGE and type_ == Type.MASK:
        return (data + data.transpose(1, 2)) > 0.0
    return None


class ProbeEncoder(nn.Module):
    """Embeds one probe into the hidden size.

    ``forward(dense)`` returns ``(target, embedding)``; the model adds the
    embedding into the feature tensor named by ``target``, or, for edge
    features, keeps it factored (:meth:`affine`; see ``features.py``).
    """

    def __init__(self, stage: str, location: str, type_: str, hidden_size: int,
                 num_classes: int | None = None, init: str = "xavier_on_scalars"):
        super().__init__()
        if init not in ENCODER_INITS:
            raise ValueError(f"unknown encoder_init {init!r}; expected one of {ENCODER_INITS}")
        if type_ == Type.CATEGORICAL and not num_classes:
            raise ValueError("a categorical probe needs its number of classes")
        if type_ == Type.SHOULD_BE_PERMUTATION:
            raise ValueError("should_be_permutation probes must be rewritten first "
                             "(openclrs.transforms.enforce_permutation)")
        self.location, self.type_ = location, type_
        self.target = target_of(location, type_)
        in_features = num_classes if type_ == Type.CATEGORICAL else 1
        self.linear = Linear(in_features, hidden_size)
        # An edge pointer points from edge (i, j) to a node k: the second map
        # embeds it from the other end, so both endpoints see it.
        self.linear_2 = (Linear(in_features, hidden_size)
                         if location == Location.EDGE and type_ == Type.POINTER else None)
        if init == "xavier_on_scalars" and stage == Stage.HINT and type_ == Type.SCALAR:
            with torch.no_grad():
                haiku_init_(self.linear.weight, hidden_size)  # std 1/sqrt(H)

    def affine(self, data: torch.Tensor) -> AffineFeatures:
        """The embedding of ``data`` in factored form, ``x @ weight + bias``
        with ``x`` the probe's raw features (one per class for categoricals)."""
        if self.type_ == Type.CATEGORICAL:
            x = data
        elif self.linear_2 is not None:
            # data[b, i, j, k] = 1 if edge (i, j) points to node k. The
            # published encoding averages the per-entry embeddings over i
            # (first map) and over j (second map); as each map is affine in a
            # single feature, averaging the feature first is the same thing
            # without the (B, N, N, N, H) intermediate.
            x = torch.stack([data.mean(dim=1), data.mean(dim=2)], dim=-1)
            return AffineFeatures(x, torch.cat([self.linear.weight, self.linear_2.weight], 1).T,
                                  self.linear.bias + self.linear_2.bias)
        else:
            x = data[..., None]
        return AffineFeatures(x, self.linear.weight.T, self.linear.bias)

    def forward(self, data: torch.Tensor) -> tuple[str, torch.Tensor]:
        return self.target, self.affine(data).dense()
