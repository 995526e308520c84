"""Greedy decoding of the CLRS-Text LM: batched, left-padded, with a KV cache."""

from __future__ import annotations

import torch

from .model import GPT, KVCache
from .tokenizer import CharTokenizer

STOP = "\n\n"  # a CLRS-Text answer ends with a blank line


@torch.no_grad()
def greedy_decode(model: GPT, tokenizer: CharTokenizer, prompts: list[str],
                  max_new_tokens: int = 256, batch_size: int = 64, seed: int = 0) -> list[str]:
    """Greedy continuations of ``prompts`` (each after ``<bos>``).

    A continuation stops at the first blank line (``"\\n\\n"``, kept), at
    ``<eos>`` (dropped), after ``max_new_tokens`` tokens, or when the model
    runs out of positions (learned / random encodings; a prompt that does
    not fit gets ``""``); ``<pad>`` and ``<bos>`` are never chosen. Prompts
    are decoded in batches of ``batch_size``, left-padded, with a KV cache.
    ``seed`` draws random positions.

    With random positions, one draw of sorted positions serves a batch's
    padded width plus ``max_new_tokens``, so a prompt's answer depends on
    ``batch_size``, on its batch-mates and on ``max_new_tokens`` too (the
    same call gives the same answers; compare scores made with the same
    settings). A batch stops at the positions of its longest prompt, so a
    short prompt beside a long one may be cut earlier than alone.
    """
    model.eval()
    outputs = [""] * len(prompts)
    generator = torch.Generator().manual_seed(seed)
    encoded = [tokenizer.encode(p, bos=True) for p in prompts]
    for rows in prompt_batches(model, encoded, batch_size):
        texts = decode_batch(model, tokenizer, [encoded[i] for i in rows], max_new_tokens,
                             generator)
        for i, text in zip(rows, texts):
            outputs[i] = text
    return outputs


def prompt_batches(model: GPT, encoded: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of the encoded prompts in batches of at most ``batch_size``,
    shortest first (similar lengths together, little padding); prompts that
    do not fit the model's positions are left out (their answer is ``""``)."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    limit = model.config.max_positions
    batches = ([i for i in order[b:b + batch_size] if limit is None or len(encoded[i]) < limit]
               for b in range(0, len(order), batch_size))
    return [rows for rows in batches if rows]


@torch.no_grad()
def decode_batch(model: GPT, tokenizer: CharTokenizer, encoded: list[list[int]],
                 max_new_tokens: int, generator: torch.Generator, logits_fn=None) -> list[str]:
    """Greedy continuations of one batch of encoded prompts (with ``<bos>``),
    by the rules of :func:`greedy_decode`: left-padded, with a KV cache;
    ``generator`` draws random positions.

    ``logits_fn(idx, positions, valid, cache) -> logits`` runs the network
    (default ``model`` itself); a model built around ``model`` (TransNAR,
    :meth:`openclrs.transnar.model.TransNAR.logits_fn`) passes its own, and
    ``model`` still gives the positions, the device and the limits.
    """
    logits_fn = logits_fn or model
    device = model.wte.weight.device
    B, L = len(encoded), max(len(e) for e in encoded)
    lengths = torch.tensor([len(e) for e in encoded], device=device)
    idx = torch.full((B, L), tokenizer.pad_id, dtype=torch.long, device=device)
    for r, e in enumerate(encoded):
        idx[r, L - len(e):] = torch.tensor(e, device=device)
    start = L - lengths
    limit = model.config.max_positions
    # per row: how many tokens it may add (its positions must exist; random
    # positions are drawn for the whole padded width, so that must fit)
    budget = torch.full((B,), max_new_tokens, device=device)
    if limit is not None:
        budget = budget.minimum(limit - lengths)
    if model.config.pos_encoding == "random":
        budget = budget.clamp(max=limit - L)
    steps = int(budget.max())
    if steps <= 0:
        return [""] * B
    positions = model.default_positions(B, L + steps, start, generator)
    if limit is not None:  # (only rows that are done go past their limit)
        positions = positions.clamp(max=limit - 1)
    valid = torch.arange(L + steps, device=device)[None, :] >= start[:, None]
    cache = KVCache()
    logits = logits_fn(idx, positions[:, :L], valid[:, :L], cache)
    new = torch.empty((B, 0), dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    prev_newline = torch.zeros(B, dtype=torch.bool, device=device)
    never = [tokenizer.pad_id, tokenizer.bos_id]  # not outputs
    for t in range(steps):
        scores = logits[:, -1]
        scores[:, never] = float("-inf")
        token = scores.argmax(-1)
        token = torch.where(done, torch.full_like(token, tokenizer.pad_id), token)
        new = torch.cat([new, token[:, None]], dim=1)
        newline = token == tokenizer.newline_id
        done = done | (token == tokenizer.eos_id) | (prev_newline & newline) | (t + 1 >= budget)
        prev_newline = newline
        if bool(done.all()) or t + 1 == steps:
            break
        logits = logits_fn(token[:, None], positions[:, L + t:L + t + 1], valid[:, :L + t + 1], cache)
    texts = []
    for row in new.tolist():
        if tokenizer.eos_id in row:
            row = row[:row.index(tokenizer.eos_id)]
        text = tokenizer.decode(row)
        cut = text.find(STOP)
        texts.append(text if cut < 0 else text[:cut + len(STOP)])
    return texts


__all__ = ["STOP", "decode_batch", "greedy_decode", "prompt_batches"]
