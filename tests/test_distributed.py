"""Data-parallel training under torchrun (two CPU processes, gloo)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from openclrs.training import distributed
from openclrs.models.config import ModelConfig
from openclrs.training.config import TrainConfig
from openclrs.training.loop import build_model, train_batch

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_shards_split_the_batch_evenly():
    shards = [distributed.Context(rank=r, world_size=4).shard(32) for r in range(4)]
    assert [(s.start, s.stop) for s in shards] == [(0, 8), (8, 16), (16, 24), (24, 32)]
    with pytest.raises(ValueError, match="not divisible"):
        distributed.Context(rank=0, world_size=3).shard(32)


def test_one_process_context_is_a_no_op():
    context = distributed.setup("cpu")
    assert not context.enabled and context.is_main
    assert context.mean({"bfs": 1.5}) == {"bfs": 1.5}
    assert context.shard(8) == slice(0, 8)


def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "run"
    options = dict(algorithms=["bfs", "bellman_ford"], steps=3, batch_size=8,
                   model=ModelConfig(processor="mpnn", hidden_size=16), train_lengths=[5],
                   seed=7)
    # two algorithms, so two updates per step; bellman_ford, not dfs: its
    # n = 64 test traces are short, dfs's long (a third of the time)
    args = ["--algorithms", "bfs", "bellman_ford", "--steps", "3", "--batch-size", "8",
            "--processor", "mpnn", "--hidden-size", "16", "--train-lengths", "5",
            "--seed", "7", "--eval-every", "3", "--quiet", "--out", str(out),
            "--eval-batch-size", "8"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "openclrs", "train", *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["algorithms"]) == {"bfs", "bellman_ford"}
    assert json.loads((out / "config.json").read_text())["processes"] == 2
    with open(out / "metrics.jsonl") as f:
        first = json.loads(f.readline())

    # The step-1 loss logged is the mean over both ranks' halves of the batch,
    # each computed by the same initial model (bfs, the first algorithm, goes
    # first: bellman_ford sees the weights after bfs's update).
    config = TrainConfig(out_dir=str(out), **options).validate()
    torch.manual_seed(config.seed)
    model = build_model(config)
    halves = [model.loss(train_batch(config, 0, 0, s).to_torch())[0].item()
              for s in (slice(0, 4), slice(4, 8))]
    assert np.isclose(first["losses"]["bfs"], np.mean(halves), rtol=1e-5)
