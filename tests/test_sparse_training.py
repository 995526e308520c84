"""Training on SALSA-CLRS's sparse graphs (`openclrs train --sparse`): the
sparse loss against the dense one (complete graphs) and against a brute-force
cross-entropy over out-edges (sparse graphs), values and gradients in
float64; the seeded training stream; the trainer end to end through the
CLI, resume, multi-task and the clear refusals."""

import json
import os

import numpy as np
import pytest
import torch

from openclrs.cli.training import main
from openclrs.data.batching import collate
from openclrs.data.sparse import collate_sparse, uncollate_sparse
from openclrs.distributions import GraphDistribution, SparseSampler, sample_sparse
from openclrs.models.model import ModelConfig, Reasoner
from openclrs.models.sparse import sparse_loss
from openclrs.sparse import to_dense
from openclrs.training import sparse_train
from openclrs.training.config import TrainConfig
from openclrs.training.loop import results_table, train
from openclrs.training.runs import derive_seed

from tests.loss_helpers import assert_same_grads, assert_same_losses, grads

TOL = 1e-10
COMPLETE = GraphDistribution("er", (6,), (1.0, 1.0))  # every pair an edge


def model_for(algorithm, processor="gpgn_mask", seed=0, **options):
    options.setdefault("hint_repred_mode", "hard")
    torch.manual_seed(seed)
    config = ModelConfig(hidden_size=8, processor=processor, nb_triplet_fts=4, **options)
    return Reasoner.from_algorithms(algorithm, config).double().train()


def dense_batch(traces):
    return collate([to_dense(t) for t in traces]).to_torch(float_dtype=torch.float64)


# ------------------------------------------------------------------ the loss

@pytest.mark.parametrize("algorithm", ["bfs", "dijkstra", "mst_prim"])
@pytest.mark.parametrize("processor", ["pgn_mask", "gpgn_mask"])
def test_sparse_loss_equals_the_dense_loss_on_complete_graphs(algorithm, processor):
    # No non-edges: the dense softmaxes run over the sparse candidates, so
    # every term (pointers, masks, scalars, mask_one) and every gradient agree.
    traces = SparseSampler(algorithm, COMPLETE, seed=1).take(3)
    model = model_for(algorithm, processor)
    sparse = sparse_loss(model, collate_sparse(traces))
    assert len(sparse[1]) >= 3
    assert_same_losses(model, sparse, model.loss(dense_batch(traces)), TOL)


def test_training_mode_dropout_and_teacher_forcing_give_the_dense_gradients():
    # One graph: the sparse forward draws the dense forward's random numbers.
    trace = SparseSampler("dijkstra", COMPLETE, seed=3).take(1)
    model = model_for("dijkstra", dropout=0.3, hint_teacher_forcing=0.5)
    torch.manual_seed(7)
    total, _ = sparse_loss(model, collate_sparse(trace))
    torch.manual_seed(7)
    dense_total, _ = model.loss(dense_batch(trace))
    torch.testing.assert_close(total, dense_total, rtol=0, atol=TOL)
    assert_same_grads(model, grads(total, model), grads(dense_total, model), TOL)
    torch.manual_seed(8)  # dropout acts: other draws, another loss
    assert not torch.isclose(sparse_loss(model, collate_sparse(trace))[0], total)


def _out_edge_nll(logits, target, trace):
    """Brute force: -log softmax over node i's out-edges of the dense logits
    (B=1: logits (N, N), target (N,)), per node."""
    rows = []
    for i in range(trace.num_nodes):
        js = torch.as_tensor(trace.receivers[trace.senders == i])
        row = logits[i, js]
        rows.append(torch.logsumexp(row, 0) - logits[i, int(target[i])])
    return torch.stack(rows)


