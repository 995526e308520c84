"""TransNAR's options as plain data (no torch: command-line help stays fast)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

KEYS = ("node", "edge", "both")
NAR_STATES = ("final", "per-layer")


@dataclass
class TransNARConfig:
    """The cross-attention's options (the LM's shape is its LMConfig)."""

    layers: tuple[int, ...] | None = field(default=None, metadata={
        "help": "GPT blocks (0-based) followed by a gated cross-attention layer "
                "(default: every block)", "flag": "xattn-layers", "metavar": "T"})
    keys: str = field(default="both", metadata={
        "help": "what tokens attend to: the NAR's node, edge or both embeddings",
        "flag": "xattn-keys", "choices": KEYS})
    nar_states: str = field(default="final", metadata={
        "help": "final: every layer reads the NAR's final state; per-layer: the layer after "
                "block t reads NAR step t (a sample's last step where it has fewer)",
        "choices": NAR_STATES})
    gate_init: float = field(default=0.0, metadata={
        "help": "initial gate parameters, alpha of the read and beta of the FFN (0: closed, "
                "tanh(0) = 0)"})
    heads: int | None = field(default=None, metadata={
        "help": "cross-attention heads (default: the LM's)", "flag": "xattn-heads"})
    ffn: bool = field(default=True, metadata={
        "help": "a gated FFN after each cross-attention (Flamingo)", "flag": "xattn-ffn"})
    freeze_nar: bool = field(default=True, metadata={
        "help": "the NAR takes no gradient (the paper's setting)"})

    def __post_init__(self):
        if self.layers is not None:
            self.layers = tuple(sorted({int(t) for t in self.layers}))
            if not self.layers or min(self.layers) < 0:
                raise ValueError(f"layers must be block indices >= 0, got {self.layers}")
        if self.keys not in KEYS:
            raise ValueError(f"keys must be one of {KEYS}, got {self.keys!r}")
        if self.nar_states not in NAR_STATES:
            raise ValueError(f"nar_states must be one of {NAR_STATES}, got {self.nar_states!r}")
        if not math.isfinite(self.gate_init):
            raise ValueError(f"gate_init must be finite, got {self.gate_init}")
        if self.heads is not None and self.heads < 1:
            raise ValueError(f"heads must be positive, got {self.heads}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["layers"] = None if self.layers is None else list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TransNARConfig":
        return cls(**data)
