"""SALSA-CLRS's own two algorithms (fast_mis, eccentricity) train and
evaluate as bfs does: `openclrs train --sparse`, `openclrs evaluate --run`
(their test set: SALSA's test_er_80, the first 64 graphs), `--graph`,
resume; fast_mis's step input (`randomness`, column t at step t) in the
dense and the sparse forward, which agree on small graphs (float64), as
do the two losses and their gradients on complete graphs; eccentricity's
score is an MSE, so its best checkpoint is the lowest."""

import json

import networkx as nx
import numpy as np
import pytest
import torch

from openclrs.algorithms.salsa import fast_mis
from openclrs.cli.training import main
from openclrs.data.batching import collate
from openclrs.data.sparse import (build_sparse_dataset, collate_sparse, load_sparse_split,
                                  salsa_parts, uncollate_sparse)
from openclrs.distributions import GraphDistribution, SparseSampler
from openclrs.models.model import ModelConfig, Reasoner
from openclrs.models.sparse import sparse_forward, sparse_loss
from openclrs.sparse import Graph, to_dense
from openclrs.specs import SALSA_SPECS, SPECS, Location, Type
from openclrs.training import sparse_train
from openclrs.training.config import TrainConfig
from openclrs.training.metrics import score_is_loss, selection_score

from tests.loss_helpers import assert_same_losses

SALSA_OWN = ("fast_mis", "eccentricity")
TOL = 1e-10
COMPLETE = GraphDistribution("er", (5,), (1.0, 1.0))
SMALL = GraphDistribution("er", (6, 7), (0.3, 0.6))
TINY = ["--hidden-size", "8", "--processor", "gpgn_mask", "--batch-size", "4",
        "--eval-batch-size", "32", "--test-every", "0", "--seed", "3", "--quiet"]


def run_cli(tmp_path, algorithm, steps, out="run", *extra):
    run = tmp_path / out
    assert main(["train", "--algorithm", algorithm, "--sparse", "--steps", str(steps),
                 "--eval-every", "2", "--out", str(run), *TINY, *extra]) == 0
    return run


def metrics_log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ------------------------------------------------------------- the CLI

@pytest.mark.parametrize("algorithm", SALSA_OWN)
def test_train_evaluate_and_resume_from_the_cli(tmp_path, algorithm, capfd):
    run = run_cli(tmp_path, algorithm, 2)
    results = json.loads((run / "results.json").read_text())[
        "algorithms"][algorithm]
    for split in ("val", "test"):
        m = results[f"{split}_metrics"]
        assert {"score", "graph_accuracy", "graphs"} <= set(m)
        if algorithm == "fast_mis":
            assert {"node_accuracy", "inmis/node_accuracy", "inmis/node_f1"} <= set(m)
        else:
            assert {"eccentricity/mse"} <= set(m) and m["score"] == pytest.approx(
                m["eccentricity/mse"])
    assert results["test_metrics"]["graphs"] == sparse_train.TEST_GRAPHS
    capfd.readouterr()

    # evaluate --run: the test set (SALSA's er_80) again, same numbers
    out = tmp_path / "test.json"
    assert main(["evaluate", "--run", str(run), "--json", str(out)]) == 0
    printed = capfd.readouterr().out
    assert "SALSA er_80, 64 graphs" in printed and "test, per graph (SALSA-CLRS)" in printed
    again = json.loads(out.read_text())["algorithms"][algorithm]
    assert again["test_metrics"] == pytest.approx(results["test_metrics"])

    # evaluate --graph: fresh graphs of any family and size
    out = tmp_path / "er.json"
    assert main(["evaluate", "--run", str(run), "--graph", "er", "--length", "40",
                 "--num-samples", "2", "--json", str(out), "--quiet"]) == 0
    er = json.loads(out.read_text())["algorithms"][algorithm]
    assert er["graphs"] == 2 and er["nodes"] == 40 and 0 <= er["graph_accuracy"] <= 1
    assert ("node_accuracy" in er) == (algorithm == "fast_mis")

    # resume: 2 more steps from the checkpoint = 4 steps at once
    run_cli(tmp_path, algorithm, 4)
    straight = run_cli(tmp_path, algorithm, 4, "straight")
    assert metrics_log(run) == metrics_log(straight)


def test_the_refusal_is_gone_and_dense_training_asks_for_sparse(tmp_path):
    assert set(SALSA_OWN) <= set(sparse_train.sparse_algorithms())
    sparse_train.check_algorithms(list(SALSA_OWN))
    with pytest.raises(ValueError, match="--sparse. is needed to train eccentricity"):
        TrainConfig(algorithms=["eccentricity"], out_dir=str(tmp_path / "x")).validate()
    with pytest.raises(ValueError, match="unknown algorithm 'fast_mi'.*SALSA-CLRS's own"):
        TrainConfig(algorithms=["fast_mi"], sparse=True, out_dir=str(tmp_path)).validate()


