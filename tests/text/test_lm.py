"""The CLRS-Text language-model harness: tokenizer, model, training, evaluation."""

import collections
import importlib.util
import json
import os
import re
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import openclrs  # noqa: E402
from openclrs import text  # noqa: E402
from openclrs.lm import config, decode, huggingface, tokenizer  # noqa: E402
from openclrs.lm import evaluate as lm_eval, model as lm, train as lm_train  # noqa: E402
from openclrs.training.runs import resolve_checkpoint  # noqa: E402

HAVE_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(pos_encoding="rope", **kw):
    return config.LMConfig(**{**dict(n_layer=2, n_head=2, n_embd=32, block_size=256,
                                 pos_encoding=pos_encoding, max_random_position=512), **kw})


def tiny_model(pos_encoding="rope", seed=0, **kw):
    torch.manual_seed(seed)
    model = lm.GPT(tiny_config(pos_encoding, **kw)).eval()
    with torch.no_grad():  # livelier than the 0.02 init, so that positions matter
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    return model


def quick_train_config(out_dir, **kw):
    return config.TrainConfig(**{**dict(
        out_dir=str(out_dir), algorithms=("minimum", "binary_search"), lengths=(4, 5),
        steps=6, batch_size=4, learning_rate=1e-3, warmup_steps=2, checkpoint_every=3,
        log_every=1, threads=1, progress=False), **kw})


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------

@pytest.mark.parametrize("use_hints", [False, True])
def test_tokenizer_round_trip_every_algorithm(use_hints):
    tok = tokenizer.CharTokenizer()
    for algorithm in openclrs.CLRS_30_ALGS:
        example = text.generate_examples(algorithm, 5, seed=3, use_hints=use_hints)[0]
        ids = tok.encode(example["text"], bos=True, eos=True)
        assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
        assert tok.unk_id not in ids, algorithm
        assert tok.decode(ids) == example["text"]
        assert len(ids) == len(example["text"]) + 2


def test_tokenizer_specials_and_serialisation():
    tok = tokenizer.CharTokenizer()
    assert tok.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tok.vocab_size == 4 + len(tokenizer.CLRS_TEXT_CHARS)
    assert tok.decode([tok.pad_id, tok.bos_id]) == ""
    assert tok.encode("é") == [tok.unk_id]
    again = tokenizer.CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again == tok and again.encode("bfs:\n[0 1]") == tok.encode("bfs:\n[0 1]")
    with pytest.raises(ValueError):
        tokenizer.CharTokenizer("aa")


# --------------------------------------------------------------------------
# Model and positional encodings
# --------------------------------------------------------------------------

@pytest.mark.parametrize("pos_encoding", config.POS_ENCODINGS)
def test_positional_encodings_shapes_and_causality(pos_encoding):
    model = tiny_model(pos_encoding)
    B, T = 3, 12
    idx = torch.randint(4, model.config.vocab_size, (B, T))
    positions = model.default_positions(B, T, generator=torch.Generator().manual_seed(0))
    logits = model(idx, positions)
    assert logits.shape == (B, T, model.config.vocab_size)
    assert torch.isfinite(logits).all()
    # changing future tokens leaves the logits of the past alone
    changed = idx.clone()
    changed[:, 7:] = torch.randint(4, model.config.vocab_size, (B, T - 7))
    assert torch.allclose(model(changed, positions)[:, :7], logits[:, :7], atol=1e-5)
    # positions matter for every encoding but none
    shifted = model(idx, positions.flip(1) if pos_encoding != "none" else positions)
    if pos_encoding != "none":
        assert not torch.allclose(shifted[:, 1:], logits[:, 1:], atol=1e-4)


