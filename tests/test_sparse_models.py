"""Sparse evaluation of dense-trained reasoners (openclrs.models.sparse):
on the same small graphs it agrees with the dense forward (float64, every
output and hint logit on the graph's edges), for bfs, dijkstra, mst_prim and
more, the PGN, gated and triplet kinds; the sparse parts against brute force."""

import dataclasses

import numpy as np
import pytest
import torch

from openclrs import algorithms as dense_algorithms
from openclrs.data.batching import collate
from openclrs.data.sparse import collate_sparse
from openclrs.distributions import sample_sparse
from openclrs.models.model import ModelConfig, Reasoner
from openclrs.models.processors import make_processor
from openclrs.models.segments import (SparseGraph, segment_argmax, segment_max,
                                      segment_softmax)
from openclrs.models.sparse import graph_of, sparse_forward, sparse_predict
from openclrs.sparse import to_dense, to_sparse
from openclrs.specs import Location, Type

TOL = 1e-10


def tiny(processor, hint_mode="encoded_decoded", **options):
    options.setdefault("hint_repred_mode", "hard")
    return ModelConfig(hidden_size=8, processor=processor, hint_mode=hint_mode,
                       nb_triplet_fts=4, **options)


def model_for(algorithm, config, seed=0):
    torch.manual_seed(seed)
    return Reasoner.from_algorithms(algorithm, config).double().eval()


def dense_rows(spec, name, value, trace):
    """A dense logit tensor (one sample, steps first for hints) in the sparse layout."""
    _, location, type_ = spec[name]
    if location == Location.EDGE or (location == Location.NODE and type_ == Type.POINTER):
        return value[..., trace.senders, trace.receivers]
    return value


def assert_agree(model, algorithm, traces, tol=TOL):
    """Sparse evaluation of the batch of ``traces`` = dense evaluation of
    each trace alone, outputs and (valid steps of) hints."""
    spec = model.specs[algorithm]
    batch = collate_sparse(traces)
    sparse = sparse_forward(model, batch, hints=True)
    node_ptr, edge_ptr = batch.node_ptr.tolist(), batch.edge_ptr.tolist()
    for g, trace in enumerate(traces):
        dense = model(collate([to_dense(trace)]).to_torch(float_dtype=torch.float64),
                      repred=True)
        for name, value in dense.outputs.items():
            want = dense_rows(spec, name, value[0].detach(), trace)
            got = _slice(spec, name, sparse.outputs[name], g, node_ptr, edge_ptr, hint=False)
            torch.testing.assert_close(got, want, rtol=0, atol=tol, msg=name)
        assert set(dense.hints) == set(sparse.hints)
        for name, value in dense.hints.items():
            want = dense_rows(spec, name, value[:, 0].detach(), trace)
            got = _slice(spec, name, sparse.hints[name], g, node_ptr, edge_ptr, hint=True)
            torch.testing.assert_close(got[:len(want)], want, rtol=0, atol=tol, msg=name)
            assert not got[len(want):].any()  # zeros past the graph's last step


def _slice(spec, name, value, g, node_ptr, edge_ptr, hint):
    _, location, type_ = spec[name]
    if location == Location.EDGE or (location == Location.NODE and type_ == Type.POINTER):
        a, b = edge_ptr[g], edge_ptr[g + 1]
    elif location == Location.NODE:
        a, b = node_ptr[g], node_ptr[g + 1]
    else:
        a, b = g, g + 1
    out = value[:, a:b] if hint else value[a:b]
    return out[:, 0] if location == Location.GRAPH and hint else (
        out[0] if location == Location.GRAPH else out)


@pytest.mark.parametrize("algorithm", ["bfs", "dijkstra", "mst_prim"])
@pytest.mark.parametrize("processor", ["pgn_mask", "gpgn_mask"])
def test_sparse_equals_dense_with_hints(algorithm, processor):
    # Hard feedback of the *_mask kinds keeps every fed-back pointer on an
    # edge, so the dense model runs on the same graph as the sparse one.
    traces = sample_sparse(algorithm, "train", num_samples=3, seed=1)
    assert_agree(model_for(algorithm, tiny(processor)), algorithm, traces)


