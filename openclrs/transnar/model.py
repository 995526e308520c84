"""TransNAR: a Transformer whose tokens cross-attend to a reasoner's embeddings.

Bounsi et al. 2024, "Transformers meet Neural Algorithmic Reasoners"
(arXiv 2406.09308, §3, Fig. 3, Eq. 3). The language model is an openclrs
:class:`~openclrs.lm.model.GPT`, wrapped (not changed): after the chosen
blocks ``t`` (through ``GPT.forward``'s ``after_block`` seam) a gated
cross-attention layer reads the NAR's embeddings
(:class:`~openclrs.transnar.nar.NAR`). With token states ``x`` (B, T, C),
node embeddings ``G`` (B, N, H) and edge embeddings ``E`` (B, N, N, E')
flattened to ``N²`` keys::

    u     = LayerNorm(x)
    r_G   = softmax((u W_q)(G W_k)ᵀ / √d + mask_G) (G W_v)        per head
    r_E   = softmax((u W_q')(E W_k')ᵀ / √d + mask_E) (E W_v')      per head
    x     = x + tanh(α) · W_o [r_G ; r_E]                   (concatenated, mixed)
    x     = x + tanh(β) · MLP(LayerNorm(x))                 (Flamingo's gated FFN)

``mask_G`` hides padded nodes, ``mask_E`` every edge that touches one; the
cross-attention has no causal mask (every token sees the whole graph) and
information flows one way (the NAR never sees the tokens). ``α`` and
``β`` start at ``gate_init`` (0: the gates are closed, ``tanh(0) = 0``, and
the logits are bit for bit the plain LM's, whatever the graph).

Readings of what the paper leaves open, as implemented:

1. Which NAR state a layer reads: ``nar_states="final"`` (default; what
   §4.1's discussion implies): every layer reads each sample's final
   state; ``"per-layer"`` (Eq. 3 as typeset): the layer after block ``t``
   (0-based) reads the state after NAR step ``min(t, S_b - 1)``.
2/3. Residuals, LayerNorm and the gate are not in Eq. 3: Flamingo-style
   gated blocks (pre-LayerNorm, residual, ``tanh`` gate, gated FFN)
   inserted after the blocks listed in ``layers`` (default: every block).
4. Standard scaled dot-product attention, ``d`` the head size.
5. Separate query projections for the node and the edge read (two
   applications of Eq. 3), their results concatenated and mixed by one
   linear layer ``W_o`` (§4 "Combining cross-attention contributions").
   With ``keys="node"`` or ``"edge"`` only that read is made.

The NAR's embeddings, and every layer's keys and values, are computed once
per example (:meth:`TransNAR.memory`) and reused at every decoding step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..lm.model import GPT, KVCache
from .config import KEYS, TransNARConfig
from .nar import NAR, NAREmbeddings


class GatedCrossAttention(nn.Module):
    """One gated cross-attention layer (the equations of the module docstring)."""

    def __init__(self, n_embd: int, n_head: int, node_size: int, edge_size: int, keys: str,
                 gate_init: float = 0.0, ffn: bool = True, bias: bool = False):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not a multiple of the {n_head} "
                             "cross-attention heads")
        self.n_head = n_head
        self.reads = ["node", "edge"] if keys == "both" else [keys]
        self.ln = nn.LayerNorm(n_embd, bias=bias)
        sizes = {"node": node_size, "edge": edge_size}
        self.query = nn.ModuleDict({r: nn.Linear(n_embd, n_embd, bias=bias) for r in self.reads})
        self.key_value = nn.ModuleDict({r: nn.Linear(sizes[r], 2 * n_embd, bias=bias)
                                        for r in self.reads})
        self.mix = nn.Linear(len(self.reads) * n_embd, n_embd, bias=bias)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))
        if ffn:
            self.ln_ffn = nn.LayerNorm(n_embd, bias=bias)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd, bias=bias), nn.GELU(),
                                     nn.Linear(4 * n_embd, n_embd, bias=bias))
            self.gate_ffn = nn.Parameter(torch.tensor(float(gate_init)))
        else:
            self.mlp = None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, M, C = x.shape
        return x.view(B, M, self.n_head, C // self.n_head).transpose(1, 2)

    def memory(self, nodes: torch.Tensor, edges: torch.Tensor, node_mask: torch.Tensor
               ) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``{read: (keys, values (B, heads, M, d), mask (B, 1, 1, M))}``: what
        this layer attends to, computed once per example."""
        B, N = node_mask.shape
        sources = {"node": (nodes, node_mask),
                   "edge": (edges.reshape(B, N * N, edges.shape[-1]),
                            (node_mask[:, :, None] & node_mask[:, None, :]).reshape(B, N * N))}
        out = {}
        for r in self.reads:
            x, mask = sources[r]
            k, v = self.key_value[r](x).chunk(2, dim=-1)
            out[r] = (self._heads(k), self._heads(v), mask[:, None, None, :])
        return out

    def weights(self, x: torch.Tensor, memory: dict, read: str = "node") -> torch.Tensor:
        """The attention weights ``(B, heads, T, M)`` that :meth:`forward`'s
        ``read`` applies to the memory's values for token states ``x`` (masked
        keys get 0): what :mod:`openclrs.transnar.attention` inspects."""
        if read not in self.reads:
            raise ValueError(f"this layer has no {read!r} read (it reads {self.reads})")
        k, _, mask = memory[read]
        q = self._heads(self.query[read](self.ln(x)))
        scores = (q @ k.transpose(-2, -1)) / k.shape[-1] ** 0.5
        return scores.masked_fill(~mask, float("-inf")).softmax(-1)

    def forward(self, x: torch.Tensor, memory: dict) -> torch.Tensor:
        B, T, C = x.shape
        u = self.ln(x)
        reads = []
        for r in self.reads:
            k, v, mask = memory[r]
            q = self._heads(self.query[r](u))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            reads.append(y.transpose(1, 2).reshape(B, T, C))
        x = x + torch.tanh(self.gate) * self.mix(torch.cat(reads, dim=-1))
        if self.mlp is not None:
            x = x + torch.tanh(self.gate_ffn) * self.mlp(self.ln_ffn(x))
        return x


