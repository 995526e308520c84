"""TransNAR's gated cross-attention inside a local Hugging Face causal LM.

The same :class:`~openclrs.transnar.model.GatedCrossAttention` layers as
:class:`~openclrs.transnar.model.TransNAR`, inserted after the chosen
decoder layers of a ``transformers`` causal LM (GPT-2, Llama, Qwen, Gemma:
any model whose decoder layers form one ``nn.ModuleList`` of
``num_hidden_layers`` modules) by forward hooks that add the gated read to
the layer's output hidden states. The model's own code, weights, KV cache
and ``generate`` are unchanged; with the gates closed (``gate_init=0``) its
logits are bit for bit the original model's. The NAR's embeddings and the
cross-attention keys are computed once per batch of examples
(:meth:`HFTransNAR.memory`) and held while the model runs
(:meth:`HFTransNAR.reading`), every decoding step included::

    model = HFTransNAR(hf_model, NAR.from_run("runs/nar"), TransNARConfig())
    memory = model.memory(model.embed([e.trace for e in examples]))
    logits = model(input_ids, memory, attention_mask=mask).logits
    answers = hf_greedy_decode(model, tokenizer, examples)
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .config import TransNARConfig
from ..lm.model import GPT
from .model import GatedCrossAttention
from .nar import NAR, NAREmbeddings


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Hugging Face causal LM: its one
    ``nn.ModuleList`` of ``config.num_hidden_layers`` modules."""
    count = model.config.num_hidden_layers
    found = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if len(found) != 1:
        raise ValueError(f"cannot tell the decoder layers of this {type(model).__name__}: "
                         f"{len(found)} module lists of {count} modules")
    return found[0]


class HFTransNAR(nn.Module):
    """A Hugging Face causal LM (``lm``) whose hidden states read a NAR's
    embeddings through gated cross-attention after the chosen layers."""

    def __init__(self, lm: nn.Module, nar: NAR, config: TransNARConfig | None = None):
        super().__init__()
        config = config or TransNARConfig()
        if nar.frozen != config.freeze_nar:
            raise ValueError(f"the NAR is {'frozen' if nar.frozen else 'trainable'} but "
                             f"freeze_nar={config.freeze_nar}")
        layers = decoder_layers(lm)
        chosen = range(len(layers)) if config.layers is None else config.layers
        if max(chosen) >= len(layers):
            raise ValueError(f"cross-attention after layer {max(chosen)}, but the model has "
                             f"{len(layers)} decoder layers (0..{len(layers) - 1})")
        self.config, self.lm, self.nar = config, lm, nar
        width = lm.config.hidden_size
        dtype = next(lm.parameters()).dtype
        self.xattn = nn.ModuleDict({
            str(t): GatedCrossAttention(width, config.heads or lm.config.num_attention_heads,
                                        nar.node_size, nar.edge_size, config.keys,
                                        config.gate_init, config.ffn, bias=True)
            for t in chosen})
        for module in self.xattn.values():
            module.apply(GPT._init_weights)
        self.xattn.to(dtype=dtype, device=next(lm.parameters()).device)
        self._memory: dict | None = None
        for t in chosen:
            layers[t].register_forward_hook(self._hook(str(t)))

    def _hook(self, name: str):
        def add_read(module, args, output):
            if self._memory is None:
                raise RuntimeError("HFTransNAR ran without memory: call it as model(ids, "
                                   "memory, ...) or inside model.reading(memory)")
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = self.xattn[name](hidden, self._memory[name])
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
        return add_read

    def embed(self, traces) -> NAREmbeddings:
        return self.nar(traces, self.config.nar_states)

    def memory(self, embeddings: NAREmbeddings) -> dict[str, dict]:
        """Every cross-attention layer's keys, values and masks (in the LM's dtype)."""
        dtype = next(self.lm.parameters()).dtype
        out = {}
        for name, layer in self.xattn.items():
            nodes, edges = (embeddings.final() if self.config.nar_states == "final"
                            else embeddings.step(int(name)))
            out[name] = layer.memory(nodes.to(dtype), edges.to(dtype), embeddings.mask)
        return out

    @contextlib.contextmanager
    def reading(self, memory: dict):
        """The LM's calls in this block (``forward``, ``generate``) read ``memory``."""
        previous, self._memory = self._memory, memory
        try:
            yield self.lm
        finally:
            self._memory = previous

    def forward(self, input_ids: torch.Tensor, memory: dict, **kwargs):
        """The LM's output (``.logits``) for ``input_ids``, reading ``memory``;
        other keywords go to the LM (``attention_mask``, ``past_key_values``, ...)."""
        with self.reading(memory):
            return self.lm(input_ids=input_ids, **kwargs)


@torch.no_grad()
def hf_greedy_decode(model: HFTransNAR, tokenizer, examples, max_new_tokens: int = 256,
                     batch_size: int = 16) -> list[str]:
    """Greedy answers of paired examples, as
    :func:`openclrs.lm.huggingface.hf_greedy_decode` decodes prompts
    (``generate`` with its KV cache, left padding, cut after the first blank
    line), each batch reading its examples' memory, computed once."""
    from ..lm.huggingface import hf_greedy_decode as decode_prompts

    model.eval()
    outputs = []
    for b in range(0, len(examples), batch_size):
        batch = examples[b:b + batch_size]
        memory = model.memory(model.embed([e.trace for e in batch]))
        with model.reading(memory) as lm:
            outputs += decode_prompts(lm, tokenizer, [e.question for e in batch],
                                      max_new_tokens, len(batch))
    return outputs


__all__ = ["HFTransNAR", "decoder_layers", "hf_greedy_decode"]
