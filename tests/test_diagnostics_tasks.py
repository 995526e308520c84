"""The counting and copying tasks of "Transformers need glasses!" (§3 of
issue 19) and the LM trainer's example-source hook they train through."""

from __future__ import annotations

import json
import string

import pytest
import torch

from openclrs.cli import main
from openclrs.diagnostics import tasks as T
from openclrs.lm import config
from openclrs.lm import train as lm_train
from openclrs.lm.tokenizer import CharTokenizer


def tiny_lm_config(**kw):
    return config.LMConfig(**{**dict(n_layer=1, n_head=2, n_embd=16, block_size=128), **kw})


def hook_train_config(out_dir, **kw):
    return config.TrainConfig(**{**dict(out_dir=str(out_dir), steps=2, batch_size=3,
                                        warmup_steps=1, checkpoint_every=2, log_every=1,
                                        threads=1, progress=False), **kw})


# --------------------------------------------------------------------------
# The trainer's hook: any example source
# --------------------------------------------------------------------------

class Ones:
    """A toy source: "count the ones" with n ones, n drawn from (seed, step)."""

    def __init__(self, seed=0, loss_on="answer"):
        self.seed, self.loss_on = seed, loss_on

    def __call__(self, step, batch_size):
        g = torch.Generator().manual_seed(self.seed * 1000 + step)
        ns = torch.randint(1, 9, (batch_size,), generator=g).tolist()
        return [("ones: " + "1" * n + "\n", f"{n}\n\n") for n in ns]

    def describe(self):
        return {"source": "ones", "seed": self.seed}


def test_make_batch_loss_on_every_token():
    tok = lm_train.CharTokenizer()
    pair = [("ab\n", "7\n\n")]
    inputs, answer_only = lm_train.make_batch(pair, tok, 16)
    _, everything = lm_train.make_batch(pair, tok, 16, loss_on="all")
    ids = tok.encode("ab\n", bos=True) + tok.encode("7\n\n", eos=True)
    assert inputs[0].tolist() == ids[:-1]
    assert everything[0].tolist() == ids[1:]  # every next token, prompt included
    assert answer_only[0].tolist() == [-100] * 3 + ids[4:]
    with pytest.raises(ValueError, match="loss_on"):
        lm_train.make_batch(pair, tok, 16, loss_on="prompt")


def test_trainer_hook_trains_on_a_source_and_refuses_other_data(tmp_path):
    out = tmp_path / "run"
    model, _ = lm_train.train(tiny_lm_config(), hook_train_config(out), examples=Ones(seed=1))
    assert [s for s, _ in model.history] == [1, 2]
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"] == {"examples": {"source": "ones", "seed": 1}, "loss_on": "answer"}
    assert saved["train"]["algorithms"] == []  # no CLRS-Text algorithm is claimed
    # more steps on the same data resume; other data, or other loss placement, is refused
    more, _ = lm_train.train(tiny_lm_config(), hook_train_config(out, steps=3),
                             examples=Ones(seed=1))
    assert [s for s, _ in more.history] == [3]
    for other in (Ones(seed=2), Ones(seed=1, loss_on="all")):
        with pytest.raises(ValueError, match="another config.*data"):
            lm_train.train(tiny_lm_config(), hook_train_config(out, steps=4), examples=other)
    # a CLRS-Text run in that folder is refused too (its config has no "data")
    with pytest.raises(ValueError, match="another config"):
        lm_train.train(tiny_lm_config(), hook_train_config(out, steps=4, lengths=(4,)))
    with pytest.raises(ValueError, match="not both"):
        lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "b", lengths=(4,)),
                       examples=Ones())
    assert not (tmp_path / "b").exists()


def test_trainer_hook_resume_is_exact_and_loss_on_all_trains(tmp_path):
    full, _ = lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "a", steps=2),
                             examples=Ones(loss_on="all"))
    lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "b", steps=1),
                   examples=Ones(loss_on="all"))
    resumed, _ = lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "b", steps=2),
                                examples=Ones(loss_on="all"))
    assert resumed.history == full.history[1:]