@pytest.mark.parametrize("algorithm", ["dfs", "bellman_ford", "articulation_points",
                                       "bridges", "strongly_connected_components"])
def test_sparse_equals_dense_more_algorithms(algorithm):
    traces = sample_sparse(algorithm, "train", num_samples=2, seed=2)
    assert_agree(model_for(algorithm, tiny("gpgn_mask")), algorithm, traces)


@pytest.mark.parametrize("processor", ["pgn", "gpgn", "deepsets"])
@pytest.mark.parametrize("reduction", ["max", "mean", "sum"])
def test_sparse_equals_dense_without_hints(processor, reduction):
    # Without hints nothing is fed back: the plain kinds agree too.
    traces = sample_sparse("dijkstra", "train", num_samples=3, seed=3)
    config = tiny(processor, hint_mode="none", processor_options={"reduction": reduction})
    assert_agree(model_for("dijkstra", config), "dijkstra", traces)


def test_mpnn_runs_on_the_graph_edges():
    # MPNN's complete graph becomes the graph's edges: sparse MPNN is dense PGN
    # with the same weights.
    traces = sample_sparse("bfs", "train", num_samples=2, seed=4)
    mpnn = model_for("bfs", tiny("gmpnn", hint_mode="none"))
    pgn = model_for("bfs", tiny("gpgn", hint_mode="none"), seed=1)
    pgn.load_state_dict(mpnn.state_dict())
    batch = collate_sparse(traces)
    a = sparse_forward(mpnn, batch).outputs["pi"]
    b = sparse_forward(pgn, batch).outputs["pi"]
    assert torch.equal(a, b)
    assert_agree(pgn, "bfs", traces)


def test_triplets_equal_dense_on_complete_graphs():
    rng = np.random.RandomState(0)
    traces = []
    for n in (5, 7):
        A = rng.uniform(0.1, 1.0, (n, n))
        A = (A + A.T) / 2 * (1 - np.eye(n))
        traces.append(to_sparse(dense_algorithms.dijkstra(A, 1)))
    assert_agree(model_for("dijkstra", tiny("triplet_gpgn_mask")), "dijkstra", traces)


def test_triplet_messages_against_brute_force():
    # On a sparse graph, edge (j, k)'s max runs over the i with edges (i, j) and (i, k).
    torch.manual_seed(0)
    processor = make_processor("triplet_gpgn", 6, nb_triplet_fts=3).double()
    trace = sample_sparse("bfs", "train", num_samples=1, seed=5)[0]
    n, s, r = trace.num_nodes, torch.as_tensor(trace.senders), torch.as_tensor(trace.receivers)
    graph = SparseGraph(s, r, torch.zeros(n, dtype=torch.long), 1)
    z = torch.randn(n, 12, dtype=torch.float64)
    e = torch.randn(graph.num_edges, 6, dtype=torch.float64)
    g = torch.randn(1, 6, dtype=torch.float64)
    got = processor.triplets.sparse(z, e, g, graph)
    t = processor.triplets
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[s, r] = True
    dense_e = torch.zeros(n, n, 6, dtype=torch.float64)
    dense_e[s, r] = e
    for q in range(graph.num_edges):
        j, k = int(s[q]), int(r[q])
        cands = [t.t_1(z[i]) + t.t_e_1(dense_e[i, j]) + t.t_e_2(dense_e[i, k])
                 for i in range(n) if adj[i, j] and adj[i, k]]
        best = torch.stack(cands).amax(0)
        want = t.o3(best + t.t_2(z[j]) + t.t_3(z[k]) + t.t_e_3(dense_e[j, k]) + t.t_g(g[0]))
        want = t.activation(want) if t.activation is not None else want
        torch.testing.assert_close(got[q], want, rtol=0, atol=1e-12)