@pytest.mark.parametrize("processor", ["pgn_mask", "gpgn_mask"])
def test_sparse_pointer_loss_is_a_cross_entropy_over_out_edges(processor):
    # On a sparse graph the dense pointer softmax keeps mass on non-edges (the
    # *_mask floor is finite); the sparse loss is SALSA's: over out-edges only.
    # Against a brute force built from the dense logits: values and gradients.
    trace = sample_sparse("bfs", "er_12", num_samples=1, seed=5)[0]
    assert trace.num_edges < trace.num_nodes ** 2
    model = model_for("bfs", processor)
    total, terms = sparse_loss(model, collate_sparse([trace]))
    batch = dense_batch([trace])
    preds = model(batch, repred=False)
    dense_total, dense_terms = model.loss(batch)
    torch.testing.assert_close(terms["reach_h"], dense_terms["reach_h"], rtol=0, atol=TOL)
    assert abs(float((terms["pi"] - dense_terms["pi"]).detach())) > 1e-3  # the non-edges' mass
    pi = _out_edge_nll(preds.outputs["pi"][0], batch.outputs["pi"][0], trace).mean()
    steps = trace.length - 1
    pi_h = torch.stack([_out_edge_nll(preds.hints["pi_h"][t, 0], batch.hints["pi_h"][t + 1, 0],
                                      trace) for t in range(steps)]).mean()
    torch.testing.assert_close(terms["pi"], pi, rtol=0, atol=TOL)
    torch.testing.assert_close(terms["pi_h"], pi_h, rtol=0, atol=TOL)
    brute = pi + pi_h + dense_terms["reach_h"]
    torch.testing.assert_close(total, brute, rtol=0, atol=TOL)
    assert_same_grads(model, grads(total, model), grads(brute, model), TOL)


def test_hints_count_up_to_each_graphs_length():
    # Graphs of different lengths in one batch: each graph's hint loss is its
    # own steps only, so a batch's hint term is the mean over graphs' valid rows.
    traces = sample_sparse("bfs", "train", num_samples=4, seed=11)
    assert len({t.length for t in traces}) > 1
    model = model_for("bfs", hint_mode="decoded_only")
    _, terms = sparse_loss(model, collate_sparse(traces))
    sums, counts = 0.0, 0
    for t in traces:
        _, alone = sparse_loss(model, collate_sparse([t]))
        rows = (t.length - 1) * t.num_nodes
        sums, counts = sums + alone["reach_h"] * rows, counts + rows
    torch.testing.assert_close(terms["reach_h"], sums / counts, rtol=0, atol=TOL)


def test_a_pointer_off_the_edges_is_refused():
    trace = sample_sparse("bfs", "er_12", num_samples=1, seed=5)[0]
    batch = collate_sparse([trace])
    node = int(trace.senders[0])
    far = next(j for j in range(trace.num_nodes)
               if not np.any((trace.senders == node) & (trace.receivers == j)))
    batch.outputs["pi"] = batch.outputs["pi"].copy()
    batch.outputs["pi"][node] = far
    with pytest.raises(ValueError, match="not one of its node's out-edges"):
        sparse_loss(model_for("bfs"), batch)


# ---------------------------------------------------------------- the stream

def config(out, **kw):
    options = dict(algorithms=["bfs"], out_dir=str(out), steps=8, batch_size=4, eval_every=4,
                   test_every=0, log_every=1, seed=3, progress=False, sparse=True,
                   eval_batch_size=16, model=ModelConfig(hidden_size=8, processor="gpgn_mask"))
    options.update(kw)
    return TrainConfig(**options)


def arrays(batch):
    out = {"senders": batch.senders, "receivers": batch.receivers, "lengths": batch.lengths}
    for store in ("inputs", "hints", "outputs"):
        out.update({f"{store}.{k}": v for k, v in getattr(batch, store).items()})
    return out


