"""Training loop, checkpoints, resume and the train/evaluate CLI (tiny, CPU)."""

import json
import os

import numpy as np
import pytest

from openclrs.cli.training import main
from openclrs.models.config import ModelConfig
from openclrs.training import runs
from openclrs.training.config import TrainConfig
from openclrs.training.loop import train


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def tiny(out, data_root, hidden_size=16, processor="mpnn", **kw):
    options = dict(algorithms=["bfs"], out_dir=str(out), steps=12, batch_size=8,
                   train_lengths=[4, 5, 6], eval_every=4, test_every=8, log_every=1, seed=3,
                   progress=False, data_root=data_root,
                   model=ModelConfig(hidden_size=hidden_size, processor=processor))
    options.update(kw)
    return TrainConfig(**options)


def read_metrics(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def read_results(run):
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    results.pop("train_seconds")
    return results


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("ref")
    train(tiny(out, data_root))
    return str(out)


def test_run_writes_every_file(reference):
    for name in ("config.json", "checkpoints.json", "metrics.jsonl", "results.json"):
        assert os.path.exists(os.path.join(reference, name)), name
    assert not [n for n in os.listdir(reference) if n.startswith(".tmp-")]
    pointers = json.loads(open(os.path.join(reference, "checkpoints.json")).read())
    assert pointers["last"] == "checkpoints/step-0000012"
    # Only the checkpoints a pointer names are kept.
    assert sorted(os.listdir(os.path.join(reference, "checkpoints"))) == sorted(
        {p.split("/")[1] for p in pointers.values()})
    for target in pointers.values():
        assert sorted(os.listdir(os.path.join(reference, target))) == [
            "manifest.json", "model.safetensors", "state.json", "state.safetensors"]
    assert not [n for n in os.listdir(reference) if n.endswith(".pt")]
    results = read_results(reference)
    bfs = results["algorithms"]["bfs"]
    assert 0 <= bfs["test_score"] <= 1 and "pi" in bfs["test_metrics"]
    kinds = [r["kind"] for r in read_metrics(reference)]
    assert kinds.count("train") == 12 and kinds.count("val") == 3
    assert any("test_score" in r for r in read_metrics(reference))


def test_run_writes_tensorboard_events_and_plot(reference):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(reference, "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "val/score", "val/bfs", "test/bfs"} <= set(tags)
    assert [e.step for e in events.Scalars("val/score")] == [4, 8, 12]
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 13))
    for plot in ("test_scores.png", "training_curves.png"):
        with open(os.path.join(reference, plot), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_loss_falls(tmp_path, data_root):
    train(tiny(tmp_path, data_root, steps=40, eval_every=40, test_every=0,
               learning_rate=3e-3, train_lengths=[5]))
    losses = [r["loss"] for r in read_metrics(str(tmp_path)) if r["kind"] == "train"]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])


def test_resume_after_kill_gives_identical_metrics(reference, tmp_path, data_root):
    def kill(step):
        if step == 7:  # the last checkpoint is at step 4
            raise Killed

    with pytest.raises(Killed):
        train(tiny(tmp_path, data_root), hook=kill)
    assert not os.path.exists(tmp_path / "results.json")
    train(tiny(tmp_path, data_root))
    assert read_metrics(str(tmp_path)) == read_metrics(reference)
    assert read_results(str(tmp_path)) == read_results(reference)
    # TensorBoard keeps one value per step: the killed run's steps 5-7 are purged.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 13))


def test_same_seed_same_run_other_seed_differs(reference, tmp_path, data_root):
    train(tiny(tmp_path / "a", data_root, steps=4, test_every=0))
    train(tiny(tmp_path / "b", data_root, steps=4, test_every=0, seed=4))
    ref = [r for r in read_metrics(reference) if r["step"] <= 4]
    same = read_metrics(str(tmp_path / "a"))
    assert [r for r in same if r["kind"] == "train"] == [r for r in ref if r["kind"] == "train"]
    other = read_metrics(str(tmp_path / "b"))
    assert other[0]["loss"] != ref[0]["loss"]


def test_multitask_run(tmp_path, data_root):
    results = train(tiny(tmp_path, data_root, algorithms=["bfs", "bellman_ford"], steps=2,
                         eval_every=2, test_every=0))
    assert set(results["algorithms"]) == {"bfs", "bellman_ford"}
    assert "family_mean" in results["test"] and "algorithm_mean" in results["val"]