def test_hard_predictions_are_the_dense_ones():
    traces = sample_sparse("bfs", "train", num_samples=4, seed=6)
    model = model_for("bfs", tiny("gpgn_mask"))
    batch = collate_sparse(traces)
    got = sparse_predict(model, batch)["pi"]
    offsets = batch.node_ptr[:-1]
    for g, trace in enumerate(traces):
        want = model.predict(collate([to_dense(trace)]).to_torch(float_dtype=torch.float64))
        a, b = batch.node_ptr[g], batch.node_ptr[g + 1]
        assert np.array_equal(got[a:b] - offsets[g], want["pi"][0])
        # every prediction is a neighbour (or the node itself)
        keys = set(zip(trace.senders.tolist(), trace.receivers.tolist()))
        assert all((i, int(p)) in keys for i, p in enumerate(got[a:b] - offsets[g]))


def test_segment_reductions():
    logits = torch.tensor([1.0, 3.0, 3.0, -1.0, 0.5, 2.0])
    index = torch.tensor([0, 0, 0, 2, 2, 3])
    assert segment_argmax(logits, index, 4).tolist() == [1, -1, 4, 5]   # first on ties
    assert segment_max(logits, index, 4, fill=-7.0).tolist() == [3.0, -7.0, 0.5, 2.0]
    p = segment_softmax(logits, index, 4)
    torch.testing.assert_close(p[:3], torch.softmax(logits[:3], 0))
    torch.testing.assert_close(p[3:5], torch.softmax(logits[3:5], 0))
    assert float(p[5]) == 1.0


def test_graph_checks_and_errors():
    trace = sample_sparse("bfs", "train", num_samples=1, seed=7, hints=False)[0]
    batch = collate_sparse([trace]).to_torch()
    graph = graph_of(batch)
    assert torch.equal(graph.senders[graph.reverse], graph.receivers)
    assert torch.equal(graph.senders[graph.self_loops], torch.arange(graph.num_nodes))
    with pytest.raises(ValueError, match="hints of step 0"):
        sparse_forward(Reasoner.from_algorithms("bfs", tiny("pgn")), batch)
    with pytest.raises(NotImplementedError, match="no sparse form"):
        sparse_forward(Reasoner.from_algorithms("bfs", tiny("gat", hint_mode="none")), batch)
    # without hints in the batch, a model trained without hints runs
    out = sparse_forward(Reasoner.from_algorithms("bfs", tiny("pgn", hint_mode="none")), batch)
    assert out.outputs["pi"].shape == (trace.num_edges,)
    one_way = SparseGraph(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]),
                          torch.zeros(2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="symmetric"):
        one_way.reverse
    # a batch made by hand without self-loops: refused, not decoded with a
    # pointer into another graph (a node with no edge has nothing to point at)
    keep = batch.senders != batch.receivers
    loopless = dataclasses.replace(
        batch, senders=batch.senders[keep], receivers=batch.receivers[keep],
        edge_ptr=torch.tensor([0, int(keep.sum())]),
        inputs={k: v[keep] if k in ("A", "adj") else v for k, v in batch.inputs.items()})
    with pytest.raises(ValueError, match="self-loop"):
        sparse_predict(Reasoner.from_algorithms("bfs", tiny("pgn", hint_mode="none")), loopless)


def test_a_node_whose_logits_are_all_nan_points_to_itself():
    from openclrs.models.sparse import sparse_hard_predictions
    from openclrs.specs import SPECS

    graph = SparseGraph(torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 0, 1, 2]),
                        torch.zeros(3, dtype=torch.long), 1)
    logits = torch.tensor([0.0, 2.0, 1.0, 0.0, float("nan")])
    pi = sparse_hard_predictions(SPECS["bfs"], {"pi": logits}, graph)["pi"]
    assert pi.tolist() == [1, 0, 2]


def test_first_step_batch_gives_the_predictions_of_the_full_batch():
    from openclrs.training.sparse_evaluate import first_step_batch

    traces = sample_sparse("dijkstra", "train", num_samples=3, seed=8)
    model = model_for("dijkstra", tiny("triplet_gmpnn"))
    full = sparse_predict(model, collate_sparse(traces))
    cut = first_step_batch(traces)
    assert cut.hints["pi_h"].shape[0] == 1
    assert cut.lengths.tolist() == [t.length for t in traces]
    assert np.array_equal(sparse_predict(model, cut)["pi"], full["pi"])