def test_training_stream_is_seeded_and_salsa_distributed(tmp_path):
    cfg = config(tmp_path).validate()
    a, b = sparse_train.train_batch(cfg, 0, 5), sparse_train.train_batch(cfg, 0, 5)
    assert {k: v.tobytes() for k, v in arrays(a).items()} == {
        k: v.tobytes() for k, v in arrays(b).items()}
    other = sparse_train.train_batch(cfg, 0, 6)
    assert not np.array_equal(other.senders, a.senders) or other.num_nodes != a.num_nodes
    traces = uncollate_sparse(a)
    assert a.num_graphs == 4 and a.hints  # with hints, for the hint losses
    assert list(a.lengths) == sorted(a.lengths, reverse=True)  # longest first
    nodes = [t.num_nodes for step in range(12) for t in
             uncollate_sparse(sparse_train.train_batch(cfg, 0, step))]
    assert set(nodes) <= {4, 7, 11, 13, 16} and len(set(nodes)) >= 3
    pos = traces[0].inputs["pos"]
    assert np.all(np.diff(pos) > 0) and not np.allclose(pos, np.arange(len(pos)) / len(pos))
    # Torchrun shards: test_torchrun_shards_are_slices_of_the_draw_then_sorted.
    # --train-lengths sets the sizes drawn (and validation's, the largest).
    five = config(tmp_path, train_lengths=[5, 6]).validate()
    assert set(np.diff(sparse_train.train_batch(five, 0, 0).node_ptr)) <= {5, 6}
    assert set(np.diff(sparse_train.validation_batches(five, "bfs")[0].node_ptr)) == {6}
    # The validation set: SALSA's n = 16, step-0 hints, fixed.
    val = sparse_train.validation_batches(cfg, "bfs")
    assert sum(v.num_graphs for v in val) == 64 and set(np.diff(val[0].node_ptr)) == {16}
    assert all(h.shape[0] == 1 for h in val[0].hints.values())
    # --val-set canonical: SALSA's 1,000 validation graphs (salsa_parts' val part), pos as stored.
    canonical = sparse_train.validation_batches(config(tmp_path, val_set="canonical",
                                                       eval_batch_size=500).validate(), "bfs")
    assert [v.num_graphs for v in canonical] == [500, 500]
    stored = collate_sparse(sparse_train.longest_first(
        sample_sparse("bfs", "val", num_samples=500, seed=1, hints=False)))
    for key, value in arrays(stored).items():
        assert np.array_equal(value, arrays(canonical[0])[key]), key


def graph_key(trace):
    return (trace.num_nodes, trace.senders.tobytes(), trace.receivers.tobytes(),
            trace.inputs["pos"].tobytes())


def test_torchrun_shards_are_slices_of_the_draw_then_sorted(tmp_path):
    # Rank r of R gets graphs [r*B/R, (r+1)*B/R) of the batch as drawn (seeded
    # by (seed, algorithm, step), pos randomised), each shard sorted longest
    # first on its own: the ranks share the long graphs as the draw does,
    # rather than rank 0 getting all of them (sort-then-slice did that).
    cfg = config(tmp_path, batch_size=8).validate()
    ranks, size = 4, 2
    unbalanced = 0
    for step in range(6):
        draw = SparseSampler("bfs", sparse_train.training_graphs(cfg, "bfs"),
                             seed=derive_seed(cfg.seed, 0, step)).take(8)
        draw = sparse_train._random_pos(draw, np.random.RandomState(
            derive_seed(cfg.seed, 0, step, 1)))
        whole = sparse_train.train_batch(cfg, 0, step)  # one process: the whole batch, sorted
        want = collate_sparse(sparse_train.longest_first(draw))
        assert {k: v.tobytes() for k, v in arrays(whole).items()} == {
            k: v.tobytes() for k, v in arrays(want).items()}
        shards = []
        for rank in range(ranks):
            part = slice(rank * size, (rank + 1) * size)
            shard = sparse_train.train_batch(cfg, 0, step, part)
            want = collate_sparse(sparse_train.longest_first(draw[part]))
            assert {k: v.tobytes() for k, v in arrays(shard).items()} == {
                k: v.tobytes() for k, v in arrays(want).items()}, (step, rank)
            assert list(shard.lengths) == sorted(shard.lengths, reverse=True)
            shards.append(uncollate_sparse(shard))
        # Together the shards are the whole batch, each graph once.
        assert sorted(graph_key(t) for s in shards for t in s) == sorted(
            graph_key(t) for t in uncollate_sparse(whole))
        longest = sparse_train.longest_first(draw)[:size]
        unbalanced += [graph_key(t) for t in shards[0]] != [graph_key(t) for t in longest]
    assert unbalanced  # the draws tested are ones where sort-then-slice differs


