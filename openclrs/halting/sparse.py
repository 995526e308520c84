"""Learned halting on sparse graphs: each graph of a
:class:`~openclrs.data.sparse.SparseBatch` stops when its model decides.

This is where halting matters most: a reasoner trained on graphs of 16
nodes and evaluated on graphs of thousands does not know how many steps to
run. The halting heads of a :class:`~.reasoner.HaltingReasoner` read the
node states ``(N, H)`` of :func:`~openclrs.models.sparse.sparse_unroll`
(the batch's graphs concatenated, no padding), each graph over its own
nodes (the batch vector)::

    logit_g^(n) = max_{i in g} (w_node · h_i^(n)) + w_mean · (1/|g|) Σ_{i in g} h_i^(n) + b

(:func:`sparse_halt_logits`: NEGA's readout, the dense
:class:`~.termination.TerminationHead` with a segment max and a segment
mean). PonderNet's λ_n = σ(logit) and the termination head's τ_n =
σ(logit) then decide as in :meth:`~.reasoner.HaltingReasoner.halt`:
``learned`` halts graph g at the first step whose cumulative halting
probability 1 − Π_{j≤n}(1 − λ_j) reaches the threshold (or at a
Bernoulli(λ_n) success under ``evaluation="sample"``; termination: the
first τ_n > threshold), capped at ``ceil(c · n_g)`` steps with n_g **the
graph's own** node count (the run's cap rule); ``oracle`` reads each graph
at its true step count T = max(1, L − 1); ``fixed`` at ``ceil(budget · n_g)``.

Under the default thresholded evaluation a graph's halting step and
outputs do not depend on the graphs batched with it (message passing never
crosses graphs; tested). ``evaluation="sample"`` draws one number per
graph and step from one seeded generator, so its draws depend on the batch
(as the dense ones do on the batch's samples).

On a small graph this equals the dense
:meth:`~.reasoner.HaltingReasoner.halt` (same T̂, same outputs) wherever the
sparse forward equals the dense one (``*_mask`` processors under hard
feedback; see :mod:`openclrs.models.sparse`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..models.segments import SparseGraph, segment_max, segment_sum
from ..models.sparse import (row_graphs, sparse_decode_outputs, sparse_hard_predictions,
                             sparse_predict, sparse_unroll)
from ..training.graph_metrics import GraphScorer
from .config import HaltingConfig
from .reasoner import MODES, Halted, HaltingReasoner, HaltingStatistics
from .termination import TerminationHead


def sparse_halt_logits(head: TerminationHead, hidden: torch.Tensor,
                       graph: SparseGraph) -> torch.Tensor:
    """(G,) the halting logit of every graph from the node states ``(N, H)``
    of the batch: a max of ``head.node`` over the graph's nodes plus
    ``head.mean`` of their mean (the dense head's readout per graph)."""
    g = graph.num_graphs
    top = segment_max(head.node(hidden).squeeze(-1), graph.node_graph, g)
    count = torch.bincount(graph.node_graph, minlength=g).clamp(min=1).to(hidden.dtype)
    mean = segment_sum(hidden, graph.node_graph, g) / count[:, None]
    return top + head.mean(mean).squeeze(-1)


def _graph_sizes(batch) -> torch.Tensor:
    ptr = torch.as_tensor(np.asarray(batch.node_ptr) if not isinstance(batch.node_ptr,
                                                                        torch.Tensor)
                          else batch.node_ptr)
    return (ptr[1:] - ptr[:-1]).cpu()


@torch.no_grad()
def sparse_halt(model: HaltingReasoner, batch, algorithm: str | None = None, *,
                mode: str = "learned", budget: float | None = None, progress=None) -> Halted:
    """Run ``batch`` (a sparse batch) in evaluation mode and read each
    graph's outputs at the step it stops (see the module docstring).
    Returns a :class:`~.reasoner.Halted` per graph: output logits in the
    batch's sparse layout (node pointers one per edge), ``steps`` T̂ (G,),
    ``true_steps`` T (G,), ``capped`` (G,) and ``cap``, the largest
    graph's. ``progress``: a tqdm bar or None (reset to that cap)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if (mode == "fixed") != (budget is not None):
        raise ValueError("give budget=c (steps = ceil(c * n)) with mode='fixed', and only then")
    if not isinstance(model, HaltingReasoner):
        raise TypeError(f"sparse_halt needs a HaltingReasoner, got {type(model).__name__}")
    cfg = model.halting
    reasoner = model.reasoner
    algorithm, spec = reasoner.checked_spec(batch, algorithm)
    sizes = [int(n) for n in _graph_sizes(batch)]
    lengths = torch.as_tensor(np.asarray(batch.lengths) if not isinstance(
        batch.lengths, torch.Tensor) else batch.lengths).cpu()
    true_steps = (lengths - 1).clamp(min=1)            # processor_steps, per graph
    if mode == "learned":
        caps = torch.tensor([cfg.cap(n) for n in sizes])
    elif mode == "oracle":
        caps = true_steps.clone()
    else:
        rule = HaltingConfig(max_steps_factor=budget).validate()
        caps = torch.tensor([rule.cap(n) for n in sizes])
    cap = int(caps.max())

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        caps, true_on = caps.to(device), true_steps.to(device)
        size = len(sizes)
        steps = caps.clone()
        halted = torch.zeros(size, dtype=torch.bool, device=device)
        by_head = torch.zeros(size, dtype=torch.bool, device=device)
        survival = torch.ones(size, dtype=torch.float64, device=device)
        generator = None
        if mode == "learned" and cfg.kind == "learned" and cfg.evaluation == "sample":
            generator = torch.Generator(device=device).manual_seed(cfg.sample_seed)
        outputs: dict[str, torch.Tensor] = {}
        if progress is not None:
            progress.reset(total=cap)
        for step in sparse_unroll(reasoner, batch, algorithm, steps=cap, repred=True):
            n = step.index + 1
            graph = step.state.graph
            if mode == "learned":
                logits = sparse_halt_logits(model.heads[algorithm], step.hidden, graph)
                if cfg.kind == "termination":
                    decide = torch.sigmoid(logits) > cfg.threshold
                elif cfg.evaluation == "sample":
                    draws = torch.rand(size, generator=generator, dtype=torch.float64,
                                       device=device)
                    decide = draws < torch.sigmoid(logits.double())
                else:
                    survival = survival * (1 - torch.sigmoid(logits.double()))
                    decide = 1 - survival >= cfg.threshold
                stop = ~halted & (decide | (caps == n))
                by_head |= ~halted & decide
            elif mode == "oracle":
                stop = ~halted & (true_on == n)
            else:
                stop = ~halted & (caps == n)
            if bool(stop.any()):
                steps[stop] = n
                halted |= stop
                for name, value in sparse_decode_outputs(reasoner, step.state,
                                                         algorithm).items():
                    here = stop[row_graphs(spec, name, graph)]
                    here = here.view(-1, *([1] * (value.dim() - 1)))
                    outputs[name] = torch.where(here, value, outputs.get(
                        name, torch.zeros_like(value)))
            if progress is not None:
                progress.update(1)
            if bool(halted.all()):
                break
    finally:
        model.train(was_training)
    capped = ~by_head if mode == "learned" else torch.zeros_like(halted)
    return Halted(outputs, steps.cpu(), true_steps, capped.cpu(), cap)


class SparseHaltingScorer:
    """Scores a :class:`~.reasoner.HaltingReasoner` on sparse batches of one
    algorithm (what ``openclrs evaluate --graph`` runs for a halting run,
    through :class:`~openclrs.training.evaluate.RunKind`'s ``sparse_scorer``):
    SALSA's per-graph metrics and the CLRS score with learned halting
    (:class:`~openclrs.training.graph_metrics.GraphScorer`), the same with
    the trace lengths (``oracle_*``: the plain sparse evaluation,
    :func:`~openclrs.models.sparse.sparse_predict`) and the halting
    statistics (:class:`~.reasoner.HaltingStatistics`)."""

    def __init__(self, model: HaltingReasoner, algorithm: str):
        self.model, self.algorithm = model, algorithm
        spec = model.specs[algorithm]
        self.learned, self.oracle = GraphScorer(spec), GraphScorer(spec)
        self.statistics = HaltingStatistics()
        self.oracle_seconds = 0.0

    def update(self, batch, progress=None) -> None:
        spec = self.model.specs[self.algorithm]
        result = sparse_halt(self.model, batch, self.algorithm, progress=progress)
        graph = _graph_of_numpy(batch)
        learned = sparse_hard_predictions(spec, result.outputs, graph)
        self.learned.update(batch.outputs, learned, batch.node_ptr, batch.edge_ptr)
        self.statistics.update(result)
        start = time.perf_counter()
        oracle = sparse_predict(self.model.reasoner, batch, self.algorithm, progress=progress)
        self.oracle_seconds += time.perf_counter() - start
        self.oracle.update(batch.outputs, oracle, batch.node_ptr, batch.edge_ptr)

    def result(self) -> dict:
        """The learned-halting metrics (the plain layout: ``node_accuracy``,
        ``graph_accuracy``, ``score``, ``<output>/<metric>``), then
        ``oracle_node_accuracy``, ``oracle_graph_accuracy``,
        ``oracle_score``, ``oracle_seconds`` and ``halting``: halting_error
        (mean |T̂ − T| / T), early, late, capped (fractions of graphs),
        mean_steps (T̂), mean_true_steps (T), max_steps (the cap)."""
        result = self.learned.result()
        oracle = self.oracle.result()
        for key in ("node_accuracy", "graph_accuracy", "score"):
            if key in oracle:
                result[f"oracle_{key}"] = oracle[key]
        result["oracle_seconds"] = self.oracle_seconds
        result["halting"] = self.statistics.result()
        return result


def _graph_of_numpy(batch) -> SparseGraph:
    """The batch's :class:`SparseGraph` (torch, CPU) for decoding predictions."""
    def t(x):
        return x.cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))

    return SparseGraph(t(batch.senders), t(batch.receivers), t(batch.batch),
                       int(batch.num_graphs))