def test_random_positions_are_sorted_subsets():
    model = tiny_model("random")
    g = torch.Generator().manual_seed(0)
    positions = model.default_positions(4, 50, generator=g)
    assert positions.shape == (4, 50)
    assert (positions.diff(dim=1) > 0).all()
    assert positions.min() >= 0 and positions.max() < 512
    assert not torch.equal(positions[0], positions[1])
    again = model.default_positions(4, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(positions, again)
    # left padding: the first real token takes the first position of the row's subset
    start = torch.tensor([0, 3, 5, 0])
    padded = model.default_positions(4, 50, start, torch.Generator().manual_seed(0))
    assert torch.equal(padded[1, 3:], positions[1, :47])
    with pytest.raises(ValueError):
        model.default_positions(1, 513)


def test_rope_is_relative_learned_is_absolute():
    idx = torch.randint(4, 100, (2, 10))
    base = torch.arange(10).expand(2, 10)
    for pos_encoding in ("rope", "p-rope", "none"):
        model = tiny_model(pos_encoding)
        assert torch.allclose(model(idx, base), model(idx, base + 37), atol=1e-4)
    model = tiny_model("learned")
    assert not torch.allclose(model(idx, base), model(idx, base + 37), atol=1e-4)
    with pytest.raises(ValueError, match="beyond"):
        model(idx, base + 250)


def test_p_rope_limits():
    idx = torch.randint(4, 100, (2, 16))
    rope, p1 = tiny_model("rope"), tiny_model("p-rope", p_rope=1.0)
    p0, nope = tiny_model("p-rope", p_rope=0.0), tiny_model("none")
    assert torch.equal(rope(idx), p1(idx))
    assert torch.allclose(p0(idx), nope(idx), atol=1e-6)
    assert not torch.allclose(rope(idx), nope(idx), atol=1e-4)
    # on the rotary part: p=0 is the identity, p=1 RoPE, p=0.5 turns the
    # highest-frequency half of the pairs and leaves the lowest half alone
    x = torch.randn(2, 3, 7, 16)
    positions = torch.arange(7).expand(2, 7) * 5
    assert torch.equal(lm.Rotary(16, 10000.0, 0.0)(x, positions), x)
    full = lm.Rotary(16, 10000.0, 1.0)(x, positions)
    half = lm.Rotary(16, 10000.0, 0.5)(x, positions)
    turned = [0, 1, 2, 3, 8, 9, 10, 11]   # pairs (i, i + 8) for the 4 highest frequencies
    kept = [4, 5, 6, 7, 12, 13, 14, 15]
    assert torch.allclose(half[..., turned], full[..., turned])
    assert torch.equal(half[..., kept], x[..., kept])
    assert not torch.allclose(full[..., kept], x[..., kept])
    inv_freq = lm.Rotary(16, 10000.0, 0.5).inv_freq
    assert inv_freq[0] == 1.0 and (inv_freq[:4] > 0).all() and (inv_freq[4:] == 0).all()


def test_config_validation():
    with pytest.raises(ValueError):
        config.LMConfig(pos_encoding="alibi")
    with pytest.raises(ValueError):
        config.LMConfig(p_rope=1.5)
    with pytest.raises(ValueError):
        config.LMConfig(n_embd=30, n_head=4)
    assert config.LMConfig(pos_encoding="random", random_base="learned").encoding == "learned"
    assert tiny_model("random", random_base="learned").wpe.num_embeddings == 512
    assert tiny_model("learned").wpe.num_embeddings == 256
    assert tiny_model("rope").wpe is None


def test_weights_are_tied():
    model = tiny_model()
    assert model.lm_head.weight is model.wte.weight


# --------------------------------------------------------------------------
# Greedy decoding
# --------------------------------------------------------------------------

class ScriptedGPT(lm.GPT):
    """Writes ``scripts[n]`` (token ids, then ``<eos>``) after a prompt of
    ``n`` tokens, one token per step; records what it was given."""

    def __init__(self, scripts, **kw):
        super().__init__(tiny_config(**kw))
        self.scripts = scripts
        self.calls = []

    def forward(self, idx, positions=None, valid=None, cache=None):
        past = cache.length if cache is not None else 0
        B, T = idx.shape
        if past == 0:
            self.prompt_lengths = valid.sum(1)
        self.calls.append((idx.clone(), positions.clone(), valid.clone()))
        made = valid.sum(1) - self.prompt_lengths  # tokens written so far, per row
        logits = torch.zeros(B, T, self.config.vocab_size)
        for r in range(B):
            script = self.scripts[int(self.prompt_lengths[r])]
            token = script[int(made[r])] if made[r] < len(script) else tokenizer.CharTokenizer.eos_id
            logits[r, -1, token] = 1.0
        if cache is not None:
            cache.length = past + T
        return logits


def test_greedy_decoding_stops_at_blank_line_eos_and_budget():
    tok = tokenizer.CharTokenizer()
    prompts = ["a:\n", "much longer prompt:\n", "mid prompt:\n"]  # different lengths: padding
    scripts = dict(zip([len(p) + 1 for p in prompts], [
        tok.encode("12\n\n34"), tok.encode("[0 1]") + [tok.eos_id] + tok.encode("99"),
        tok.encode("7\n8\n9\n")]))
    model = ScriptedGPT(scripts).eval()
    out = decode.decode_batch(model, tok, [tok.encode(p, bos=True) for p in prompts], 50,
                             torch.Generator())
    assert out == ["12\n\n", "[0 1]", "7\n8\n9\n"]
    assert len(model.calls) == 1 + 6  # stops as soon as every row is done (row 2 at 6)
    # the prompt pass: left padding, padding invalid, positions from 0 at the first real token
    idx, positions, valid = model.calls[0]
    lengths = [len(p) + 1 for p in prompts]
    for r, n in enumerate(lengths):
        assert valid[r].sum() == n and valid[r, -n:].all()
        assert positions[r, -n:].tolist() == list(range(n))
        assert (idx[r, :-n] == tok.pad_id).all()
    # later passes: one token each, positions counting on
    _, positions, valid = model.calls[1]
    assert positions[:, 0].tolist() == lengths and valid[:, -1].all()
    # the token budget
    model = ScriptedGPT(scripts).eval()  # (generate() also reorders the prompts by length)
    assert decode.greedy_decode(model, tok, prompts, max_new_tokens=2, batch_size=2) == \
        ["12", "[0", "7\n"]


def test_after_block_is_the_one_seam_for_composed_models():
    model, g = tiny_model("rope"), torch.Generator().manual_seed(1)
    idx = torch.randint(4, 40, (2, 9), generator=g)
    valid = torch.ones(2, 9, dtype=torch.bool)
    valid[0, :3] = False  # left padding: the masked path too
    seen = []

    def identity(t, x):
        seen.append((t, tuple(x.shape)))
        return x
    with torch.no_grad():
        for kw in ({}, {"valid": valid}):
            plain = model(idx, **kw)
            assert torch.equal(model(idx, after_block=identity, **kw), plain)  # bit for bit
        assert seen == [(0, (2, 9, 32)), (1, (2, 9, 32))] * 2  # after every block, in order
        # what it returns is the residual stream the next block reads
        nudged = model(idx, after_block=lambda t, x: x + (t == 0))
        assert not torch.allclose(nudged, plain)
        # the same with a KV cache, one token at a time
        cache = lm.KVCache()
        steps = [model(idx[:, :5], cache=cache, after_block=lambda t, x: x + (t == 0))]
        for j in range(5, 9):
            steps.append(model(idx[:, j:j + 1], cache=cache,
                               after_block=lambda t, x: x + (t == 0)))
        torch.testing.assert_close(torch.cat(steps, 1), nudged, atol=1e-5, rtol=1e-5)


def test_decode_batch_drives_any_logits_function():
    tok, model = tokenizer.CharTokenizer(), tiny_model("rope")
    prompts = ["minimum:\nkey: [0.1 0.2]\nmin:\n", "x"]
    encoded = [tok.encode(p, bos=True) for p in prompts]
    assert decode.prompt_batches(model, encoded, 1) == [[1], [0]]  # shortest first
    calls = []

    def logits_fn(idx, positions, valid, cache):
        calls.append(idx.shape)
        return model(idx, positions, valid, cache)
    got = decode.decode_batch(model, tok, encoded, 6, torch.Generator(), logits_fn)
    assert calls and got == decode.decode_batch(model, tok, encoded, 6, torch.Generator())
    assert got == [decode.greedy_decode(model, tok, [p], 6)[0] for p in prompts]


def test_generate_matches_uncached_decoding():
    tok = tokenizer.CharTokenizer()
    prompts = ["minimum:\nkey: [0.1 0.2]\nmin:\n", "bfs:\nA: [[0 1], [1 0]]\npi:\n", "x"]
    for pos_encoding in ("rope", "learned", "p-rope"):
        model = tiny_model(pos_encoding)
        with torch.no_grad():  # no early blank line or <eos>
            model.lm_head.weight[[tok.newline_id, tok.eos_id]] -= 100.0
        got = decode.greedy_decode(model, tok, prompts, max_new_tokens=12, batch_size=2)
        for prompt, out in zip(prompts, got):
            ids = tok.encode(prompt, bos=True)
            for _ in range(12):
                scores = model(torch.tensor([ids]))[0, -1]
                scores[[tok.pad_id, tok.bos_id]] = float("-inf")
                ids.append(int(scores.argmax()))
            want = tok.decode(ids[len(prompt) + 1:])
            cut = want.find("\n\n")
            assert out == (want if cut < 0 else want[:cut + 2]), pos_encoding


def test_generate_respects_the_position_limit():
    tok = tokenizer.CharTokenizer()
    model = tiny_model("learned", block_size=20)
    with torch.no_grad():  # characters only, never a blank line
        model.lm_head.weight[[2, 3, tok.newline_id]] -= 100.0
    out = decode.greedy_decode(model, tok, ["abc", "x" * 30, "x" * 10], max_new_tokens=100)
    assert len(out[0]) == 20 - 4 and out[1] == "" and len(out[2]) == 20 - 11
    assert len(decode.greedy_decode(model, tok, ["abc"], max_new_tokens=5)[0]) == 5
    model = tiny_model("random", max_random_position=20)
    with torch.no_grad():
        model.lm_head.weight[[2, 3, tok.newline_id]] -= 100.0
    out = decode.greedy_decode(model, tok, ["abc", "x" * 30, "x" * 10], max_new_tokens=100, batch_size=1)
    assert len(out[0]) == 20 - 4 and out[1] == "" and len(out[2]) == 20 - 11


# --------------------------------------------------------------------------
# Training pieces, checkpoints, resume
# --------------------------------------------------------------------------

def test_batches_train_on_the_answer_only():
    tok = tokenizer.CharTokenizer()
    question, answer = "minimum:\nkey: [0.5 0.1]\nmin:\n", "1\n\n"
    inputs, targets = lm_train.make_batch([(question, answer), ("q:\n", "22\n\n")], tok, 64)
    assert inputs.shape == targets.shape == (2, len(question) + len(answer) + 1)
    assert tok.decode(inputs[0]) == question + answer
    kept = targets[0][targets[0] != -100].tolist()
    assert kept == tok.encode(answer, eos=True)
    assert targets[1][targets[1] != -100].tolist() == tok.encode("22\n\n", eos=True)
    assert (inputs[1, len("q:\n22\n\n") + 1:] == tok.pad_id).all()
    with pytest.raises(ValueError, match="block_size"):
        lm_train.make_batch([(question, answer)], tok, 10)


def test_generated_examples_are_reproducible():
    source = lm_train.GeneratedExamples(["minimum", "bfs"], [4, 6], seed=1)
    a, b = source(7, 16), source(7, 16)
    assert a == b and a != source(8, 16)
    assert {q.split(":")[0] for q, _ in a} <= {"minimum", "bfs"}
    assert lm_train.GeneratedExamples(["minimum"], [4], seed=2)(7, 4) != \
        lm_train.GeneratedExamples(["minimum"], [4], seed=1)(7, 4)


def test_learning_rate_schedule():
    cfg = config.TrainConfig(steps=100, warmup_steps=10, learning_rate=1e-3, min_lr=1e-4)
    rates = [lm_train.learning_rate(s, cfg) for s in range(1, 101)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))


