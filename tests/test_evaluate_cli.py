"""One loader for run folders (training.evaluate.load_run), ``openclrs evaluate``'s
options (none silently ignored) and its library function, and --plot-worst reusing
the evaluation's model and scores under the run folder's lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from openclrs import files
from openclrs.cli import main
from openclrs.training import evaluate as evaluation

# Tiny models run fastest on one thread, and the suite's timing must not
# depend on how busy the machine's other cores are (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tiny_bfs_run):
    """A bfs reasoner trained for 3 steps (hidden size 8) on a 32-sample test
    split (conftest's, shared with the pictures' tests)."""
    return tiny_bfs_run


def copy_with(run, tmp_path, **keys) -> str:
    """A copy of ``run`` whose config.json also holds ``keys`` (a capability's settings)."""
    other = tmp_path / "other"
    shutil.copytree(run, other)
    config = json.load(open(other / "config.json"))
    config.update(keys)
    (other / "config.json").write_text(json.dumps(config))
    return str(other)


def error_of(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    return capsys.readouterr().err


# ----------------------------------------------------------------- load_run

def test_load_run_gives_the_checkpoint_in_eval_mode(run):
    from openclrs.training import runs

    model, config, saved = evaluation.load_run(run, "last")
    assert not model.training and config.device == "cpu" and not config.progress
    assert saved.step == 3 and saved.path == runs.resolve_checkpoint(run, "last")
    for name, tensor in model.state_dict().items():
        assert np.array_equal(tensor.numpy(), saved.weights[name].numpy()), name


def test_load_run_refuses_what_it_cannot_build(run, tmp_path):
    from openclrs.training import runs
    from openclrs.training.loop import ModelFactory, build_model

    with pytest.raises(FileNotFoundError, match="no run folder"):
        evaluation.load_run(str(tmp_path / "nowhere"))
    halting = copy_with(run, tmp_path, halting={"kind": "learned"})
    with pytest.raises(ValueError, match=r"own kind \(halting: settings in its config.json"):
        evaluation.load_run(halting)
    other = ModelFactory(name="other", settings={}, build=build_model)
    with pytest.raises(ValueError, match="is not a other run .*halting's settings"):
        evaluation.load_run(halting, factory=other)
    with pytest.raises(ValueError, match="is not a other run .*a plain reasoner's settings"):
        evaluation.load_run(run, factory=other)
    with pytest.raises(FileNotFoundError, match="no 'middle' checkpoint .it has: best, last"):
        evaluation.load_run(run, "middle")
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    weights = os.path.join(runs.resolve_checkpoint(str(damaged), "best"), runs.MODEL)
    with open(weights, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"?")
    with pytest.raises(runs.CorruptCheckpointError, match="use another --checkpoint"):
        evaluation.load_run(str(damaged))


def test_every_loader_refuses_a_capabilitys_run(run, tmp_path, capsys):
    """The sparse evaluation used to load a halting run as a plain reasoner;
    it now rebuilds it through the halting RunKind, which finds the plain
    checkpoint without the heads."""
    halting = copy_with(run, tmp_path, halting={"kind": "learned"})
    err = error_of(capsys, "evaluate", "--run", halting, "--graph", "er", "--length", 8,
                   "--num-samples", 1)
    assert "heads.bfs" in err
    from openclrs.pictures.predictions import load_run_model

    with pytest.raises(ValueError, match="own kind"):
        load_run_model(halting)


def test_score_split_is_the_pooled_score_and_the_per_sample_scores(run):
    import torch

    from openclrs.training.loop import score, test_batches
    from openclrs.training.metrics import sample_scores

    model, config, _ = evaluation.load_run(run)
    batches = test_batches(config, "bfs")
    pooled, samples = evaluation.score_split(model, batches, max_memory=1 << 30)
    assert pooled == score(model, batches, max_memory=1 << 30)
    with torch.no_grad():  # each whole batch at once, its samples scored one by one
        alone = [sample_scores(model.specs["bfs"], b.outputs, model.predict(b)) for b in batches]
    assert samples.keys() == alone[0].keys()
    for k in samples:
        assert np.array_equal(samples[k], np.concatenate([a[k] for a in alone])), k
    assert len(samples["score"]) == sum(b.batch_size for b in batches)


# ------------------------------------------------ evaluate's options (none ignored)

@pytest.mark.parametrize("extra, named", [
    (["--length", "64"], "--length"),
    (["--num-samples", "2", "--seed", "3"], "--num-samples, --seed"),
    (["--graphs-per-batch", "2"], "--graphs-per-batch"),
])
def test_sparse_options_without_graph_are_refused(run, capsys, extra, named):
    err = error_of(capsys, "evaluate", "--run", run, *extra)
    verb = "apply" if "," in named else "applies"
    assert f"{named} {verb} to fresh sparse graphs only" in err and "--graph" in err


@pytest.mark.parametrize("extra, named", [
    (["--split", "val"], "--split"),
    (["--split", "test", "--max-memory", "1G"], "--split, --max-memory"),
    (["--plot-worst", "2", "--plot-dir", "x"], "--plot-worst, --plot-dir"),
])
def test_stored_split_options_with_graph_are_refused(run, capsys, extra, named):
    err = error_of(capsys, "evaluate", "--run", run, "--graph", "er", *extra)
    verb = "apply" if "," in named else "applies"
    assert f"{named} {verb} to a stored split, not to --graph" in err


def test_an_unwritable_json_path_is_refused_before_the_evaluation(run, capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    assert main(["evaluate", "--run", run, "--graph", "er", "--length", "8", "--num-samples",
                 "1", "--json", str(tmp_path / "afile" / "x.json")]) == 2
    captured = capsys.readouterr()
    assert "a file is in the way" in captured.err
    assert "accuracy" not in captured.out + captured.err     # nothing was evaluated


def test_plot_dir_without_plot_worst_is_refused(run, capsys):
    assert "give --plot-worst K" in error_of(capsys, "evaluate", "--run", run,
                                             "--plot-dir", "somewhere")


def test_the_defaults_are_filled_in_after_the_check():
    import argparse

    from openclrs.cli.training import check_evaluate_options, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--run", "r", "--graph", "ws", "--seed", "4"])
    check_evaluate_options(args)
    assert (args.length, args.num_samples, args.seed, args.graphs_per_batch) == (1600, 8, 4, 1)
    assert args.split is None
    args = parser.parse_args(["evaluate", "--run", "r"])
    check_evaluate_options(args)
    assert args.split == "test" and args.length is None


# --------------------------------------------------- the library function

def test_evaluate_and_report_writes_then_prints(run, tmp_path, capsys):
    import io

    out = io.StringIO()
    results = evaluation.evaluate_and_report(run, split="val", json_path=str(tmp_path / "e.json"),
                                             out=out)
    assert json.load(open(tmp_path / "e.json")) == json.loads(json.dumps(results))
    assert results == evaluation.evaluate_run(run, split="val")
    assert out.getvalue().startswith(f"checkpoint: {results['checkpoint']} (step 3)\n")


def test_evaluate_and_report_uses_the_runs_kind_and_refuses_unknown_ones(run, tmp_path):
    import io

    from openclrs.training.loop import ModelFactory, build_model

    other = copy_with(run, tmp_path, mystery={"size": 1})
    with pytest.raises(ValueError, match=r"cannot rebuild \(mystery settings"):
        evaluation.evaluate_and_report(other, out=io.StringIO())
    seen = []
    kind = evaluation.RunKind(
        "mystery", factory=lambda s: seen.append(s) or ModelFactory("mystery", s, build_model),
        finish=lambda r, split, s: {**r, "mystery": s["size"]},
        table=lambda r, split: f"mystery table ({split})")
    out = io.StringIO()
    results = evaluation.evaluate_and_report(other, kinds=[kind], out=out)
    assert seen == [{"size": 1}] and results["mystery"] == 1
    assert out.getvalue().rstrip().endswith("mystery table (test)")
    bad = evaluation.RunKind("mystery", factory=lambda s: (_ for _ in ()).throw(TypeError("x")))
    with pytest.raises(files.CorruptFileError, match="bad mystery settings"):
        evaluation.evaluate_and_report(other, kinds=[bad], out=io.StringIO())


# ------------------------------------------------------------- --plot-worst

def test_plot_worst_loads_and_scores_once(run, tmp_path, monkeypatch, capsys):
    """The evaluation's model, batches and per-sample scores draw the pictures
    (it used to load the run again and score the split a second time)."""
    pytest.importorskip("matplotlib")
    from openclrs.training import loop

    loads, splits = [], []
    load_run = evaluation.load_run
    monkeypatch.setattr(evaluation, "load_run", lambda *a, **k: loads.append(a) or
                        load_run(*a, **k))
    real_batches = loop.test_batches
    monkeypatch.setattr(loop, "test_batches", lambda *a: splits.append(a) or
                        real_batches(*a))
    folder = tmp_path / "worst"
    assert main(["evaluate", "--run", run, "--plot-worst", "2", "--plot-dir", str(folder),
                 "--json", str(tmp_path / "e.json")]) == 0
    assert len(loads) == 1 and len(splits) == 1  # one load, the split read once
    index = json.load(open(folder / "worst.json"))
    scores = [e["score"] for e in index["algorithms"]["bfs"]["worst"]]
    assert scores == sorted(scores) and len(scores) == 2
    assert "the 2 worst-scored test samples drawn in" in capsys.readouterr().out
    # the same pictures as plot_worst on its own, which loads and scores itself
    from openclrs.pictures.compare import plot_worst

    alone = plot_worst(run, 2, str(tmp_path / "alone"), most_steps=1)  # (fewer panels to draw)
    assert [(e["index"], e["score"]) for e in alone["algorithms"]["bfs"]["worst"]] == \
        [(e["index"], e["score"]) for e in index["algorithms"]["bfs"]["worst"]]


def test_plot_worst_writes_under_the_folders_lock(run, tmp_path):
    """Another process holding the lock of the folder --plot-worst writes in
    (a trainer, another --plot-worst): refused, and nothing changed."""
    pytest.importorskip("matplotlib")
    from openclrs.pictures.compare import plot_worst

    parent = tmp_path / "plots"
    parent.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom openclrs import files\n"
         f"with files.folder_lock({str(parent)!r}):\n"
         "    print('held', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(files.FolderBusyError, match="--plot-dir"):
            plot_worst(run, 1, str(parent / "worst"))
        assert sorted(os.listdir(parent)) == [files.LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()
    plot_worst(run, 1, str(parent / "worst"))  # free again
    assert os.path.exists(parent / "worst" / "worst.json")
