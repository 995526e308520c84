"""A trained :class:`~.model.Reasoner` evaluated on sparse graphs.

The same encoders, processor and decoders (the same weights) as the dense
forward, run on a :class:`~openclrs.data.sparse.SparseBatch`: node features
``(N, H)`` over the batch's concatenated graphs, edge features ``(E, H)`` on
its edges only, graph features ``(G, H)``; messages on edges reduced per
receiver (:meth:`~.processors.pgn.PGN.forward_sparse`); nothing ``N x N``.
Memory and time are ``O((N + E) H)`` per step.

What changes from the dense forward, probe kind by kind:

* **Node pointers.** A node points along one of its out-edges (its
  self-loop included). Fed to the encoders, a pointer is 1 on edge
  ``(i, pi(i))`` (the dense one-hot row restricted to the edges; soft: the
  probabilities of a :func:`~.segments.segment_softmax` over i's out-edges).
  Decoded, it is one logit per edge, the dense logit of that pair; its
  softmax and argmax run over each node's out-edges. The dense decoder
  scores every node; the ``*_mask`` processors (``inf_bias``) push the
  non-edges below every edge, so their dense argmax is the sparse one.
  Pointers that leave the edges (topological_sort's ``topo``,
  strongly_connected_components' ``scc_id``:
  :func:`~openclrs.sparse.off_edge_pointers`) cannot be expressed: their
  targets are not on the edge list and their predictions never equal them.
* **Graph pointers** point to a node of their graph (softmax/argmax per graph).
* **Node mask_one** probes: softmax/argmax over the nodes of each graph;
  edge mask_one: over each node's out-edges.
* **Adjacency.** The processor's graph is the edge list itself (the support
  of ``adj`` and its transpose, with self-loops). The dense model adds the
  edges of confident pointers and of edge masks to it, which are edges of
  that list whenever pointers stay on edges (the ground truth of the
  supported algorithms; the predictions of the sparse decoders, and of the
  dense ``*_mask`` kinds under hard feedback).
* **Processors**: the MPNN/PGN family (gated, triplet, Deep Sets); MPNN's
  complete graph becomes the graph's edges; triplets take the max over the
  triplets the graph allows (equal to dense on complete graphs).
  Attention and memory-network processors, edge pointers and permutation
  pointers are not supported (a clear error).

So on a small graph the sparse evaluation agrees with the dense one to float
tolerance for a graph-adjacency processor (PGN, gated, ``*_mask``), exactly
as long as no dense pointer leaves the edges: always for outputs without
hints, and with hints under hard feedback of the ``*_mask`` kinds (tested in
``tests/test_sparse_models.py``).

Evaluation (``repred=True``, what :func:`sparse_predict` runs): hints are
the batch's at step 0, the model's own predictions after; every graph runs
``max(1, L - 1)`` steps (L its ``length``) and its outputs are read after
its last, as :meth:`~.model.Reasoner.forward` does. Training mode
(``repred=False``) adds what the dense forward does then: dropout, teacher
forcing per graph, soft feedback under ``hint_repred_mode="hard_on_eval"``.
The forward is differentiable. Under hard feedback (``"hard"``) a loss of
its logits has the dense forward's parameter gradients (tested, with
dropout and teacher forcing, on one graph and one seed); soft feedback of
a node pointer is a softmax over its out-edges, where the dense one spreads
some probability over non-edges too, so the two differ there.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..specs import Location, Stage, Type
from .decoders import (EdgeDecoder, GraphDecoder, GraphPointerDecoder, NodeDecoder,
                       NodePermutationDecoder, NodePointerDecoder, ProbeDecoder, _values,
                       postprocess)
from .encoders import NODE_POINTERS, split_step_inputs, step_columns
from .features import AffineFeatures, project
from .losses import Layout, total_loss
from .processors.pgn import PGN
from .segments import (SparseGraph, segment_argmax, segment_log_softmax, segment_max,
                       segment_one_hot, segment_softmax, segment_sum)


class SparseState(NamedTuple):
    """What the decoders read at one step, on a sparse batch: node state
    (N, 3H), edge features (E, ...) factored, edge messages (E, M) or None,
    graph features (G, H) and the graph."""

    node: torch.Tensor
    edge: AffineFeatures
    edge_msgs: torch.Tensor | None
    graph_fts: torch.Tensor
    graph: SparseGraph


class SparsePredictions(NamedTuple):
    """Logits: ``outputs[name]`` (N | E | G, ...) from each graph's last
    step; ``hints[name]`` (S, N | E | G, ...), ``hints[name][t]`` predicting
    the hints of step t + 1, zeros past a graph's last step (empty unless
    asked). Node pointers are one logit per edge."""

    outputs: dict[str, torch.Tensor]
    hints: dict[str, torch.Tensor]


class TrajectoryState(NamedTuple):
    """What an evaluation (:func:`sparse_forward` with ``repred=True``)
    carries from one step to the next, taken before step ``step`` runs:
    the node states, the LSTM state (or None), the last step's hint logits
    (fed back at ``step``) and the output logits of the graphs already
    finished. With the batch (step 0's inputs and hints), it is all the
    rest of the run depends on: a run continued from it gives the same
    numbers as one never stopped."""

    step: int
    hidden: torch.Tensor
    lstm_state: tuple[torch.Tensor, torch.Tensor] | None
    preds: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat ``{name: tensor}`` (contiguous copies), for a safetensors file."""
        flat = {"hidden": self.hidden, "step": torch.tensor(self.step, dtype=torch.int64)}
        if self.lstm_state is not None:
            flat["lstm/0"], flat["lstm/1"] = self.lstm_state
        flat.update({f"preds/{k}": v for k, v in self.preds.items()})
        flat.update({f"outputs/{k}": v for k, v in self.outputs.items()})
        return {k: v.detach().contiguous().clone() for k, v in flat.items()}

    def to(self, device) -> "TrajectoryState":
        """The same state with every tensor on ``device`` (a file loads to the CPU)."""
        lstm = None if self.lstm_state is None else tuple(x.to(device) for x in self.lstm_state)
        return TrajectoryState(self.step, self.hidden.to(device), lstm,
                               {k: v.to(device) for k, v in self.preds.items()},
                               {k: v.to(device) for k, v in self.outputs.items()})

    @classmethod
    def from_tensors(cls, flat: Mapping[str, torch.Tensor]) -> "TrajectoryState":
        def group(prefix):
            return {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}

        lstm = (flat["lstm/0"], flat["lstm/1"]) if "lstm/0" in flat else None
        return cls(int(flat["step"]), flat["hidden"], lstm, group("preds/"), group("outputs/"))


def graph_of(batch) -> SparseGraph:
    """The :class:`SparseGraph` of a torch :class:`SparseBatch`."""
    return SparseGraph(batch.senders, batch.receivers, batch.batch, batch.num_graphs)


# ------------------------------------------------------------------ decoders

def _node_values(dec: NodeDecoder, x: SparseState) -> torch.Tensor:
    return _values(dec.type_, dec.node(x.node))


def _node_pointer(dec: NodePointerDecoder, x: SparseState) -> torch.Tensor:
    # Edge k = (i, j) scores i -> j: score(max(source(h_i), target(h_j) + edge(e_ji))).
    # The edge term is projected from the reverse edges' raw features (a few
    # columns gathered, not H), and the (E, H) blocks are added and maxed in
    # place: the plain expression's numbers up to float rounding (the same bits
    # in the cases tested, single-threaded), with two (E, H) blocks fewer per
    # step (gathers by index_select, much faster than x[index] on the CPU).
    g = x.graph
    rev = g.reverse
    edge = project(dec.edge, _edge_rows(x.edge, rev),
                   None if x.edge_msgs is None else x.edge_msgs.index_select(0, rev))
    to_j = edge.add_(dec.target(x.node).index_select(0, g.receivers))
    source = dec.source(x.node).index_select(0, g.senders)
    # in place without autograd only (maximum's gradient splits ties; keep it)
    best = (torch.maximum(source, to_j) if torch.is_grad_enabled()
            else torch.maximum(source, to_j, out=to_j))
    return dec.score(best).squeeze(-1)


def _edge_rows(edge: AffineFeatures, index: torch.Tensor) -> AffineFeatures:
    """The factored features of edges ``index`` (raw columns gathered)."""
    return AffineFeatures(edge.x.index_select(0, index), edge.weight, edge.bias)


def _edge_values(dec: EdgeDecoder, x: SparseState) -> torch.Tensor:
    # Every listed edge is in the processor's adjacency: inf_bias_edge masks nothing.
    g = x.graph
    pair = project(dec.edge, x.edge, x.edge_msgs,
                   add=dec.source(x.node).index_select(0, g.senders).add_(
                       dec.target(x.node).index_select(0, g.receivers)))
    return _values(dec.type_, pair)


def _pooled(dec, x: SparseState) -> torch.Tensor:
    g = x.graph
    return dec.pooled(segment_max(x.node, g.node_graph, g.num_graphs)) + dec.graph(x.graph_fts)


def _graph_values(dec: GraphDecoder, x: SparseState) -> torch.Tensor:
    return _values(dec.type_, _pooled(dec, x))


def _graph_pointer(dec: GraphPointerDecoder, x: SparseState) -> torch.Tensor:
    return _pooled(dec, x)[x.graph.node_graph].squeeze(-1) + dec.node(x.node).squeeze(-1)


SPARSE_DECODERS = {NodeDecoder: _node_values, NodePointerDecoder: _node_pointer,
                   EdgeDecoder: _edge_values, GraphDecoder: _graph_values,
                   GraphPointerDecoder: _graph_pointer}


def decode_sparse(decoder: ProbeDecoder, state: SparseState) -> torch.Tensor:
    """A dense decoder's logits on a sparse state, with its own layers."""
    run = None if isinstance(decoder, NodePermutationDecoder) else SPARSE_DECODERS.get(
        type(decoder))
    if run is None:
        raise NotImplementedError(f"{type(decoder).__name__} has no sparse form "
                                  "(edge and permutation pointers are dense only)")
    return run(decoder, state)


# ------------------------------------------------- logits <-> fed-back values

def _segments(location: str, type_: str, graph: SparseGraph):
    """(index, size) of the groups a one-hot probe's softmax runs over, or None."""
    if type_ == Type.POINTER and location == Location.NODE:
        return graph.senders, graph.num_nodes                 # a node's out-edges
    if type_ == Type.POINTER and location == Location.GRAPH:
        return graph.node_graph, graph.num_graphs             # a graph's nodes
    if type_ == Type.MASK_ONE and location == Location.NODE:
        return graph.node_graph, graph.num_graphs
    if type_ == Type.MASK_ONE and location == Location.EDGE:
        return graph.senders, graph.num_nodes
    return None


def sparse_postprocess(location: str, type_: str, logits: torch.Tensor, graph: SparseGraph,
                       *, hard: bool) -> torch.Tensor:
    """Logits -> the values the encoders read (:func:`~.decoders.postprocess`
    with the softmaxes of one-hot probes over their segments)."""
    segments = _segments(location, type_, graph)
    if segments is None:
        return postprocess(type_, logits, hard=hard)
    index, size = segments
    if hard:
        return segment_one_hot(logits, index, size)
    return segment_softmax(logits, index, size)


def truth_to_feed(location: str, type_: str, data: torch.Tensor, graph: SparseGraph,
                  dtype: torch.dtype) -> torch.Tensor:
    """Batch values -> encoder values: pointers (node indices) become 1 on
    the edge (i, pi(i)) (node pointers) or on the node (graph pointers)."""
    if type_ in NODE_POINTERS and location == Location.NODE:
        return (data[graph.senders] == graph.receivers).to(dtype)
    if type_ == Type.POINTER and location == Location.GRAPH:
        nodes = torch.arange(graph.num_nodes, device=data.device)
        return (data[graph.node_graph] == nodes).to(dtype)
    if type_ == Type.POINTER:
        raise NotImplementedError("edge pointers have no sparse form")
    return data.to(dtype)


def sparse_hard_predictions(spec: Mapping[str, tuple], preds: Mapping[str, torch.Tensor],
                            graph: SparseGraph) -> dict[str, np.ndarray]:
    """Logits -> numpy predictions in the sparse batch format: pointers as
    batch-wide node indices, 0/1 masks, one-hots, scalars."""
    result = {}
    for name, logits in preds.items():
        _, location, type_ = spec[name]
        if type_ == Type.POINTER and location == Location.NODE:
            best = segment_argmax(logits, graph.senders, graph.num_nodes)
            # -1: no finite logit among a node's edges (NaN); it points to itself
            value = torch.where(best >= 0, graph.receivers[best.clamp(min=0)],
                                torch.arange(graph.num_nodes, device=best.device))
        elif type_ == Type.POINTER and location == Location.GRAPH:
            value = segment_argmax(logits, graph.node_graph, graph.num_graphs)
        else:
            value = sparse_postprocess(location, type_, logits, graph, hard=True)
        result[name] = value.detach().cpu().numpy()
    return result


# ------------------------------------------------------------------- forward

def _check(model, batch, algorithm):
    """``(algorithm, spec)`` checked by :meth:`~.model.Reasoner.checked_spec`,
    then what only the sparse form needs: a PGN-family processor, no edge or
    permutation pointers."""
    algorithm, spec = model.checked_spec(batch, algorithm)
    if not isinstance(model.processor, PGN):
        raise NotImplementedError(f"processor {model.config.processor!r} has no sparse form; "
                                  "the MPNN/PGN family (pgn, mpnn, gmpnn, triplet_gmpnn, ...) has")
    for name, (_, location, type_) in spec.items():
        if type_ == Type.PERMUTATION_POINTER or (type_ == Type.POINTER
                                                 and location == Location.EDGE):
            raise NotImplementedError(f"{algorithm}: probe {name!r} ({location} {type_}) has "
                                      "no sparse form")
    return algorithm, spec


def _encode(model, algorithm, spec, probes, graph, base=None):
    """Embed ``probes`` (encoder values) into node, edge and graph features."""
    encoders = model.encoders[algorithm]
    if base is None:
        h = model.config.hidden_size
        p = next(model.parameters())
        base = (p.new_zeros(graph.num_nodes, h),
                AffineFeatures(p.new_zeros(graph.num_edges, 0), p.new_zeros(0, h),
                               p.new_zeros(h)),
                p.new_zeros(graph.num_graphs, h))
    features = {"node": base[0], "graph": base[2]}
    edges = [base[1]]
    for name, data in probes.items():
        encoder = encoders[name]
        if encoder.target == "edge":
            edges.append(encoder.affine(data))
        else:
            features[encoder.target] = features[encoder.target] + encoder(data)[1]
    return features["node"], AffineFeatures.concat(edges), features["graph"]


def _start(model, batch, algorithm, repred):
    """What a run over a sparse batch starts from: ``(algorithm, spec,
    repred, a parameter, the batch on its device, the graph)``, checked;
    ``repred`` defaults to ``not model.training``."""
    algorithm, spec = _check(model, batch, algorithm)
    repred = (not model.training) if repred is None else bool(repred)
    p = next(model.parameters())
    batch = _on_device(batch, p)
    graph = graph_of(batch)
    graph.self_loops   # every node needs its self-loop (a pointer's "none"): refused if not
    return algorithm, spec, repred, p, batch, graph


def _step(model, algorithm, spec, fed, graph, base, hidden, lstm_state, repred):
    """One encode-process step on every graph (:meth:`~.model.Reasoner._step`
    on edge lists) and the hint logits decoded from it: ``(new hidden, LSTM
    state, decoders' inputs, hint logits)``."""
    cfg = model.config
    node_fts, edge_fts, graph_fts = _encode(model, algorithm, spec, fed, graph, base)
    new_hidden = hidden
    for _ in range(cfg.nb_msg_passing_steps):
        new_hidden, edge_msgs = model.processor.forward_sparse(node_fts, edge_fts, graph_fts,
                                                               graph, new_hidden)
    new_hidden = F.dropout(new_hidden, cfg.dropout, training=not repred)
    if model.lstm is not None:
        new_hidden, lstm_state = model.lstm(new_hidden, lstm_state)
    state = SparseState(torch.cat([node_fts, hidden, new_hidden], dim=-1), edge_fts, edge_msgs,
                        graph_fts, graph)
    preds = {name: decode_sparse(dec, state) for name, dec in model.decoders[algorithm].items()
             if spec[name][0] == Stage.HINT}
    return new_hidden, lstm_state, state, preds


def sparse_forward(model, batch, algorithm: str | None = None, *,
                   repred: bool | None = None, hints: bool = False,
                   progress=None, checkpoint=None) -> SparsePredictions:
    """Run ``model`` (a :class:`~.model.Reasoner`) on a
    :class:`~openclrs.data.sparse.SparseBatch` (numpy or torch); see the
    module docstring.

    ``repred`` (default: ``not model.training``) is evaluation mode, as in
    :meth:`~.model.Reasoner.forward`: the model's own hint predictions fed
    back (hard under ``hint_repred_mode`` ``"hard"`` or ``"hard_on_eval"``),
    no dropout. ``repred=False`` is training mode: dropout on the processed
    node state, hints fed back hard only under ``"hard"`` (softmaxes over
    each probe's segments otherwise), and teacher forcing: with probability
    ``hint_teacher_forcing`` per graph and step, the graph is fed its
    ground-truth hints of that step instead (which then needs the batch's
    hints of every step). On a batch of one graph this draws the random
    numbers the dense forward draws, in its order.

    ``hints=True`` keeps every step's hint logits (memory
    ``O(steps (N + E))``); ``progress``, a tqdm bar or None, is reset to the
    number of steps and gets an ``update(1)`` per step.

    ``checkpoint`` (evaluation only: ``repred=True``, ``hints=False``) makes
    a long run resumable mid-trajectory: ``checkpoint.load()`` gives the
    :class:`TrajectoryState` to continue from (or None: start at step 0),
    and before each later step for which ``checkpoint.due()`` is true,
    ``checkpoint.save(state)`` is called; e.g.
    :class:`openclrs.training.sparse_evaluate.StateFile`.

    A batch whose graphs come longest first (``lengths`` non-increasing, as
    :func:`openclrs.training.sparse_train.longest_first` orders them) runs
    each step on the graphs still running alone, a prefix of the batch;
    any other batch runs every graph every step. The logits are the same."""
    algorithm, spec, repred, p, batch, graph = _start(model, batch, algorithm, repred)
    cfg = model.config
    dtype = p.dtype
    lengths = batch.lengths
    num_steps = max(1, int(lengths.max()) - 1)
    last_step = (lengths - 2).clamp(0, num_steps - 1)          # per graph
    ends = set(int(s) for s in last_step.tolist())

    inputs, per_step = split_step_inputs({k: truth_to_feed(spec[k][1], spec[k][2], v, graph,
                                                          dtype)
                                          for k, v in batch.inputs.items()})
    if cfg.encode_hints and not batch.hints:
        raise ValueError("this model encodes hints and needs the hints of step 0: sample the "
                         "graphs with hints=True (or evaluate a model trained with "
                         "hint_mode='decoded_only' or 'none')")
    forcing = 0.0 if repred or not cfg.encode_hints else cfg.hint_teacher_forcing
    _check_forced_hints(batch, forcing, num_steps)
    base = _encode(model, algorithm, spec, inputs, graph)
    mode = cfg.hint_repred_mode
    hard = mode == "hard" or (mode == "hard_on_eval" and repred)
    # The graphs of a step: with the batch's graphs longest first (as the
    # training stream collates them), those still running are a prefix of
    # the batch, and so are their nodes and edges; the step runs on that
    # prefix (views), as Reasoner.forward runs on its running samples.
    # Otherwise every graph runs every step and past its end is ignored.
    running = _running_prefix(lengths, last_step, num_steps)
    node_ptr, edge_ptr = batch.node_ptr.tolist(), batch.edge_ptr.tolist()
    views = {}

    def view(r):
        """(graph, rows of each probe's logits, graph of each row) for the first r graphs."""
        if r not in views:
            sub = graph.first(r, node_ptr[r], edge_ptr[r])
            rows = {Location.NODE: node_ptr[r], Location.EDGE: edge_ptr[r], Location.GRAPH: r}
            by_location = {Location.NODE: sub.node_graph, Location.EDGE: sub.edge_graph,
                           Location.GRAPH: torch.arange(r, device=p.device)}
            where = {k: Location.EDGE if (loc == Location.NODE and t in NODE_POINTERS) else loc
                     for k, (_, loc, t) in spec.items()}
            views[r] = (sub, {k: rows[w] for k, w in where.items()},
                        {k: by_location[w] for k, w in where.items()})
        return views[r]

    def truth_at(step, r):
        """The ground-truth hints of ``step`` for the first r graphs, as fed."""
        sub = view(r)[0]
        size = {Location.NODE: node_ptr[r], Location.EDGE: edge_ptr[r], Location.GRAPH: r}
        return {k: truth_to_feed(spec[k][1], spec[k][2], v[step, :size[spec[k][1]]], sub,
                                 dtype)
                for k, v in batch.hints.items()}

    def to_feed(step, preds, r):
        """The hints the encoders see at ``step`` (Reasoner._hints_to_feed)."""
        if not cfg.encode_hints:
            return {}
        sub, rows, selectors = view(r)
        if step == 0:
            return truth_at(0, r)
        decoded = {k: sparse_postprocess(spec[k][1], spec[k][2], v[:rows[k]], sub, hard=hard)
                   for k, v in preds.items() if k in model.encoders[algorithm]}
        if forcing <= 0:
            return decoded
        if forcing >= 1:
            return truth_at(step, r)
        force = torch.rand(r, device=p.device) < forcing
        return {k: torch.where(_rows(force[selectors[k]], v), v, decoded[k])
                for k, v in truth_at(step, r).items()}

    hidden = base[0].new_zeros(graph.num_nodes, cfg.hidden_size)
    lstm_state = None
    preds: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}
    history: list[dict[str, torch.Tensor]] = []
    decoders = model.decoders[algorithm]
    _, full_rows, full_selectors = view(graph.num_graphs)
    first_step = 0
    if checkpoint is not None:
        if not repred or hints:
            raise ValueError("a checkpoint resumes evaluation only (repred=True, hints=False): "
                             "training draws random numbers and keeps every step's logits")
        resumed = checkpoint.load()
        if resumed is not None:
            resumed = resumed.to(hidden.device)
            if not 0 <= resumed.step <= num_steps:
                raise ValueError(f"a saved state at step {resumed.step} does not fit this "
                                 f"batch's {num_steps} steps")
            first_step, hidden, lstm_state = resumed.step, resumed.hidden, resumed.lstm_state
            # in the decoders' order, as a step makes them: the encoders sum
            # the fed-back hints in this order (a file may hold them sorted)
            preds = {k: resumed.preds[k] for k in decoders if k in resumed.preds}
            outputs = dict(resumed.outputs)
    if progress is not None:
        progress.reset(total=num_steps)
        if first_step:
            progress.update(first_step)
    for step in range(first_step, num_steps):
        if checkpoint is not None and step > first_step and checkpoint.due():
            checkpoint.save(TrajectoryState(step, hidden, lstm_state, preds, outputs))
        r = running[step]
        sub, rows, _ = view(r)
        n, e = node_ptr[r], edge_ptr[r]
        fed = {**to_feed(step, preds, r), **step_columns(per_step, step, n)}
        first = (base[0][:n], base[1][:e], base[2][:r])
        hidden, lstm_state, state, preds = _step(
            model, algorithm, spec, fed, sub, first, hidden[:n],
            None if lstm_state is None else tuple(x[:n] for x in lstm_state), repred)
        if hints:
            alive = last_step >= step
            history.append({k: torch.where(_rows(alive[full_selectors[k]], v), v, 0.0)
                            for k, v in ((k, _pad_rows(v, full_rows[k]))
                                         for k, v in preds.items())})
        if step in ends:
            done = last_step == step
            for name, dec in decoders.items():
                if spec[name][0] != Stage.OUTPUT:
                    continue
                value = _pad_rows(decode_sparse(dec, state), full_rows[name])
                here = _rows(done[full_selectors[name]], value)
                outputs[name] = torch.where(here, value, outputs.get(name, torch.zeros_like(
                    value)))
        if progress is not None:
            progress.update(1)
    hint_logits = {k: torch.stack([h[k] for h in history]) for k in (history[0] if history
                                                                       else {})}
    return SparsePredictions(outputs, hint_logits)


