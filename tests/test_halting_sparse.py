"""Learned halting on sparse graphs (openclrs.halting.sparse, the sparse
unroll of openclrs.models.sparse, ``openclrs evaluate --graph`` of a halting
run, ``openclrs train --sparse --halting``): each graph halts on its own, as
the dense halting reasoner does on the same graph alone; nothing depends on
a graph's batch mates; the sparse halting losses are the dense ones on
complete graphs."""

import json
import math
import os

import numpy as np
import pytest
import torch

from openclrs.cli.training import main
from openclrs.data.batching import collate
from openclrs.data.sparse import collate_sparse
from openclrs.distributions import GraphDistribution, SparseSampler, sample_sparse
from openclrs.halting.config import HaltingConfig
from openclrs.halting.reasoner import HaltingReasoner, sample_output_losses, score_halting
from openclrs.halting.sparse import (SparseHaltingScorer, sparse_halt, sparse_halt_logits,
                                     sparse_halting_loss, sparse_output_losses)
from openclrs.halting.termination import TerminationHead
from openclrs.halting.training import factory
from openclrs.models.config import ModelConfig
from openclrs.models.model import Reasoner, processor_steps
from openclrs.models.segments import SparseGraph
from openclrs.models.sparse import (graph_of, sparse_decode_outputs, sparse_forward,
                                    sparse_hard_predictions, sparse_unroll)
from openclrs.sparse import to_dense
from openclrs.specs import Location, Type
from openclrs.training.evaluate import RunKind, load_run
from openclrs.training.sparse_evaluate import (evaluate_run_sparse, evaluate_sparse,
                                               first_step_batch)
from openclrs.training.sparse_train import SparseBatches

from tests.loss_helpers import assert_same_losses

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def halting_model(algorithm, processor="gpgn_mask", kind="learned", seed=0, **halting):
    """A tiny float64 halting reasoner whose head reads the node states (not
    the constant it starts as), its bias set so that the logits of the first
    steps of a few graphs straddle zero: graphs halt at different steps."""
    torch.manual_seed(seed)
    config = ModelConfig(hidden_size=8, processor=processor, hint_repred_mode="hard_on_eval")
    model = HaltingReasoner(Reasoner.from_algorithms(algorithm, config).double(),
                            HaltingConfig(kind=kind, **halting)).double().eval()
    batch = collate_sparse(traces_of(algorithm, count=4, seed=seed + 100))
    with torch.no_grad():
        head = model.heads[algorithm]
        head.node.weight.normal_(0, 3.0)
        head.mean.weight.normal_(0, 1.0)
        head.mean.bias.zero_()
        logits = torch.stack([sparse_halt_logits(head, step.hidden, step.state.graph)
                              for step in sparse_unroll(model.reasoner, batch, steps=6)])
        head.mean.bias.fill_(-float(logits.quantile(0.95)))
    return model


def traces_of(algorithm, graphs="train", count=4, seed=0):
    return sample_sparse(algorithm, graphs, num_samples=count, seed=seed)


def graph_rows(spec, name, value, g, batch):
    """Graph g's rows of a sparse output (node pointers and edge probes per edge)."""
    _, location, type_ = spec[name]
    ptr = batch.edge_ptr if (location == Location.EDGE or type_ == Type.POINTER
                             and location == Location.NODE) else batch.node_ptr
    if location == Location.GRAPH:
        return value[g:g + 1]
    return value[int(ptr[g]):int(ptr[g + 1])]


def dense_rows(spec, name, value, trace):
    """A dense output of one sample (B = 1) in the sparse layout."""
    _, location, type_ = spec[name]
    if location == Location.EDGE or (location == Location.NODE and type_ == Type.POINTER):
        return value[0][trace.senders, trace.receivers]
    return value if location == Location.GRAPH else value[0]


# --------------------------------------------------------- the head, the seam

