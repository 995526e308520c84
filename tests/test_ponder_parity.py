"""The learned-halting parity benchmark (openclrs.halting.parity; not the
dm-clrs reference parity of tests/test_parity.py): the task generator against
brute force, the three methods' losses, exact resume on the run folder, and
the `openclrs ponder` commands. Tiny sizes only."""

import json
import math
import os

import pytest
import torch
import torch.nn.functional as F

from openclrs.cli import main
from openclrs.halting.act import act_halting, weighted_output
from openclrs.halting.parity import (ParityRNN, config_from_run, evaluate, parity_batch,
                                     parity_targets, parity_vectors, predict, train,
                                     training_loss)
from openclrs.halting.parity_config import ParityConfig
from openclrs.halting.ponder import geometric_prior

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(tmp_path, name="run", **changes):
    settings = dict(out=str(tmp_path / name), size=6, hidden=8, batch=16, max_steps=5, steps=6,
                    eval_samples=8, eval_every=3, log_every=2, checkpoint_every=3, progress=False)
    return ParityConfig(**{**settings, **changes})


# ---------------------------------------------------------------- the task

def test_vectors_have_the_asked_numbers_of_plus_minus_ones():
    x, y, counts = parity_batch(12, (3, 9), 500, seed=5)
    assert x.shape == (500, 12) and set(x.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.equal((x != 0).sum(1), counts)
    assert counts.min() == 3 and counts.max() == 9            # the whole range, and only it
    assert 0.4 < (x == 1).sum() / (x != 0).sum() < 0.6        # signs at even odds
    assert set((x != 0).nonzero()[:, 1].tolist()) == set(range(12))   # every position used


def test_parity_by_brute_force():
    x, y, _ = parity_batch(10, (1, 10), 200, seed=1)
    for row, target in zip(x.tolist(), y.tolist()):
        assert target == sum(1 for v in row if v == 1) % 2
    nonzero = parity_targets(x, "nonzero")
    for row, target in zip(x.tolist(), nonzero.tolist()):
        assert target == sum(1 for v in row if v != 0) % 2
    assert not torch.equal(y, nonzero)                        # the two readings differ


def test_generator_is_deterministic():
    a = parity_batch(16, (1, 16), 64, seed=3)
    b = parity_batch(16, (1, 16), 64, seed=3)
    c = parity_batch(16, (1, 16), 64, seed=4)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])
    exact = parity_vectors(torch.tensor([0, 4, 7]), 7, torch.Generator().manual_seed(0))
    assert (exact != 0).sum(1).tolist() == [0, 4, 7]


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="nonzeros"):
        parity_batch(8, (0, 4), 4, seed=0)
    with pytest.raises(ValueError, match="train_nonzeros"):
        ParityConfig(out="x", size=8, train_nonzeros=(1, 9))
    with pytest.raises(ValueError, match="test_nonzeros"):
        ParityConfig(out="x", size=8, test_nonzeros=(5,))
    with pytest.raises(ValueError, match="lambda_p"):
        ParityConfig(out="x", lambda_p=0)
    cfg = ParityConfig(out="x", size=8)
    assert cfg.train_nonzeros == (1, 8) and cfg.test_nonzeros == (1, 8)


# ---------------------------------------------------------------- the methods

def _batch(cfg):
    x, y, _ = parity_batch(cfg.size, cfg.train_nonzeros, cfg.batch, seed=0)
    return x, y


def test_halting_at_step_one_reproduces_the_one_step_model(tmp_path):
    """λ_1 = 1: PonderNet's loss is the one-step RNN's (+ β·(−log p_G(1)) if N steps are unrolled)."""
    torch.manual_seed(0)
    model = ParityRNN(6, 8)
    with torch.no_grad():
        model.halting.linear.bias.fill_(100.0)               # σ(100) = 1 in float32
    ponder = tiny(tmp_path, method="ponder", beta=0.5, lambda_p=0.3)
    x, y = _batch(ponder)
    fixed_loss, _ = training_loss(model, x, y, tiny(tmp_path, method="fixed", fixed_steps=1))
    loss, stats = training_loss(model, x, y, ponder)          # ε rule: stops after step 1
    assert stats["unrolled"] == 1 and stats["steps"] == 1
    assert loss.item() == fixed_loss.item()
    loss, _ = training_loss(model, x, y, tiny(tmp_path, method="ponder", beta=0.5, lambda_p=0.3,
                                              epsilon=0.0))
    prior_1 = geometric_prior(0.3, 5)[0].item()
    assert loss.item() == pytest.approx(fixed_loss.item() - 0.5 * math.log(prior_1), rel=1e-6)


