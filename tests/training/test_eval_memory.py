"""Lean evaluation: predictions keep no hint history, batches run in chunks
that fit a memory budget, and the chunks change nothing in the scores."""

import argparse
import json

import numpy as np
import pytest
import torch

from openclrs.cli.arguments import memory_size
from openclrs.data import batching
from openclrs.data.batching import collate
from openclrs.models.config import ModelConfig
from openclrs.samplers import Sampler
from openclrs.training import memory
from openclrs.training.config import TrainConfig
from openclrs.training.loop import _apply_eval, _batches, build_model, score

# An edge pointer (floyd_warshall), node pointers of varied trace lengths
# (bfs) and a mask output scored by F1 pooled over the split (articulation_points).
ALGORITHMS = ["floyd_warshall", "bfs", "articulation_points"]


@pytest.fixture(scope="module")
def setup():
    config = TrainConfig(algorithms=ALGORITHMS, progress=False,
                         model=ModelConfig(hidden_size=8, processor="triplet_gmpnn"))
    torch.manual_seed(0)
    model = build_model(config.validate())
    traces = {a: [_apply_eval(t, config) for t in Sampler(a, 6, seed=1).take(10)]
              for a in ALGORITHMS}
    return config, model, traces


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_tiny_budget_gives_the_scores_of_one_big_batch(setup, algorithm):
    _, model, traces = setup
    batches = _batches(traces[algorithm], 10)
    per_sample = memory.model_sample_bytes(model, algorithm, 6, batches[0].num_steps)
    whole = score(model, batches, max_memory=1 << 40)
    assert len(memory.chunks(model, batches[0], 3 * per_sample)) == 4   # 3 + 3 + 3 + 1
    assert len(memory.chunks(model, batches[0], 1)) == 10
    for budget in (1, 3 * per_sample):
        assert score(model, batches, max_memory=budget) == whole
    # uneven batches of the same split too (F1 pooled over all of them)
    assert score(model, _batches(traces[algorithm], 4), max_memory=1) == whole


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_sample_predicted_the_same_alone_and_in_the_batch(setup, algorithm):
    _, model, traces = setup
    model.eval()
    batch = collate(traces[algorithm])
    together = model.predict(batch)
    for i in range(batch.batch_size):
        alone = model.predict(batching.batch_rows(batch, i, i + 1))
        for name, value in together.items():
            np.testing.assert_array_equal(alone[name][0], value[i], err_msg=name)


def test_batch_rows_is_the_collate_of_those_samples(setup):
    _, _, traces = setup
    samples = traces["bfs"]
    lengths = [t.length for t in samples]
    assert len(set(lengths)) > 1  # the hints are cut to the chunk's longest trace
    start = int(np.argmin(lengths))
    part = batching.batch_rows(collate(samples), start, start + 1)
    expected = collate(samples[start:start + 1])
    assert part.num_steps == expected.num_steps == min(lengths)
    for field in ("inputs", "hints", "outputs"):
        for name, value in getattr(expected, field).items():
            np.testing.assert_array_equal(getattr(part, field)[name], value)
    np.testing.assert_array_equal(part.lengths, expected.lengths)


def test_predict_keeps_no_hint_history_and_forward_still_returns_it(setup):
    _, model, traces = setup
    model.eval()
    batch = collate(traces["floyd_warshall"]).to_torch()
    full = model(batch, repred=True)
    lean = model(batch, repred=True, hints=False)
    assert lean.hints == {} and set(full.hints) == {"Pi_h", "D", "msk", "k"}
    for name in full.outputs:
        torch.testing.assert_close(lean.outputs[name], full.outputs[name], rtol=0, atol=0)


