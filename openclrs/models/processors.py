"""Processors: the message-passing core shared by every algorithm.

Every processor is an ``nn.Module`` with one interface::

    hidden, edge_msgs = processor(node_fts, edge_fts, graph_fts, adj, hidden)

    node_fts  (B, N, H)     encoded node features of this step
    edge_fts  (B, N, N, H)  encoded edge features
    graph_fts (B, H)        encoded graph features
    adj       (B, N, N)     1 where a message may flow from node j to node i
                            (full processors ignore it)
    hidden    (B, N, H)     node states of the previous step
    ->
    hidden    (B, N, H)     the next node states
    edge_msgs (B, N, N, H) or None: triplet edge messages, which the model
              decodes edge hints and outputs from (None for processors
              without triplets)

Processors are built by name with :func:`make_processor`; the names are the
published package's (``mpnn``, ``triplet_gmpnn``, ...). Register a new one
with ``@register("name")`` on a factory ``(hidden_size, **options) -> Processor``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

PROCESSORS: dict[str, Callable[..., "Processor"]] = {}


def register(name: str):
    def wrap(factory):
        if name in PROCESSORS:
            raise ValueError(f"processor {name!r} is already registered")
        PROCESSORS[name] = factory
        return factory
    return wrap


class Processor(nn.Module):
    """Base class; subclasses implement :meth:`forward` as documented above."""

    def forward(self, node_fts: torch.Tensor, edge_fts: torch.Tensor,
                graph_fts: torch.Tensor, adj: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


def make_processor(name: str, hidden_size: int, **options) -> Processor:
    """Build a registered processor by name."""
    if name not in PROCESSORS:
        import difflib

        close = difflib.get_close_matches(name, PROCESSORS, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown processor {name!r}{hint} (known: {', '.join(PROCESSORS)})")
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
    return PROCESSORS[name](hidden_size, **options)