def test_sparse_head_is_the_dense_head_per_graph():
    torch.manual_seed(1)
    head = TerminationHead(5).double()
    sizes = [3, 1, 6]
    states = [torch.randn(n, 5, dtype=torch.float64) for n in sizes]
    node_graph = torch.cat([torch.full((n,), g) for g, n in enumerate(sizes)])
    graph = SparseGraph(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                        node_graph, len(sizes))
    got = sparse_halt_logits(head, torch.cat(states), graph)
    want = torch.cat([head(s[None]) for s in states])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    # by hand for the second graph: one node, so max = mean = that node
    h = states[1][0]
    by_hand = head.node.weight[0] @ h + head.mean.weight[0] @ h + head.mean.bias[0]
    torch.testing.assert_close(got[1], by_hand, rtol=0, atol=1e-12)


def test_sparse_unroll_to_each_true_step_gives_sparse_forwards_outputs():
    model = halting_model("dijkstra").reasoner
    batch = collate_sparse(traces_of("dijkstra"))
    reference = sparse_forward(model, batch, repred=True).outputs
    steps = processor_steps(torch.as_tensor(batch.lengths))
    spec = model.specs["dijkstra"]
    with torch.no_grad():
        for step in sparse_unroll(model, batch, steps=int(steps.max()), repred=True):
            outputs = sparse_decode_outputs(model, step.state, "dijkstra")
            for g in torch.nonzero(steps == step.index + 1).flatten().tolist():
                for name, value in outputs.items():
                    torch.testing.assert_close(graph_rows(spec, name, value, g, batch),
                                               graph_rows(spec, name, reference[name], g,
                                                          batch), rtol=0, atol=1e-12)


# ------------------------------------------------------ sparse = dense halting

@pytest.mark.parametrize("algorithm,processor,kind,evaluation,together,seed", [
    ("bfs", "pgn_mask", "learned", "threshold", True, 0),
    ("bfs", "gpgn_mask", "termination", "threshold", True, 0),
    ("dijkstra", "pgn_mask", "learned", "threshold", True, 2),
    ("dijkstra", "gpgn_mask", "termination", "threshold", True, 1),
    ("bfs", "gpgn_mask", "learned", "sample", False, 0),  # one draw per graph: one graph a batch
])
def test_sparse_halting_equals_dense_halting(algorithm, processor, kind, evaluation, together,
                                             seed):
    model = halting_model(algorithm, processor, kind, evaluation=evaluation,
                          max_steps_factor=1.0, seed=seed)
    spec = model.specs[algorithm]
    traces = traces_of(algorithm, count=5)
    groups = [traces] if together else [[t] for t in traces]
    sparse_steps, dense_steps = [], []
    for group in groups:
        batch = collate_sparse(group)
        got = sparse_halt(model, batch, algorithm)
        hard = sparse_hard_predictions(spec, got.outputs, graph_of(batch.to_torch()))
        for g, trace in enumerate(group):
            dense_batch = collate([to_dense(trace)]).to_torch(float_dtype=torch.float64)
            want = model.halt(dense_batch, algorithm)
            assert int(got.steps[g]) == int(want.steps[0])
            assert int(got.true_steps[g]) == int(want.true_steps[0])
            assert bool(got.capped[g]) == bool(want.capped[0])
            sparse_steps.append(int(got.steps[g]))
            dense_steps.append(int(want.steps[0]))
            for name, value in want.outputs.items():
                torch.testing.assert_close(graph_rows(spec, name, got.outputs[name], g, batch),
                                           dense_rows(spec, name, value, trace),
                                           rtol=0, atol=1e-10)
            dense_hard = model._hard(spec, want.outputs)
            for name, value in dense_hard.items():
                a, b = int(batch.node_ptr[g]), int(batch.node_ptr[g + 1])
                mine = hard[name][a:b]
                if spec[name][2] == Type.POINTER:
                    mine = mine - a
                np.testing.assert_array_equal(mine, value[0])
    assert sparse_steps == dense_steps
    if evaluation == "threshold":  # (sampled: each one-graph batch draws the same numbers)
        assert len(set(sparse_steps)) > 1, "the test should see graphs halt at different steps"