class TransNAR(nn.Module):
    """An LM (``lm``, a GPT) and a reasoner (``nar``) joined by gated
    cross-attention layers. ``model(idx, memory, ...)`` gives logits as
    ``GPT.forward`` does, with ``memory = model.memory(model.embed(traces))``."""

    def __init__(self, lm: GPT, nar: NAR, config: TransNARConfig | None = None):
        super().__init__()
        config = config or TransNARConfig()
        n_layer = lm.config.n_layer
        layers = range(n_layer) if config.layers is None else config.layers
        if max(layers) >= n_layer:
            raise ValueError(f"cross-attention after block {max(layers)}, but the LM has "
                             f"{n_layer} blocks (0..{n_layer - 1})")
        if nar.frozen != config.freeze_nar:
            raise ValueError(f"the NAR is {'frozen' if nar.frozen else 'trainable'} but "
                             f"freeze_nar={config.freeze_nar}")
        self.config = config
        self.lm = lm
        self.nar = nar
        lm_cfg = lm.config
        self.xattn = nn.ModuleDict({
            str(t): GatedCrossAttention(lm_cfg.n_embd, config.heads or lm_cfg.n_head,
                                        nar.node_size, nar.edge_size, config.keys,
                                        config.gate_init, config.ffn, lm_cfg.bias)
            for t in layers})
        for module in self.xattn.values():  # the LM's initialisation (gates excepted)
            module.apply(GPT._init_weights)

    def embed(self, traces) -> NAREmbeddings:
        """The NAR's embeddings of the examples' traces."""
        return self.nar(traces, self.config.nar_states)

    def memory(self, embeddings: NAREmbeddings) -> dict[str, dict]:
        """Every cross-attention layer's keys, values and masks."""
        out = {}
        for name, layer in self.xattn.items():
            nodes, edges = (embeddings.final() if self.config.nar_states == "final"
                            else embeddings.step(int(name)))
            out[name] = layer.memory(nodes, edges, embeddings.mask)
        return out

    def forward(self, idx: torch.Tensor, memory: dict, positions: torch.Tensor | None = None,
                valid: torch.Tensor | None = None, cache: KVCache | None = None
                ) -> torch.Tensor:
        """Logits ``(B, T, vocab)``; arguments as :meth:`GPT.forward`'s, plus
        the examples' ``memory`` (rows aligned with ``idx``): ``GPT.forward``
        itself, its ``after_block`` seam reading the memory after the chosen
        blocks (a closed gate adds exactly zero)."""
        def read(t: int, x: torch.Tensor) -> torch.Tensor:
            layer = self.xattn[str(t)] if str(t) in self.xattn else None
            return x if layer is None else layer(x, memory[str(t)])

        return self.lm(idx, positions, valid, cache, after_block=read)

    def logits_fn(self, memory: dict):
        """``(idx, positions, valid, cache) -> logits`` of this model reading
        ``memory``: what :func:`openclrs.lm.decode.decode_batch` drives."""
        return lambda idx, positions, valid, cache: self(idx, memory, positions, valid, cache)


__all__ = ["GatedCrossAttention", "KEYS", "TransNAR", "TransNARConfig"]
