"""TransNAR: paired data, the NAR's embeddings, gated cross-attention,
decoding and training (tiny models, CPU, seconds)."""

import json

import numpy as np
import pytest
import torch

from openclrs import sample
from openclrs.lm.config import LMConfig, TrainConfig as LMTrainConfig
from openclrs.lm.decode import greedy_decode as lm_greedy_decode
from openclrs.lm.model import GPT
from openclrs.lm.tokenizer import CharTokenizer
from openclrs.lm.train import GeneratedExamples
from openclrs.models.config import ModelConfig
from openclrs.text.format import generate_examples
from openclrs.training import runs
from openclrs.training.config import TrainConfig
from openclrs.training.loop import build_model, save_checkpoint, RunState, make_optimizer
from openclrs.transnar.data import PairedExamples, paired_examples
from openclrs.transnar.decode import greedy_decode
from openclrs.transnar.model import TransNAR, TransNARConfig
from openclrs.transnar.nar import NAR
from openclrs.transnar.train import load_transnar, train, transnar_loss

ALGORITHMS = ["bfs", "insertion_sort"]


def assert_traces_equal(a, b):
    for part in ("inputs", "hints", "outputs"):
        x, y = getattr(a, part), getattr(b, part)
        assert list(x) == list(y)
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


# ---------------------------------------------------------------- paired data

def test_generate_examples_keeps_traces_without_changing_the_text():
    plain = generate_examples("bfs", 5, seed=3, num_samples=3)
    paired = generate_examples("bfs", 5, seed=3, num_samples=3, with_traces=True)
    assert "trace" not in plain[0]
    assert [{k: v for k, v in e.items() if k != "trace"} for e in paired] == plain
    for e, t in zip(paired, sample("bfs", 5, seed=3, num_samples=3, truncate_decimals=3)):
        assert_traces_equal(e["trace"], t)


def test_paired_examples_agree_with_sample_and_generate_examples():
    examples = paired_examples("insertion_sort", 6, seed=11, num_samples=4)
    texts = generate_examples("insertion_sort", 6, seed=11, num_samples=4)
    traces = sample("insertion_sort", 6, seed=11, num_samples=4, truncate_decimals=3)
    for e, text, trace in zip(examples, texts, traces):
        assert (e.question, e.answer) == (text["question"], text["answer"])
        assert (e.algorithm, e.length) == ("insertion_sort", 6)
        assert_traces_equal(e.trace, trace)
    # the graph inputs are those the question states
    key = " ".join(repr(float(v)) for v in examples[0].trace.inputs["key"])
    assert f"key: [{key}]" in examples[0].question


def test_training_stream_is_the_text_harness_stream():
    paired = PairedExamples(ALGORITHMS, [4, 5], seed=7)
    text = GeneratedExamples(ALGORITHMS, [4, 5], seed=7)
    for step in (1, 2):
        assert [e[:2] for e in paired(step, 6)] == text(step, 6)
    for a, b in zip(paired(3, 5), paired(3, 5)):  # a function of (seed, step)
        assert a[:4] == b[:4]
        assert_traces_equal(a.trace, b.trace)


def test_stored_records_are_paired_with_their_traces(tmp_path):
    from openclrs.cli import main
    from openclrs.text import data_files, read_jsonl
    from openclrs.transnar.data import pair_records

    out = str(tmp_path / "text")
    assert main(["text", "generate", "--algorithms", "bfs", "insertion_sort", "--lengths", "4",
                 "5", "--num-samples", "3", "--seed", "7", "--name", "mine", "--workers", "1",
                 "--quiet", "--out", out]) == 0
    records = [r for f in data_files(out, "mine") for r in read_jsonl(f)]
    assert len(records) == 12
    paired = pair_records(records)
    for r, e in zip(records, paired):
        assert (e.question, e.answer, e.algorithm, e.length) == \
            (r["question"], r["answer"], r["algo_name"], r["length"])
        truth = sample(r["algo_name"], r["length"], seed=r["seed"], num_samples=r["index"] + 1,
                       truncate_decimals=3)[-1]
        assert_traces_equal(e.trace, truth)
    bad = dict(records[0], answer="[0 0 0 0]\n\n")
    with pytest.raises(ValueError, match="record 1 .*cannot be paired"):
        pair_records([records[1], bad])
    with pytest.raises(ValueError, match="no seed"):
        pair_records([{k: v for k, v in records[0].items() if k != "seed"}])