def test_save_and_load_model(tmp_path):
    model, tok = tiny_model("p-rope", p_rope=0.5), tokenizer.CharTokenizer()
    lm.save_model(str(tmp_path), model, tok, extra={"note": 1})
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    again, tok2, data = lm.load_model(str(tmp_path))
    assert tok2 == tok and data["note"] == 1 and again.config == model.config
    idx = torch.randint(4, 100, (2, 9))
    assert torch.equal(again(idx), model(idx))
    assert again.lm_head.weight is again.wte.weight


def test_checkpoint_resume_gives_identical_losses(tmp_path):
    cfg = quick_train_config(tmp_path / "full", keep_checkpoints=2)
    mcfg = tiny_config("random", dropout=0.1)  # random positions and dropout: RNG matters
    full, _ = lm_train.train(mcfg, cfg)
    assert [s for s, _ in full.history] == [1, 2, 3, 4, 5, 6]
    run = tmp_path / "full"
    assert sorted(os.listdir(run / "checkpoints")) == ["step-0000003", "step-0000006"]
    assert json.loads((run / "checkpoints.json").read_text()) == \
        {"last": "checkpoints/step-0000006"}
    assert sorted(os.listdir(run / "checkpoints" / "step-0000003")) == \
        ["manifest.json", "model.safetensors", "state.json", "state.safetensors"]
    assert not [n for n in os.listdir(run) if n.startswith(".tmp")]

    # an interrupted run: only checkpoint 3 made it to disk
    resumed_dir = tmp_path / "resumed"
    (resumed_dir / "checkpoints").mkdir(parents=True)
    shutil.copytree(run / "checkpoints" / "step-0000003",
                    resumed_dir / "checkpoints" / "step-0000003")
    shutil.copy(run / "config.json", resumed_dir / "config.json")
    (resumed_dir / "checkpoints.json").write_text('{"last": "checkpoints/step-0000003"}')
    resumed, _ = lm_train.train(mcfg, quick_train_config(resumed_dir))
    assert [s for s, _ in resumed.history] == [4, 5, 6]
    assert resumed.history == full.history[3:]  # bit for bit
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name

    # a finished run resumes to nothing; another model shape is refused
    again, _ = lm_train.train(mcfg, quick_train_config(run))
    assert again.history == []
    with pytest.raises(ValueError, match="another config"):
        lm_train.train(tiny_config("rope"), quick_train_config(run))
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] \
        == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_other_training_settings_and_logs_each_step_once(tmp_path):
    mcfg = tiny_config()
    lm_train.train(mcfg, quick_train_config(tmp_path, steps=4, checkpoint_every=2, log_every=1))
    with pytest.raises(ValueError, match="train.algorithms"):
        lm_train.train(mcfg, quick_train_config(tmp_path, algorithms=("bfs",), steps=6))
    with pytest.raises(ValueError, match="train.learning_rate"):
        lm_train.train(mcfg, quick_train_config(tmp_path, learning_rate=5e-3, steps=6))
    # more steps (and another checkpoint interval) resume; every step logged once
    model, _ = lm_train.train(mcfg, quick_train_config(tmp_path, steps=6, checkpoint_every=3,
                                                       log_every=1))
    assert [s for s, _ in model.history] == [5, 6]
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text()
             .splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    # the settings the run continued with are recorded
    assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 6


