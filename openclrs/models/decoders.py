"""Decoders: per-probe read-outs of the processed state, chosen by spec.

A decoder reads :class:`DecoderInputs`: the node state (``(B, N, 3H)``: the
step's encoded node features, the previous and the new hidden state side by
side), the edge state, a pair (encoded edge features, possibly factored; the
processor's edge messages or None) that it reads as one ``(B, N, N, E)``
tensor of the two side by side, the graph features and the adjacency, and
returns *logits* (raw predictions) of the probe's shape:

============  ==================  =========================================
location      type                prediction
============  ==================  =========================================
node          scalar/mask/        ``(B, N)``
              mask_one
node          categorical         ``(B, N, C)``
node          pointer             ``(B, N, N)``: row i scores i's target
node          permutation_pointer ``(B, N, N)``: log of a doubly stochastic
                                  matrix (Sinkhorn, below)
edge          scalar/mask/...     ``(B, N, N)`` (``(B, N, N, C)`` categorical)
edge          pointer             ``(B, N, N, N)``: edge (i, j) scores node k
graph         scalar/mask/...     ``(B,)`` (``(B, C)`` categorical)
graph         pointer             ``(B, N)``
============  ==================  =========================================

There is one small class per (location, kind of prediction), chosen from
:data:`DECODERS` by :func:`make_decoder`; what is fixed when the model is
built (masking of non-edges, Sinkhorn settings: :class:`DecoderSettings`) is
given to the constructor, only the Gumbel noise (training or not) to each
call. Each class names its linear layers and creates them in the published
creation order, so that weights map one to one, in order, onto the published
``{probe}_dec_linear``, ``..._linear_1``, ... parameters.

Pointer logits take, per feature, the max of a "from" and a "to" term before
the last projection: a learned, asymmetric pairwise score, as published.

:func:`postprocess` turns logits into the dense form the encoders read
(probabilities when *soft*, one-hots and thresholded masks when *hard*);
it is how predicted hints are fed back and how predictions are scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..specs import Location, Type
from .features import AffineFeatures, project
from .kernels import max_score, pointer_scores
from .layers import Linear

GUMBEL_EPS = 1e-12
ZERO_DIAGONAL_PENALTY = 1e6


def log_sinkhorn(logits: torch.Tensor, steps: int, temperature: float,
                 zero_diagonal: bool = True, noise: bool = False) -> torch.Tensor:
    """Log of a doubly stochastic matrix from square logits ``(..., N, N)``.

    Alternately normalises rows and columns in log space; the lower the
    temperature, the closer the result is to a permutation matrix. With
    ``noise`` standard Gumbel noise is added first (training only), which
    makes the result a sample of a relaxed random permutation (Mena et al.,
    2018) and keeps the model from committing to one too early.
    ``zero_diagonal`` forbids self-pointers, since the cyclic permutations
    the model predicts never map a node to itself.
    """
    if logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"Sinkhorn needs square matrices, got {tuple(logits.shape)}")
    x = logits
    if noise:
        u = torch.rand_like(x)
        x = x - torch.log(-torch.log(u + GUMBEL_EPS) + GUMBEL_EPS)
    x = x / temperature
    if zero_diagonal:
        x = x - ZERO_DIAGONAL_PENALTY * torch.eye(x.shape[-1], device=x.device, dtype=x.dtype)
    for _ in range(steps):
        x = torch.log_softmax(x, dim=-1)
        x = torch.log_softmax(x, dim=-2)
    return x


def _mask_non_edges(preds: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """Replace logits of non-edges by something below every edge logit.

    Used when the processor asks for it (the ``*_mask`` kinds): the logit
    becomes min(-1, smallest logit of the sample - 1), finite, so softmaxes
    and losses stay finite too.
    """
    floor = preds.flatten(1).min(dim=1).values - 1.0
    floor = torch.clamp(floor, max=-1.0).view(-1, *([1] * (preds.dim() - 1)))
    return torch.where(adj > 0.5, preds, floor)


@dataclass(frozen=True)
class DecoderSettings:
    """What a model fixes for all its decoders when it is built.

    ``inf_bias``: node pointers (and permutations) push non-edges below
    every edge logit; ``inf_bias_edge``: so do edge masks (both asked by the
    ``*_mask`` processors). ``sinkhorn_steps`` and ``sinkhorn_temperature``:
    the permutation decoders' normalisation.
    """

    inf_bias: bool = False
    inf_bias_edge: bool = False
    sinkhorn_steps: int = 10
    sinkhorn_temperature: float = 0.1


class DecoderInputs(NamedTuple):
    """What the decoders read at one step, for the samples running in it:
    node state ``[node features, old hidden, new hidden]`` (B, N, 3H), the
    step's edge features (factored), the processor's edge messages (or None),
    graph features and adjacency."""

    node: torch.Tensor
    edge: AffineFeatures | torch.Tensor
    edge_msgs: torch.Tensor | None
    graph: torch.Tensor
    adj: torch.Tensor

    def rows(self, start: int, stop: int) -> "DecoderInputs":
        return DecoderInputs(*(None if x is None else x[start:stop] for x in self))

    @staticmethod
    def cat(parts: Sequence["DecoderInputs"]) -> "DecoderInputs":
        msgs = [p.edge_msgs for p in parts]
        return DecoderInputs(torch.cat([p.node for p in parts]),
                             AffineFeatures.cat([p.edge for p in parts]),
                             None if msgs[0] is None else torch.cat(msgs),
                             torch.cat([p.graph for p in parts]),
                             torch.cat([p.adj for p in parts]))


class ProbeDecoder(nn.Module):
    """Base class: ``decoder(inputs, noise=False)`` -> logits of one probe.

    Every subclass is built as ``cls(type_, hidden_size, edge_size,
    num_classes, settings)``; ``num_classes`` is given for categorical probes.
    """

    def __init__(self, type_: str):
        super().__init__()
        self.type_ = type_

    def forward(self, x: DecoderInputs, noise: bool = False) -> torch.Tensor:
        raise NotImplementedError


def _width(type_: str, num_classes: int | None) -> int:
    """Outputs per entry of a value probe: one, or one per class."""
    return num_classes if type_ == Type.CATEGORICAL else 1


def _values(type_: str, preds: torch.Tensor) -> torch.Tensor:
    """Categorical logits keep their class axis; the others lose the unit one."""
    return preds if type_ == Type.CATEGORICAL else preds.squeeze(-1)


class NodeDecoder(ProbeDecoder):
    """A value per node (scalar, mask, mask_one, categorical)."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_)
        self.node = Linear(3 * hidden_size, _width(type_, num_classes))

    def forward(self, x, noise=False):
        return _values(self.type_, self.node(x.node))