def test_stored_files_train_a_transnar_on_the_text_harness_draws(nar_run, tmp_path):
    from openclrs.cli import main
    from openclrs.lm.train import FileExamples
    from openclrs.transnar.data import FilePairedExamples

    out = str(tmp_path / "text")
    assert main(["text", "generate", "--algorithms", "bfs", "--lengths", "4", "5",
                 "--num-samples", "4", "--seed", "3", "--name", "mine", "--workers", "1",
                 "--quiet", "--out", out]) == 0
    from openclrs.text import data_files

    shards = tuple(data_files(out, "mine"))
    paired, text = FilePairedExamples(shards, ["bfs"], seed=2), FileExamples(shards, ["bfs"], 2)
    assert paired.lengths == {4, 5}
    for step in (1, 2):
        assert [e[:2] for e in paired(step, 5)] == text(step, 5)
    cfg = LMTrainConfig(out_dir=str(tmp_path / "tn"), algorithms=("bfs",), data_files=shards,
                        steps=2, batch_size=4, progress=False)
    train(LMConfig(n_layer=1, n_head=2, n_embd=16, block_size=128), cfg, TransNARConfig(),
          nar_run)
    assert json.loads((tmp_path / "tn" / "config.json").read_text())["train"]["lengths"] == [4, 5]
    with pytest.raises(ValueError, match="not both"):
        train(LMConfig(n_layer=1, n_head=2, n_embd=16), LMTrainConfig(
            **{**cfg.__dict__, "lengths": (4,), "out_dir": str(tmp_path / "x")}),
            TransNARConfig(), nar_run)
    # files written with hints (the trace format) are refused: TransNAR is no-trace
    hinted = str(tmp_path / "hinted")
    assert main(["text", "generate", "--algorithms", "bfs", "--lengths", "4", "--num-samples",
                 "2", "--seed", "3", "--name", "mine", "--hints", "--workers", "1", "--quiet",
                 "--out", hinted]) == 0
    with pytest.raises(ValueError, match="written with hints"):
        FilePairedExamples(tuple(data_files(hinted, "mine")), ["bfs"])


# ------------------------------------------------------------- the reasoner

def tiny_reasoner_run(folder, processor="triplet_gmpnn"):
    """A reasoner run folder with one checkpoint (2 Adam steps on random
    data), as ``openclrs train`` writes it."""
    config = TrainConfig(algorithms=ALGORITHMS, out_dir=str(folder), steps=2, progress=False,
                         model=ModelConfig(hidden_size=8, processor=processor,
                                           nb_triplet_fts=4)).validate()
    torch.manual_seed(0)
    model = build_model(config)
    optimizer = make_optimizer(model, config)
    run = runs.Run(str(folder), {"train": config.to_dict()})
    with run.session():
        from openclrs.transnar.data import reasoner_batches
        for step in (1, 2):
            traces = [e.trace for e in paired_examples("bfs", 4, seed=step, num_samples=4)]
            (_, batch), = reasoner_batches(traces, pred_as_input=True, enforce_permutations=True)
            optimizer.zero_grad()
            model.loss(batch)[0].backward()
            optimizer.step()
        save_checkpoint(run, model, optimizer, config, RunState(step=2),
                        pointers=("last", "best"))
    return str(folder)


@pytest.fixture(scope="module")
def nar_run(tmp_path_factory):
    return tiny_reasoner_run(tmp_path_factory.mktemp("nar"))


@pytest.fixture(scope="module")
def nar(nar_run):
    return NAR.from_run(nar_run)


def mixed_examples():
    return (paired_examples("bfs", 4, seed=1, num_samples=2)
            + paired_examples("insertion_sort", 6, seed=2, num_samples=2)
            + paired_examples("bfs", 5, seed=3, num_samples=1))


def test_nar_embeddings_padded_and_equal_to_each_example_alone(nar):
    examples = mixed_examples()
    together = nar([e.trace for e in examples], "per-layer")
    B, S, N, H = together.nodes.shape
    assert (B, N, H) == (5, 6, 8) and together.edges.shape[-1] == nar.edge_size
    assert together.mask.sum(1).tolist() == [4, 4, 6, 6, 5]
    for i, e in enumerate(examples):
        alone = nar([e.trace], "per-layer")
        n, s = e.trace.num_nodes, alone.nodes.shape[1]
        assert together.steps[i] == alone.steps[0] == s
        torch.testing.assert_close(together.nodes[i, :s, :n], alone.nodes[0, :, :n])
        torch.testing.assert_close(together.edges[i, :s, :n, :n], alone.edges[0, :, :n, :n])
        assert not together.nodes[i, :, n:].any() and not together.edges[i, :, n:].any()
        # past its last step a sample keeps its last state; final = last step
        torch.testing.assert_close(together.nodes[i, s - 1:], together.nodes[i, s - 1:s]
                                   .expand(S - s + 1, -1, -1))
        final = nar([e.trace], "final")
        torch.testing.assert_close(final.nodes[0, 0, :n], alone.nodes[0, -1, :n])