def test_damaged_checkpoint_gives_one_clear_error(tmp_path):
    from openclrs.training.runs import CorruptCheckpointError

    mcfg = tiny_config()
    lm_train.train(mcfg, quick_train_config(tmp_path, steps=2, checkpoint_every=2))
    weights = tmp_path / "checkpoints" / "step-0000002" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    for attempt in (lambda: lm_train.train(mcfg, quick_train_config(tmp_path, steps=4)),
                    lambda: lm_eval.evaluate_checkpoint(str(tmp_path), ["minimum"], [4], 1)):
        with pytest.raises(CorruptCheckpointError, match="model.safetensors is damaged"):
            attempt()
    # --restart (resume=False) starts afresh
    model, _ = lm_train.train(mcfg, quick_train_config(tmp_path, steps=2), resume=False)
    assert [s for s, _ in model.history] == [1, 2]


def test_failed_start_leaves_no_run_folder(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="no JSONL files"):
        lm_train.train(tiny_config(), quick_train_config(out, data_files=(str(tmp_path),),
                                                         lengths=()))
    assert not out.exists()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            lm_train.train(tiny_config(), quick_train_config(out, device="cuda"))
        assert not out.exists()
    for bad in ({"dropout": 2.0}, {"n_head": 3}):
        with pytest.raises(ValueError):
            tiny_config(**bad)
    for bad, flag in (({"warmup_steps": -5}, "--warmup"), ({"learning_rate": float("inf")}, "--lr"),
                      ({"grad_clip": float("nan")}, "--grad-clip"),
                      ({"grad_clip": -1.0}, "--grad-clip")):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} \\({flag}\\) must be"):
            quick_train_config(out, **bad)
    with pytest.raises(ValueError, match=r"dropout \(--dropout\) must be in \[0, 1\)"):
        tiny_config(dropout=2.0)