def test_a_graphs_halting_does_not_depend_on_its_batch_mates():
    model = halting_model("bfs", max_steps_factor=1.0)
    spec = model.specs["bfs"]
    traces = traces_of("bfs", count=6, seed=3)
    together = collate_sparse(traces)
    all_at_once = sparse_halt(model, together)
    for g, trace in enumerate(traces):
        alone_batch = collate_sparse([trace])
        alone = sparse_halt(model, alone_batch)
        assert int(alone.steps[0]) == int(all_at_once.steps[g])
        assert bool(alone.capped[0]) == bool(all_at_once.capped[g])
        for name, value in alone.outputs.items():
            torch.testing.assert_close(graph_rows(spec, name, all_at_once.outputs[name], g,
                                                  together), value, rtol=0, atol=1e-12)


def test_each_graph_has_its_own_cap_and_the_oracle_and_fixed_modes():
    model = halting_model("bfs", max_steps_factor=0.5)
    with torch.no_grad():  # a head that never decides: every graph stops at its cap
        model.heads["bfs"].mean.bias.fill_(-60.0)
        model.heads["bfs"].node.weight.zero_()
        model.heads["bfs"].mean.weight.zero_()
    traces = traces_of("bfs", count=5)
    sizes = [t.num_nodes for t in traces]
    assert len(set(sizes)) > 1
    batch = collate_sparse(traces)
    got = sparse_halt(model, batch)
    assert got.steps.tolist() == [math.ceil(0.5 * n) for n in sizes]
    assert got.capped.all() and got.cap == max(math.ceil(0.5 * n) for n in sizes)
    fixed = sparse_halt(model, batch, mode="fixed", budget=0.75)
    assert fixed.steps.tolist() == [math.ceil(0.75 * n) for n in sizes]
    oracle = sparse_halt(model, batch, mode="oracle")
    assert oracle.steps.tolist() == processor_steps(torch.as_tensor(batch.lengths)).tolist()
    reference = sparse_forward(model.reasoner, batch, repred=True).outputs
    for name, value in reference.items():
        torch.testing.assert_close(oracle.outputs[name], value, rtol=0, atol=1e-12)


def test_sparse_unroll_refuses_teacher_forcing_without_the_hints():
    # as sparse_forward does: a batch cut to its first step's hints is not
    # silently run unforced
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, processor="gpgn_mask", hint_teacher_forcing=0.5)
    model = Reasoner.from_algorithms("bfs", config).double().train()
    traces = traces_of("bfs", count=3)
    cut = first_step_batch(traces)
    with pytest.raises(ValueError, match="teacher forcing.*hints"):
        sparse_forward(model, cut, repred=False)
    with pytest.raises(ValueError, match="teacher forcing.*hints"):
        list(sparse_unroll(model, cut, steps=3, repred=False))
    # the full hints are enough, also past every trace's end (nothing forced there)
    full = collate_sparse(traces)
    assert len(list(sparse_unroll(model, full, steps=int(full.lengths.max()) + 3,
                                  repred=False))) == int(full.lengths.max()) + 3
    assert len(list(sparse_unroll(model, cut, steps=3, repred=True))) == 3


def test_score_halting_scores_fixed_budgets_on_sparse_batches():
    # c = (T - 1/2) / n reads the graph at ceil(c n) = T steps: the plain
    # sparse evaluation with the trace length (the oracle)
    model = halting_model("bfs")
    trace = traces_of("bfs", count=1, seed=5)[0]
    true = max(1, trace.length - 1)
    c = (true - 0.5) / trace.num_nodes
    metrics = score_halting(model, SparseBatches([collate_sparse([trace])]), budgets=(c, 5.0))
    assert metrics[f"fixed_{c:g}_score"] == metrics["oracle_score"]
    assert 0 <= metrics["fixed_5_score"] <= 1


def test_clear_errors():
    model = halting_model("bfs")
    batch = collate_sparse(traces_of("bfs", count=1))
    with pytest.raises(ValueError, match="mode must be one of"):
        sparse_halt(model, batch, mode="soon")
    with pytest.raises(ValueError, match="budget"):
        sparse_halt(model, batch, budget=2.0)
    with pytest.raises(TypeError, match="HaltingReasoner"):
        sparse_halt(model.reasoner, batch)
    with pytest.raises(ValueError, match="not 'dijkstra'|dijkstra"):
        sparse_halt(model, batch, "dijkstra")


# ------------------------------------------------------------- evaluate --graph