def test_multitask_step_is_one_adam_update_per_algorithm(tmp_path, data_root):
    """As the published run.py: each algorithm's batch is its own update, and
    parameters it does not reach still move with Adam's moments (zero grads)."""
    import torch

    from openclrs.training.loop import build_model, train_batch

    config = tiny(tmp_path, data_root, algorithms=["bfs", "bellman_ford"], steps=2,
                  eval_every=1, test_every=0)
    train(config)
    torch.manual_seed(config.seed)
    model = build_model(config)
    params = dict(model.named_parameters())
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    for step in range(2):
        for index in range(2):
            optimizer.zero_grad(set_to_none=False)
            model.loss(train_batch(config, index, step).to_torch())[0].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
    saved = runs.Run(str(tmp_path), {}, writer=False).load("last").weights
    for name, value in params.items():
        assert torch.allclose(saved[name], value.detach(), atol=1e-6), name


def test_evaluate_cli(reference, tmp_path, capsys):
    expected = read_results(reference)["algorithms"]["bfs"]
    for split in ("test", "val"):
        out = tmp_path / f"{split}.json"
        assert main(["evaluate", "--run", reference, "--split", split, "--json", str(out)]) == 0
        printed = capsys.readouterr().out
        scores = json.loads(out.read_text())
        assert scores["algorithms"]["bfs"][f"{split}_score"] == expected[f"{split}_score"]
        assert scores["split"] == split and scores["step"] == read_results(reference)["best_step"]
        # The table of `train`, with the published column, naming the checkpoint used.
        best = os.path.join(reference, "checkpoints", f"step-{scores['step']:07d}")
        assert f"checkpoint: {best} (step {scores['step']})" in printed
        assert "published" in printed and f"{100 * expected[f'{split}_score']:.2f}%" in printed
    assert main(["evaluate", "--run", reference, "--checkpoint", "last"]) == 0
    assert "(step 12)" in capsys.readouterr().out


def test_evaluate_rejects_another_models_checkpoint(reference, tmp_path, data_root, capsys):
    other = tmp_path / "other"
    train(tiny(other, data_root, steps=1, eval_every=1, test_every=0, hidden_size=8))
    code = main(["evaluate", "--run", reference,
                 "--checkpoint", str(other / "checkpoints" / "step-0000001")])
    assert code == 2
    assert "another model" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--processor", "tripplet_gmpnn"], "unknown processor"),
    (["--algorithm", "bfz"], "bfz"),
    (["--hidden-size", "0"], "hidden_size"),
    (["--grad-clip", "-1"], "--grad-clip"),
    (["--grad-clip", "nan"], "--grad-clip"),
    (["--grad-clip", "inf"], "--grad-clip"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr=-1e-3"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--steps", "0"], "--steps"),
    (["--test-every", "-1"], "--test-every"),
    (["--dropout", "2"], "dropout"),
    (["--processor", "gat", "--nb-heads", "0"], "nb_heads"),
    (["--model-options", '{"hidden_sise": 3}'], "hidden_sise"),
])
def test_bad_config_clear_error(tmp_path, capsys, args, message):
    argv = ["train", "--out", str(tmp_path / "run"), "--steps", "1", "--quiet"]
    if "--algorithm" not in args:
        argv += ["--algorithm", "bfs"]
    assert main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")  # a failed start leaves no folder


def test_config_of_existing_run_must_match(reference, data_root):
    with pytest.raises(ValueError, match="another config"):
        train(tiny(reference, data_root, hidden_size=32))


def test_bf16_autocast_trains_on_cpu(tmp_path):
    """floyd_warshall: edge pointers and score heads, whose fast paths step
    aside under autocast. The loop's own step and scoring, on the sampled
    validation set (the n = 64 test split under CPU bfloat16 costs minutes)."""
    import math

    import torch

    from openclrs.training import distributed
    from openclrs.training.loop import (autocast_of, build_model, make_optimizer, score,
                                        train_step, validation_batches)

    config = tiny(tmp_path, None, algorithms=["floyd_warshall"], bf16=True, batch_size=4,
                  processor="triplet_gmpnn", train_lengths=[4], eval_batch_size=8).validate()
    torch.manual_seed(config.seed)
    model = build_model(config)
    optimizer = make_optimizer(model, config)
    context, autocast = distributed.Context(), autocast_of(config)
    loss_of = distributed.loss_function(model, context)
    before = [p.detach().clone() for p in model.parameters()]
    for step in range(2):
        losses = train_step(model, optimizer, loss_of, config, step, context, "cpu", autocast)
        assert math.isfinite(losses["floyd_warshall"])
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    result = score(model, validation_batches(config, "floyd_warshall")[:1], autocast)
    assert 0 <= result["score"] <= 1 and "Pi" in result