def test_nar_final_state_is_what_the_reasoner_decodes_its_outputs_from(nar):
    """Each sample's final node and edge embeddings are the state from
    which ``Reasoner.forward`` decodes that sample's outputs (samples of
    different trace lengths in one batch)."""
    from openclrs.models.model import processor_steps
    from openclrs.specs import Stage
    from openclrs.transnar.data import reasoner_batches

    examples = paired_examples("bfs", 5, seed=4, num_samples=4)
    traces = [e.trace for e in examples]
    assert len({t.length for t in traces}) > 1
    emb = nar(traces)
    (_, batch), = reasoner_batches(traces, pred_as_input=True, enforce_permutations=True)
    reasoner = nar.reasoner
    seen = []
    decode = reasoner._decode

    def spy(algorithm, spec, stage, state, repred):
        if stage == Stage.OUTPUT:
            seen.append(state)
        return decode(algorithm, spec, stage, state, repred)

    reasoner._decode = spy
    try:
        with torch.no_grad():
            reasoner(batch, repred=True, hints=False)
    finally:
        del reasoner._decode
    state, = seen
    # forward decodes the samples sorted by last step, longest first
    last = processor_steps(torch.as_tensor(batch.lengths)) - 1
    order = torch.argsort(last, descending=True, stable=True)
    H = nar.node_size
    torch.testing.assert_close(emb.nodes[order, 0], state.node[..., -H:])
    edges = torch.cat([state.edge.dense(), state.edge_msgs], dim=-1)
    torch.testing.assert_close(emb.edges[order, 0], edges)


# ------------------------------------------------------------------ the model

def tiny_lm(seed=0, **kw):
    torch.manual_seed(seed)
    options = dict(n_layer=2, n_head=2, n_embd=32, block_size=256, vocab_size=CharTokenizer()
                   .vocab_size)
    options.update(kw)
    return GPT(LMConfig(**options)).eval()


def tokens(examples, tok=CharTokenizer()):
    rows = [tok.encode(e.question + e.answer, bos=True) for e in examples]
    T = max(map(len, rows))
    return torch.tensor([r + [tok.pad_id] * (T - len(r)) for r in rows])


@pytest.mark.parametrize("keys", ["node", "edge", "both"])
@pytest.mark.parametrize("states", ["final", "per-layer"])
def test_closed_gate_gives_the_plain_lms_logits_bit_for_bit(nar, keys, states):
    lm = tiny_lm()
    model = TransNAR(lm, nar, TransNARConfig(keys=keys, nar_states=states)).eval()
    examples = mixed_examples()
    idx = tokens(examples)
    memory = model.memory(model.embed([e.trace for e in examples]))
    positions = lm.default_positions(*idx.shape)
    with torch.no_grad():
        assert torch.equal(model(idx, memory, positions), lm(idx, positions))


def test_gradients_with_the_gate_closed_and_the_nar_frozen(nar):
    model = TransNAR(tiny_lm(), nar, TransNARConfig(layers=(1,)))
    model.train()
    assert not nar.reasoner.training  # frozen: evaluation mode whatever train() says
    examples = mixed_examples()
    loss = transnar_loss(model, examples, CharTokenizer())
    loss.backward()
    layer = model.xattn["1"]
    assert layer.gate.grad is not None and layer.gate.grad.abs() > 0
    # tanh'(0) = 1 but the gate multiplies them by tanh(0) = 0: no gradient
    assert not layer.key_value["node"].weight.grad.any()
    assert not layer.mix.weight.grad.any()
    assert all(p.grad is None and not p.requires_grad for p in nar.parameters())


def test_open_gate_reads_the_graph_and_only_its_real_nodes(nar):
    lm = tiny_lm()
    torch.manual_seed(1)
    model = TransNAR(lm, nar, TransNARConfig(gate_init=0.5)).eval()
    examples = mixed_examples()
    idx = tokens(examples)
    positions = lm.default_positions(*idx.shape)
    emb = model.embed([e.trace for e in examples])
    with torch.no_grad():
        base = model(idx, model.memory(emb), positions)
        assert not torch.equal(base, lm(idx, positions))
        # garbage in the padded nodes and edges changes nothing
        padded = ~emb.mask
        noisy = type(emb)(emb.nodes.clone(), emb.edges.clone(), emb.mask, emb.steps)
        noisy.nodes[padded[:, None].expand(-1, noisy.nodes.shape[1], -1)] = 1e3
        edge_pad = ~emb.edge_mask
        noisy.edges[edge_pad[:, None].expand(-1, noisy.edges.shape[1], -1, -1)] = -1e3
        torch.testing.assert_close(model(idx, model.memory(noisy), positions), base)
        # changing a real node's embedding changes the logits of that example only
        noisy.nodes[0, :, 0] += 1.0
        changed = model(idx, model.memory(noisy), positions)
        assert not torch.allclose(changed[0], base[0])
        torch.testing.assert_close(changed[1:], base[1:])