def test_evaluate_sparse_scores_fresh_graphs_and_cli(tmp_path):
    import json

    from openclrs.cli.training import main
    from openclrs.training.config import TrainConfig
    from openclrs.training.graph_metrics import GraphScorer
    from openclrs.training.loop import train
    from openclrs.training.sparse_evaluate import evaluate_sparse, first_step_batch

    model = model_for("bfs", tiny("gpgn_mask")).float()
    result = evaluate_sparse(model, "bfs", "ws_40", num_samples=3, seed=1, batch_size=2)
    traces = sample_sparse("bfs", "ws_40", num_samples=3, seed=1)
    batch = first_step_batch(traces)
    want = GraphScorer(model.specs["bfs"]).update(
        batch.outputs, sparse_predict(model, batch), batch.node_ptr, batch.edge_ptr).result()
    for key in ("node_accuracy", "graph_accuracy", "score", "pi/node_accuracy"):
        assert result[key] == pytest.approx(want[key]), key
    assert result["graphs"] == 3 and result["nodes"] == 40

    run = tmp_path / "run"
    train(TrainConfig(algorithms=["bfs"], out_dir=str(run), steps=1, batch_size=2,
                      train_lengths=[4], eval_every=1, test_every=0, seed=0, progress=False,
                      data_root=str(tmp_path / "data"),
                      model=ModelConfig(hidden_size=8, processor="gpgn_mask")))
    out = tmp_path / "sparse.json"
    assert main(["evaluate", "--run", str(run), "--graph", "er", "--length", "30",
                 "--num-samples", "2", "--json", str(out), "--quiet"]) == 0
    saved = json.loads(out.read_text())
    assert saved["graphs"] == "er_30" and saved["num_samples"] == 2
    bfs = saved["algorithms"]["bfs"]
    assert 0 <= bfs["graph_accuracy"] <= bfs["node_accuracy"] <= 1 and bfs["graphs"] == 2


def test_lstm_and_several_message_passing_steps():
    traces = sample_sparse("mst_prim", "train", num_samples=2, seed=9)
    config = tiny("gpgn_mask", use_lstm=True, nb_msg_passing_steps=2)
    assert_agree(model_for("mst_prim", config), "mst_prim", traces)


def test_gradients_equal_the_dense_ones():
    # The basis of sparse training: a loss of the sparse logits has the dense gradients.
    trace = sample_sparse("dijkstra", "train", num_samples=1, seed=10)[0]
    model = model_for("dijkstra", tiny("gpgn_mask", hint_mode="decoded_only"))
    weights = torch.randn(trace.num_edges, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    sparse = sparse_forward(model, collate_sparse([trace]), hints=True)
    loss = (sparse.outputs["pi"] * weights).sum() + sparse.hints["d"].square().sum()
    sparse_grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    dense = model(collate([to_dense(trace)]).to_torch(float_dtype=torch.float64), repred=True)
    steps = dense.hints["d"].shape[0]
    loss = ((dense.outputs["pi"][0][trace.senders, trace.receivers] * weights).sum()
            + dense.hints["d"][:steps].square().sum())
    dense_grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    for (name, _), a, b in zip(model.named_parameters(), sparse_grads, dense_grads):
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=name)


def _training_agreement(config, seed):
    """Sparse and dense training-mode forwards (repred=False) of one graph
    from the same random state: logits and parameter gradients."""
    trace = sample_sparse("dijkstra", "train", num_samples=1, seed=10)[0]
    model = model_for("dijkstra", config)
    spec = model.specs["dijkstra"]
    weights = torch.randn(trace.num_edges, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(0))
    torch.manual_seed(seed)
    sparse = sparse_forward(model, collate_sparse([trace]), repred=False, hints=True)
    torch.manual_seed(seed)
    dense = model(collate([to_dense(trace)]).to_torch(float_dtype=torch.float64), repred=False)
    results = []
    for preds in (sparse, dense):
        pi = preds.outputs["pi"]
        if preds is dense:
            pi = dense_rows(spec, "pi", pi[0], trace)
        loss = (pi * weights).sum() + preds.hints["d"].square().sum()
        results.append((pi, torch.autograd.grad(loss, list(model.parameters()),
                                                allow_unused=True)))
    (a_pi, a_grads), (b_pi, b_grads) = results
    return a_pi, b_pi, a_grads, b_grads, model