def test_train_help_shows_every_setting_with_its_default(capsys):
    import dataclasses

    from openclrs.models.config import ModelConfig
    from openclrs.training.config import flag

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    options = {"model.hint_teacher_forcing": "--teacher-forcing",
               "model.processor_options": "--processor-option"}
    for cls, prefix in ((TrainConfig, ""), (ModelConfig, "model.")):
        for f in dataclasses.fields(cls):
            if f.metadata.get("cli", True) is False or f.name == "model":
                continue
            name = options.get(prefix + f.name) or flag(cls, f.name)
            assert name in out, name
    for text in ("--no-random-pos", "--no-enforce-permutations", "--no-pred-as-input",
                 "--eval-batch-size", "--log-every", "--restart", "--algorithms",
                 "(default: 10000)", "(default: 0.001)", "(default: triplet_gmpnn)",
                 "(default: 32)", "(default: sampled)"):
        assert text in out, text


def test_help_pages_import_no_torch():
    import subprocess
    import sys

    code = ("import sys; from openclrs.cli import main\n"
            "for argv in (['train', '--help'], ['evaluate', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(default: best)" in proc.stdout and "(default: test)" in proc.stdout


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is available")
def test_cuda_without_cuda_is_refused_before_the_folder(tmp_path, capsys):
    argv = ["train", "--out", str(tmp_path / "run"), "--algorithm", "bfs", "--device", "cuda"]
    assert main(argv) == 2
    assert "--device" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_evaluate_saves_json_before_a_closed_pipe(reference, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "e.json"
    proc = subprocess.Popen([sys.executable, "-m", "openclrs", "evaluate", "--run", reference,
                             "--json", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, OMP_NUM_THREADS="1"))
    proc.stdout.close()  # the reader went away before anything was printed
    proc.wait(timeout=300)
    assert proc.returncode != 0  # a lost table is an error, not success
    results = json.loads(out.read_text())
    assert results["algorithms"]["bfs"]["test_score"] == \
        read_results(reference)["algorithms"]["bfs"]["test_score"]


def test_a_failed_start_leaves_no_parent_folders(tmp_path, capsys):
    """`--out newp2/deeper/run` with a data root that is a file: the error,
    and none of the three folders the start made."""
    (tmp_path / "FILE").write_text("not a folder")
    argv = ["train", "--out", str(tmp_path / "newp2" / "deeper" / "run"), "--algorithm", "bfs",
            "--steps", "1", "--quiet", "--val-set", "canonical",
            "--data-root", str(tmp_path / "FILE")]
    assert main(argv) != 0
    assert "FILE" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["FILE"]


def test_bf16_scoring_of_mask_and_categorical_outputs(tmp_path):
    """Under bfloat16 autocast, mask / mask_one / categorical predictions come
    out in bfloat16, which numpy cannot hold: scoring them crashed the first
    validation of most algorithms (20 of 30)."""
    import torch

    from openclrs.training.loop import autocast_of, build_model, score, validation_batches

    for algorithm in ("insertion_sort", "bfs", "minimum", "topological_sort"):
        config = tiny(tmp_path, None, algorithms=[algorithm], bf16=True, batch_size=4,
                      train_lengths=[4], eval_batch_size=8).validate()
        torch.manual_seed(0)
        model = build_model(config)
        result = score(model, validation_batches(config, algorithm)[:1], autocast_of(config))
        assert 0 <= result["score"] <= 1, algorithm


def test_fewer_steps_than_the_checkpoint_are_refused(reference, data_root):
    with open(os.path.join(reference, "results.json"), "rb") as f:
        before = f.read()
    with pytest.raises(ValueError, match="trained 12 steps already"):
        train(tiny(reference, data_root, steps=6))
    with open(os.path.join(reference, "results.json"), "rb") as f:
        assert f.read() == before                       # nothing rewritten


def test_evaluate_scores_a_bf16_run_as_training_did(tmp_path, data_root):
    from openclrs.training.evaluate import evaluate_run

    out = tmp_path / "bf16"
    train(tiny(out, data_root, hidden_size=64, bf16=True, steps=4, eval_every=4,
               test_every=4))
    trained = read_results(str(out))["algorithms"]["bfs"]["test_score"]
    assert evaluate_run(str(out))["algorithms"]["bfs"]["test_score"] == trained
