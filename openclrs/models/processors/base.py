"""What every processor is: the interface, and which nodes it lets talk."""

from __future__ import annotations

import torch
from torch import nn

# Which pairs of nodes a processor lets exchange messages: ``GRAPH`` reads the
# adjacency it is given, ``COMPLETE`` ignores it (every pair), ``SELF`` lets a
# node hear only itself (Deep Sets).
GRAPH, COMPLETE, SELF = "graph", "complete", "self"


class Processor(nn.Module):
    """Base class; subclasses implement :meth:`forward` as documented in the
    package (``openclrs.models.processors``) and declare, as attributes, what
    the model needs to know about them before running them."""

    # Which pairs of nodes exchange messages (GRAPH, COMPLETE or SELF).
    adjacency: str = GRAPH
    # Whether decoders should mask non-edges out of pointer / edge-mask logits.
    inf_bias: bool = False
    inf_bias_edge: bool = False
    # Whether forward takes edge_fts in factored form (see features.py).
    affine_edges: bool = False
    # Width of the edge messages forward returns; 0 when it returns None.
    edge_message_size: int = 0

    def mask(self, adj: torch.Tensor) -> torch.Tensor | None:
        """The adjacency to read: ``adj``, or None when every pair talks."""
        return adj if self.adjacency == GRAPH else None

    def forward(self, node_fts: torch.Tensor, edge_fts: torch.Tensor,
                graph_fts: torch.Tensor, adj: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError
