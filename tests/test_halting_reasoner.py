"""Reasoners that decide when they are done (openclrs.halting.reasoner,
.training, the step-level Reasoner.unroll and the CLI's --halting)."""

import json
import math
import os

import numpy as np
import pytest
import torch

from openclrs import transforms
from openclrs.cli.training import main
from openclrs.data.batching import collate
from openclrs.halting.config import HaltingConfig
from openclrs.halting.ponder import threshold_halting_step
from openclrs.halting.reasoner import HaltingReasoner, sample_output_loss, score_halting
from openclrs.halting.training import evaluate_halting_run, train_halting
from openclrs.models.config import ModelConfig
from openclrs.models.losses import output_loss
from openclrs.models.model import Reasoner, processor_steps
from openclrs.samplers import Sampler
from openclrs.specs import Stage
from tests.test_halting_training import data_root, tiny  # noqa: F401 (data_root: a fixture)

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def batch_of(algorithm, lengths=(5, 6), per_length=3, seed=1):
    traces = [transforms.apply(t) for i, n in enumerate(lengths)
              for t in Sampler(algorithm, n, seed=seed + i).take(per_length)]
    # one length per batch, as training makes them; traces of several lengths
    # would be padded to a common node count
    return collate([t for t in traces if t.inputs["pos"].shape[-1] == lengths[0]])


def mixed_batch(algorithm, n=6, count=8, seed=1):
    """One node count, trace lengths that differ."""
    return collate([transforms.apply(t) for t in Sampler(algorithm, n, seed=seed).take(count)])


def model_of(algorithm, kind="learned", hidden=16, **halting):
    torch.manual_seed(0)
    reasoner = Reasoner.from_algorithms(algorithm, ModelConfig(hidden_size=hidden)).double()
    return HaltingReasoner(reasoner, HaltingConfig(kind=kind, **halting)).double()


def force_head(model, decide):
    """Make the head's logit +40 where ``decide(step, B)`` is True, else -40."""
    calls = {"step": 0}

    def halt_logits(algorithm, hidden):
        calls["step"] += 1
        return torch.where(decide(calls["step"], hidden.shape[0]), 40.0, -40.0).double()

    model.halt_logits = halt_logits
    return calls


# ------------------------------------------------------------- the unroll

@pytest.mark.parametrize("algorithm", ["bfs", "dijkstra", "insertion_sort"])
def test_unroll_to_the_true_step_gives_forwards_outputs(algorithm):
    torch.manual_seed(0)
    model = Reasoner.from_algorithms(algorithm, ModelConfig(hidden_size=16)).double().eval()
    algorithm, _, batch = model.prepare(mixed_batch(algorithm))
    steps = processor_steps(batch.lengths)
    reference = model(batch, repred=True, hints=False).outputs
    got = {}
    with torch.no_grad():
        for step in model.unroll(batch, steps=int(steps.max())):
            outputs = model.decode_outputs(step.state, algorithm)
            for k, v in outputs.items():
                got.setdefault(k, torch.zeros_like(v))[steps == step.index + 1] = \
                    v[steps == step.index + 1]
    for k in reference:
        torch.testing.assert_close(got[k], reference[k], rtol=0, atol=1e-12)


def test_unroll_runs_past_the_trace_feeding_its_own_hints():
    torch.manual_seed(0)
    config = ModelConfig(hidden_size=8, hint_teacher_forcing=1.0)
    model = Reasoner.from_algorithms("bfs", config).double().train()
    _, _, batch = model.prepare(mixed_batch("bfs", n=5))
    seen = [s.index for s in model.unroll(batch, steps=3 * batch.num_steps)]
    assert seen == list(range(3 * batch.num_steps))


# ---------------------------------------------------------------- losses

def test_sample_output_loss_agrees_with_the_batch_loss():
    model = model_of("bfs")
    _, spec, batch = model.reasoner.prepare(mixed_batch("bfs"))
    preds = model.reasoner(batch, repred=True).outputs
    for name, (stage, _, type_) in spec.items():
        if stage != Stage.OUTPUT:
            continue
        per_sample = sample_output_loss(type_, batch.outputs[name], preds[name])
        assert per_sample.shape == (batch.batch_size,)
        # pointer: equal counts per sample, so the mean over samples is the batch loss
        torch.testing.assert_close(per_sample.mean(),
                                   output_loss(type_, batch.outputs[name], preds[name]))
        for b in range(batch.batch_size):
            torch.testing.assert_close(
                per_sample[b], output_loss(type_, batch.outputs[name][b:b + 1],
                                           preds[name][b:b + 1]))


@pytest.mark.parametrize("kind", ["learned", "termination"])
def test_loss_reaches_heads_and_processor(kind):
    model = model_of("bfs", kind).train()
    loss, terms = model.loss(mixed_batch("bfs"))
    loss.backward()
    assert torch.isfinite(loss)
    assert model.heads["bfs"].mean.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.reasoner.processor.parameters())
    if kind == "learned":
        batch = mixed_batch("bfs")
        longest = int(processor_steps(torch.as_tensor(batch.lengths)).max())
        # the ε rule from λ = 0.2 everywhere: the first n with 1 − 0.8^n > 0.95
        assert terms["unrolled_steps"] == max(longest, math.ceil(math.log(0.05) / math.log(0.8)))
    else:
        assert "termination" in terms


# ------------------------------------------------------------ evaluation

def test_oracle_prediction_is_todays_prediction():
    model = model_of("bfs").eval()
    batch = mixed_batch("bfs")
    ours, todays = model.predict(batch, oracle=True), model.reasoner.predict(batch)
    assert ours.keys() == todays.keys()
    for k in ours:
        assert np.array_equal(ours[k], todays[k])