def _running_prefix(lengths: torch.Tensor, last_step: torch.Tensor, num_steps: int) -> list[int]:
    """How many of the batch's first graphs each step runs: those whose last
    step is not past, when the graphs come longest first; all of them otherwise."""
    count = int(lengths.shape[0])
    if count > 1 and bool((lengths[1:] > lengths[:-1]).any()):
        return [count] * num_steps
    return [int((last_step >= step).sum()) for step in range(num_steps)]


def _pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with zero rows appended along dim 0 up to ``rows``."""
    if x.shape[0] == rows:
        return x
    return torch.cat([x, x.new_zeros(rows - x.shape[0], *x.shape[1:])])


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


def _on_device(batch, param: torch.Tensor):
    """The batch as torch tensors on the model's device (floats in its dtype)."""
    if not isinstance(batch.senders, torch.Tensor):
        return batch.to_torch(device=param.device, float_dtype=param.dtype)
    if batch.senders.device == param.device:
        return batch
    device = param.device

    def move(d):
        return {k: v.to(device) for k, v in d.items()}

    return dataclasses.replace(batch, senders=batch.senders.to(device),
                               receivers=batch.receivers.to(device), batch=batch.batch.to(device),
                               node_ptr=batch.node_ptr.to(device),
                               edge_ptr=batch.edge_ptr.to(device), inputs=move(batch.inputs),
                               hints=move(batch.hints), outputs=move(batch.outputs),
                               lengths=batch.lengths.to(device))