@pytest.fixture(scope="module")
def halting_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("halting-sparse")
    out = str(root / "run")
    assert main(["train", "--algorithm", "bfs", "--halting", "learned", "--steps", "2",
                 "--out", out, "--batch-size", "4", "--train-lengths", "4", "5",
                 "--eval-every", "2", "--test-every", "0", "--hidden-size", "8",
                 "--processor", "gpgn_mask", "--hint-repred-mode", "hard_on_eval", "--quiet",
                 "--data-root", str(root / "data"), "--halting-cap-factor", "0.5"]) == 0
    return out


def test_cli_evaluates_a_halting_run_on_sparse_graphs(halting_run, tmp_path, capsys):
    capsys.readouterr()
    path = tmp_path / "sparse.json"
    assert main(["evaluate", "--run", halting_run, "--graph", "er", "--length", "20",
                 "--num-samples", "3", "--json", str(path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "learned halting" in printed and "oracle lengths" in printed
    assert "|T^-T|/T" in printed
    results = json.loads(path.read_text())
    assert results["graphs"] == "er_20" and results["halting"]["kind"] == "learned"
    r = results["algorithms"]["bfs"]
    for key in ("node_accuracy", "graph_accuracy", "score", "oracle_node_accuracy",
                "oracle_graph_accuracy", "oracle_score", "seconds", "oracle_seconds"):
        assert key in r, key
    h = r["halting"]
    assert h["max_steps"] == 10          # ceil(0.5 * 20), the run's cap rule
    assert 1 <= h["mean_steps"] <= 10
    assert 0 <= h["early"] + h["late"] <= 1 and 0 <= h["capped"] <= 1
    # the oracle is exactly the plain sparse evaluation of the run's reasoner
    model = load_run(halting_run, factory=factory(HaltingConfig(max_steps_factor=0.5))).model
    plain = evaluate_sparse(model.reasoner, "bfs", "er_20", 3, seed=0)
    assert r["oracle_score"] == plain["score"]
    assert r["oracle_node_accuracy"] == plain["node_accuracy"]
    # and the learned-halting score is that of the graphs' own halting steps
    again = evaluate_sparse(model, "bfs", "er_20", 3, seed=0, scorer=SparseHaltingScorer)
    assert again["score"] == r["score"] and again["halting"] == h


def test_a_run_kind_without_a_sparse_scorer_is_refused(halting_run):
    kind = RunKind("halting", factory=lambda s: factory(HaltingConfig.from_dict(s)))
    with pytest.raises(ValueError, match="no evaluation on sparse graphs"):
        evaluate_run_sparse(halting_run, "er", 20, 1, kinds=[kind])


# ------------------------------------------------------ train --sparse --halting

COMPLETE = GraphDistribution("er", (6,), (1.0, 1.0))  # every pair an edge


@pytest.mark.parametrize("algorithm,kind", [("bfs", "learned"), ("dijkstra", "learned"),
                                            ("mst_prim", "termination")])
def test_sparse_halting_loss_equals_the_dense_one_on_complete_graphs(algorithm, kind):
    # No non-edges: the sparse candidates are the dense ones, so PonderNet's
    # per-graph output losses, its KL, the hint and termination losses and
    # every gradient agree.
    model = halting_model(algorithm, kind=kind, max_steps_factor=1.0).train()
    traces = SparseSampler(algorithm, COMPLETE, seed=1).take(3)
    dense = collate([to_dense(t) for t in traces]).to_torch(float_dtype=torch.float64)
    assert_same_losses(model, sparse_halting_loss(model, collate_sparse(traces)),
                       model.loss(dense), 1e-10)


def test_a_graphs_ponder_loss_does_not_depend_on_a_larger_batch_mate():
    # cap factor 1: the 4-node graph is read at step 4 at the latest, so its
    # halting distribution and prior end there even when a 16-node graph
    # makes the batch unroll 16 steps (its terms are those it has alone)
    model = halting_model("bfs", max_steps_factor=1.0).train()
    with torch.no_grad():  # λ small enough that the ε rule never stops the unroll
        model.heads["bfs"].mean.bias.fill_(-6.0)
        model.heads["bfs"].node.weight.mul_(0.1)
    small = SparseSampler("bfs", GraphDistribution("er", (4,), (0.5, 0.5)), seed=1).take(1)
    large = SparseSampler("bfs", GraphDistribution("er", (16,), (0.2, 0.2)), seed=2).take(1)
    assert max(t.length for t in small) - 1 <= 4
    _, alone_small = sparse_halting_loss(model, collate_sparse(small))
    _, alone_large = sparse_halting_loss(model, collate_sparse(large))
    _, together = sparse_halting_loss(model, collate_sparse(large + small))
    assert float(alone_small["unrolled_steps"]) == 4 and float(together["unrolled_steps"]) == 16
    for name in ("reconstruction", "kl", "expected_steps"):   # batch means
        torch.testing.assert_close(together[name], (alone_small[name] + alone_large[name]) / 2,
                                   rtol=0, atol=1e-12, msg=name)


def test_sparse_output_losses_are_per_graph():
    model = halting_model("dijkstra").reasoner
    spec = model.specs["dijkstra"]
    traces = traces_of("dijkstra", count=3)

    def losses(batch):
        batch = batch.to_torch(float_dtype=torch.float64)
        preds = sparse_forward(model, batch, repred=True).outputs
        return sparse_output_losses(spec, batch.outputs, preds, graph_of(batch))

    together = losses(collate_sparse(traces))
    alone = torch.cat([losses(collate_sparse([t])) for t in traces])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-12)
    # on one complete graph: the dense per-sample loss
    complete = SparseSampler("dijkstra", COMPLETE, seed=2).take(1)
    dense = collate([to_dense(complete[0])]).to_torch(float_dtype=torch.float64)
    want = sample_output_losses(spec, dense.outputs, model(dense, repred=True).outputs)
    torch.testing.assert_close(losses(collate_sparse(complete)), want, rtol=0, atol=1e-12)


def test_cli_trains_a_halting_reasoner_on_sparse_graphs(tmp_path, capsys):
    # multi-task: one processor, one head per algorithm
    out = str(tmp_path / "run")
    assert main(["train", "--algorithms", "bfs", "bellman_ford", "--sparse",
                 "--halting", "termination",
                 "--steps", "4", "--eval-every", "2", "--test-every", "0", "--batch-size", "4",
                 "--hidden-size", "8", "--processor", "gpgn_mask", "--quiet",
                 "--hint-repred-mode", "hard_on_eval", "--halting-cap-factor", "0.5",
                 "--out", out, "--data-root", str(tmp_path / "data")]) == 0
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["train"]["sparse"] and config["halting"]["kind"] == "termination"
    with open(os.path.join(out, "metrics.jsonl")) as f:
        vals = [json.loads(line) for line in f if '"val"' in line]
    assert len(vals) == 2
    results = json.load(open(os.path.join(out, "results.json")))
    for algorithm in ("bfs", "bellman_ford"):
        val = vals[-1]["metrics"][algorithm]   # validated sparse, each graph on its own
        for key in ("score", "oracle_score", "node_accuracy", "halting_error", "max_steps"):
            assert key in val, key
        # no wall-clock time: same seed, same metrics.jsonl (and resumed = uninterrupted)
        assert not [key for key in val if "seconds" in key]
        assert val["max_steps"] == 8           # ceil(0.5 * 16), SALSA's validation graphs
        r = results["algorithms"][algorithm]   # the dense canonical test, as every run
        assert {"test_score", "oracle_test_score", "halting"} <= set(r)
    capsys.readouterr()
    assert main(["evaluate", "--run", out, "--graph", "er", "--length", "20",
                 "--num-samples", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "oracle lengths" in printed and "bellman_ford" in printed


def test_the_benchmark_needs_its_runs_named(tmp_path, capsys):
    # no machine-specific default run folder: --runs is required (not for --table)
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "halting_sparse.py")
    spec = importlib.util.spec_from_file_location("halting_sparse_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    out = str(tmp_path / "rows.json")
    with pytest.raises(SystemExit) as exit_:
        benchmark.main(["--out", out, "--graphs", "1"])
    assert exit_.value.code == 2 and "--runs" in capsys.readouterr().err
    assert not os.path.exists(out)
    benchmark.main(["--table", "--out", out])
    assert "| halting | algorithm |" in capsys.readouterr().out