def test_node_and_edge_reads_are_concatenated_then_mixed(nar):
    """With the edge values zeroed, a node+edge layer is the node-only layer
    whose mixing matrix is the node half of its own."""
    lm = tiny_lm()
    torch.manual_seed(4)
    both = TransNAR(lm, nar, TransNARConfig(keys="both", gate_init=0.8)).eval()
    node = TransNAR(lm, nar, TransNARConfig(keys="node", gate_init=0.8)).eval()
    edge = TransNAR(lm, nar, TransNARConfig(keys="edge", gate_init=0.8)).eval()
    C = lm.config.n_embd
    with torch.no_grad():
        for name, layer in both.xattn.items():
            for other, read, half in ((node.xattn[name], "node", slice(0, C)),
                                      (edge.xattn[name], "edge", slice(C, 2 * C))):
                other.load_state_dict({k: v for k, v in layer.state_dict().items()
                                       if k.startswith(("ln", "gate", "mlp"))}, strict=False)
                other.query[read].load_state_dict(layer.query[read].state_dict())
                other.key_value[read].load_state_dict(layer.key_value[read].state_dict())
                other.mix.weight.copy_(layer.mix.weight[:, half])
    examples = mixed_examples()
    idx = tokens(examples)
    positions = lm.default_positions(*idx.shape)
    emb = both.embed([e.trace for e in examples])
    with torch.no_grad():
        for zeroed, alone in (("edge", node), ("node", edge)):
            for layer in both.xattn.values():  # values of the other read -> 0
                layer.key_value[zeroed].weight[C:] = 0
            torch.testing.assert_close(both(idx, both.memory(emb), positions),
                                       alone(idx, alone.memory(emb), positions))
            torch.manual_seed(4)
            fresh = TransNAR(lm, nar, TransNARConfig(keys="both", gate_init=0.8))
            both.load_state_dict(fresh.state_dict())


def test_a_fine_tuned_nar_gets_gradients(nar_run):
    nar = NAR.from_run(nar_run, frozen=False)
    model = TransNAR(tiny_lm(), nar, TransNARConfig(gate_init=0.5, freeze_nar=False))
    model.train()
    transnar_loss(model, mixed_examples(), CharTokenizer()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in nar.reasoner.processor.parameters())
    with pytest.raises(ValueError, match="trainable but freeze_nar=True"):
        TransNAR(tiny_lm(), nar, TransNARConfig())


def test_a_processor_without_edge_messages_gives_its_edge_features():
    from openclrs.models.model import Reasoner

    torch.manual_seed(0)
    reasoner = Reasoner.from_algorithms(["bfs"], ModelConfig(hidden_size=8, processor="mpnn"))
    nar = NAR(reasoner)
    assert nar.edge_size == 8
    emb = nar([e.trace for e in paired_examples("bfs", 4, seed=0, num_samples=2)])
    assert emb.edges.shape == (2, 1, 4, 4, 8) and emb.edges.abs().sum() > 0


def test_one_way_flow_tokens_do_not_change_the_nar(nar):
    model = TransNAR(tiny_lm(), nar, TransNARConfig(gate_init=1.0))
    examples = mixed_examples()
    a = model.embed([e.trace for e in examples])
    b = model.embed([e.trace for e in examples])
    assert torch.equal(a.nodes, b.nodes) and torch.equal(a.edges, b.edges)


def test_node_relabelling_leaves_logits_unchanged(nar):
    """Permuting the nodes of the graph (features consistently) and the
    order of the keys: attention over a set, same logits."""
    lm = tiny_lm()
    torch.manual_seed(2)
    model = TransNAR(lm, nar, TransNARConfig(gate_init=0.7)).eval()
    examples = paired_examples("bfs", 5, seed=9, num_samples=1)
    idx = tokens(examples)
    emb = model.embed([e.trace for e in examples])
    perm = torch.tensor([3, 0, 4, 1, 2])
    permuted = type(emb)(emb.nodes[:, :, perm], emb.edges[:, :, perm][:, :, :, perm],
                         emb.mask[:, perm], emb.steps)
    positions = lm.default_positions(*idx.shape)
    with torch.no_grad():
        torch.testing.assert_close(model(idx, model.memory(permuted), positions),
                                   model(idx, model.memory(emb), positions))


def test_per_layer_reads_step_t(nar):
    lm = tiny_lm(n_layer=3)
    model = TransNAR(lm, nar, TransNARConfig(nar_states="per-layer"))
    emb = model.embed([e.trace for e in paired_examples("insertion_sort", 5, 0, 1)])
    memory = model.memory(emb)
    for t in range(3):
        layer = model.xattn[str(t)]
        k, _, _ = layer.memory(emb.nodes[:, t], emb.edges[:, t], emb.mask)["node"]
        assert torch.equal(memory[str(t)]["node"][0], k)


def test_bad_options_are_refused(nar):
    with pytest.raises(ValueError, match="keys"):
        TransNARConfig(keys="graph")
    with pytest.raises(ValueError, match="nar_states"):
        TransNARConfig(nar_states="middle")
    with pytest.raises(ValueError, match="block 5"):
        TransNAR(tiny_lm(), nar, TransNARConfig(layers=(5,)))