def test_estimate_grows_with_the_graph_and_bounds_edge_pointers():
    config = TrainConfig(algorithms=["floyd_warshall", "bfs"]).validate()
    model = build_model(config)
    fw16, fw64 = (memory.model_sample_bytes(model, "floyd_warshall", n, n + 1) for n in (16, 64))
    bfs64 = memory.model_sample_bytes(model, "bfs", 64, 4)
    assert 16 * fw16 <= fw64 and fw64 > bfs64
    # at least the hidden-size edge tensors and the one-hot Pi_h of a step
    assert fw64 >= memory.EDGE_TENSORS * 64 * 64 * 128 * 4 + 64 ** 3 * 4
    assert memory.chunk_size(fw64, 10 * fw64 + 1, 32) == 10
    assert memory.chunk_size(fw64, 1, 32) == 1 and memory.chunk_size(1, 1 << 40, 32) == 32


@pytest.mark.parametrize("text, value", [("2G", 2 << 30), ("1.5GB", 3 << 29), ("500MiB", 500 << 20),
                                         ("800m", 800 << 20), ("4096", 4096), (" 1 k ", 1024)])
def test_parse_size(text, value):
    assert memory.parse_size(text) == value
    assert memory_size(text) == value


@pytest.mark.parametrize("text", ["", "G", "2X", "-1G", "1e999G", "two"])
def test_bad_sizes_are_refused_with_examples(text):
    with pytest.raises(ValueError):
        memory.parse_size(text)
    with pytest.raises(argparse.ArgumentTypeError, match="2G, 500M"):
        memory_size(text)


def test_default_budget_is_half_the_available_memory(monkeypatch):
    import openclrs.footprint as footprint

    monkeypatch.setattr(footprint, "available_memory", lambda: 8 << 30)
    assert memory.default_budget() == 4 << 30
    monkeypatch.setattr(footprint, "available_memory", lambda: None)
    assert memory.default_budget() == memory.FALLBACK_BUDGET
    assert memory.default_budget(torch.device("cpu")) == memory.FALLBACK_BUDGET
    # on a GPU: half of its free memory, not of the host's
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (6 << 30, 80 << 30))
    assert memory.default_budget(torch.device("cuda", 0)) == 3 << 30


@pytest.mark.parametrize("value", [0, -5, True, 1.5, "2G"])
def test_config_refuses_a_bad_budget(value):
    with pytest.raises(ValueError, match="--max-memory"):
        TrainConfig(max_memory=value).validate()


def test_evaluate_and_train_take_a_budget_with_the_same_scores(tmp_path):
    from openclrs.cli.training import main
    from openclrs.training.loop import train

    run = tmp_path / "run"
    config = TrainConfig(algorithms=["bfs"], out_dir=str(run), steps=2, batch_size=4,
                         train_lengths=[4, 5], eval_every=2, test_every=0, seed=3,
                         progress=False, data_root=str(tmp_path / "data"), max_memory=1,
                         model=ModelConfig(hidden_size=8, processor="mpnn"))
    scores = train(config)["algorithms"]["bfs"]  # every evaluation sample by sample
    for args in ([], ["--max-memory", "1"], ["--max-memory", "2G"]):
        out = tmp_path / "scores.json"
        assert main(["evaluate", "--run", str(run), "--json", str(out), *args]) == 0
        again = json.loads(out.read_text())["algorithms"]["bfs"]
        assert again["test_metrics"] == scores["test_metrics"]
    with pytest.raises(SystemExit):
        main(["evaluate", "--run", str(run), "--max-memory", "lots"])


def test_batches_are_collated_when_read(setup, monkeypatch):
    import openclrs.training.loop as loop

    _, _, traces = setup
    made = []
    monkeypatch.setattr(loop, "collate", lambda t: made.append(len(t)) or collate(t))
    batches = _batches(traces["bfs"], 4)
    assert len(batches) == 3 and made == []
    assert [b.batch_size for b in batches] == [4, 4, 2] and made == [4, 4, 2]
    assert batches[-1].batch_size == 2 and [b.batch_size for b in batches[:2]] == [4, 4]
    np.testing.assert_array_equal(batches[1].lengths, collate(traces["bfs"][4:8]).lengths)
    with pytest.raises(IndexError):
        batches[3]