def test_training_from_jsonl_files(tmp_path):
    split = text.TextSplit(name="tiny", lengths={"minimum": (4,), "bfs": (4,)}, num_samples=8,
                           seeds=(0,))
    text.generate_text_dataset(str(tmp_path / "data"), split, workers=1, progress=False)
    source = lm_train.FileExamples([str(tmp_path / "data")], ["minimum"])
    assert len(source.examples) == 8 and source.lengths == {4}
    assert source(3, 5) == source(3, 5)
    assert all(q.startswith("minimum:") for q, _ in source(3, 5))
    cfg = quick_train_config(tmp_path / "run", algorithms=("minimum",), lengths=(),
                             data_files=(str(tmp_path / "data"),), steps=2)
    model, _ = lm_train.train(tiny_config(), cfg)
    assert len(model.history) == 2
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["lengths"] == [4]
    assert resolve_checkpoint(str(tmp_path / "run"), "last").endswith("step-0000002")


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------

def test_evaluation_table_json_and_plot(tmp_path, capsys):
    oracle = {}

    def perfect(prompts, max_new_tokens):
        assert max_new_tokens > 0
        return [oracle[p] + "extra text after the blank line" for p in prompts]

    for algorithm, length in [("minimum", 4), ("minimum", 6), ("bfs", 4)]:
        for e in text.generate_examples(algorithm, length, seed=lm_eval.EVAL_SEED, num_samples=3):
            oracle[e["question"]] = e["answer"]
    board = lm_eval.evaluate(perfect, ["minimum"], [4, 6], num_samples=3)
    assert [r["accuracy"] for r in board.rows()] == [1.0, 1.0]
    assert all(r["exact_match"] == 1.0 for r in board.rows())

    # a tiny untrained model: runs, scores 0 or more, never crashes
    model, tok = tiny_model(), tokenizer.CharTokenizer()
    records = []
    board = lm_eval.evaluate(lm_eval.model_generator(model, tok), ["minimum", "bfs"], [4, 6],
                              num_samples=3, max_new_tokens=20, records=records)
    assert len(board) == 12 and len(records) == 12
    assert {"question", "answer", "prediction", "accuracy"} <= set(records[0])
    table = lm_eval.format_table(board, {"minimum": [4], "bfs": [4]})
    lines = table.splitlines()
    assert lines[0].split() == ["algorithm", "length", "count", "parsed", "shape", "exact",
                                "accuracy", "shape_s", "parse_s", "clrs"]  # + the paper's
    assert len(lines) == 2 + 4 + 1
    assert [line.split()[:2] for line in lines[2:6]] == [["bfs", "4*"], ["bfs", "6"],
                                                        ["minimum", "4*"], ["minimum", "6"]]

    path = tmp_path / "eval.json"
    lm_eval.save_results(str(path), board, {"model": "tiny"})
    data = json.loads(path.read_text())
    assert data["model"] == "tiny" and len(data["rows"]) == 4
    assert set(data["by_algorithm"]) == {"bfs", "minimum"}

    png = tmp_path / "eval.png"
    result = lm_eval.plot_scores(board.rows(), str(png), {"minimum": [4]})
    if HAVE_MATPLOTLIB:
        assert result == str(png) and png.stat().st_size > 0
    else:
        assert result is None and "matplotlib is not installed" in capsys.readouterr().err