@pytest.mark.parametrize("kind", ["learned", "termination"])
def test_a_head_that_halts_at_the_true_step_reproduces_the_oracle(kind):
    model = model_of("dijkstra", kind).eval()
    batch = mixed_batch("dijkstra", n=6)
    true = processor_steps(torch.as_tensor(batch.lengths))
    calls = force_head(model, lambda step, size: true == step)
    halted = model.halt(batch)
    assert torch.equal(halted.steps, true) and not halted.capped.any()
    oracle = model.reasoner.predict(batch)
    learned = model._hard(model.specs["dijkstra"], halted.outputs)
    for k in oracle:
        assert np.array_equal(learned[k], oracle[k])
    calls["step"] = 0
    metrics = score_halting(model, [batch])
    assert metrics["score"] == metrics["oracle_score"]
    assert metrics["halting_error"] == 0 and metrics["early"] == metrics["late"] == 0


@pytest.mark.parametrize("kind", ["learned", "termination"])
def test_the_cap_is_respected(kind):
    model = model_of("bfs", kind, max_steps_factor=1.5).eval()
    batch = mixed_batch("bfs", n=5)
    calls = force_head(model, lambda step, size: torch.zeros(size, dtype=torch.bool))
    halted = model.halt(batch)
    assert halted.cap == 8 and calls["step"] == 8  # ceil(1.5 * 5), and no step more
    assert (halted.steps == 8).all() and halted.capped.all()
    calls["step"] = 0
    metrics = score_halting(model, [batch])
    assert metrics["capped"] == 1 and metrics["late"] == 1 and metrics["max_steps"] == 8


def test_threshold_halting_matches_ponders_rule():
    model = model_of("bfs").eval()
    batch = mixed_batch("bfs", n=6)
    size = batch.batch_size
    lambdas = torch.rand(30, size, generator=torch.Generator().manual_seed(4),
                         dtype=torch.float64) * 0.4
    model.halt_logits = lambda algorithm, hidden, it=iter(lambdas): torch.logit(next(it))
    halted = model.halt(batch)
    expected = threshold_halting_step(lambdas[:30]) + 1
    assert torch.equal(halted.steps, expected.clamp(max=30))


def test_fixed_budget_runs_every_sample_c_n_steps():
    model = model_of("bfs").eval()
    batch = mixed_batch("bfs", n=6)
    halted = model.halt(batch, mode="fixed", budget=0.5)
    assert (halted.steps == 3).all()
    with pytest.raises(ValueError, match="budget"):
        model.halt(batch, mode="fixed")


def test_sampled_halting_is_seeded():
    model = model_of("bfs", evaluation="sample").eval()
    batch = mixed_batch("bfs", n=6)
    first, again = model.halt(batch).steps, model.halt(batch).steps
    assert torch.equal(first, again)


# -------------------------------------------------------------- training

def test_halting_error_falls_during_training(tmp_path, data_root):
    # the error at step 20 (~23: the untrained head never halts) and at step
    # 40 (~0.2-0.3 with seeds 3, 4, 5): the validations, not the steps, take the time
    config = tiny(tmp_path, data_root, steps=40, eval_every=20, learning_rate=3e-3)
    train_halting(config, HaltingConfig(kind="termination", initial_lambda=0.1))
    with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
        vals = [json.loads(line) for line in f if '"val"' in line]
    errors = [v["metrics"]["bfs"]["halting_error"] for v in vals]
    assert errors[-1] < 0.5 * errors[0], errors


def test_multitask_halting_run(tmp_path, data_root):
    results = train_halting(tiny(tmp_path, data_root, algorithms=["bfs", "bellman_ford"],
                                 steps=2, eval_every=2),
                            HaltingConfig(kind="termination", max_steps_factor=0.25))
    for algorithm in ("bfs", "bellman_ford"):
        assert 0 <= results["algorithms"][algorithm]["oracle_test_score"] <= 1
    again = evaluate_halting_run(str(tmp_path), split="val")
    assert again["algorithms"]["bfs"]["val_score"] == results["algorithms"]["bfs"]["val_score"]


def test_cli_train_and_evaluate_print_both_scores(tmp_path, data_root, capsys):
    out = str(tmp_path / "run")
    args = ["train", "--algorithm", "bfs", "--halting", "learned", "--steps", "3",
            "--out", out, "--batch-size", "4", "--train-lengths", "4", "5", "--eval-every", "3",
            "--test-every", "0", "--hidden-size", "8", "--processor", "mpnn", "--quiet",
            "--data-root", data_root, "--halting-cap-factor", "0.5"]
    assert main(args) == 0
    printed = capsys.readouterr().err
    assert "oracle" in printed and "|T^-T|/T" in printed
    results = json.load(open(os.path.join(out, "results.json")))
    assert results["halting"]["max_steps_factor"] == 0.5
    assert results["algorithms"]["bfs"]["halting"]["max_steps"] == 32
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["halting"]["kind"] == "learned"
    assert main(["evaluate", "--run", out, "--json", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr().out
    assert "oracle" in printed and "learned" in printed
    evaluated = json.load(open(tmp_path / "e.json"))["algorithms"]["bfs"]
    assert evaluated["test_score"] == results["algorithms"]["bfs"]["test_score"]
    assert evaluated["oracle_test_score"] == results["algorithms"]["bfs"]["oracle_test_score"]


def test_bad_halting_settings_name_their_option(tmp_path, capsys):
    code = main(["train", "--algorithm", "bfs", "--halting", "learned", "--out",
                 str(tmp_path / "x"), "--halting-lambda-p", "0"])
    assert code == 2
    assert "--halting-lambda-p" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")