def test_trainer_hook_refuses_a_bad_source(tmp_path):
    with pytest.raises(TypeError, match="describe"):
        lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "x"),
                       examples=lambda step, n: [])

    class Bad(Ones):
        def describe(self):
            return {"fn": print}
    with pytest.raises(ValueError, match="JSON"):
        lm_train.train(tiny_lm_config(), hook_train_config(tmp_path / "x"), examples=Bad())
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------
# Task generators against brute force
# --------------------------------------------------------------------------

def brute_force(example: T.Example, options: T.TaskOptions = T.TaskOptions()):
    """``(answer, n)`` read off the prompt's sequence line alone."""
    question, sequence, reply = example.prompt.split("\n")
    if example.task in ("sum_ones", "count_word"):
        assert not options.separator_every
    if example.task == "sum_ones":
        terms = sequence.split(" + ")
        return sum(int(t) for t in terms), len(terms)
    if example.task == "count_word":
        words = sequence.rstrip(".").split(" ")
        return words.count(options.word), len(words)
    digits = sequence.replace(options.separator, "") if options.separator_every else sequence
    assert set(digits) <= {"0", "1"}
    value = {"copy_last": lambda: int(digits[-1]), "copy_first": lambda: int(digits[0]),
             "count_ones": lambda: digits.count("1"),
             "count_bernoulli": lambda: digits.count("1")}[example.task]()
    return value, len(digits)


@pytest.mark.parametrize("task", list(T.TASKS))
@pytest.mark.parametrize("options", [T.TaskOptions(), T.TaskOptions(separator_every=3),
                                     T.TaskOptions(separator_every=2, separator="|", hint=True),
                                     T.TaskOptions(balanced=True, hint="Look closely.")])
def test_examples_match_brute_force(task, options):
    if not T.applies(task, options):
        with pytest.raises(ValueError, match="separators apply to the digit tasks"):
            T.examples(task, 5, 1, options=options)
        return
    for n in (1, 2, 3, 7, 30):
        for e in T.examples(task, n, 6, seed=3, options=options):
            assert (e.answer, e.n) == (*brute_force(e, options)[:1], n)
            assert brute_force(e, options)[1] == n
            assert e.prompt.endswith(T.TASKS[task].reply)
            assert e.prompt.startswith(T.TASKS[task].question.format(word=options.word))
            hint = T.TASKS[task].hint if options.hint is True else options.hint
            assert (hint in e.prompt) if hint else ("Hint" not in e.prompt)


def test_the_papers_sequences_and_answers():
    assert T.examples("copy_last", 5, 1)[0].sequence == "11110"
    assert T.examples("copy_first", 5, 1)[0].sequence == "01111"
    assert {e.answer for t in ("copy_last", "copy_first") for e in T.examples(t, 9, 20)} == {0}
    assert T.examples("count_ones", 4, 1)[0].sequence == "1111"
    assert T.examples("sum_ones", 3, 1)[0].sequence == "1 + 1 + 1"
    e = T.examples("copy_last", 4, 1, options=T.TaskOptions(hint=True))[0]
    assert e.prompt == ("What is the last digit in the following sequence? *Hint* It's not "
                        "necessarily a 1, check carefully.\n1110\nThe answer to your question is: ")
    # balanced copies draw both digits; Bernoulli(0.7) strings hold ~70% ones
    assert {e.answer for e in T.examples("copy_last", 6, 40, options=T.TaskOptions(
        balanced=True))} == {0, 1}
    bits = "".join(e.sequence for e in T.examples("count_bernoulli", 100, 50))
    assert abs(bits.count("1") / len(bits) - 0.7) < 0.02
    words = " ".join(e.sequence for e in T.examples("count_word", 100, 20)).split()
    assert abs(sum(w.strip(".") == "car" for w in words) / len(words) - 0.5) < 0.03