def test_plot_is_skipped_without_matplotlib(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing it now fails
    rows = [{"algorithm": "minimum", "length": 4, "accuracy": 0.5}]
    assert lm_eval.plot_scores(rows, str(tmp_path / "x.png")) is None
    assert "skipping the plot" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_cli_train_and_evaluate(tmp_path, capsys):
    from openclrs.cli import main

    out = tmp_path / "run"
    assert main(["text", "train", "--algorithms", "minimum", "--lengths", "4", "--steps", "3",
                 "--out", str(out), "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
                 "--pos-encoding", "p-rope", "--p-rope", "0.5", "--threads", "1",
                 "--quiet"]) == 0
    assert resolve_checkpoint(str(out), "last").endswith("step-0000003")
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["pos_encoding"] == "p-rope" and saved["model"]["p_rope"] == 0.5
    capsys.readouterr()
    assert main(["text", "evaluate", "--checkpoint", str(out), "--lengths", "4", "5",
                 "--num-samples", "2", "--max-new-tokens", "8", "--threads", "1",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "minimum" in printed and "4*" in printed
    data = json.loads((out / "eval.json").read_text())
    assert [(r["algorithm"], r["length"]) for r in data["rows"]] == [("minimum", 4),
                                                                     ("minimum", 5)]
    assert data["train_lengths"] == {"minimum": [4]}
    assert main(["text", "evaluate", "--checkpoint", str(tmp_path / "nothing"),
                 "--quiet"]) == 2


# --------------------------------------------------------------------------
# Any local Hugging Face causal LM
# --------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_TRANSFORMERS, reason="transformers is not installed")
def test_hugging_face_model(tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    try:
        from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode
    except ImportError:
        from transformers.convert_slow_tokenizer import bytes_to_unicode

    # a byte-level GPT-2 tokenizer without merges, and a tiny random GPT-2: no hub
    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    vocab["<|endoftext|>"] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = GPT2Tokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=256, n_embd=32,
                                       n_layer=2, n_head=2, bos_token_id=256,
                                       eos_token_id=256))
    path = tmp_path / "tiny-gpt2"
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))

    generate_fn = lm_eval.hf_generator(str(path), batch_size=4)
    outputs = generate_fn(["minimum:\nkey: [0.1 0.2]\nmin:\n", "bfs:\n"], 12)
    assert len(outputs) == 2
    assert all(isinstance(o, str) and ("\n\n" not in o or o.endswith("\n\n")) for o in outputs)
    board = lm_eval.evaluate(generate_fn, ["minimum"], [4, 5], num_samples=3,
                              max_new_tokens=12)
    assert len(board) == 6 and all(0.0 <= r["accuracy"] <= 1.0 for r in board.rows())

    from openclrs.cli import main

    out = tmp_path / "hf.json"
    assert main(["text", "evaluate", "--hf-model", str(path), "--algorithms", "minimum",
                 "--lengths", "4", "--num-samples", "2", "--max-new-tokens", "8",
                 "--out", str(out), "--no-plot", "--quiet"]) == 0
    assert json.loads(out.read_text())["rows"][0]["count"] == 2


