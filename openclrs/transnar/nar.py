"""The neural algorithmic reasoner's embeddings, for tokens to attend to.

:class:`NAR` wraps a trained :class:`~openclrs.models.model.Reasoner`
(:meth:`NAR.from_run` loads one from an ``openclrs train`` run folder) and
runs it on the graph version of each example, in evaluation mode (its own
hint predictions fed back, no dropout), step by step through
:meth:`Reasoner.unroll`. A sample of trace length ``L`` runs
``S = max(1, L - 1)`` processor steps, as the reasoner does to predict its
outputs; its embeddings after step ``s`` are

* nodes: the processor's new node states ``h_s``, ``(N, H)``;
* edges: what the reasoner's edge decoders read at that step, the step's
  encoded edge features beside the processor's edge messages (the triplet
  messages of a Triplet-GMPNN, the ``nxt_edge`` of the published
  ``nets.py``; none for processors without edge messages): ``(N, N, E)``
  with ``E = Reasoner.edge_size``. The paper names no source for its edge
  latents; this is the reading implemented.

Examples of different sizes or algorithms share a batch: each group of one
``(algorithm, n)`` runs on its own, and the results are padded to the
largest ``n`` with a node mask (padded nodes, and every edge touching one,
must be masked by whoever reads them). Per-step states are padded along
the step axis by repeating each sample's last step, so that ``step(t)``
gives every sample its state after ``min(t, S_b - 1)``.

Frozen (the default, as in the paper): the reasoner's parameters take no
gradient, it stays in evaluation mode whatever ``.train()`` says, and it
runs under ``torch.no_grad``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..models.features import AffineFeatures
from ..models.model import Reasoner, processor_steps
from ..probes import Trace
from .config import NAR_STATES
from .data import reasoner_batches


@dataclass
class NAREmbeddings:
    """The reasoner's embeddings of a batch of examples.

    ``nodes`` ``(B, S, N, H)``, ``edges`` ``(B, S, N, N, E)``: the state
    after each step (``S = 1``: the final state only); ``mask`` ``(B, N)``:
    the real nodes; ``steps`` ``(B,)``: how many steps each sample ran.
    """

    nodes: torch.Tensor
    edges: torch.Tensor
    mask: torch.Tensor
    steps: torch.Tensor

    def step(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(nodes (B, N, H), edges (B, N, N, E))`` after step ``min(t, S_b - 1)``
        of each sample (step ``t`` counts from 0)."""
        s = min(t, self.nodes.shape[1] - 1)
        return self.nodes[:, s], self.edges[:, s]

    def final(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's state after its last step."""
        return self.step(self.nodes.shape[1] - 1)

    @property
    def edge_mask(self) -> torch.Tensor:
        """``(B, N, N)``: edges between two real nodes."""
        return self.mask[:, :, None] & self.mask[:, None, :]


def _dense(edges) -> torch.Tensor:
    return edges.dense() if isinstance(edges, AffineFeatures) else edges


def _pad(x: torch.Tensor, dims: Sequence[int], sizes: Sequence[int]) -> torch.Tensor:
    """Zero-pad ``x`` at the end of each dim in ``dims`` to ``sizes``."""
    pad = [0, 0] * x.dim()
    for d, size in zip(dims, sizes):
        pad[2 * (x.dim() - 1 - d) + 1] = size - x.shape[d]
    return nn.functional.pad(x, pad)


class NAR(nn.Module):
    """A trained reasoner as a source of node and edge embeddings.

    ``pred_as_input`` / ``enforce_permutations``: the transforms of the
    reasoner's training run (its :class:`~openclrs.training.config.TrainConfig`),
    applied to every trace before it is batched.
    """

    def __init__(self, reasoner: Reasoner, *, pred_as_input: bool = True,
                 enforce_permutations: bool = True, frozen: bool = True,
                 train_config: dict | None = None):
        super().__init__()
        self.reasoner = reasoner
        self.pred_as_input, self.enforce_permutations = pred_as_input, enforce_permutations
        self.frozen = frozen
        # the reasoner's TrainConfig as a dict, kept so that a TransNAR
        # checkpoint can rebuild it without the NAR's run folder
        self.train_config = train_config
        if frozen:
            for p in self.reasoner.parameters():
                p.requires_grad_(False)
            self.reasoner.eval()

    @classmethod
    def from_run(cls, run_dir: str, checkpoint: str = "best", device="cpu",
                 frozen: bool = True) -> "NAR":
        """The reasoner of an ``openclrs train`` run folder (its ``best``
        checkpoint, or ``last``, or a checkpoint folder), verified."""
        from ..training.evaluate import load_run, load_run_config

        model, config, _ = load_run(run_dir, checkpoint, device)
        recorded = load_run_config(run_dir)  # as trained (load_run sets device and progress)
        return cls(model, pred_as_input=config.pred_as_input,
                   enforce_permutations=config.enforce_permutations, frozen=frozen,
                   train_config=json.loads(json.dumps(recorded.to_dict())))

    @property
    def node_size(self) -> int:
        return self.reasoner.config.hidden_size

    @property
    def edge_size(self) -> int:
        return self.reasoner.edge_size

    def train(self, mode: bool = True) -> "NAR":
        super().train(mode)
        if self.frozen:
            self.reasoner.eval()
        return self

    def forward(self, traces: Sequence[Trace], states: str = "final") -> NAREmbeddings:
        """The embeddings of ``traces`` (raw sampled traces, e.g.
        :attr:`PairedExample.trace`): ``states="final"`` keeps each sample's
        last step only, ``"per-layer"`` every step."""
        if states not in NAR_STATES:
            raise ValueError(f"states must be one of {NAR_STATES}, got {states!r}")
        if not traces:
            raise ValueError("no traces to embed")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            groups = [(rows, *self._run(batch, states == "final"))
                      for rows, batch in reasoner_batches(
                          traces, pred_as_input=self.pred_as_input,
                          enforce_permutations=self.enforce_permutations)]
        n = max(nodes.shape[2] for _, nodes, _, _ in groups)
        s = max(nodes.shape[1] for _, nodes, _, _ in groups)
        device = groups[0][1].device
        b = len(traces)
        all_nodes = groups[0][1].new_zeros(b, s, n, self.node_size)
        all_edges = groups[0][2].new_zeros(b, s, n, n, self.edge_size)
        mask = torch.zeros(b, n, dtype=torch.bool, device=device)
        steps = torch.zeros(b, dtype=torch.long, device=device)
        for rows, nodes, edges, count in groups:
            index = torch.tensor(rows, device=device)
            g = nodes.shape[2]
            # repeat the last step along S, zeros beyond the group's nodes
            more = [nodes[:, -1:]] * (s - nodes.shape[1])
            nodes = _pad(torch.cat([nodes, *more], dim=1), [2], [n])
            more = [edges[:, -1:]] * (s - edges.shape[1])
            edges = _pad(torch.cat([edges, *more], dim=1), [2, 3], [n, n])
            all_nodes = all_nodes.index_copy(0, index, nodes)
            all_edges = all_edges.index_copy(0, index, edges)
            mask[index, :g] = True
            steps[index] = count
        return NAREmbeddings(all_nodes, all_edges, mask, steps)

    def _run(self, batch, final_only: bool):
        """``(nodes (b, S, N, H), edges (b, S, N, N, E), steps (b,))`` of one
        group; past its own last step a sample's state is that of its last."""
        algorithm, _, batch = self.reasoner.prepare(batch)
        count = processor_steps(batch.lengths)
        last = count - 1
        total = int(count.max())
        nodes, edges = [], []
        final_nodes = final_edges = None
        for step in self.reasoner.unroll(batch, algorithm, steps=total, repred=True):
            h = step.hidden
            e = _dense(step.state.edge)
            if step.state.edge_msgs is not None:
                e = torch.cat([e, step.state.edge_msgs], dim=-1)
            if final_only:
                here = (last == step.index)
                if final_nodes is None:
                    final_nodes, final_edges = h, e
                else:
                    final_nodes = torch.where(here[:, None, None], h, final_nodes)
                    final_edges = torch.where(here[:, None, None, None], e, final_edges)
            else:
                if nodes:  # samples already done keep their last state
                    done = (last < step.index)
                    h = torch.where(done[:, None, None], nodes[-1], h)
                    e = torch.where(done[:, None, None, None], edges[-1], e)
                nodes.append(h)
                edges.append(e)
        if final_only:
            return final_nodes[:, None], final_edges[:, None], count
        return torch.stack(nodes, 1), torch.stack(edges, 1), count


__all__ = ["NAR", "NAREmbeddings", "NAR_STATES"]