# ----------------------------------------------------------------- decoding

def test_greedy_decoding_with_cache_matches_full_recompute(nar):
    lm = tiny_lm(pos_encoding="rope")
    torch.manual_seed(3)
    model = TransNAR(lm, nar, TransNARConfig(gate_init=0.9)).eval()
    tok = CharTokenizer()
    examples = mixed_examples()
    answers = greedy_decode(model, tok, examples, max_new_tokens=12, batch_size=2)
    # no cache, one example at a time, by hand
    for e, answer in zip(examples, answers):
        ids = tok.encode(e.question, bos=True)
        memory = model.memory(model.embed([e.trace]))
        out = []
        with torch.no_grad():
            for _ in range(12):
                scores = model(torch.tensor([ids + out]), memory)[0, -1]
                scores[[tok.pad_id, tok.bos_id]] = float("-inf")
                out.append(int(scores.argmax()))
                if out[-1] == tok.eos_id or tok.decode(out).endswith("\n\n"):
                    break
        text = tok.decode([t for t in out if t != tok.eos_id])
        assert answer == text[:text.find("\n\n") + 2] if "\n\n" in text else answer == text
    # the closed gate decodes as the plain LM
    closed = TransNAR(lm, nar, TransNARConfig()).eval()
    assert greedy_decode(closed, tok, examples, 12) == lm_greedy_decode(
        lm, tok, [e.question for e in examples], 12)


# ----------------------------------------------------------------- training