def test_training_mode_dropout_and_teacher_forcing_match_the_dense_forward():
    # One graph: the sparse forward draws the dense forward's random numbers
    # (teacher forcing per graph, then dropout), so training mode agrees exactly.
    config = tiny("gpgn_mask", dropout=0.3, hint_teacher_forcing=0.5)
    a_pi, b_pi, a_grads, b_grads, model = _training_agreement(config, seed=3)
    torch.testing.assert_close(a_pi, b_pi, rtol=0, atol=TOL)
    for (name, _), a, b in zip(model.named_parameters(), a_grads, b_grads):
        if a is None or b is None:
            assert a is None and b is None, name
            continue
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=name)
    # Dropout and forcing act: evaluation mode gives other logits.
    evaluated = sparse_forward(model, collate_sparse(
        sample_sparse("dijkstra", "train", num_samples=1, seed=10)), repred=True)
    assert not torch.allclose(evaluated.outputs["pi"], a_pi)


def test_repred_defaults_to_the_model_mode_and_hard_on_eval_is_soft_in_training():
    traces = sample_sparse("bfs", "train", num_samples=2, seed=4)
    batch = collate_sparse(traces)
    model = model_for("bfs", tiny("gpgn_mask", hint_teacher_forcing=0.0,
                                  hint_repred_mode="hard_on_eval"))
    soft = model_for("bfs", tiny("gpgn_mask", hint_teacher_forcing=0.0,
                                 hint_repred_mode="soft"))
    hard = model_for("bfs", tiny("gpgn_mask", hint_teacher_forcing=0.0))
    train_logits = sparse_forward(model.train(), batch).outputs["pi"]
    torch.testing.assert_close(train_logits, sparse_forward(soft, batch, repred=False)
                               .outputs["pi"], rtol=0, atol=0)
    eval_logits = sparse_forward(model.eval(), batch).outputs["pi"]
    torch.testing.assert_close(eval_logits, sparse_forward(hard, batch, repred=True)
                               .outputs["pi"], rtol=0, atol=0)
    assert not torch.allclose(train_logits, eval_logits)


def test_teacher_forcing_needs_every_step_of_hints():
    traces = sample_sparse("bfs", "train", num_samples=2, seed=4)
    batch = collate_sparse(traces)
    cut = dataclasses.replace(batch, hints={k: v[:1] for k, v in batch.hints.items()})
    model = model_for("bfs", tiny("gpgn_mask", hint_teacher_forcing=1.0))
    with pytest.raises(ValueError, match="teacher forcing.*repred=True"):
        sparse_forward(model, cut, repred=False)
    sparse_forward(model, cut, repred=True)      # evaluation needs step 0 only
    # Full forcing feeds the truth of every step: each graph's hints as if alone.
    full = sparse_forward(model, batch, repred=False, hints=True)
    alone = sparse_forward(model, collate_sparse(traces[:1]), repred=False, hints=True)
    n = traces[0].num_edges
    steps = alone.hints["pi_h"].shape[0]
    torch.testing.assert_close(full.hints["pi_h"][:steps, :n], alone.hints["pi_h"],
                               rtol=0, atol=TOL)


def test_evaluate_sparse_puts_the_model_in_eval_mode():
    from openclrs.training.sparse_evaluate import evaluate_sparse

    model = model_for("bfs", tiny("gpgn_mask", dropout=0.5)).train()
    first = evaluate_sparse(model, "bfs", "er_12", num_samples=2, seed=1)
    assert not model.training
    second = evaluate_sparse(model.train(), "bfs", "er_12", num_samples=2, seed=1)
    assert {k: v for k, v in first.items() if k != "seconds"} == {
        k: v for k, v in second.items() if k != "seconds"}