def test_a_mixed_run_keeps_the_clrs_test_split_for_bfs(tmp_path):
    from openclrs.training.loop import results_table, train

    config = TrainConfig(algorithms=["bfs", "fast_mis"], sparse=True, steps=1, batch_size=2,
                         eval_every=1, test_every=0, progress=False, eval_batch_size=64,
                         out_dir=str(tmp_path / "run"), data_root=str(tmp_path / "data"),
                         model=ModelConfig(hidden_size=8, processor="gpgn_mask"))
    results = train(config)
    bfs, mis = (results["algorithms"][a]["test_metrics"] for a in ("bfs", "fast_mis"))
    assert "graph_accuracy" not in bfs  # the dense canonical split (n = 64)
    assert mis["graphs"] == sparse_train.TEST_GRAPHS
    # CLRS-30's means are over the CLRS algorithms: bfs's alone here
    assert results["test"]["algorithm_mean"] == pytest.approx(bfs["score"])
    table = results_table(results)
    assert "bfs: CLRS-30 test, n=64; fast_mis: SALSA er_80, 64 graphs" in table


# ------------------------------------------------------------ the sets

@pytest.mark.parametrize("algorithm", SALSA_OWN)
def test_the_test_set_is_the_start_of_salsas_stored_er_80(tmp_path, algorithm):
    config = TrainConfig(algorithms=[algorithm], sparse=True, out_dir=str(tmp_path / "run"),
                         eval_batch_size=16).validate()
    batches = sparse_train.test_batches(config, algorithm)
    assert isinstance(batches, sparse_train.SparseBatches)
    assert sum(b.num_graphs for b in batches) == sparse_train.TEST_GRAPHS
    assert all((np.diff(b.node_ptr) == 80).all() for b in batches)
    # the graphs `openclrs generate --sparse` stores first in test_er_80 (seed 0)
    part = next(p for p in salsa_parts(algorithm, num_samples={"test": 3})
                if p.split == sparse_train.TEST_PART)
    build_sparse_dataset([part], str(tmp_path / "salsa"), workers=1)
    stored = load_sparse_split(str(tmp_path / "salsa"), algorithm, sparse_train.TEST_PART)
    first = batches[0]  # each batch is ordered longest first: match graphs by content
    ours = {(g.senders.tobytes(), g.outputs[next(iter(g.outputs))].tobytes())
            for g in uncollate_sparse(first)}
    for trace in stored:
        key = (trace.senders.tobytes(), trace.outputs[next(iter(trace.outputs))].tobytes())
        assert key in ours


# ------------------------------------------------- scores and selection

def test_eccentricity_is_scored_by_a_loss_and_selected_by_its_negation():
    assert score_is_loss(SALSA_SPECS["eccentricity"])
    assert not score_is_loss(SALSA_SPECS["fast_mis"])
    assert not any(score_is_loss(spec) for spec in SPECS.values())
    assert selection_score(SALSA_SPECS["eccentricity"], {"score": 2.5}) == -2.5
    assert selection_score(SALSA_SPECS["fast_mis"], {"score": 0.7}) == 0.7


def test_the_best_eccentricity_checkpoint_has_the_lowest_validation_mse(tmp_path):
    run = run_cli(tmp_path, "eccentricity", 6, "run", "--lr", "0.01")
    vals = [r for r in metrics_log(run) if r["kind"] == "val"]
    mse = [r["metrics"]["eccentricity"]["score"] for r in vals]
    assert [r["score"] for r in vals] == pytest.approx([-m for m in mse])
    best = json.loads((run / "results.json").read_text())
    assert best["best_step"] == vals[int(np.argmin(mse))]["step"]


# ------------------------------------- the step input, dense and sparse

def model_for(algorithm, seed=0, processor="gpgn_mask", **options):
    options.setdefault("hint_repred_mode", "hard")
    torch.manual_seed(seed)
    config = ModelConfig(hidden_size=8, processor=processor, nb_triplet_fts=4, **options)
    return Reasoner.from_algorithms(algorithm, config).double()


