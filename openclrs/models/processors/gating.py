"""Gating: a part of the MPNN/PGN family that blends each new node state
with the old one through a learned gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Linear

# The gate's last bias starts here, so a gated processor starts out mostly
# keeping its state: sigmoid(-3) ≈ 0.047 of the update gets through.
GATE_BIAS_INIT = -3.0


class Gate(nn.Module):
    """``update * g + hidden * (1 - g)`` with ``g = sigmoid(out(relu(node(z)
    + message(msgs))))`` per feature, from the processor's input ``z`` and
    its reduced messages ``msgs`` (the published gate: two linear maps, a
    ReLU, a third map whose bias starts at -3)."""

    def __init__(self, node_size: int, message_size: int, hidden_size: int):
        super().__init__()
        self.node = Linear(node_size, hidden_size)
        self.message = Linear(message_size, hidden_size)
        self.out = Linear(hidden_size, hidden_size, bias_init=GATE_BIAS_INIT)

    def forward(self, update: torch.Tensor, hidden: torch.Tensor, z: torch.Tensor,
                msgs: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.out(F.relu(self.node(z) + self.message(msgs))))
        return update * gate + hidden * (1 - gate)