def test_act_loss_is_the_full_unroll_s():
    torch.manual_seed(1)
    model = ParityRNN(6, 8)
    with torch.no_grad():
        model.halting.linear.bias.fill_(-1.0)                # units ≈ 0.27: N(t) ≈ 4 < 5
    cfg = ParityConfig(out="x", method="act", size=6, hidden=8, batch=16, max_steps=5, tau=0.1)
    x, y = _batch(cfg)
    loss, stats = training_loss(model, x, y, cfg)
    logits, units = model.unroll(x, cfg.max_steps)
    halting = act_halting(units, cfg.act_epsilon)
    by_hand = F.binary_cross_entropy_with_logits(weighted_output(halting.p, logits), y) \
        + 0.1 * halting.ponder_cost.mean()
    assert stats["unrolled"] < 5
    assert loss.item() == pytest.approx(by_hand.item(), abs=1e-6)
    output, steps = predict(model, x, cfg)
    assert torch.equal(steps, halting.steps)


def test_sampled_evaluation_is_reproducible(tmp_path):
    torch.manual_seed(2)
    model = ParityRNN(6, 8)
    cfg = tiny(tmp_path, method="ponder")
    a, b = evaluate(model, cfg), evaluate(model, cfg)
    assert a == b
    assert [r["nonzeros"] for r in a["by_nonzeros"]] == list(range(1, 7))
    assert all(1 <= r["steps"] <= cfg.max_steps for r in a["by_nonzeros"])


# ---------------------------------------------------------------- the run folder

@pytest.mark.parametrize("method", ["ponder", "act", "fixed"])
def test_resume_is_exact(tmp_path, method):
    straight, _ = train(tiny(tmp_path, "straight", method=method, fixed_steps=2))
    train(tiny(tmp_path, "resumed", method=method, fixed_steps=2, steps=3))
    resumed, results = train(tiny(tmp_path, "resumed", method=method, fixed_steps=2, steps=6))
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    folder = tmp_path / "resumed"
    records = [json.loads(line) for line in open(folder / "metrics.jsonl")]
    assert [r["step"] for r in records] == [2, 3, 4, 6]       # step 3: the end of the first call
    assert os.path.exists(folder / "parity.png")
    saved = json.load(open(folder / "results.json"))
    assert saved["step"] == 6 and saved["accuracy"] == results["accuracy"]


def test_a_resume_with_other_settings_is_refused(tmp_path):
    train(tiny(tmp_path, steps=3))
    with pytest.raises(ValueError, match="lambda_p"):
        train(tiny(tmp_path, steps=6, lambda_p=0.5))


def test_a_run_config_with_unknown_settings_is_refused(tmp_path):
    cfg = tiny(tmp_path, steps=3)
    train(cfg)
    assert config_from_run(cfg.out).hidden == cfg.hidden
    path = os.path.join(cfg.out, "config.json")
    saved = json.load(open(path))
    json.dump({**saved, "curriculum": "easy-first", "warmup": 10}, open(path, "w"))
    with pytest.raises(ValueError, match="does not know: curriculum, warmup"):
        config_from_run(cfg.out)


def test_cli_train_and_evaluate(tmp_path, capsys):
    out = str(tmp_path / "cli")
    args = ["ponder", "train", "--task", "parity", "--method", "act", "--size", "5", "--hidden", "8",
            "--batch", "8", "--max-steps", "4", "--steps", "3", "--eval-samples", "4",
            "--train-nonzeros", "1", "3", "--test-nonzeros", "4", "5", "--out", out, "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "parity act, size 5, train non-zeros 1-3, test 4-5" in printed
    results = json.load(open(os.path.join(out, "results.json")))
    assert [r["nonzeros"] for r in results["by_nonzeros"]] == [1, 2, 3, 4, 5]
    assert main(["ponder", "evaluate", out, "--samples", "6"]) == 0
    assert json.load(open(os.path.join(out, "results.json")))["samples_per_count"] == 6
    assert main(["ponder", "train", "--out", out, "--size", "5", "--train-nonzeros", "1", "9",
                 "--quiet"]) == 2
    assert "train_nonzeros" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["ponder", "act"])
def test_a_tiny_run_learns(tmp_path, method):
    """3-element parity is solved in 150 steps (deterministic under the seed)."""
    cfg = ParityConfig(out=str(tmp_path / method), method=method, size=3, hidden=16, batch=64,
                       max_steps=6, lr=2e-2, steps=150, eval_every=0, log_every=10,
                       eval_samples=64, progress=False)
    untrained = evaluate(ParityRNN(3, 16), cfg)["accuracy"]
    _, results = train(cfg)
    assert untrained < 0.8 and results["accuracy"] >= 0.95
    losses = [json.loads(line)["loss"] for line in open(tmp_path / method / "metrics.jsonl")]
    assert sum(losses[-3:]) < 0.5 * sum(losses[:3])