@pytest.mark.parametrize("length", range(1, 14))
@pytest.mark.parametrize("every", [1, 2, 3, 5])
def test_separator_placement(length, every):
    digits = "".join("01"[i % 2] for i in range(length))
    shown = T.with_separators(digits, every, ",")
    groups = shown.split(",")
    assert "".join(groups) == digits
    assert all(len(g) == every for g in groups[:-1]) and 1 <= len(groups[-1]) <= every
    assert shown.count(",") == (length - 1) // every  # never a trailing separator
    assert T.with_separators(digits, 0) == digits
    assert T.with_separators("1111111", 3) == "111,111,1"


def test_examples_are_deterministic():
    for task in T.TASKS:
        a, b = T.examples(task, 12, 5, seed=7), T.examples(task, 12, 5, seed=7)
        assert a == b
    assert T.examples("count_bernoulli", 30, 5, seed=1) != T.examples("count_bernoulli", 30, 5,
                                                                       seed=2)
    source = T.TaskExamples(lengths=range(1, 9), seed=4)
    assert source(3, 16) == T.TaskExamples(lengths=range(1, 9), seed=4)(3, 16)
    assert source(3, 16) != source(4, 16)
    separated = [p for p, _ in T.TaskExamples(seed=0, separator_rate=1.0)(1, 40)]
    plain = [p for p, _ in T.TaskExamples(seed=0, separator_rate=0.0)(1, 40)]
    lines = [p.split("\n")[1] for p in separated]
    assert all("," not in p.split("\n")[1] for p in plain)
    assert any("," in line for line in lines)
    assert all(len(line.replace(",", "")) < 4 or "," in line for line in lines)


def test_training_source_mixes_hints_and_fits_its_longest_prompt():
    source = T.TaskExamples(tasks=list(T.TASKS), lengths=range(1, 13), seed=2, hint_rate=0.5)
    pairs = [p for step in range(1, 6) for p in source(step, 40)]
    assert source.longest_prompt() >= max(len(q) + len(a) for q, a in pairs)
    hinted = sum("*Hint*" in q for q, _ in pairs) / len(pairs)
    assert 0.35 < hinted < 0.65
    assert {a for q, a in pairs if q.startswith("What is the last")} == {"0\n\n", "1\n\n"}
    for q, a in pairs:  # every training answer is the brute-force one
        task = next(t for t, spec in T.TASKS.items()  # (count_ones reads as count_bernoulli)
                    if q.startswith(spec.question.format(word="car")) and t != "count_ones")
        sequence = q.split("\n")[1]
        e = T.Example(task, 0, q, 0, sequence)
        every = 3 if "," in sequence else 0
        assert a == T.answer_text(brute_force(e, T.TaskOptions(separator_every=every))[0])
    model_cfg, cfg, recipe_source = T.recipe_configs("unused", T.Recipe(max_train_length=10))
    assert model_cfg.block_size == 4 * recipe_source.longest_prompt()
    assert recipe_source.lengths == tuple(range(1, 11)) and cfg.out_dir == "unused"


def test_bad_task_options_are_refused():
    with pytest.raises(ValueError, match="unknown task 'count_zeros'"):
        T.examples("count_zeros", 3, 1)
    with pytest.raises(ValueError, match="positive integer"):
        T.examples("count_ones", 0, 1)
    with pytest.raises(ValueError, match="separator must be"):
        T.TaskOptions(separator_every=2, separator="0")
    with pytest.raises(ValueError, match="separator_every"):
        T.TaskOptions(separator_every=-1)
    with pytest.raises(ValueError, match="unknown prompt variant"):
        T.variant_options("bold")


def test_the_char_tokenizer_covers_every_task_and_keeps_its_ids():
    tok = CharTokenizer()
    # the ids CLRS-Text models were trained with: specials, newline, printable ASCII
    assert tok.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "\n"] + \
        [c for c in string.printable if c.isprintable()]
    for task in T.TASKS:
        for options in (T.TaskOptions(hint=True), T.TaskOptions(separator_every=3)):
            if T.applies(task, options):
                e = T.examples(task, 20, 3, options=options)[0]
                assert tok.unk_id not in tok.encode(e.prompt + T.answer_text(e.answer))