def test_hugging_face_needs_transformers_only_there(monkeypatch, tmp_path):
    import sys

    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "transformers", None)  # importing it now fails
    lm.GPT(tiny_config())  # the openclrs model never needs it
    with pytest.raises(ImportError, match=re.escape('pip install "openclrs[text]"')):
        huggingface.load_hf_model(str(tmp_path))
    with pytest.raises(ValueError, match="not a folder"):
        huggingface.load_hf_model("/nonexistent")


def test_hugging_face_folder_that_is_not_a_model(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(ValueError, match="no config.json"):
        huggingface.load_hf_model(str(tmp_path))
    (tmp_path / "config.json").write_text('{"not": "a model"}')
    with pytest.raises(ValueError, match="could not be loaded as a Hugging Face causal LM"):
        huggingface.load_hf_model(str(tmp_path))


# --------------------------------------------------------------------------
# It learns
# --------------------------------------------------------------------------

def test_tiny_model_learns_kadane_far_above_chance(tmp_path):
    """find_maximum_subarray_kadane at length 4: the answer is ``start, end``,
    two indices in 0..3. Chance: a uniform guess gets 1/4 of the elements;
    always answering the most frequent value of each field gets about 0.44.
    280 steps of 16 examples on a 2-layer, 64-wide model (~100k parameters)
    reach ~0.8 (0.80, 0.81, 0.75 with seeds 0, 1, 2; the bar is 0.625)."""
    algorithm, length = "find_maximum_subarray_kadane", 4
    cfg = config.TrainConfig(out_dir=str(tmp_path), algorithms=(algorithm,), lengths=(length,),
                               steps=280, batch_size=16, learning_rate=3e-3, min_lr=3e-4,
                               warmup_steps=28, checkpoint_every=10_000, threads=1,
                               progress=False, seed=0)
    model, tok = lm_train.train(config.LMConfig(n_layer=2, n_head=4, n_embd=64, block_size=128),
                                cfg)
    losses = [loss for _, loss in model.history]
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])

    num_samples = 300
    board = lm_eval.evaluate(lm_eval.model_generator(model, tok), [algorithm], [length],
                              num_samples=num_samples)
    result = board.summary()[(algorithm, length)]

    truths = [text.parse_answer(algorithm, e["answer"]) for e in
              text.generate_examples(algorithm, length, seed=lm_eval.EVAL_SEED, num_samples=num_samples)]
    uniform = 1.0 / length
    majority = np.mean([collections.Counter(int(t[f]) for t in truths).most_common(1)[0][1]
                        / num_samples for f in truths[0]])
    assert result["parsed"] > 0.95
    print(f"accuracy {result['accuracy']:.3f}; uniform guess {uniform:.3f}, majority {majority:.3f}")
    assert result["accuracy"] > max(2.5 * uniform, majority + 0.2), (result, majority)


