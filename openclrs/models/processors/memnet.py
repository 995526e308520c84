"""Memory networks: MemNet as the published package fits it to graphs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Activation, Linear, activation as _activation
from .base import COMPLETE, Processor


def _position_encoding(sentence_size: int, embedding_size: int) -> torch.Tensor:
    """Position encoding of Sukhbaatar et al. (2015), section 4.1: (S, E)."""
    s = torch.arange(1, sentence_size + 1, dtype=torch.float64)[:, None] - sentence_size / 2
    e = torch.arange(1, embedding_size + 1, dtype=torch.float64)[None, :] - embedding_size / 2
    return (1 + 4 * s * e / (embedding_size * sentence_size)).to(torch.float32)


class MemNetMasked(Processor):
    """End-to-end memory network (Sukhbaatar et al., NeurIPS 2015) as the
    published package fits it to graphs.

    Node i asks a query made of its features, over the memories given by
    row i of the edge features (non-edges zeroed), plus one padding memory;
    the graph features ask one more query, over empty memories, whose answer
    is added to every node. ``hidden`` is not used. The vocabulary, sentence
    and output sizes, tied to the hidden size by the published factory, are
    all ``hidden_size``; ``memory_size`` bounds the number of nodes at
    ``memory_size - 1``.

    Faithful to the published adaptation, features are read as *word ids*:
    truncated to integers, negative ones counting back from the end of the
    vocabulary, ones outside [-vocabulary, vocabulary) giving NaN. The output
    is thus piecewise constant in the features and passes no gradient back to
    them. A word's embedding is a row of a bias table (the last row, the nil
    word, fixed at zero) weighted by the position encoding of its slot.

    The tables start at zero, as published. The output is then identically
    zero and, the ReLU before the last layer sitting at exactly 0, so is every
    gradient: a MemNet initialised as published does not learn (the Haiku
    module gives the same zeros). Kept for parity; perturb the tables to get
    a MemNet that trains.
    """

    def __init__(self, hidden_size: int, *, embedding_size: int = 16,
                 memory_size: int = 128, num_hops: int = 1,
                 nonlin: Activation | str | None = F.relu, use_ln: bool = False):
        super().__init__()
        if num_hops < 1:
            raise ValueError(f"num_hops must be at least 1, got {num_hops}")
        vocab = sentence = out = hidden_size
        e = embedding_size
        self.vocab_size = vocab
        self.memory_size = memory_size
        self.num_hops = num_hops
        self.nonlin = _activation(nonlin)
        self.query_biases = nn.Parameter(torch.zeros(vocab - 1, e))
        self.stories_biases = nn.Parameter(torch.zeros(vocab - 1, e))
        self.memory_contents = nn.Parameter(torch.zeros(memory_size, e))
        self.output_biases = nn.Parameter(torch.zeros(vocab - 1, e))
        self.intermediate_linear = Linear(e, e, bias=False) if num_hops > 1 else None
        self.output_linear = Linear(e, out, bias=False)
        self.answer = Linear(out, vocab, bias=False)   # "W" of the paper
        self.ln = nn.LayerNorm(vocab) if use_ln else None
        self.register_buffer("encoding", _position_encoding(sentence, e), persistent=False)

    def _words(self, fts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Word ids (..., S) and, per sentence (...), whether any is out of range."""
        v = self.vocab_size
        ids = fts.detach().trunc()
        bad = ~((ids >= -v) & (ids < v))          # NaN is out of range too
        ids = torch.where(bad, 0.0, ids).long() % v
        return ids, bad.any(dim=-1)

    def _embed(self, ids: torch.Tensor, bad: torch.Tensor,
               *tables: torch.Tensor) -> list[torch.Tensor]:
        """For each table, the sum over slots s of ``table[ids[..., s]] *
        encoding[s]``, (..., E).

        The tables share one lookup, and a table of (word, slot) products with
        an ``embedding_bag`` sum avoids materialising (..., S, E) per sentence.
        """
        e = tables[0].shape[1]
        table = torch.cat(tables, dim=1)
        table = torch.cat([table, table.new_zeros(1, table.shape[1])])   # nil word last
        encoding = self.encoding.to(table.dtype).repeat(1, len(tables))
        slots = encoding.shape[0]
        products = (table[:, None, :] * encoding).reshape(-1, table.shape[1])
        flat = ids.reshape(-1, slots) * slots + torch.arange(slots, device=ids.device)
        out = F.embedding_bag(flat, products, mode="sum").view(*ids.shape[:-1], -1)
        return list(out.masked_fill(bad[..., None], math.nan).split(e, dim=-1))

    def forward(self, node_fts, edge_fts, graph_fts, adj, hidden):
        n = node_fts.shape[1]
        used = n + 1
        if used > self.memory_size:
            raise ValueError(f"MemNet with memory_size={self.memory_size} takes at most "
                             f"{self.memory_size - 1} nodes, got {n}")
        mask = self.mask(adj)
        if mask is not None:
            edge_fts = edge_fts * mask.to(edge_fts.dtype)[..., None]
        queries = torch.cat([node_fts, graph_fts[:, None]], dim=1)       # (B, Q, S)
        stories = F.pad(edge_fts, (0, 0, 0, 1, 0, 1))                    # (B, Q, M, S)

        q_ids, q_bad = self._words(queries)
        s_ids, s_bad = self._words(stories)
        u, = self._embed(q_ids, q_bad, self.query_biases)                  # (B, Q, E)
        memory, output = self._embed(s_ids, s_bad, self.stories_biases,
                                     self.output_biases)                  # (B, Q, M, E)
        memory = memory + self.memory_contents[:used]
        spare = self.memory_contents[used:]   # slots beyond the graph: a bias, no words

        for hop in range(self.num_hops):
            logits = torch.cat([(memory * u[:, :, None]).sum(-1), u @ spare.T], dim=-1)
            probs = torch.softmax(logits, dim=-1)[..., :used]    # spare slots output 0
            o = (probs[..., None] * output).sum(dim=-2)
            last = hop == self.num_hops - 1
            u = (self.output_linear if last else self.intermediate_linear)(u + o)
        ret = self.answer(self.nonlin(u) if self.nonlin is not None else u)
        if self.ln is not None:
            ret = self.ln(ret)
        return ret[:, :-1] + ret[:, -1:], None


class MemNetFull(MemNetMasked):
    """MemNet whose memories are every node's edge features, whatever ``adj`` says."""

    adjacency = COMPLETE