class NodePointerDecoder(ProbeDecoder):
    """A pointer per node: ``score(max(source(h_i), target(h_j) +
    edge(e_ji)))`` for node i pointing at node j; non-edges masked out if
    ``settings.inf_bias``."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_)
        h = hidden_size
        self.source = Linear(3 * h, h)        # from node i
        self.target = Linear(3 * h, h)        # to node j
        self.edge = Linear(edge_size, h)      # edge (j, i)
        self.score = Linear(h, 1)
        self.mask_non_edges = settings.inf_bias

    def forward(self, x, noise=False):
        source, target = self.source(x.node), self.target(x.node)
        to_j = target[:, :, None] + project(self.edge, x.edge, x.edge_msgs)   # [b, j, i]
        preds = pointer_scores(source, to_j, self.score)                       # [b, i, j]
        if self.mask_non_edges:
            preds = _mask_non_edges(preds, x.adj)
        return preds


class NodePermutationDecoder(NodePointerDecoder):
    """Node pointers normalised into the log of a doubly stochastic matrix
    without diagonal (:func:`log_sinkhorn`; Gumbel noise if ``noise``)."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_, hidden_size, edge_size, num_classes, settings)
        self.sinkhorn_steps = settings.sinkhorn_steps
        self.sinkhorn_temperature = settings.sinkhorn_temperature

    def forward(self, x, noise=False):
        return log_sinkhorn(super().forward(x), self.sinkhorn_steps, self.sinkhorn_temperature,
                            zero_diagonal=True, noise=noise)


class _EdgePairs(ProbeDecoder):
    """What the edge decoders share: ``pair(i, j) = source(h_i) + target(h_j)
    + edge(e_ij)``, ``width`` wide."""

    def __init__(self, type_: str, hidden_size: int, edge_size: int, width: int):
        super().__init__(type_)
        self.source = Linear(3 * hidden_size, width)    # endpoint i
        self.target = Linear(3 * hidden_size, width)    # endpoint j
        self.edge = Linear(edge_size, width)            # edge (i, j)

    def pair(self, x: DecoderInputs) -> torch.Tensor:
        """(B, N, N, width)."""
        return project(self.edge, x.edge, x.edge_msgs,
                       add=self.source(x.node)[:, :, None] + self.target(x.node)[:, None, :])