@torch.no_grad()
def sparse_predict(model, batch, algorithm: str | None = None,
                   progress=None, checkpoint=None) -> dict[str, np.ndarray]:
    """Hard output predictions on a sparse batch, in its format (pointers as
    batch-wide node indices), ready for :mod:`openclrs.training.metrics`;
    ``checkpoint``: resumable mid-trajectory (see :func:`sparse_forward`)."""
    algorithm, spec = _check(model, batch, algorithm)
    batch = _on_device(batch, next(model.parameters()))
    preds = sparse_forward(model, batch, algorithm, repred=True, progress=progress,
                           checkpoint=checkpoint)
    return sparse_hard_predictions(spec, preds.outputs, graph_of(batch))


# ------------------------------------------------------- the step-level view

class SparseStep(NamedTuple):
    """One step of :func:`sparse_unroll` (``index`` from 0), for every graph
    of the batch: the decoders' inputs, the new node states ``(N, H)`` and
    the hint logits decoded from them."""

    index: int
    state: SparseState
    hidden: torch.Tensor
    hints: dict[str, torch.Tensor]


def row_graphs(spec: Mapping[str, tuple], name: str, graph: SparseGraph) -> torch.Tensor:
    """The graph of each row of probe ``name``'s logits: per edge for edge
    probes and node pointers, per node, or per graph."""
    _, location, type_ = spec[name]
    if location == Location.EDGE or (location == Location.NODE and type_ in NODE_POINTERS):
        return graph.edge_graph
    if location == Location.NODE:
        return graph.node_graph
    return torch.arange(graph.num_graphs, device=graph.node_graph.device)