# ---------------------------------------------------------------- the trainer

def read_metrics(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_train_sparse_cli_loss_falls_and_evaluates_dense_and_sparse(tmp_path, capfd):
    run, data = tmp_path / "run", tmp_path / "data"
    assert main(["train", "--algorithm", "bfs", "--sparse", "--steps", "40", "--out", str(run),
                 "--batch-size", "8", "--eval-every", "20", "--test-every", "0",
                 "--processor", "gpgn_mask", "--hidden-size", "16", "--lr", "3e-3",
                 "--log-every", "1", "--data-root", str(data), "--quiet"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["sparse"] is True
    records = read_metrics(str(run))
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])
    val = [r for r in records if r["kind"] == "val"][-1]["metrics"]["bfs"]
    assert val["graphs"] == 64 and 0 <= val["graph_accuracy"] <= val["node_accuracy"] <= 1
    assert val["score"] == pytest.approx(val["node_accuracy"])  # one pointer output
    results = json.loads((run / "results.json").read_text())
    assert "node_accuracy" in results["algorithms"]["bfs"]["val_metrics"]
    assert "graph accuracy" in results_table(results)  # the printed table: SALSA's metrics
    capfd.readouterr()
    # An ordinary reasoner run: evaluated dense (the canonical test split) and sparse.
    assert main(["evaluate", "--run", str(run)]) == 0
    assert "bfs" in capfd.readouterr().out
    out = tmp_path / "sparse.json"
    assert main(["evaluate", "--run", str(run), "--graph", "er", "--length", "40",
                 "--num-samples", "2", "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["algorithms"]["bfs"]["graphs"] == 2


class Killed(Exception):
    pass


def test_resume_equals_uninterrupted(tmp_path):
    data = str(tmp_path / "data")
    reference = tmp_path / "ref"
    train(config(reference, data_root=data))

    def kill(step):
        if step == 6:  # the last checkpoint is at step 4
            raise Killed

    resumed = tmp_path / "resumed"
    with pytest.raises(Killed):
        train(config(resumed, data_root=data), hook=kill)
    train(config(resumed, data_root=data))
    assert read_metrics(str(resumed)) == read_metrics(str(reference))
    # and the run refuses to continue as a dense one
    with pytest.raises(ValueError, match="sparse"):
        train(config(resumed, data_root=data, sparse=False, steps=10))


def test_multitask_sparse_run(tmp_path):
    results = train(config(tmp_path / "run", algorithms=["bfs", "dijkstra"], steps=2,
                           eval_every=2, data_root=str(tmp_path / "data")))
    assert set(results["algorithms"]) == {"bfs", "dijkstra"}
    for metrics in results["algorithms"].values():
        assert "graph_accuracy" in metrics["val_metrics"]


@pytest.mark.parametrize("change, message", [
    ({"model": ModelConfig(hidden_size=8, processor="gat")}, "--processor gat"),
    ({"model": ModelConfig(hidden_size=8, processor="memnet_masked")}, "--processor"),
    ({"algorithms": ["topological_sort"]}, "topo"),
    ({"algorithms": ["strongly_connected_components"]}, "scc_id"),
    ({"algorithms": ["insertion_sort"]}, "no sparse trace"),
    ({"algorithms": ["fast_mis"], "sparse": False}, "--sparse. is needed to train fast_mis"),
    ({"algorithms": ["bfss"]}, "unknown algorithm 'bfss'; did you mean 'bfs'"),
])
def test_what_cannot_train_sparse_is_refused(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        train(config(tmp_path / "run", **change))
    assert not os.path.exists(tmp_path / "run")


def test_the_refusal_lists_exactly_the_algorithms_that_train_sparse():
    # The list printed is computed from the checks, so each algorithm in it
    # passes them and each other one with a sparse trace is refused.
    from openclrs.algorithms.sparse_registry import SPARSE_ALGORITHMS

    with pytest.raises(ValueError, match="no sparse trace") as refusal:
        sparse_train.check_algorithms(["insertion_sort"])
    listed = str(refusal.value).split("the algorithms that train sparse: ")[1].rstrip(")")
    listed = listed.split(", ")
    assert listed == sorted(listed) and {"bfs", "dfs", "dijkstra", "mst_prim"} <= set(listed)
    for algorithm in SPARSE_ALGORITHMS:
        if algorithm in listed:
            sparse_train.check_algorithms([algorithm])
        else:
            with pytest.raises(ValueError):
                sparse_train.check_algorithms([algorithm])
    assert not {"dag_shortest_paths", "strongly_connected_components",
                "topological_sort"} & set(listed)
    assert {"fast_mis", "eccentricity"} <= set(listed)  # SALSA-CLRS's own train too


def test_a_capability_model_without_a_sparse_loss_is_refused(tmp_path):
    # (a halting reasoner has one: tests/test_halting_sparse.py trains it sparse)
    from openclrs.training.loop import ModelFactory, build_model

    factory = ModelFactory(name="plain_kind", settings={}, build=build_model)
    with pytest.raises(ValueError, match="--sparse trains a plain reasoner"):
        train(config(tmp_path / "run"), factory=factory)
    assert not os.path.exists(tmp_path / "run")


# ------------------------------------------------- graphs longest first: prefix steps

def test_longest_first_batches_run_each_step_on_the_running_graphs_alone():
    # Sorted longest first, the running graphs are a prefix and each step runs
    # on it alone; the logits are those of each graph run by itself, and the
    # loss and gradients those of the same graphs in any order.
    from openclrs.models.sparse import _running_prefix, sparse_forward

    traces = sample_sparse("dijkstra", "train", num_samples=5, seed=12)
    ordered = sparse_train.longest_first(traces)
    batch = collate_sparse(ordered).to_torch(float_dtype=torch.float64)
    lengths = batch.lengths
    running = _running_prefix(lengths, (lengths - 2).clamp(min=0), int(lengths.max()) - 1)
    assert running[0] == 5 and running[-1] < 5  # the short graphs leave early
    model = model_for("dijkstra")
    together = sparse_forward(model, batch, repred=True, hints=True)
    edge_ptr, node_ptr = batch.edge_ptr.tolist(), batch.node_ptr.tolist()
    for g, trace in enumerate(ordered):
        alone = sparse_forward(model, collate_sparse([trace]), repred=True, hints=True)
        torch.testing.assert_close(together.outputs["pi"][edge_ptr[g]:edge_ptr[g + 1]],
                                   alone.outputs["pi"], rtol=0, atol=TOL)
        steps = alone.hints["d"].shape[0]
        torch.testing.assert_close(together.hints["d"][:steps, node_ptr[g]:node_ptr[g + 1]],
                                   alone.hints["d"], rtol=0, atol=TOL)
        assert not together.hints["d"][steps:, node_ptr[g]:node_ptr[g + 1]].any()
    sorted_loss, _ = sparse_loss(model, batch)
    mixed_loss, _ = sparse_loss(model, collate_sparse(traces))
    torch.testing.assert_close(sorted_loss, mixed_loss, rtol=0, atol=TOL)
    assert_same_grads(model, grads(sorted_loss, model), grads(mixed_loss, model), TOL)
