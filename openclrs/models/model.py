"""The neural algorithmic reasoner: encode, process, decode, step by step.

One :class:`Reasoner` holds one shared processor and, per algorithm, the
encoders and decoders its spec calls for. Running it on a batch unrolls the
algorithm's trace the way the published ``nets.Net`` does:

1. at every step t (one per hint transition, at least one), encode the
   inputs and the hints of step t into node, edge and graph features and
   an adjacency matrix (self-loops, node pointers and edge masks);
2. run the processor ``nb_msg_passing_steps`` times on them and the node
   state, then (training only) dropout and (optionally) an LSTM;
3. decode outputs and the hints of step t + 1 from
   ``[node features, old state, new state]`` and the edge features
   (with the processor's triplet messages, if any).

The hints fed at step t are the ground truth at t = 0. Later, in evaluation
(``repred=True``) they are the model's own predictions of the previous
step; in training, each sample takes the ground truth with probability
``hint_teacher_forcing`` and its own predictions otherwise. Predictions are
fed back *soft* (probabilities; gradients flow through them across steps)
or *hard* (argmaxes; no gradient), per ``hint_repred_mode``.

A sample of length L takes its outputs from step L - 2 (step 0 when
L <= 2): steps past the end of a sample leave its outputs unchanged.

:meth:`Reasoner.unroll` is the same computation step by step, for a given
number of steps whatever the trace lengths (every sample runs every step;
the caller decodes a step's outputs where it needs them): what a reasoner
that decides itself when it is done, or a fixed budget of steps, is built on.

Randomness (teacher forcing, dropout, the Gumbel noise of permutation
decoders) comes from torch's global generator: seed it with
``torch.manual_seed`` for reproducible runs.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.batching import batch_rows
from ..specs import SPECS, Location, Stage, Type, check_algorithm
from .config import HINT_MODES, REPRED_MODES, ModelConfig  # noqa: F401  (re-exported)
from .decoders import DecoderInputs, DecoderSettings, make_decoder, postprocess
from .encoders import (ProbeEncoder, adjacency_contribution, densify,
                       split_step_inputs, step_columns)
from .features import AffineFeatures
from .kernels import share_out, split_evenly, threads_for
from .losses import total_loss
from .layers import Linear
from .processors import make_processor


class Predictions(NamedTuple):
    """What :meth:`Reasoner.forward` returns: decoder logits.

    ``outputs[name]``: ``(B, ...)``, each sample's last valid step.
    ``hints[name]``: ``(S, B, ...)`` with ``S = max(1, T - 1)``; ``hints[name][t]``
    predicts the hint of step t + 1. Empty unless hints are decoded.
    """

    outputs: dict[str, torch.Tensor]
    hints: dict[str, torch.Tensor]


class Step(NamedTuple):
    """One step of :meth:`Reasoner.unroll` (``index`` from 0), for every
    sample of the batch: the decoders' inputs, the new node states
    ``(B, N, H)`` and the hint logits decoded from them."""

    index: int
    state: DecoderInputs
    hidden: torch.Tensor
    hints: dict[str, torch.Tensor]


def processor_steps(lengths: torch.Tensor) -> torch.Tensor:
    """How many processor steps the reference unrolls for samples of these
    lengths (hint states): ``max(1, L - 1)``, outputs read after the last
    (the published ``nets.py``; :meth:`Reasoner.forward` does the same)."""
    return (lengths - 1).clamp(min=1)


class Encoded(NamedTuple):
    """The encoded features of a step (or of the inputs alone): node
    (B, N, H), edge (factored, :class:`~.features.AffineFeatures`), graph
    (B, H), and the processor's adjacency (B, N, N, bool)."""

    node: torch.Tensor
    edge: AffineFeatures
    graph: torch.Tensor
    adj: torch.Tensor

    def first(self, n: int) -> "Encoded":
        """The same for the first ``n`` samples (views, no copies)."""
        return Encoded(*(x[:n] for x in self))


class LSTM(nn.Module):
    """Haiku's ``hk.LSTM`` on every node: one linear map for all four gates
    and a +1 on the forget gate, so the cell starts out remembering."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = Linear(2 * hidden_size, 4 * hidden_size)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        if state is None:
            state = (torch.zeros_like(x), torch.zeros_like(x))
        h, c = state
        i, g, f, o = self.linear(torch.cat([x, h], dim=-1)).chunk(4, dim=-1)
        c = torch.sigmoid(f + 1) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def categorical_sizes(algorithm: str, spec: Mapping[str, tuple] | None = None) -> dict[str, int]:
    """Number of classes of each categorical probe of ``algorithm``, read off
    one small sampled trace (with the default sampler options: pass sizes
    explicitly when training on data sampled otherwise)."""
    spec = SPECS[check_algorithm(algorithm)] if spec is None else spec
    names = [k for k, (_, _, t) in spec.items() if t == Type.CATEGORICAL]
    if not names:
        return {}
    from ..samplers import Sampler

    trace = next(Sampler(algorithm, 4, seed=0))
    arrays = {**trace.inputs, **trace.hints, **trace.outputs}
    missing = [k for k in names if k not in arrays]
    if missing:
        raise ValueError(f"{algorithm}: cannot infer the classes of {missing}; "
                         "pass categories={algorithm: {name: classes}}")
    return {k: int(arrays[k].shape[-1]) for k in names}


def _pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with zero rows appended along dim 0 up to ``rows``."""
    if x.shape[0] == rows:
        return x
    return torch.cat([x, x.new_zeros(rows - x.shape[0], *x.shape[1:])])