def _check_forced_hints(batch, forcing: float, steps: int) -> None:
    """Teacher forcing feeds the ground-truth hints of steps 0..steps-1: a
    batch cut to fewer (an evaluation batch) is refused, not run unforced."""
    have = min((int(v.shape[0]) for v in batch.hints.values()), default=0)
    if forcing > 0 and have < steps:
        raise ValueError(f"teacher forcing (hint_teacher_forcing={forcing}, repred=False) "
                         f"feeds the ground-truth hints of steps 0..{steps - 1}, but "
                         f"the batch holds {have} step(s) of hints: sample the graphs with "
                         "their full hints, or pass repred=True")


def sparse_unroll(model, batch, algorithm: str | None = None, *, steps: int,
                  repred: bool | None = None):
    """Run the processor ``steps`` times on every graph of ``batch`` (a
    :class:`~openclrs.data.sparse.SparseBatch`), whatever its trace length,
    yielding a :class:`SparseStep` after each: the step-level view of
    :func:`sparse_forward`, as :meth:`~.model.Reasoner.unroll` is of the
    dense forward, for computations that decide themselves how many steps
    to take (learned halting). Nothing is decoded but the hints the next
    step is fed; :func:`sparse_decode_outputs` decodes a step's outputs.
    Stop iterating to stop computing.

    Hints are fed as in :func:`sparse_forward`: the batch's at step 0, then
    the model's own predictions; under teacher forcing (``repred=False``) a
    graph is given its ground truth of step t (probability
    ``hint_teacher_forcing``) only while its trace has one (t < its length).
    A graph run for its ``max(1, L - 1)`` steps has the outputs
    :func:`sparse_forward` gives it."""
    algorithm, spec, repred, p, batch, graph = _start(model, batch, algorithm, repred)
    cfg = model.config
    if cfg.encode_hints and not batch.hints:
        raise ValueError("this model encodes hints and needs the hints of step 0: sample the "
                         "graphs with hints=True")
    forcing = 0.0 if repred or not cfg.encode_hints else cfg.hint_teacher_forcing
    # the hints of a step past every trace are not needed (no graph is forced there)
    _check_forced_hints(batch, forcing, min(steps, int(batch.lengths.max())))
    have = min((int(v.shape[0]) for v in batch.hints.values()), default=0)
    hard = cfg.hint_repred_mode == "hard" or (cfg.hint_repred_mode == "hard_on_eval" and repred)
    rows = {k: row_graphs(spec, k, graph) for k in spec}
    encoders = model.encoders[algorithm]

    def truth_at(step):
        return {k: truth_to_feed(spec[k][1], spec[k][2], v[step], graph, p.dtype)
                for k, v in batch.hints.items()}

    def to_feed(step, preds):
        if not cfg.encode_hints:
            return {}
        if step == 0:
            return truth_at(0)
        fed = {k: sparse_postprocess(spec[k][1], spec[k][2], v, graph, hard=hard)
               for k, v in preds.items() if k in encoders}
        if forcing > 0 and step < have:
            force = (torch.rand(graph.num_graphs, device=p.device) < forcing) & (
                batch.lengths > step)
            fed = {k: torch.where(_rows(force[rows[k]], v), v, fed[k])
                   for k, v in truth_at(step).items()}
        return fed

    inputs, per_step = split_step_inputs({k: truth_to_feed(spec[k][1], spec[k][2], v, graph,
                                                          p.dtype)
                                          for k, v in batch.inputs.items()})
    base = _encode(model, algorithm, spec, inputs, graph)
    hidden = base[0].new_zeros(graph.num_nodes, cfg.hidden_size)
    lstm_state, preds = None, {}
    for step in range(steps):
        fed = {**to_feed(step, preds), **step_columns(per_step, step, graph.num_nodes)}
        hidden, lstm_state, state, preds = _step(model, algorithm, spec, fed,
                                                 graph, base, hidden, lstm_state, repred)
        yield SparseStep(step, state, hidden, preds)