def test_step_t_reads_column_t_of_randomness():
    # SALSA's processor reads randomness[:, step]: changing column 1 leaves
    # the hint logits of step 0 as they were and changes those of step 1.
    model = model_for("fast_mis").eval()
    traces = SparseSampler("fast_mis", SMALL, seed=4).take(3)
    traces = [t for t in traces if t.length >= 3] or traces[:1]
    batch = collate_sparse(traces).to_torch(float_dtype=torch.float64)
    before = sparse_forward(model, batch, hints=True).hints
    batch.inputs["randomness"][:, 1] += 0.5
    after = sparse_forward(model, batch, hints=True).hints
    assert all(torch.equal(before[k][0], after[k][0]) for k in before)
    if batch.lengths.max() > 2:
        assert any(not torch.equal(before[k][1], after[k][1]) for k in before)


def _dense_rows(spec, name, value, trace):
    _, location, type_ = spec[name]
    if location == Location.EDGE or (location == Location.NODE and type_ == Type.POINTER):
        return value[..., trace.senders, trace.receivers]
    return value


@pytest.mark.parametrize("algorithm", SALSA_OWN)
@pytest.mark.parametrize("processor", ["pgn_mask", "gpgn_mask"])
def test_sparse_forward_equals_the_dense_forward(algorithm, processor):
    # A dense trace of these algorithms (to_dense: the graph as the adjacency
    # input of a complete graph, as CLRS runs every graph algorithm) is
    # meaningful, and the dense model on it is the sparse one on the edges.
    model = model_for(algorithm, processor=processor).eval()
    spec = model.specs[algorithm]
    traces = SparseSampler(algorithm, SMALL, seed=5).take(3)
    sparse = sparse_forward(model, collate_sparse(traces), hints=True)
    batch = collate_sparse(traces)
    node_ptr, edge_ptr = batch.node_ptr, batch.edge_ptr
    for g, trace in enumerate(traces):
        dense = model(collate([to_dense(trace)]).to_torch(float_dtype=torch.float64))
        for name, value in {**dense.outputs, **dense.hints}.items():
            hint = name in dense.hints
            want = _dense_rows(spec, name, (value[:, 0] if hint else value[0]).detach(), trace)
            location = spec[name][1]
            a, b = ((edge_ptr[g], edge_ptr[g + 1]) if location == Location.EDGE
                    else (node_ptr[g], node_ptr[g + 1]) if location == Location.NODE
                    else (g, g + 1))
            got = sparse.hints[name][:len(want), a:b] if hint else sparse.outputs[name][a:b]
            if location == Location.GRAPH:
                got = got[..., 0] if hint else got[0]
            torch.testing.assert_close(got, want, rtol=0, atol=TOL, msg=name)


@pytest.mark.parametrize("algorithm", SALSA_OWN)
def test_sparse_loss_equals_the_dense_loss_on_complete_graphs(algorithm):
    model = model_for(algorithm).train()
    traces = SparseSampler(algorithm, COMPLETE, seed=6).take(3)
    dense_batch = collate([to_dense(t) for t in traces]).to_torch(float_dtype=torch.float64)
    assert_same_losses(model, sparse_loss(model, collate_sparse(traces)),
                       model.loss(dense_batch), TOL)


# ------------------------------------------------------ the trace engine

@pytest.mark.parametrize("graph", [nx.path_graph(7), nx.star_graph(5), nx.complete_graph(5),
                                   nx.cycle_graph(8), nx.petersen_graph()],
                         ids=["path", "star", "complete", "cycle", "petersen"])
def test_fast_mis_is_a_maximal_independent_set_of_hand_made_graphs(graph):
    n = graph.number_of_nodes()
    A = nx.to_numpy_array(graph, nodelist=range(n))
    for seed in range(4):
        trace = fast_mis(Graph.from_dense(A), seed)
        chosen = set(np.flatnonzero(trace.outputs["inmis"]).tolist())
        assert not any(graph.has_edge(u, v) for u in chosen for v in chosen)  # independent
        assert all(set(graph[v]) & chosen for v in set(graph) - chosen)      # maximal


def test_a_dense_batch_pads_randomness_and_each_sample_runs_as_alone():
    from openclrs.data.batching import uncollate

    model = model_for("fast_mis").eval()
    traces = SparseSampler("fast_mis", GraphDistribution("er", (7,), (0.3, 0.6)),
                           seed=4).take(6)
    assert len({t.length for t in traces}) > 1
    dense = [to_dense(t) for t in traces]
    batch = collate(dense)
    assert batch.inputs["randomness"].shape == (6, 7, max(t.length for t in traces))
    for t, back in zip(dense, uncollate(batch)):
        assert np.array_equal(back.inputs["randomness"], t.inputs["randomness"])
    together = model(batch.to_torch(float_dtype=torch.float64)).outputs["inmis"]
    for b, t in enumerate(dense):
        alone = model(collate([t]).to_torch(float_dtype=torch.float64)).outputs["inmis"]
        torch.testing.assert_close(together[b], alone[0], rtol=0, atol=TOL)