def sparse_halting_table(results: dict) -> str:
    """Per algorithm, on sparse graphs: node accuracy, graph accuracy and
    the CLRS score with learned halting beside those with the trace lengths,
    and the halting statistics."""
    kind = results.get("halting", {}).get("kind", "learned")
    lines = [f"{'halting: ' + kind:<20}{'learned halting':>24}{'oracle lengths':>24}"
             f"{'|T^-T|/T':>10}{'early':>7}{'late':>7}{'capped':>8}{'mean T^':>9}"
             f"{'mean T':>8}{'cap':>7}",
             f"{'algorithm':<20}" + f"{'node':>8}{'graph':>8}{'score':>8}" * 2]
    for a, r in results["algorithms"].items():
        h = r["halting"]
        lines.append(f"{a:<20}{r.get('node_accuracy', float('nan')):>8.4f}"
                     f"{r['graph_accuracy']:>8.4f}{r['score']:>8.4f}"
                     f"{r.get('oracle_node_accuracy', float('nan')):>8.4f}"
                     f"{r['oracle_graph_accuracy']:>8.4f}{r['oracle_score']:>8.4f}"
                     f"{h['halting_error']:>10.3f}{100 * h['early']:>6.1f}%"
                     f"{100 * h['late']:>6.1f}%{100 * h['capped']:>7.1f}%"
                     f"{h['mean_steps']:>9.2f}{h['mean_true_steps']:>8.2f}{h['max_steps']:>7d}")
    return "\n".join(lines)