def _per_sample(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a (B,) mask against a batch-major tensor."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


class Reasoner(nn.Module):
    """Encoders and decoders per algorithm around one shared processor.

    ``specs`` maps each algorithm to the spec of the batches it will see,
    e.g. ``openclrs.transforms.training_spec(name)``; ``categories``
    optionally gives ``{algorithm: {probe: classes}}`` for categorical probes
    (inferred from a sampled trace otherwise).
    """

    def __init__(self, specs: Mapping[str, Mapping[str, tuple]],
                 config: ModelConfig | None = None,
                 categories: Mapping[str, Mapping[str, int]] | None = None):
        super().__init__()
        config = ModelConfig() if config is None else config
        self.config = config.validate()
        if not specs:
            raise ValueError("a Reasoner needs at least one algorithm spec")
        h = config.hidden_size
        self.specs = MappingProxyType({alg: MappingProxyType(dict(spec))
                                       for alg, spec in specs.items()})
        categories = categories or {}
        self.categories = MappingProxyType({
            alg: MappingProxyType(dict(categories[alg]) if alg in categories
                                  else categorical_sizes(alg, spec))
            for alg, spec in self.specs.items()})

        self.processor = make_processor(config.processor, h, use_ln=config.use_ln,
                                        nb_triplet_fts=config.nb_triplet_fts,
                                        nb_heads=config.nb_heads,
                                        **config.processor_options)
        # Decoders read edge features and the processor's edge messages side by side.
        self.edge_size = h + self.processor.edge_message_size
        self.lstm = LSTM(h) if config.use_lstm else None

        settings = DecoderSettings(inf_bias=self.processor.inf_bias,
                                   inf_bias_edge=self.processor.inf_bias_edge,
                                   sinkhorn_steps=config.sinkhorn_steps,
                                   sinkhorn_temperature=config.sinkhorn_temperature)
        self.encoders = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        for alg, spec in self.specs.items():
            encs, decs = nn.ModuleDict(), nn.ModuleDict()
            for name, (stage, location, type_) in spec.items():
                classes = self.categories[alg].get(name)
                if stage == Stage.INPUT or (stage == Stage.HINT and config.encode_hints):
                    encs[name] = ProbeEncoder(stage, location, type_, h, classes,
                                              config.encoder_init)
                if stage == Stage.OUTPUT or (stage == Stage.HINT and config.decode_hints):
                    decs[name] = make_decoder(location, type_, h, self.edge_size, classes,
                                              settings)
            self.encoders[alg] = encs
            self.decoders[alg] = decs

    @classmethod
    def from_algorithms(cls, algorithms: str | Sequence[str],
                        config: ModelConfig | None = None, *, pred_as_input: bool = True,
                        enforce_permutations: bool = True) -> "Reasoner":
        """A reasoner for the named algorithms with the specs that
        :class:`~openclrs.data.torch.TraceStream` produces under the same options."""
        from ..transforms import training_spec

        if isinstance(algorithms, str):
            algorithms = [algorithms]
        return cls({a: training_spec(a, pred_as_input=pred_as_input,
                                     enforce_permutations=enforce_permutations)
                    for a in algorithms}, config)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self.specs)

    # ------------------------------------------------------------------ run

    def forward(self, batch, algorithm: str | None = None, *,
                repred: bool | None = None, hints: bool = True) -> Predictions:
        """Unroll the model over ``batch`` (a :class:`~openclrs.data.batching.Batch`).

        ``algorithm`` defaults to ``batch.algorithm``. ``repred`` (default:
        ``not self.training``) is evaluation mode: feed back the model's own
        hint predictions, no dropout, no Gumbel noise.

        A sample of length L is read out after step ``L - 2`` (step 0 at
        least) and takes no part in later steps: its outputs, loss and
        gradients are those of the published model, which keeps computing
        it and masks the result. Here the batch is sorted by that last step,
        longest first, so the samples still running at any step are a prefix
        of it: each step computes on that prefix only (a view, no copy), and
        output probes are decoded once per sample, from the state of its
        last step. Hint predictions past a sample's last step are zeros.

        ``hints=False`` returns no hint predictions (``Predictions.hints``
        empty): what evaluation does, which then keeps only the current
        step's. The ground-truth hints are densified (pointers to one-hot
        rows) one step at a time, as they are fed: at n = 64 the one-hot
        edge pointers of a whole trajectory of Floyd-Warshall take 2 GB for
        32 samples.
        """
        algorithm, spec, batch = self._prepare(batch, algorithm)
        cfg = self.config
        repred = (not self.training) if repred is None else bool(repred)
        nodes = self._num_nodes(spec, batch)
        num_steps = max(1, batch.num_steps - 1)
        size = batch.batch_size

        last_step = (batch.lengths.to(self._device) - 2).clamp(0, num_steps - 1)
        order = torch.argsort(last_step, descending=True, stable=True)
        running = [int(n) for n in torch.bincount(last_step, minlength=num_steps)
                   .flip(0).cumsum(0).flip(0).tolist()] + [0]  # running[s]: samples in step s

        dtype = next(self.parameters()).dtype
        inputs, per_step = split_step_inputs(
            {k: densify(spec[k][2], v, nodes, dtype).index_select(0, order)
             for k, v in batch.inputs.items()})
        # Kept as the batch holds them (indices for pointers), in the order above.
        truth_hints = ({k: v.index_select(1, order) for k, v in batch.hints.items()}
                       if cfg.encode_hints else {})
        keep_hints = cfg.decode_hints and hints
        base = self._encode(algorithm, spec, inputs, nodes, size)

        hidden = base.node.new_zeros(size, nodes, cfg.hidden_size)
        lstm_state = None
        hint_preds: dict[str, torch.Tensor] = {}
        hint_history: list[dict[str, torch.Tensor]] = []
        finished: list[DecoderInputs] = []  # by last step
        for step in range(num_steps):
            n = running[step]
            fed = self._hints_to_feed(step, n, spec, truth_hints, hint_preds, repred,
                                      nodes, dtype)
            fed.update(step_columns(per_step, step, n))
            hidden, lstm_state, state = self._step(
                algorithm, spec, base.first(n), fed, hidden[:n],
                None if lstm_state is None else tuple(x[:n] for x in lstm_state), repred)
            done = running[step + 1]
            if keep_hints or done:  # (after the last step only kept hints are read)
                hint_preds = self._decode(algorithm, spec, Stage.HINT, state, repred)
            if keep_hints:
                hint_history.append(hint_preds)
            if done < n:
                finished.append(state.rows(done, n))

        # Back to the batch's order: outputs from each sample's last step, hint
        # predictions padded with zeros past it.
        unsort = torch.argsort(order)
        state = DecoderInputs.cat(finished[::-1])
        outputs = {k: v.index_select(0, unsort)
                   for k, v in self._decode(algorithm, spec, Stage.OUTPUT, state, repred).items()}
        hints = {}
        for k in (hint_history[0] if hint_history else {}):
            steps = [_pad_rows(h[k], size) for h in hint_history]
            hints[k] = torch.stack(steps).index_select(1, unsort)
        return Predictions(outputs, hints)

    def unroll(self, batch, algorithm: str | None = None, *, steps: int,
               repred: bool | None = None):
        """Run the processor ``steps`` times on every sample of ``batch``,
        whatever its trace length, yielding a :class:`Step` after each one.

        The step-level view of :meth:`forward`, for computations that decide
        themselves how many steps to take (learned halting, a fixed budget of
        c * n steps): every sample runs every step, in the batch's own order,
        and nothing is decoded but the hints the next step is fed; decode the
        outputs of a step with :meth:`decode_outputs` where they are needed.
        Stop iterating to stop computing. ``batch`` should come from
        :meth:`prepare`.

        Hints are fed as in :meth:`forward`: the ground truth at step 0, then
        (``repred``, or no teacher forcing) the model's own predictions. Under
        teacher forcing a sample is given the ground truth of step t only
        while its trace has one (t < its length); past the end of its trace
        it is fed its own predictions, as in evaluation. A sample run for its
        :func:`processor_steps` steps has the outputs :meth:`forward` gives
        it, up to the rounding of batch-size dependent kernels.
        """
        algorithm, spec, batch = self._prepare(batch, algorithm)
        cfg = self.config
        repred = (not self.training) if repred is None else bool(repred)
        nodes = self._num_nodes(spec, batch)
        size = batch.batch_size
        dtype = next(self.parameters()).dtype
        inputs, per_step = split_step_inputs(
            {k: densify(spec[k][2], v, nodes, dtype) for k, v in batch.inputs.items()})
        truth = dict(batch.hints) if cfg.encode_hints else {}
        lengths = batch.lengths.to(self._device)
        mixed = bool(truth) and not repred and cfg.hint_teacher_forcing > 0
        base = self._encode(algorithm, spec, inputs, nodes, size)
        hidden = base.node.new_zeros(size, nodes, cfg.hidden_size)
        lstm_state = None
        hint_preds: dict[str, torch.Tensor] = {}
        for step in range(steps):
            known = truth if step < batch.num_steps else {}
            fed = self._hints_to_feed(step, size, spec, known, hint_preds, repred, nodes, dtype)
            if step > 0 and mixed and known and bool((lengths <= step).any()):
                own = self._hints_to_feed(step, size, spec, {}, hint_preds, repred, nodes,
                                          dtype)
                past = lengths <= step
                fed = {k: torch.where(_per_sample(past, v), own[k], v) for k, v in fed.items()}
            fed.update(step_columns(per_step, step, size))
            hidden, lstm_state, state = self._step(algorithm, spec, base, fed, hidden,
                                                   lstm_state, repred)
            hint_preds = self._decode(algorithm, spec, Stage.HINT, state, repred)
            yield Step(step, state, hidden, hint_preds)

    def decode_outputs(self, state: DecoderInputs, algorithm: str,
                       repred: bool | None = None) -> dict[str, torch.Tensor]:
        """Output logits decoded from one step's :class:`DecoderInputs`."""
        repred = (not self.training) if repred is None else bool(repred)
        return self._decode(algorithm, self.specs[algorithm], Stage.OUTPUT, state, repred)

    def prepare(self, batch, algorithm: str | None = None):
        """``(algorithm, spec, batch)``: the algorithm checked against the
        model, the batch's spec against the model's, the batch as tensors on
        the model's device (what every method here starts with)."""
        return self._prepare(batch, algorithm)

    def _hints_to_feed(self, step, n, spec, truth, previous, repred, nodes,
                       dtype) -> dict[str, torch.Tensor]:
        """The (dense) hints the encoders see at ``step``, for the first ``n``
        samples; ``truth`` holds the ground truth as the batch does."""
        cfg = self.config
        if not cfg.encode_hints:
            return {}

        def true_at(step):
            return {k: densify(spec[k][2], v[step, :n], nodes, dtype) for k, v in truth.items()}

        if step == 0:
            return true_at(0)
        hard = cfg.hint_repred_mode == "hard" or (cfg.hint_repred_mode == "hard_on_eval"
                                                  and repred)
        decoded = {k: postprocess(spec[k][2], v[:n], hard=hard,
                                  sinkhorn_steps=cfg.hint_sinkhorn_steps,
                                  sinkhorn_temperature=cfg.sinkhorn_temperature)
                   for k, v in previous.items()}
        if repred or cfg.hint_teacher_forcing <= 0.0 or not truth:
            return decoded
        if cfg.hint_teacher_forcing >= 1.0:
            return true_at(step)
        first = next(iter(truth.values()))
        force = torch.rand(n, device=first.device) < cfg.hint_teacher_forcing
        return {k: torch.where(_per_sample(force, decoded[k]), v, decoded[k])
                for k, v in true_at(step).items()}

    def _encode(self, algorithm, spec, probes, nodes, size,
                base: Encoded | None = None) -> Encoded:
        """Sum the embeddings of ``probes`` into node and graph features,
        edge features (factored: :class:`~.features.AffineFeatures`) and the
        processor's adjacency (bool), on top of ``base`` if given."""
        if base is None:
            h, device = self.config.hidden_size, self._device
            dtype = next(self.parameters()).dtype
            base = Encoded(
                torch.zeros(size, nodes, h, device=device, dtype=dtype),
                AffineFeatures(torch.zeros(size, nodes, nodes, 0, device=device, dtype=dtype),
                               torch.zeros(0, h, device=device, dtype=dtype),
                               torch.zeros(h, device=device, dtype=dtype)),
                torch.zeros(size, h, device=device, dtype=dtype),
                torch.eye(nodes, dtype=torch.bool, device=device).expand(size, nodes, nodes))
        features = {"node": base.node, "graph": base.graph}
        edges = [base.edge]
        adj = base.adj
        encoders = self.encoders[algorithm]
        for name, data in probes.items():
            _, location, type_ = spec[name]
            contribution = adjacency_contribution(location, type_, data)
            if contribution is not None:
                adj = adj | contribution
            encoder = encoders[name]
            if encoder.target == "edge":
                edges.append(encoder.affine(data))
            else:
                features[encoder.target] = features[encoder.target] + encoder(data)[1]
        return Encoded(features["node"], AffineFeatures.concat(edges), features["graph"], adj)

    def _step(self, algorithm, spec, base, hints, hidden, lstm_state, repred):
        """One encode-process step on the running samples; returns the new
        hidden state, LSTM state and the decoders' inputs."""
        cfg = self.config
        b, n, _ = hidden.shape
        node_fts, edge_fts, graph_fts, adj = self._encode(algorithm, spec, hints, n, b, base)
        adj = adj.to(hidden.dtype)

        processor_edges = edge_fts if self.processor.affine_edges else edge_fts.dense()
        new_hidden = hidden
        for _ in range(cfg.nb_msg_passing_steps):
            new_hidden, edge_msgs = self.processor(node_fts, processor_edges, graph_fts, adj,
                                                   new_hidden)
        width = 0 if edge_msgs is None else edge_msgs.shape[-1]
        if width != self.processor.edge_message_size:
            raise ValueError(f"processor {cfg.processor!r} returned edge messages {width} wide "
                             f"but declares edge_message_size="
                             f"{self.processor.edge_message_size}")
        new_hidden = F.dropout(new_hidden, cfg.dropout, training=not repred)
        if self.lstm is not None:
            new_hidden, lstm_state = self.lstm(new_hidden, lstm_state)

        node_state = torch.cat([node_fts, hidden, new_hidden], dim=-1)
        return new_hidden, lstm_state, DecoderInputs(node_state, edge_fts, edge_msgs,
                                                     graph_fts, adj)

    def _decode(self, algorithm, spec, stage, state, repred) -> dict[str, torch.Tensor]:
        """Logits of the ``stage`` probes from the decoders' inputs."""
        noise = self.config.sinkhorn_noise and not repred
        return {name: decoder(state, noise=noise)
                for name, decoder in self.decoders[algorithm].items()
                if spec[name][0] == stage}

    def compile(self, *args, **kwargs) -> None:
        """``torch.compile`` the processor, the work of every step, in place;
        arguments as ``torch.compile``'s (``dynamic=True`` by default).

        Compiling :meth:`forward` as a whole would unroll its loop over the
        trace into one graph per number of steps and batch composition; the
        processor sees one code path whose shapes (running samples, nodes)
        are symbolic. It still needs a few graphs (training and evaluation,
        the first step's state without gradient, one running sample), more
        than dynamo's default limit of 8 once the backend specialises on
        sizes, hence the raised limit. Weights and checkpoints are unaffected.
        """
        kwargs.setdefault("dynamic", True)
        dynamo_config = torch._dynamo.config
        # recompile_limit was cache_size_limit in earlier torch releases
        name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") \
            else "cache_size_limit"
        setattr(dynamo_config, name, max(getattr(dynamo_config, name), 32))
        self.processor.compile(*args, **kwargs)

    # -------------------------------------------------------- conveniences

    def loss(self, batch, algorithm: str | None = None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss on ``batch``: ``(total, {probe: loss})``. Always runs
        in training mode (``repred=False``), as published."""
        algorithm, spec, batch = self._prepare(batch, algorithm)
        preds = self(batch, algorithm, repred=False)
        return total_loss(spec, batch, preds.outputs,
                          preds.hints if self.config.decode_hints else None)

    @torch.no_grad()
    def predict(self, batch, algorithm: str | None = None) -> dict[str, np.ndarray]:
        """Hard output predictions as numpy arrays in the batch's own format
        (pointers as node indices, masks 0/1, one-hots, scalars), ready for
        :func:`openclrs.training.metrics.evaluate`."""
        algorithm, spec, batch = self._prepare(batch, algorithm)
        # Several CPU threads: the samples shared out among as many single-threaded
        # workers (each sample's predictions do not depend on the others), which
        # uses the cores without an OpenMP barrier per operation; in four pieces
        # per worker, taken in turn, so that a worker on a core shared with other
        # jobs does less of the work (and each holds a quarter of the intermediates).
        threads = threads_for(batch.batch_size, batch.lengths)
        pieces = 1 if threads == 1 else min(batch.batch_size, 4 * threads)
        parts = share_out(lambda rows: self(batch_rows(batch, *rows), algorithm, repred=True,
                                            hints=False).outputs,
                          split_evenly(batch.batch_size, pieces), workers=threads)
        outputs = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return hard_predictions(spec, outputs,
                                sinkhorn_steps=self.config.predict_sinkhorn_steps,
                                sinkhorn_temperature=self.config.sinkhorn_temperature)

    # ------------------------------------------------------------- helpers

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def checked_spec(self, batch, algorithm: str | None = None
                     ) -> tuple[str, Mapping[str, tuple]]:
        """``(algorithm, spec)``: ``algorithm`` (default ``batch.algorithm``)
        checked against the model's, the batch's spec (dense or sparse)
        against the model's spec for it; a clear error otherwise."""
        algorithm = batch.algorithm if algorithm is None else algorithm
        if algorithm not in self.specs:
            hint = ""
            if algorithm not in SPECS:
                try:
                    check_algorithm(algorithm)
                except ValueError as e:
                    hint = f" ({e})"
            raise ValueError(f"this model has no encoders/decoders for algorithm "
                             f"{algorithm!r}; it was built for {list(self.specs)}{hint}")
        spec = self.specs[algorithm]
        batch_spec = {k: tuple(v) for k, v in batch.spec.items()}
        if batch_spec != dict(spec):
            differ = sorted(k for k in set(batch_spec) | set(spec)
                            if batch_spec.get(k) != spec.get(k))
            raise ValueError(f"{algorithm}: the batch's spec differs from the model's on "
                             f"{differ} (were both made with the same transforms options?)")
        return algorithm, spec

    def _prepare(self, batch, algorithm):
        """Check the algorithm and the batch's spec; batch -> tensors on our device."""
        algorithm, spec = self.checked_spec(batch, algorithm)
        device = self._device
        first = next(iter(batch.inputs.values()))
        if not isinstance(first, torch.Tensor):
            batch = batch.to_torch(device=device)
        elif first.device != device:
            move = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
            batch = dataclasses.replace(batch, inputs=move(batch.inputs),
                                        hints=move(batch.hints), outputs=move(batch.outputs),
                                        lengths=batch.lengths.to(device))
        return algorithm, spec, batch

    @staticmethod
    def _num_nodes(spec, batch) -> int:
        for name, value in batch.inputs.items():
            if spec[name][1] in (Location.NODE, Location.EDGE):
                return int(value.shape[1])
        raise ValueError("cannot tell the number of nodes: no node or edge input")


def hard_predictions(spec: Mapping[str, tuple], preds: Mapping[str, torch.Tensor], *,
                     sinkhorn_steps: int = 50,
                     sinkhorn_temperature: float = 0.1) -> dict[str, np.ndarray]:
    """Decoder logits -> numpy predictions in the batch format: pointer and
    permutation pointer indices (int64), 0/1 masks, one-hot mask_one and
    categorical rows, scalars."""
    result = {}
    for name, logits in preds.items():
        type_ = spec[name][2]
        dense = postprocess(type_, logits, hard=True, sinkhorn_steps=sinkhorn_steps,
                            sinkhorn_temperature=sinkhorn_temperature)
        if type_ in (Type.POINTER, Type.PERMUTATION_POINTER):
            dense = dense.argmax(dim=-1)
        elif dense.is_floating_point():
            dense = dense.float()   # bfloat16 (autocast) has no numpy dtype; 0/1 are exact
        result[name] = dense.detach().cpu().numpy()
    return result


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