# --------------------------------------------------------------------------
# Reading answers
# --------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("0\n\n", 0), ("7", 7), (" 42 apples", 42), ("**12**", 12), ("1,024", 1024),
    ("12,5", 12), ("one", 1), ("The answer to your question is: one", 1),
    ("Twenty-one.", 21), ("forty two", 42), ("one hundred", 100), ("zero", 0),
    ("I count 3. The final answer to your maths question is: 45\n", 45),
    ("-3", 3), ("4.5", 4), ("", None), ("none of them", None), ("x1", None),
    ("someone said 5", 5), (None, None)])
def test_parse_answer(text, value):
    assert T.parse_answer(text) == value


# --------------------------------------------------------------------------
# Evaluation with stub models
# --------------------------------------------------------------------------

def truthful(prompts, max_new_tokens):
    """A perfect "model": reads the sequence line and answers by brute force."""
    out = []
    for prompt in prompts:
        question, sequence, _ = prompt.split("\n")
        task = next(t for t, spec in T.TASKS.items()
                    if question.startswith(spec.question.format(word="car"))
                    and (t != "count_ones" or set(sequence) <= {"1", ","})
                    and (t != "count_bernoulli" or "0" in sequence))
        e = T.Example(task, 0, prompt, 0, sequence)
        options = T.TaskOptions(separator_every=3 if "," in sequence else 0)
        out.append(T.answer_text(brute_force(e, options)[0]))
    return out


def test_a_perfect_model_scores_one_and_a_zero_sayer_what_it_should():
    lengths = (1, 3, 8)
    perfect = T.evaluate(truthful, lengths=lengths, num_samples=6)
    assert set(perfect) == set(T.TASKS)
    assert all(r["accuracy"] == [1.0] * 3 and r["parsed"] == [1.0] * 3 for r in perfect.values())
    separated = T.evaluate(truthful, lengths=lengths, num_samples=4,
                           options=T.variant_options("separators"))
    assert set(separated) == {"copy_last", "copy_first", "count_ones", "count_bernoulli"}
    assert all(r["accuracy"] == [1.0] * 3 for r in separated.values())

    zeros = T.evaluate(lambda prompts, k: ["0"] * len(prompts), lengths=lengths, num_samples=30)
    for task in ("copy_last", "copy_first"):  # the paper's copy answers are all 0
        assert zeros[task]["accuracy"] == [1.0] * 3
    for task in ("count_ones", "sum_ones"):
        assert zeros[task]["accuracy"] == [0.0] * 3
        assert zeros[task]["mean_abs_error"] == [float(n) for n in lengths]
    for task in ("count_bernoulli", "count_word"):
        expected = [sum(e.answer == 0 for e in T.examples(task, n, 30)) / 30 for n in lengths]
        assert zeros[task]["accuracy"] == expected
    assert zeros["count_bernoulli"]["accuracy"][0] > 0  # P(no one in 1 digit) = 0.3
    assert zeros["count_ones"]["answers"] == [{"0": 30}] * 3
    nothing = T.evaluate(lambda prompts, k: ["?"] * len(prompts), tasks=["count_ones"],
                         lengths=[2], num_samples=3)
    assert nothing["count_ones"] == {"lengths": [2], "accuracy": [0.0], "parsed": [0.0],
                                     "mean_abs_error": [None], "answers": [{"none": 3}]}


def test_evaluate_keeps_records():
    records = []
    T.evaluate(truthful, tasks=["copy_first"], lengths=[4], num_samples=2, records=records)
    assert [r["correct"] for r in records] == [True, True]
    assert records[0]["prompt"].endswith(T.COPY_REPLY) and records[0]["parsed"] == 0


# --------------------------------------------------------------------------
# The tasks as training data, and the commands
# --------------------------------------------------------------------------

