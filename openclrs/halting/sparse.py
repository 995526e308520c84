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

Training on sparse graphs (``openclrs train --sparse --halting ...``,
:func:`sparse_halting_loss`): the losses of
:meth:`~.reasoner.HaltingReasoner.loss` on the sparse unroll in training
mode, with the sparse loss layouts of
:func:`~openclrs.models.sparse.sparse_loss` (a node pointer a cross-entropy
over its node's out-edges). PonderNet needs the output loss of every graph
at every step, 𝓛_out(y_g, ŷ_g^(n)) (:func:`sparse_output_losses`: each
probe reduced over the graph's own items as
:func:`~.reasoner.sample_output_loss` reduces a dense sample's); the batch
unrolls until every graph's cumulative halting probability exceeds 1 − ε
or its cap ⌈c·n_g⌉ is reached, never fewer steps than its longest trace;
each graph's p and prior are truncated at its own last step
min(max(⌈c·n_g⌉, T_g), N) (:func:`~.reasoner.capped_ponder_loss`, as the
dense loss does), so no mass lies past its cap because a larger graph
shares its batch (tested). On complete graphs of one size both losses
equal the dense ones (tested).
"""

from __future__ import annotations

import time

import torch

from ..models.losses import total_loss
from ..models.segments import SparseGraph, segment_max, segment_sum
from ..models.sparse import (graph_of, row_graphs, sparse_decode_outputs,
                             sparse_hard_predictions, sparse_layouts, sparse_predict,
                             sparse_unroll)
from ..specs import Stage, Type
from ..training.graph_metrics import GraphScorer
from .reasoner import (Halted, HaltingDecision, HaltingReasoner, HaltingStatistics,
                       capped_ponder_loss, check_mode, hint_terms)
from .termination import TerminationHead, termination_loss


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


def _torch_batch(batch, param: torch.Tensor):
    """A numpy sparse batch as tensors on the model's device (floats in its dtype)."""
    if isinstance(batch.senders, torch.Tensor):
        return batch
    return batch.to_torch(device=param.device, float_dtype=param.dtype)


@torch.no_grad()
def sparse_halt(model: HaltingReasoner, batch, algorithm: str | None = None, *,
                mode: str = "learned", budget: float | None = None, progress=None) -> Halted:
    """Run ``batch`` (a sparse batch) in evaluation mode and read each
    graph's outputs at the step it stops (see the module docstring).
    Returns a :class:`~.reasoner.Halted` per graph: output logits in the
    batch's sparse layout (node pointers one per edge), ``steps`` T̂ (G,),
    ``true_steps`` T (G,), ``capped`` (G,) and ``cap``, the largest
    graph's. ``progress``: a tqdm bar or None (reset to that cap)."""
    check_mode(mode, budget)
    if not isinstance(model, HaltingReasoner):
        raise TypeError(f"sparse_halt needs a HaltingReasoner, got {type(model).__name__}")
    reasoner = model.reasoner
    algorithm, spec = reasoner.checked_spec(batch, algorithm)
    batch = _torch_batch(batch, next(model.parameters()))
    sizes = (batch.node_ptr[1:] - batch.node_ptr[:-1]).tolist()
    true_steps = (batch.lengths.cpu() - 1).clamp(min=1)    # processor_steps, per graph

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        decision = HaltingDecision(model.halting, mode, budget, sizes, true_steps.to(device))
        outputs: dict[str, torch.Tensor] = {}
        if progress is not None:
            progress.reset(total=decision.cap)
        for step in sparse_unroll(reasoner, batch, algorithm, steps=decision.cap, repred=True):
            graph = step.state.graph
            logits = (sparse_halt_logits(model.heads[algorithm], step.hidden, graph)
                      if decision.learned else None)
            stop = decision.stop(step.index + 1, logits)
            if bool(stop.any()):
                for name, value in sparse_decode_outputs(reasoner, step.state,
                                                         algorithm).items():
                    here = stop[row_graphs(spec, name, graph)]
                    here = here.view(-1, *([1] * (value.dim() - 1)))
                    outputs[name] = torch.where(here, value, outputs.get(
                        name, torch.zeros_like(value)))
            if progress is not None:
                progress.update(1)
            if decision.done:
                break
    finally:
        model.train(was_training)
    return Halted(outputs, decision.steps.cpu(), true_steps, decision.capped.cpu(), decision.cap)


class SparseHaltingScorer:
    """Scores a :class:`~.reasoner.HaltingReasoner` on sparse batches of one
    algorithm (what ``openclrs evaluate --graph`` runs for a halting run,
    through :class:`~openclrs.training.evaluate.RunKind`'s ``sparse_scorer``):
    SALSA's per-graph metrics and the CLRS score with learned halting
    (:class:`~openclrs.training.graph_metrics.GraphScorer`), the same with
    the trace lengths (``oracle_*``: the plain sparse evaluation,
    :func:`~openclrs.models.sparse.sparse_predict`) and the halting
    statistics (:class:`~.reasoner.HaltingStatistics`); for each ``c`` in
    ``budgets``, ``fixed_{c}_score`` (every graph read at ceil(c · n_g) steps)."""

    def __init__(self, model: HaltingReasoner, algorithm: str, budgets: tuple[float, ...] = ()):
        self.model, self.algorithm, self.budgets = model, algorithm, tuple(budgets)
        spec = model.specs[algorithm]
        self.learned, self.oracle = GraphScorer(spec), GraphScorer(spec)
        self.fixed = {c: GraphScorer(spec) for c in self.budgets}
        self.statistics = HaltingStatistics()
        self.oracle_seconds = 0.0

    def update(self, batch, progress=None) -> None:
        spec = self.model.specs[self.algorithm]
        on_device = _torch_batch(batch, next(self.model.parameters()))

        def halted(scorer, **mode):
            result = sparse_halt(self.model, on_device, self.algorithm, progress=progress, **mode)
            hard = sparse_hard_predictions(spec, result.outputs, graph_of(on_device))
            scorer.update(batch.outputs, hard, batch.node_ptr, batch.edge_ptr)
            return result

        self.statistics.update(halted(self.learned))
        start = time.perf_counter()
        oracle = sparse_predict(self.model.reasoner, on_device, self.algorithm,
                                progress=progress)
        self.oracle_seconds += time.perf_counter() - start
        self.oracle.update(batch.outputs, oracle, batch.node_ptr, batch.edge_ptr)
        for c, scorer in self.fixed.items():
            halted(scorer, mode="fixed", budget=c)

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
        for c, scorer in self.fixed.items():
            result[f"fixed_{c:g}_score"] = scorer.result()["score"]
        result["halting"] = self.statistics.result()
        return result


def sparse_halting_table(results: dict) -> str:
    """Per algorithm, on sparse graphs: node accuracy, graph accuracy and
    the CLRS score with learned halting beside those with the trace lengths,
    and the halting statistics."""
    kind = results.get("halting", {}).get("kind", "learned")
    lines = [f"{'halting: ' + kind:<20}{'learned halting':>24}{'oracle lengths':>24}"
             f"{HaltingStatistics.HEADER}{'cap':>7}",
             f"{'algorithm':<20}" + f"{'node':>8}{'graph':>8}{'score':>8}" * 2]
    for a, r in results["algorithms"].items():
        h = r["halting"]
        lines.append(f"{a:<20}{r.get('node_accuracy', float('nan')):>8.4f}"
                     f"{r['graph_accuracy']:>8.4f}{r['score']:>8.4f}"
                     f"{r.get('oracle_node_accuracy', float('nan')):>8.4f}"
                     f"{r['oracle_graph_accuracy']:>8.4f}{r['oracle_score']:>8.4f}"
                     f"{HaltingStatistics.cells(h)}{h['max_steps']:>7d}")
    return "\n".join(lines)


# ------------------------------------------------------------------ training

def sparse_output_losses(spec, outputs, preds, graph: SparseGraph, layout_of=None
                         ) -> torch.Tensor:
    """(G,) the sum over output probes of each graph's output loss: every
    probe reduced over the graph's own items (nodes, edges, or itself), as
    :func:`~.reasoner.sample_output_loss` reduces a dense sample's, with the
    candidates of :func:`~openclrs.models.sparse.sparse_layouts` (a node
    pointer over its node's out-edges)."""
    layout_of = sparse_layouts(graph) if layout_of is None else layout_of
    g = graph.num_graphs
    total = None
    for name, (stage, location, type_) in spec.items():
        if stage != Stage.OUTPUT:
            continue
        truth, pred, layout = outputs[name], preds[name], layout_of(location, type_)
        if type_ == Type.POINTER:
            value, weight, rows = layout.pointer_nll(pred, truth), None, layout.rows
        else:
            rows = row_graphs(spec, name, graph)
            if type_ == Type.SCALAR:
                value, weight = (pred - truth) ** 2, None
            elif type_ == Type.MASK:
                bce = pred.clamp(min=0) - pred * truth + torch.log1p(torch.exp(-pred.abs()))
                value, weight = bce, (truth != -1)
            elif type_ in (Type.MASK_ONE, Type.CATEGORICAL):
                log_p = (layout.log_softmax(pred) if type_ == Type.MASK_ONE
                         else torch.log_softmax(pred, dim=-1))
                labelled = truth * (truth != -1)
                per_item = -(labelled * log_p)
                count = (truth == 1).to(pred.dtype)
                if per_item.dim() > 1:
                    per_item, count = per_item.flatten(1).sum(1), count.flatten(1).sum(1)
                loss = (segment_sum(per_item, rows, g)
                        / segment_sum(count, rows, g).clamp(min=1))
                total = loss if total is None else total + loss
                continue
            else:
                raise ValueError(f"{name}: no sparse loss for output type {type_!r}")
        weight = torch.ones_like(value) if weight is None else weight.to(value.dtype)
        value = torch.where(weight > 0, value, 0.0) * weight
        if value.dim() > 1:
            value, weight = value.flatten(1).sum(1), weight.flatten(1).sum(1)
        loss = segment_sum(value, rows, g) / segment_sum(weight, rows, g).clamp(min=1e-12)
        total = loss if total is None else total + loss
    if total is None:
        raise ValueError("nothing to compute a loss on: the spec has no output")
    return total


def sparse_halting_loss(model: HaltingReasoner, batch, algorithm: str | None = None
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss ``(total, terms)`` of a halting reasoner on a
    sparse batch (the module docstring): :meth:`~.reasoner.HaltingReasoner.loss`
    on the sparse unroll (``repred=False``)."""
    if not isinstance(model, HaltingReasoner):
        raise TypeError(f"sparse_halting_loss needs a HaltingReasoner, got "
                        f"{type(model).__name__}")
    reasoner = model.reasoner
    algorithm, spec = reasoner.checked_spec(batch, algorithm)
    batch = _torch_batch(batch, next(model.parameters()))
    graph = graph_of(batch)
    layout_of = sparse_layouts(graph)
    true_steps = (batch.lengths - 1).clamp(min=1)
    head = model.heads[algorithm]
    if model.halting.kind == "learned":
        return _sparse_ponder_loss(model, algorithm, spec, batch, graph, layout_of, true_steps,
                                   head)
    logits, history, outputs = [], [], {}
    for step in sparse_unroll(reasoner, batch, algorithm, steps=int(true_steps.max()),
                              repred=False):
        logits.append(sparse_halt_logits(head, step.hidden, graph))
        history.append(step.hints)
        done = true_steps == step.index + 1
        if bool(done.any()):
            for name, value in sparse_decode_outputs(reasoner, step.state, algorithm).items():
                here = done[row_graphs(spec, name, graph)].view(-1, *([1] * (value.dim() - 1)))
                outputs[name] = torch.where(here, value, outputs.get(name,
                                                                     torch.zeros_like(value)))
    hints = None
    if reasoner.config.decode_hints and history and history[0]:
        hints = {k: torch.stack([h[k] for h in history]) for k in history[0]}
    loss, terms = total_loss(spec, batch, outputs, hints, layout_of)
    terms["termination"] = termination_loss(torch.stack(logits), true_steps)
    return loss + terms["termination"], terms


def _sparse_ponder_loss(model, algorithm, spec, batch, graph, layout_of, true_steps, head):
    cfg = model.halting
    reasoner = model.reasoner
    longest = int(true_steps.max())
    sizes = torch.bincount(graph.node_graph, minlength=graph.num_graphs).tolist()
    caps = torch.tensor([cfg.cap(n) for n in sizes], device=true_steps.device)
    limit = max(int(caps.max()), longest)
    lambdas, losses, history = [], [], []
    survival = torch.ones(graph.num_graphs, dtype=torch.float64, device=true_steps.device)
    for step in sparse_unroll(reasoner, batch, algorithm, steps=limit, repred=False):
        # float32 under autocast too: the halting distribution is a long product
        lam = torch.sigmoid(sparse_halt_logits(head, step.hidden, graph).float())
        outputs = sparse_decode_outputs(reasoner, step.state, algorithm)
        losses.append(sparse_output_losses(spec, batch.outputs, outputs, graph, layout_of))
        lambdas.append(lam)
        history.append(step.hints)
        # the ε rule on the cumulative halting probability, or the graph's own cap
        survival = survival * (1 - lam.detach().double())
        n = step.index + 1
        if n >= longest and bool(((1 - survival > 1 - cfg.epsilon) | (caps <= n)).all()):
            break
    loss, terms = capped_ponder_loss(cfg, lambdas, losses, caps, true_steps)
    if reasoner.config.decode_hints:
        hints = hint_terms(spec, batch, history, layout_of)
        terms.update(hints)
        if hints:
            loss = loss + torch.stack(list(hints.values())).sum()
    return loss, terms


def score_halting_sparse(model: HaltingReasoner, batches, autocast=None, *,
                         budgets: tuple[float, ...] = ()) -> dict[str, float]:
    """Validation of a halting run trained sparse
    (:func:`~.reasoner.score_halting` on sparse batches): the
    learned-halting metrics of :class:`SparseHaltingScorer` (``score``,
    ``node_accuracy``, ...), ``oracle_score``, ``fixed_{c}_score`` for each
    ``c`` in ``budgets`` and the halting statistics, flat as
    :func:`~.reasoner.score_halting` gives them (no timings)."""
    from contextlib import nullcontext

    autocast = autocast or nullcontext
    scorer = None
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            if scorer is None:
                scorer = SparseHaltingScorer(model, batch.algorithm, budgets)
            with autocast():
                scorer.update(batch)
    finally:
        model.train(was_training)
    if scorer is None:
        raise ValueError("no batch to score")
    metrics = scorer.result()
    metrics.update(metrics.pop("halting"))
    # wall-clock time is no metric: validation's must be the same bytes for
    # the same seed (metrics.jsonl, resumed runs); evaluate --graph keeps it
    del metrics["oracle_seconds"]
    return metrics
