"""Halting runs on the trainer (openclrs.halting.training), the checks of
issue 20 that tests/test_halting_reasoner.py leaves out: a run's oracle
score is today's evaluation of the same weights, resuming is exact to the
weights for both kinds, and multi-task PonderNet runs from the CLI."""

import json
import os

import pytest
import torch

from openclrs.cli.training import main
from openclrs.halting.config import HaltingConfig
from openclrs.halting.training import evaluate_halting_run, factory, train_halting
from openclrs.models.config import ModelConfig
from openclrs.training import runs
from openclrs.training.config import TrainConfig
from openclrs.training.evaluate import load_run
from openclrs.training import loop

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def tiny(out, data_root, **kw):
    options = dict(algorithms=["bfs"], out_dir=str(out), steps=8, batch_size=8,
                   train_lengths=[4, 5, 6], eval_every=4, test_every=0, log_every=1, seed=3,
                   progress=False, data_root=data_root, eval_batch_size=16,
                   model=ModelConfig(hidden_size=16, processor="mpnn"))
    options.update(kw)
    return TrainConfig(**options)


def halting_of(kind):
    return HaltingConfig(kind=kind, max_steps_factor=0.25)   # an untrained head runs to the cap


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_root):
    """``uninterrupted(kind)``: the folder and results of one uninterrupted
    run of ``tiny`` per halting kind, trained once for the tests below
    (which only read it)."""
    made = {}

    def run_of(kind):
        if kind not in made:
            out = tmp_path_factory.mktemp(f"uninterrupted-{kind}")
            made[kind] = str(out), train_halting(tiny(out, data_root), halting_of(kind))
        return made[kind]
    return run_of


@pytest.mark.parametrize("kind", ["learned", "termination"])
def test_oracle_score_is_todays_evaluation_of_the_same_weights(uninterrupted, kind):
    """oracle_test_score comes from the halting scorer; here the plain
    Reasoner inside the loaded run is scored by the trainer's own score()
    (the evaluation every plain run gets): the two must agree exactly."""
    folder, results = uninterrupted(kind)
    loaded = load_run(folder, "best", factory=factory(halting_of(kind)))
    todays = loop.score(loaded.model.reasoner, loop.test_batches(loaded.config, "bfs"))["score"]
    assert todays == results["algorithms"]["bfs"]["oracle_test_score"]
    again = evaluate_halting_run(folder)["algorithms"]["bfs"]
    assert again["oracle_test_score"] == todays
    assert again["test_score"] == results["algorithms"]["bfs"]["test_score"]


@pytest.mark.parametrize("kind", ["learned", "termination"])
def test_resume_is_exact_to_the_weights(tmp_path, data_root, uninterrupted, kind):
    """Killed at step 6 (after the step-4 checkpoint) and run again: the
    last checkpoint's weights and optimizer state equal an uninterrupted
    run's, bit for bit, halting head included."""
    halting = halting_of(kind)
    straight, _ = uninterrupted(kind)

    class Killed(Exception):
        pass

    def kill(step):
        if step == 6:
            raise Killed

    with pytest.raises(Killed):
        train_halting(tiny(tmp_path / "b", data_root), halting, hook=kill)
    train_halting(tiny(tmp_path / "b", data_root), halting)
    a = runs.load_checkpoint(straight, "last")
    b = runs.load_checkpoint(str(tmp_path / "b"), "last")
    assert a.step == b.step == 8
    assert a.weights.keys() == b.weights.keys()
    assert any(name.startswith("heads.") for name in a.weights), sorted(a.weights)
    for name in a.weights:
        assert torch.equal(a.weights[name], b.weights[name]), name
    assert a.tensors.keys() == b.tensors.keys()
    for name in a.tensors:
        assert torch.equal(a.tensors[name], b.tensors[name]), name
    # and so the same results (learned and oracle scores, halting statistics)
    results = []
    for run in (straight, tmp_path / "b"):
        with open(os.path.join(run, "results.json")) as f:
            results.append(json.load(f))
        results[-1].pop("train_seconds")
    assert results[0] == results[1]
    assert {"test_score", "oracle_test_score", "halting"} <= set(results[0]["algorithms"]["bfs"])
    assert results[0]["algorithms"]["bfs"]["halting"]["max_steps"] == 16   # 0.25 * 64
    # another halting setting is refused on resume
    with pytest.raises(ValueError, match="halting"):
        train_halting(tiny(tmp_path / "b", data_root, steps=9),
                      HaltingConfig(kind=kind, max_steps_factor=0.5))


def test_multitask_pondernet_from_the_cli(tmp_path, data_root, capsys):
    out = str(tmp_path / "run")
    args = ["train", "--algorithms", "bfs", "bellman_ford", "--halting", "learned",
            "--steps", "4", "--out", out, "--batch-size", "4", "--train-lengths", "4", "5",
            "--eval-every", "4", "--test-every", "0", "--hidden-size", "8",
            "--processor", "mpnn", "--quiet", "--data-root", data_root,
            "--halting-cap-factor", "0.5"]
    assert main(args) == 0
    printed = capsys.readouterr().err
    assert "bfs" in printed and "bellman_ford" in printed and "oracle" in printed
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    assert results["halting"]["kind"] == "learned"
    heads = [n for n in runs.load_checkpoint(out, "last").weights if n.startswith("heads.")]
    for algorithm in ("bfs", "bellman_ford"):
        r = results["algorithms"][algorithm]
        assert 0 <= r["test_score"] <= 1 and 0 <= r["oracle_test_score"] <= 1
        assert r["halting"]["max_steps"] == 32                 # ceil(0.5 * 64)
        assert 1 <= r["halting"]["mean_steps"] <= 32
        assert any(algorithm in n for n in heads), heads       # one head per algorithm
    again = evaluate_halting_run(out)
    for algorithm in ("bfs", "bellman_ford"):
        for key in ("test_score", "oracle_test_score", "halting"):
            assert again["algorithms"][algorithm][key] == results["algorithms"][algorithm][key]