def test_trainer_hook_trains_on_the_tasks_and_refuses_other_tasks(tmp_path):
    out = tmp_path / "run"
    source = T.TaskExamples(lengths=range(1, 6), seed=0)
    model, _ = lm_train.train(tiny_lm_config(), hook_train_config(out), examples=source)
    assert len(model.history) == 2
    saved = json.loads((out / "config.json").read_text())["data"]["examples"]
    assert saved["source"] == "glasses-tasks" and saved["lengths"] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="another config"):
        lm_train.train(tiny_lm_config(), hook_train_config(out, steps=3),
                       examples=T.TaskExamples(tasks=["count_ones"], lengths=range(1, 6)))
    again, _ = lm_train.train(tiny_lm_config(), hook_train_config(out, steps=3),
                              examples=T.TaskExamples(lengths=range(1, 6), seed=0))
    assert [s for s, _ in again.history] == [3]


def _read(out):
    data = json.loads((out / "tasks.json").read_text())
    assert (out / "tasks.png").stat().st_size > 1000
    return data


def test_diagnose_tasks_on_a_tiny_openclrs_lm_and_hf_model(tiny_hf_models, tmp_path, capsys):
    common = ["--lengths", "2", "5", "--samples", "2", "--max-new-tokens", "3"]
    out = tmp_path / "ours"
    assert main(["diagnose", "tasks", "--checkpoint", tiny_hf_models["openclrs"], "--out",
                 str(out), "--dtypes", "float32", "bfloat16", "--every", "1", *common]) == 0
    data = _read(out)
    assert data["model"]["kind"] == "openclrs" and data["lengths"] == [2, 5]
    assert set(data["results"]) == {"float32", "bfloat16"}
    assert set(data["results"]["float32"]) == {"plain", "separators", "hint"}
    assert set(data["results"]["bfloat16"]["separators"]) == {
        "copy_last", "copy_first", "count_ones", "count_bernoulli"}
    assert data["prompts"]["copy_last"]["separators"].split("\n")[1] == "1,0"
    row = data["results"]["float32"]["plain"]["count_word"]
    assert row["lengths"] == [2, 5] and all(0 <= a <= 1 for a in row["accuracy"])
    assert str(out / "tasks.json") in capsys.readouterr().out

    out = tmp_path / "hf"
    assert main(["diagnose", "tasks", "--hf-model", tiny_hf_models["llama"], "--out", str(out),
                 "--dtypes", "float32", "--tasks", "copy_last", "count_ones", "--variants",
                 "plain", "hint", *common]) == 0
    data = _read(out)
    assert data["model"]["kind"] == "hf" and set(data["results"]["float32"]["hint"]) == {
        "copy_last", "count_ones"}


def test_diagnose_tasks_train_then_evaluate(tmp_path):
    run, out = tmp_path / "run", tmp_path / "diag"
    args = ["diagnose", "tasks", "--checkpoint", str(run), "--train", "--train-steps", "2",
            "--train-max-length", "4", "--out", str(out), "--dtypes", "float32", "--lengths",
            "3", "--samples", "1", "--tasks", "copy_first", "--variants", "plain"]
    assert main(args) == 0
    assert json.loads((run / "config.json").read_text())["data"]["examples"]["lengths"] == \
        [1, 2, 3, 4]
    data = _read(out)
    assert data["trained_with"]["steps"] == 2 and data["trained_with"]["max_train_length"] == 4
    assert main(args) == 0  # resumes: nothing left to train
    assert main(["diagnose", "tasks", "--hf-model", str(tmp_path), "--train", "--out",
                 str(out)]) != 0


@pytest.mark.parametrize("family", ["gpt2", "gemma", "gemma2", "gemma3", "qwen2", "qwen3"])
def test_diagnose_tasks_on_every_hf_family(tiny_hf_models, tmp_path, family):
    """`openclrs diagnose tasks` on a tiny model of each supported Hugging Face
    family (Llama above): greedy answers decoded and scored, one task, two lengths."""
    out = tmp_path / family
    assert main(["diagnose", "tasks", "--hf-model", tiny_hf_models[family], "--out", str(out),
                 "--dtypes", "float32", "--tasks", "copy_last", "--variants", "plain",
                 "--lengths", "2", "5", "--samples", "2", "--max-new-tokens", "3"]) == 0
    row = _read(out)["results"]["float32"]["plain"]["copy_last"]
    assert row["lengths"] == [2, 5] and all(0 <= a <= 1 for a in row["accuracy"])