def sparse_decode_outputs(model, state: SparseState, algorithm: str) -> dict[str, torch.Tensor]:
    """Output logits decoded from one step's :class:`SparseState`."""
    spec = model.specs[algorithm]
    return {name: decode_sparse(dec, state) for name, dec in model.decoders[algorithm].items()
            if spec[name][0] == Stage.OUTPUT}


# --------------------------------------------------------------------- loss

def _along_last(reduce, values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """A segment reduction of the last axis (hints are ``(steps, items)``)."""
    return reduce(values.movedim(-1, 0), index, size).movedim(0, -1)


class SparseLayout(Layout):
    """Where a sparse batch holds one probe (:class:`~.losses.Layout`):
    ``rows``, the graph of each row of its loss; for a pointer or
    mask_one probe, the candidates are the items of the last axis,
    ``index`` the row (segment) of each, ``size`` the number of rows and,
    for pointers, ``choice`` the node each candidate names."""

    def __init__(self, rows: torch.Tensor, index: torch.Tensor | None = None, size: int = 0,
                 choice: torch.Tensor | None = None):
        self.rows, self.index, self.size, self.choice = rows, index, size, choice

    def log_softmax(self, logits):
        return _along_last(segment_log_softmax, logits, self.index, self.size)

    def total(self, values):
        return _along_last(segment_sum, values, self.index, self.size)

    def pointer_nll(self, logits, target):
        # target[..., index]: each candidate's row's target; the candidate is
        # the true one where it names that node (1 on edge (i, pi(i))).
        picked = target[..., self.index] == self.choice
        found = _along_last(segment_sum, picked.to(torch.int64), self.index, self.size)
        if bool((found != 1).any()):
            raise ValueError("a true pointer is not one of its node's out-edges, so a sparse "
                             "decoder cannot express it (which probes leave the edges: "
                             "openclrs.sparse.off_edge_pointers)")
        return -self.total(torch.where(picked, self.log_softmax(logits), 0.0))

    def row_lengths(self, lengths):
        return lengths[self.rows]


def sparse_layouts(graph: SparseGraph):
    """``(location, type) -> SparseLayout`` of a sparse batch's probes: a
    node pointer's candidates are its node's out-edges (self-loop
    included), a graph pointer's and a node mask_one's the graph's nodes, an
    edge mask_one's its sender's out-edges; other probes have one loss row
    per item (node, edge or graph)."""
    graphs = torch.arange(graph.num_graphs, device=graph.senders.device)
    nodes = torch.arange(graph.num_nodes, device=graph.senders.device)
    items = {Location.NODE: graph.node_graph, Location.EDGE: graph.edge_graph,
             Location.GRAPH: graphs}

    def layout_of(location: str, type_: str) -> SparseLayout:
        segments = _segments(location, type_, graph)
        if segments is None:
            return SparseLayout(items[location])
        index, size = segments
        per_node = (location, type_) in ((Location.NODE, Type.POINTER),
                                         (Location.EDGE, Type.MASK_ONE))
        rows = graph.node_graph if per_node else graphs
        choice = graph.receivers if location == Location.NODE else nodes
        return SparseLayout(rows, index, size, choice)

    return layout_of


def sparse_loss(model, batch, algorithm: str | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss of ``model`` (a :class:`~.model.Reasoner`) on a
    :class:`~openclrs.data.sparse.SparseBatch`: ``(total, {probe: loss})``,
    :meth:`~.model.Reasoner.loss` on the sparse forward in training mode
    (``repred=False``).

    The per-probe losses are :mod:`.losses`' (:func:`~.losses.total_loss`)
    with the candidates of :func:`sparse_layouts`: a node pointer is a
    cross-entropy over its node's out-edges (self-loop included), a node
    mask_one over its graph's nodes; masks, scalars and categoricals per
    node, edge or graph; outputs averaged over every item of the batch,
    hints over the steps each graph has (``t + 1 < length``). On a complete
    graph this is the dense loss. On others the dense pointer loss differs
    by design: its softmax runs over every node, the ``*_mask`` decoders
    giving non-edges a finite logit (one below the sample's smallest), so it
    keeps some mass on them; here non-edges are no candidates, as in
    SALSA-CLRS's loss. Edge probes count the graph's edges only (the dense
    loss counts every pair)."""
    algorithm, spec = _check(model, batch, algorithm)
    batch = _on_device(batch, next(model.parameters()))
    decode_hints = model.config.decode_hints
    preds = sparse_forward(model, batch, algorithm, repred=False, hints=decode_hints)
    return total_loss(spec, batch, preds.outputs, preds.hints if decode_hints else None,
                      sparse_layouts(graph_of(batch)))
