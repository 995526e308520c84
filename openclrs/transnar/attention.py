"""Where TransNAR's answer tokens look: its node reads, per answer element.

A TransNAR can copy a per-node answer (``in_hull: [1 0 1 ...]``, one
element per node in node order) out of the NAR only if the token that
writes element ``k`` reads node ``k``: index alignment between the text and
the graph. :func:`node_attention` gives the weights of every cross-attention
layer's node read, teacher-forced on the question and the true answer
(per head, ``softmax(q kᵀ / √d)`` over the example's real nodes, exactly the
weights the layer's scaled dot-product attention applies; tested), and
:func:`alignment` measures how much of it the element-``k`` token puts on
node ``k``::

    mass_k   = w[t_k, k]                 weight on the aligned node
    hit_k    = [argmax_j w[t_k, j] = k]  the aligned node is the most read
    near_k   = Σ_{|j-k|<=1} w[t_k, j]     weight on it and its two neighbours

averaged over the elements of every example, against chance (uniform
weights: ``1 / n`` for mass and hit, ``(3n - 2) / n²`` for near);
``t_k`` is the position whose logits predict element ``k``'s first
character (the token just before it). :func:`mean_alignment_map` averages
the ``(element, node)`` weights of examples of one size, for a picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..lm.tokenizer import CharTokenizer
from .model import TransNAR


@dataclass
class NodeAttention:
    """One example's node-read weights: ``weights[layer]`` ``(heads, T, n)``
    over the ``T`` tokens of ``<bos> + question + answer`` and the example's
    ``n`` real nodes; ``answer_start``: the token index of the answer's first
    character."""

    weights: dict[str, np.ndarray]
    answer: str
    answer_start: int
    nodes: int


def element_starts(answer: str) -> list[int]:
    """Character offsets of the elements of a one-list answer
    (``"[1 0 1]\\n\\n"`` -> ``[1, 3, 5]``): the runs of characters inside the
    first ``[...]`` that are not whitespace or brackets."""
    open_at, close_at = answer.find("["), answer.find("]")
    if open_at < 0 or close_at < open_at:
        raise ValueError(f"not a one-list answer: {answer!r}")
    starts, inside = [], False
    for i in range(open_at + 1, close_at):
        part = not answer[i].isspace() and answer[i] not in "[]"
        if part and not inside:
            starts.append(i)
        inside = part
    return starts


@torch.no_grad()
def node_attention(model: TransNAR, tokenizer: CharTokenizer, examples,
                   seed: int = 0) -> list[NodeAttention]:
    """The node-read weights of every cross-attention layer for each of
    ``examples`` (paired examples, one at a time, teacher-forced on
    ``question + answer``; ``seed`` draws random positions as decoding does).
    The model runs in evaluation mode and is left in the mode it was in."""
    if model.config.keys == "edge":
        raise ValueError("this TransNAR has no node read (its keys are 'edge' only)")
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        return [_node_attention(model, tokenizer, example, generator) for example in examples]
    finally:
        model.train(was_training)


def _node_attention(model: TransNAR, tokenizer: CharTokenizer, example,
                    generator: torch.Generator) -> NodeAttention:
    ids = tokenizer.encode(example.question + example.answer, bos=True)
    idx = torch.tensor([ids], device=model.lm.wte.weight.device)
    positions = model.lm.default_positions(1, len(ids), generator=generator)
    embeddings = model.embed([example.trace])
    memory = model.memory(embeddings)
    n = int(embeddings.mask.sum())
    weights = {}

    def read(t: int, x: torch.Tensor) -> torch.Tensor:
        name = str(t)
        if name not in model.xattn:
            return x
        layer = model.xattn[name]
        weights[name] = layer.weights(x, memory[name])[0, :, :, :n].cpu().numpy()
        return layer(x, memory[name])

    model.lm(idx, positions, after_block=read)
    return NodeAttention(weights, example.answer, 1 + len(example.question), n)


def alignment(attentions: list[NodeAttention]) -> dict[str, dict]:
    """Per layer: ``mass``, ``hit`` and ``near`` (module docstring) per head
    and their head means, ``best_head`` (most mass); ``chance`` and
    ``near_chance`` (per element, uniform weights) and ``elements`` counted.
    Examples whose answer has not one element per node are skipped
    (``skipped``)."""
    sums: dict[str, dict] = {}
    chance, near_chance, elements, skipped = 0.0, 0.0, 0, 0
    for a in attentions:
        starts = element_starts(a.answer)
        if len(starts) != a.nodes:
            skipped += 1
            continue
        rows = np.array([a.answer_start + s - 1 for s in starts])
        k = np.arange(a.nodes)
        for name, w in a.weights.items():           # w: (heads, T, n)
            at = w[:, rows, :]                        # (heads, n elements, n nodes)
            near = np.abs(k[:, None] - k[None, :]) <= 1
            s = sums.setdefault(name, {"mass": 0.0, "hit": 0.0, "near": 0.0})
            s["mass"] = s["mass"] + at[:, k, k].sum(-1)
            s["hit"] = s["hit"] + (at.argmax(-1) == k).sum(-1)
            s["near"] = s["near"] + (at * near).sum((-1, -2))
        chance += 1.0                      # n elements, 1/n each
        near_chance += (3 * a.nodes - 2) / a.nodes
        elements += a.nodes
    if not elements:
        raise ValueError("no example has one answer element per node")
    result = {}
    for name, s in sums.items():
        mass, hit, near = (s[key] / elements for key in ("mass", "hit", "near"))
        result[name] = {"mass": mass.tolist(), "hit": hit.tolist(), "near": near.tolist(),
                        "mass_mean": float(mass.mean()), "hit_mean": float(hit.mean()),
                        "near_mean": float(near.mean()), "best_head": int(mass.argmax())}
    return {"layers": result, "chance": chance / elements,
            "near_chance": near_chance / elements, "elements": elements,
            "examples": len(attentions) - skipped, "skipped": skipped}


def mean_alignment_map(attentions: list[NodeAttention], layer: str, head: int) -> np.ndarray:
    """Mean ``(element k, node j)`` weights of one layer's head over examples
    of one size whose answer has one element per node."""
    maps = []
    for a in attentions:
        starts = element_starts(a.answer)
        if len(starts) == a.nodes:
            rows = [a.answer_start + s - 1 for s in starts]
            maps.append(a.weights[layer][head][rows])
    if not maps or len({m.shape for m in maps}) != 1:
        raise ValueError("give examples of one size with one answer element per node")
    return np.mean(maps, axis=0)


__all__ = ["NodeAttention", "alignment", "element_starts", "mean_alignment_map",
           "node_attention"]