def test_tiny_transnar_trains_and_resumes(nar_run, tmp_path):
    lm_cfg = LMConfig(n_layer=2, n_head=2, n_embd=32, block_size=256)
    cfg = LMTrainConfig(out_dir=str(tmp_path / "tn"), algorithms=("bfs",), lengths=(4,),
                        steps=12, batch_size=8, learning_rate=1e-2, min_lr=1e-2, warmup_steps=0,
                        checkpoint_every=6, log_every=1, progress=False)
    xcfg = TransNARConfig(gate_init=0.1)
    model, tok = train(lm_cfg, cfg, xcfg, nar_run)
    losses = [v for _, v in model.history]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    # the frozen NAR's weights are exactly the run's
    reference = NAR.from_run(nar_run)
    for (name, p), q in zip(model.nar.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(p, q), name
    # a resumed run takes exactly the uninterrupted run's steps (a constant
    # learning rate: the schedule's length is the run's, not the session's)
    half = LMTrainConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "half"), "steps": 6})
    train(lm_cfg, half, xcfg, nar_run)
    resumed, _ = train(lm_cfg, LMTrainConfig(**{**half.__dict__, "steps": 12}), xcfg, nar_run)
    for a, b in zip(resumed.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    loaded, _, info = load_transnar(cfg.out_dir)
    assert info["step"] == 12 and info["train"]["algorithms"] == ["bfs"]
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    config = json.loads((tmp_path / "tn" / "config.json").read_text())
    assert config["transnar"]["gate_init"] == 0.1 and config["nar"]["train"]["algorithms"]
    with pytest.raises(ValueError, match="differ|changed|other"):
        train(lm_cfg, cfg, TransNARConfig(gate_init=0.2), nar_run)


# ---------------------------------------------------------------- evaluation

def test_evaluate_writes_scores_resumes_and_sets_the_baseline_beside(nar_run, tmp_path):
    from openclrs.lm.model import save_model
    from openclrs.transnar import evaluate as ev

    lm_cfg = LMConfig(n_layer=2, n_head=2, n_embd=32, block_size=256)
    cfg = LMTrainConfig(out_dir=str(tmp_path / "tn"), algorithms=("bfs",), lengths=(4,),
                        steps=2, batch_size=4, progress=False)
    train(lm_cfg, cfg, TransNARConfig(), nar_run)
    baseline = str(tmp_path / "lm")
    save_model(baseline, tiny_lm(), CharTokenizer())
    results = ev.evaluate_checkpoint(cfg.out_dir, [4, 5], baseline=baseline, num_samples=3,
                                     max_new_tokens=8)
    saved = json.loads((tmp_path / "tn" / "eval.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert [(r["algorithm"], r["length"], r["count"]) for r in saved["rows"]] == \
        [("bfs", 4, 3), ("bfs", 5, 3)]
    assert len(saved["baseline_rows"]) == 2 and saved["train_lengths"] == [4]
    for r in saved["rows"] + saved["baseline_rows"]:
        assert all(0.0 <= r[k] <= 1.0 for k in ev.SCORES)
    # a rerun with the same settings scores nothing again
    def never(*_):
        raise AssertionError("recomputed a finished group")
    assert ev.evaluate(never, ["bfs"], [4, 5], done=saved["rows"]) == saved["rows"]
    table = ev.format_table(saved["rows"], saved["baseline_rows"], [4])
    assert "base clrs" in table and "(* train length)" in table
    assert ev.plot_scores(saved["rows"], str(tmp_path / "eval.png"), saved["baseline_rows"], [4])
    assert (tmp_path / "eval.png").stat().st_size > 0


def test_score_group_by_hand():
    from openclrs.transnar.evaluate import score_group

    examples = paired_examples("bfs", 4, seed=5, num_samples=2)
    truth = examples[0].answer
    wrong = truth.replace("[", "[x ", 1)  # one element too many, and a letter
    row = score_group(examples, [truth, wrong])
    assert row == {"count": 2, "clrs_score": 0.5, "shape_score": 0.5, "parse_score": 0.5,
                   "exact_match": 0.5}


# ------------------------------------------------------------- command line

def test_cli_train_then_evaluate_beside_a_baseline(nar_run, tmp_path, capsys):
    from openclrs.cli import main
    from openclrs.lm.model import save_model

    out = str(tmp_path / "tn")
    args = ["transnar", "train", "--nar", nar_run, "--algorithms", "bfs", "--lengths", "4",
            "--steps", "2", "--batch-size", "4", "--n-layer", "1", "--n-head", "2",
            "--n-embd", "16", "--block-size", "128", "--xattn-keys", "node", "--nar-states",
            "per-layer", "--gate-init", "0.1", "--eval-lengths", "4", "--eval-samples", "2",
            "--quiet", "--out", out]
    assert main(args) == 0
    config = json.loads((tmp_path / "tn" / "config.json").read_text())
    assert config["transnar"] == {"layers": None, "keys": "node", "nar_states": "per-layer",
                                  "gate_init": 0.1, "heads": None, "ffn": True,
                                  "freeze_nar": True}
    assert json.loads((tmp_path / "tn" / "eval.json").read_text())["rows"][0]["count"] == 2
    baseline = str(tmp_path / "lm")
    save_model(baseline, tiny_lm(n_layer=1, n_embd=16), CharTokenizer())
    capsys.readouterr()
    assert main(["transnar", "evaluate", "--checkpoint", out, "--lengths", "4", "5",
                 "--baseline", baseline, "--num-samples", "2", "--max-new-tokens", "6",
                 "--quiet", "--out", str(tmp_path / "scores.json")]) == 0
    table = capsys.readouterr().out
    assert "base clrs" in table and table.count("bfs") == 2
    assert (tmp_path / "scores.png").exists()


def test_cli_refuses_a_missing_reasoner_clearly(tmp_path, capsys):
    from openclrs.cli import main

    status = main(["transnar", "train", "--nar", str(tmp_path / "none"), "--algorithms", "bfs",
                   "--lengths", "4", "--out", str(tmp_path / "tn"), "--quiet"])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err and "none" in err
    assert not (tmp_path / "tn").exists()


def test_help_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys\nfrom openclrs.cli import main\n"
            "for page in (['transnar', '--help'], ['transnar', 'train', '--help'],"
            " ['transnar', 'evaluate', '--help']):\n"
            "    try:\n        main(page)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "[]"


# ------------------------------------------------- Hugging Face causal LMs

@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_hf_closed_gate_is_the_original_model_and_decodes_with_memory(nar, tmp_path, family):
    pytest.importorskip("transformers")
    import transformers

    from openclrs.transnar.huggingface import HFTransNAR, hf_greedy_decode
    from tests.tiny_hf import save_tiny_model

    folder = save_tiny_model(family, str(tmp_path / family))
    lm = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    examples = mixed_examples()
    batch = tokenizer([e.question for e in examples], return_tensors="pt", padding=True)
    with torch.no_grad():
        original = lm(**batch).logits
    closed = HFTransNAR(lm, nar, TransNARConfig())
    memory = closed.memory(closed.embed([e.trace for e in examples]))
    with torch.no_grad():
        assert torch.equal(closed(batch["input_ids"], memory,
                                  attention_mask=batch["attention_mask"]).logits, original)
    # open gates change the logits, and decoding reads each example's graph
    lm2 = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    torch.manual_seed(5)
    opened = HFTransNAR(lm2, nar, TransNARConfig(gate_init=1.0, layers=(1,)))
    memory = opened.memory(opened.embed([e.trace for e in examples]))
    with torch.no_grad():
        changed = opened(batch["input_ids"], memory, attention_mask=batch["attention_mask"])
    assert not torch.allclose(changed.logits, original)
    answers = hf_greedy_decode(opened, tokenizer, examples[:2], max_new_tokens=6)
    # the first decoded token is the argmax of the full forward pass
    one = tokenizer([examples[0].question], return_tensors="pt")
    with torch.no_grad():
        first = opened(one["input_ids"], opened.memory(opened.embed([examples[0].trace])))
    token = int(first.logits[0, -1].argmax())
    assert answers[0].startswith(tokenizer.decode([token]))
    with pytest.raises(RuntimeError, match="without memory"):
        lm2(**batch)
    with torch.no_grad():
        assert torch.equal(opened.remove_hooks()(**batch).logits, original)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_hf_transnar_trains_resumes_and_reloads(nar_run, tmp_path, family):
    pytest.importorskip("transformers")
    from openclrs.transnar.huggingface import hf_batch, load_hf_transnar, train_hf
    from tests.tiny_hf import save_tiny_model

    folder = save_tiny_model(family, str(tmp_path / family))
    cfg = LMTrainConfig(out_dir=str(tmp_path / "run"), algorithms=("bfs",), lengths=(4,),
                        steps=8, batch_size=4, learning_rate=3e-3, min_lr=3e-3,
                        warmup_steps=0, checkpoint_every=4, log_every=1, progress=False)
    xcfg = TransNARConfig(gate_init=0.1, layers=(1,))
    model, tokenizer = train_hf(folder, cfg, xcfg, nar_run)
    losses = [v for _, v in model.history]
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    # the loss is on the answer and <eos> only
    examples = paired_examples("bfs", 4, seed=0, num_samples=2)
    ids, mask, targets = hf_batch(examples, tokenizer)
    answer = tokenizer(examples[0].answer, add_special_tokens=False)["input_ids"]
    assert targets[0][targets[0] != -100].tolist() == answer + [tokenizer.eos_token_id]
    # resume = uninterrupted; the checkpoint reloads every weight
    half = LMTrainConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "half"), "steps": 4})
    train_hf(folder, half, xcfg, nar_run)
    resumed, _ = train_hf(folder, LMTrainConfig(**{**half.__dict__, "steps": 8}), xcfg, nar_run)
    loaded, _, info = load_hf_transnar(cfg.out_dir)
    assert info["step"] == 8
    for (name, a), b, c in zip(model.state_dict().items(), resumed.state_dict().values(),
                               loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
        assert torch.equal(a, c), name


def test_hf_transnar_trains_in_float32_and_refuses_what_does_not_fit(nar_run, tmp_path):
    """A float16 model folder trains in float32 (AdamW on float16 weights
    diverged); examples beyond the model's positions are refused in training
    and get "" in decoding; a generate call with more rows than graphs is
    refused (each row reads its own graph)."""
    transformers = pytest.importorskip("transformers")
    from openclrs.transnar.huggingface import hf_batch, hf_greedy_decode, train_hf
    from tests.tiny_hf import save_tiny_model

    folder = save_tiny_model("gpt2", str(tmp_path / "gpt2"))
    transformers.AutoModelForCausalLM.from_pretrained(folder).half().save_pretrained(folder)
    cfg = LMTrainConfig(out_dir=str(tmp_path / "run"), algorithms=("bfs",), lengths=(4,),
                        steps=3, batch_size=2, learning_rate=1e-3, warmup_steps=0,
                        checkpoint_every=3, log_every=1, progress=False)
    model, tokenizer = train_hf(folder, cfg, TransNARConfig(layers=(1,), gate_init=0.1), nar_run)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert all(np.isfinite(loss) for _, loss in model.history)
    short, long = (paired_examples("bfs", n, seed=0, num_samples=1)[0] for n in (4, 7))
    with pytest.raises(ValueError, match="beyond the model's 20 positions"):
        hf_batch([short], tokenizer, limit=20)
    model.lm.config.n_positions = len(tokenizer(long.question)["input_ids"])   # long won't fit
    answers = hf_greedy_decode(model, tokenizer, [long, short, long], max_new_tokens=4)
    assert answers[0] == answers[2] == "" and answers[1] == hf_greedy_decode(
        model, tokenizer, [short], max_new_tokens=4)[0]
    memory = model.memory(model.embed([short.trace]))
    ids = tokenizer([short.question] * 2, return_tensors="pt")["input_ids"]
    with pytest.raises(ValueError, match="2 rows but the memory holds 1"):
        model(ids, memory)


def test_cli_trains_and_evaluates_a_hugging_face_transnar(nar_run, tmp_path, capsys):
    pytest.importorskip("transformers")
    from openclrs.cli import main
    from tests.tiny_hf import save_tiny_model

    folder = save_tiny_model("gpt2", str(tmp_path / "gpt2"))
    out = str(tmp_path / "tn")
    assert main(["transnar", "train", "--nar", nar_run, "--hf-model", folder, "--algorithms",
                 "bfs", "--lengths", "4", "--steps", "2", "--batch-size", "2", "--quiet",
                 "--out", out]) == 0
    assert json.loads((tmp_path / "tn" / "config.json").read_text())["hf_model"] == folder
    capsys.readouterr()
    assert main(["transnar", "evaluate", "--checkpoint", out, "--lengths", "4",
                 "--num-samples", "2", "--max-new-tokens", "4", "--quiet", "--no-plot"]) == 0
    assert "bfs" in capsys.readouterr().out
    rows = json.loads((tmp_path / "tn" / "eval.json").read_text())["rows"]
    assert rows[0]["count"] == 2


# ------------------------------------------------------- index alignment probe

def test_element_starts_by_hand():
    from openclrs.transnar.attention import element_starts
    assert element_starts("[1 0 1]\n\n") == [1, 3, 5]
    assert element_starts("[10 3  -1]\n\n") == [1, 4, 7]
    with pytest.raises(ValueError, match="one-list"):
        element_starts("3\n\n")


def test_node_attention_weights_are_the_layers_own(nar):
    """The probe's weights sum to 1 over the real nodes, and applied to the
    layer's node values they give its scaled dot-product read exactly."""
    from openclrs.transnar.attention import node_attention
    torch.manual_seed(2)
    model = TransNAR(tiny_lm(pos_encoding="random", max_random_position=512), nar,
                     TransNARConfig(gate_init=0.7, layers=(0, 1))).eval()
    tok = CharTokenizer()
    (example,) = paired_examples("bfs", 5, seed=4, num_samples=1)
    model.train()
    (probe,) = node_attention(model, tok, [example], seed=9)
    assert model.training            # left as it was
    model.eval()
    assert probe.nodes == 5 and probe.answer_start == 1 + len(example.question)
    ids = tok.encode(example.question + example.answer, bos=True)
    positions = model.lm.default_positions(1, len(ids), generator=torch.Generator()
                                           .manual_seed(9))
    memory = model.memory(model.embed([example.trace]))
    reads = {}

    def record(t, x):
        layer = model.xattn[str(t)]
        k, v, mask = memory[str(t)]["node"]
        q = layer._heads(layer.query["node"](layer.ln(x)))
        reads[str(t)] = (torch.nn.functional.scaled_dot_product_attention(q, k, v, mask), v)
        return layer(x, memory[str(t)])

    with torch.no_grad():
        model.lm(torch.tensor([ids]), positions, after_block=record)
    assert set(probe.weights) == {"0", "1"}
    for name, (read, v) in reads.items():
        w = torch.from_numpy(probe.weights[name])
        assert w.shape == (2, len(ids), 5)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, len(ids)))
        torch.testing.assert_close(w @ v[0, :, :5], read[0], rtol=1e-5, atol=1e-6)
    edge_only = TransNAR(tiny_lm(), nar, TransNARConfig(keys="edge", gate_init=0.7))
    with pytest.raises(ValueError, match="no node read"):
        node_attention(edge_only, tok, [example])