class EdgeDecoder(_EdgePairs):
    """A value per edge (i, j): its pair score; mask logits of non-edges
    masked out if ``settings.inf_bias_edge``."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_, hidden_size, edge_size, _width(type_, num_classes))
        self.mask_non_edges = settings.inf_bias_edge and type_ in (Type.MASK, Type.MASK_ONE)

    def forward(self, x, noise=False):
        preds = _values(self.type_, self.pair(x))
        if self.mask_non_edges:
            preds = _mask_non_edges(preds, x.adj)
        return preds


class EdgePointerDecoder(_EdgePairs):
    """A pointer per edge: ``score(max(pair(i, j), candidate(h_k)))`` for
    edge (i, j) pointing at node k, pairs H wide."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_, hidden_size, edge_size, hidden_size)
        self.candidate = Linear(3 * hidden_size, hidden_size)     # target node k
        self.score = Linear(hidden_size, 1)

    def forward(self, x, noise=False):
        pair = self.pair(x)
        b, n = pair.shape[:2]
        return max_score(pair.reshape(b, n * n, -1), self.candidate(x.node),
                         self.score).view(b, n, n, -1)                      # [b, i, j, k]


class GraphDecoder(ProbeDecoder):
    """A value per graph: ``pooled(max over nodes of h) + graph(g)``."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_)
        out = _width(type_, num_classes)
        self.pooled = Linear(3 * hidden_size, out)
        self.graph = Linear(hidden_size, out)

    def forward(self, x, noise=False):
        return _values(self.type_, self.pooled(x.node.amax(dim=1)) + self.graph(x.graph))


class GraphPointerDecoder(ProbeDecoder):
    """A node per graph: ``pooled(max over nodes of h) + graph(g) + node(h_k)``
    scores node k."""

    def __init__(self, type_, hidden_size, edge_size, num_classes, settings):
        super().__init__(type_)
        self.pooled = Linear(3 * hidden_size, 1)
        self.graph = Linear(hidden_size, 1)
        self.node = Linear(3 * hidden_size, 1)    # per-node target score

    def forward(self, x, noise=False):
        pooled = self.pooled(x.node.amax(dim=1)) + self.graph(x.graph)
        return pooled + self.node(x.node).squeeze(-1)                       # (B, N)


# What each probe type predicts.
VALUE, POINTER, PERMUTATION = "value", "pointer", "permutation"
PREDICTS = {Type.SCALAR: VALUE, Type.MASK: VALUE, Type.MASK_ONE: VALUE,
            Type.CATEGORICAL: VALUE, Type.POINTER: POINTER,
            Type.PERMUTATION_POINTER: PERMUTATION}

DECODERS: dict[tuple[str, str], type[ProbeDecoder]] = {
    (Location.NODE, VALUE): NodeDecoder,
    (Location.NODE, POINTER): NodePointerDecoder,
    (Location.NODE, PERMUTATION): NodePermutationDecoder,
    (Location.EDGE, VALUE): EdgeDecoder,
    (Location.EDGE, POINTER): EdgePointerDecoder,
    (Location.GRAPH, VALUE): GraphDecoder,
    (Location.GRAPH, POINTER): GraphPointerDecoder,
}


def make_decoder(location: str, type_: str, hidden_size: int, edge_size: int,
                 num_classes: int | None = None,
                 settings: DecoderSettings = DecoderSettings()) -> ProbeDecoder:
    """The decoder of a probe at ``location`` of type ``type_``, reading
    ``edge_size``-wide edge state (edge features and edge messages)."""
    if location not in (Location.NODE, Location.EDGE, Location.GRAPH):
        raise ValueError(f"unknown location {location!r}")
    cls = DECODERS.get((location, PREDICTS.get(type_)))
    if cls is None:
        raise ValueError(f"no decoder for a {location} {type_} probe")
    if type_ == Type.CATEGORICAL and not num_classes:
        raise ValueError("a categorical probe needs its number of classes")
    return cls(type_, hidden_size, edge_size, num_classes, settings)


def postprocess(type_: str, preds: torch.Tensor, *, hard: bool,
                sinkhorn_steps: int = 25, sinkhorn_temperature: float = 0.1) -> torch.Tensor:
    """Logits -> the dense form encoders read.

    Soft: sigmoid for masks, softmax over the last axis for one-hots,
    categoricals and pointers, gradients flowing. Hard: thresholded masks,
    one-hot argmaxes, and scalars detached, so nothing is learnt through the
    fed-back value. Permutation logits get more Sinkhorn iterations (without
    noise) before either.
    """
    if type_ == Type.SCALAR:
        return preds.detach() if hard else preds
    if type_ == Type.MASK:
        return (preds > 0.0).to(preds.dtype) if hard else torch.sigmoid(preds)
    if type_ in (Type.MASK_ONE, Type.CATEGORICAL, Type.POINTER):
        if hard:
            return F.one_hot(preds.argmax(dim=-1), preds.shape[-1]).to(preds.dtype)
        return torch.softmax(preds, dim=-1)
    if type_ == Type.PERMUTATION_POINTER:
        probs = torch.exp(log_sinkhorn(preds, sinkhorn_steps, sinkhorn_temperature,
                                       zero_diagonal=True, noise=False))
        if hard:
            return F.one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)
        return probs
    raise ValueError(f"cannot postprocess a {type_!r} prediction")