def test_evaluate_reads_checkpoint_folders_and_saved_models(tmp_path):
    from openclrs.cli import main
    from openclrs.files import CorruptFileError

    run = tmp_path / "run"
    lm_train.train(tiny_config(), quick_train_config(run, steps=2, checkpoint_every=2))
    checkpoint = resolve_checkpoint(str(run), "last")
    common = ["--lengths", "4", "--num-samples", "1", "--max-new-tokens", "4", "--quiet",
              "--no-plot"]
    # a checkpoint folder: the scores go to its run folder, not into the checkpoint
    assert main(["text", "evaluate", "--checkpoint", checkpoint, *common]) == 0
    assert (run / "eval.json").exists()
    assert not os.path.exists(os.path.join(checkpoint, "eval.json"))
    (run / "eval.json").unlink()
    here = os.getcwd()
    os.chdir(os.path.dirname(checkpoint))  # the checkpoint named relative to its own folder
    try:
        assert main(["text", "evaluate", "--checkpoint", os.path.basename(checkpoint),
                     *common]) == 0
    finally:
        os.chdir(here)
    assert (run / "eval.json").exists()
    assert not os.path.exists(os.path.join(checkpoint, "eval.json"))
    # a save_model folder, made as one unit; damaged, it is named
    model, tok, _ = lm_train.load_lm(str(run))
    saved = tmp_path / "saved"
    lm.save_model(str(saved), model, tok, extra={"train": {"algorithms": ["minimum"]}})
    assert lm_train.load_lm(str(saved))[2] == {"algorithms": ["minimum"]}
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="model.safetensors is not readable"):
        lm_train.load_lm(str(saved))
    (saved / "config.json").write_text("{}")
    with pytest.raises(CorruptFileError, match="config.json is not a CLRS-Text LM's config"):
        lm_train.load_lm(str(saved))
    with pytest.raises(FileNotFoundError, match="not a `text train` run folder"):
        lm_train.load_lm(str(tmp_path))


def test_training_files_that_are_not_clrs_text_are_named(tmp_path):
    from openclrs.files import CorruptFileError

    (tmp_path / "a.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(CorruptFileError, match=r"a.jsonl, line 1: not a CLRS-Text record "
                                               r"\(no algo_name\)"):
        lm_train.FileExamples([str(tmp_path)])


def test_a_run_from_before_the_p_rope_rule_resumes_with_its_own_rule(tmp_path):
    """config.json and checkpoints written before LMConfig had p_rope_rounding
    and rotary_fraction: the run resumes (no --restart needed), keeps the old
    rounding rule, and its config.json then records it."""
    run = tmp_path / "old"
    mcfg = tiny_config("p-rope", p_rope=0.5)
    lm_train.train(mcfg, quick_train_config(run, steps=3))
    config = json.loads((run / "config.json").read_text())
    for name in ("p_rope_rounding", "rotary_fraction"):
        del config["model"][name]
    (run / "config.json").write_text(json.dumps(config))
    resumed, _ = lm_train.train(mcfg, quick_train_config(run, steps=6))
    assert [s for s, _ in resumed.history] == [4, 5, 6]
    saved = json.loads((run / "config.json").read_text())["model"]
    assert saved["p_rope_rounding"] == "round" and saved["rotary_fraction"] == 0.25
    with pytest.raises(ValueError, match="another config"):
        lm_train.train(tiny_config("rope"), quick_train_config(run, steps=9))


def test_left_padded_rows_count_positions_from_their_first_token():
    """Without positions, a left-padded row gets the logits it has alone
    (learned positions counted from column 0 gave it others)."""
    model, g = tiny_model("learned"), torch.Generator().manual_seed(2)
    idx = torch.randint(4, 40, (1, 6), generator=g)
    padded = torch.cat([torch.zeros(1, 3, dtype=idx.dtype), idx], dim=1)
    valid = torch.ones(1, 9, dtype=torch.bool)
    valid[0, :3] = False
    with torch.no_grad():
        torch.testing.assert_close(model(padded, valid=valid)[:, 3:], model(idx))


def test_a_folder_of_train_and_eval_splits_is_not_trained_on_whole(tmp_path):
    from openclrs.cli import main
    from openclrs.lm.train import FileExamples

    out = str(tmp_path / "text")
    for name in ("mine", "other"):
        assert main(["text", "generate", "--algorithms", "minimum", "--lengths", "4",
                     "--num-samples", "2", "--seed", "1", "--name", name, "--workers", "1",
                     "--quiet", "--out", out]) == 0
    with pytest.raises(ValueError, match="several splits"):
        FileExamples((out,), ["minimum"], 0)
    one = str(tmp_path / "one")
    assert main(["text", "generate", "--algorithms", "minimum", "--lengths", "4",
                 "--num-samples", "2", "--seed", "1", "--name", "mine", "--workers", "1",
                 "--quiet", "--out", one]) == 0
    assert len(FileExamples((one,), ["minimum"], 0).examples) == 2
