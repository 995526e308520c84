"""Greedy decoding of TransNAR: the LM's batched, left-padded decoding with
its KV cache (:mod:`openclrs.lm.decode`, the same stop rules), the NAR's
embeddings and every layer's cross-attention keys and values computed once
per batch of examples, before the first token, and reused at every step."""

from __future__ import annotations

import torch

from ..lm import decode as lm_decode
from ..lm.tokenizer import CharTokenizer
from .model import TransNAR


@torch.no_grad()
def greedy_decode(model: TransNAR, tokenizer: CharTokenizer, examples,
                  max_new_tokens: int = 256, batch_size: int = 64, seed: int = 0) -> list[str]:
    """Greedy answers of ``examples`` (:class:`~openclrs.transnar.data.PairedExample`,
    or anything with ``question`` and ``trace``), in order; the rules of
    :func:`openclrs.lm.decode.greedy_decode` (a prompt that does not fit the
    model's positions gets ``""``)."""
    model.eval()
    outputs = [""] * len(examples)
    generator = torch.Generator().manual_seed(seed)
    encoded = [tokenizer.encode(e.question, bos=True) for e in examples]
    for rows in lm_decode.prompt_batches(model.lm, encoded, batch_size):
        memory = model.memory(model.embed([examples[i].trace for i in rows]))
        texts = lm_decode.decode_batch(model.lm, tokenizer, [encoded[i] for i in rows],
                                       max_new_tokens, generator, model.logits_fn(memory))
        for i, text in zip(rows, texts):
            outputs[i] = text
    return outputs


__all__ = ["greedy_decode"]