def test_alignment_by_hand():
    from openclrs.transnar.attention import NodeAttention, alignment, mean_alignment_map
    answer, n, heads = "[1 0 1]\n\n", 3, 2
    start = 20                                    # the answer's first token
    rows = [start + s - 1 for s in (1, 3, 5)]     # the tokens predicting each element
    aligned = np.full((heads, 30, n), 1 / n)
    aligned[0, rows] = np.eye(n)                  # head 0 reads node k for element k
    weights = {"1": aligned, "3": np.full((heads, 30, n), 1 / n)}
    probes = [NodeAttention(weights, answer, start, n),
              NodeAttention(weights, "[1 0]\n\n", start, n)]   # wrong length: skipped
    result = alignment(probes)
    assert (result["examples"], result["skipped"], result["elements"]) == (1, 1, 3)
    assert result["chance"] == pytest.approx(1 / 3)
    one = result["layers"]["1"]
    assert one["mass"] == pytest.approx([1.0, 1 / 3]) and one["best_head"] == 0
    assert one["hit"] == pytest.approx([1.0, 1 / 3])   # a tie's argmax is node 0
    assert one["near"] == pytest.approx([1.0, 7 / 9])   # nodes within 1 of k: 2, 3, 2
    assert result["near_chance"] == pytest.approx(7 / 9)
    assert result["layers"]["3"]["mass_mean"] == pytest.approx(1 / 3)
    np.testing.assert_allclose(mean_alignment_map(probes[:1], "1", 0), np.eye(n))
    # chance is per element, as the scores are: uniform weights score exactly chance
    mixed = [NodeAttention({"1": np.full((1, 60, m), 1 / m)}, "[" + " ".join("0" * m) + "]",
                           start, m) for m in (2, 12)]
    result = alignment(mixed)
    assert result["layers"]["1"]["mass_mean"] == pytest.approx(result["chance"])
    assert result["layers"]["1"]["near_mean"] == pytest.approx(result["near_chance"])
    assert result["chance"] == pytest.approx(2 / 14)


def test_a_nar_folder_of_another_kind_is_named_not_called_damaged(tmp_path):
    folder = tmp_path / "parity-run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": "openclrs-parity/1"}))
    with pytest.raises(ValueError, match=r"run of another kind \(openclrs-parity/1\)"):
        NAR.from_run(str(folder))
