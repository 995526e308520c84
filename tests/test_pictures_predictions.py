"""Predictions beside the truth: the wrong elements are exactly what the
scorer counts, the scores are the scorer's, the pictures and commands work."""

import json
import os

import numpy as np
import pytest

import openclrs
from openclrs import transforms
from openclrs.cli import main
from openclrs.data.batching import collate
from openclrs.probes import Trace
from openclrs.specs import Location, Stage, Type
from openclrs.training import metrics

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402

from openclrs.pictures.compare import plot_predictions, shown_steps  # noqa: E402
from openclrs.pictures.predictions import (  # noqa: E402
    compare, load_run_model, predict_run_sample, predict_trace, split_batches,
    split_sample_scores, split_trace, wrong_elements, worst_samples)
from openclrs.pictures.trace import WRONG_COLOUR  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
RED = tuple(int(WRONG_COLOUR[i:i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def run(tiny_bfs_run):
    """A bfs reasoner trained for 3 steps (hidden size 8) on a 32-sample test
    split (conftest's, shared with the tests of ``openclrs evaluate``)."""
    return tiny_bfs_run


def evaluated(algorithm, length=6, seed=0):
    """A sampled trace in the spec a default model reads (permutations enforced)."""
    trace = openclrs.sample(algorithm, length=length, seed=seed)[0]
    return transforms.apply(trace)


def perturbed(trace: Trace, rng, fraction=0.3) -> Trace:
    """A prediction in the trace's format, a ``fraction`` of its elements
    changed at random (row 0 of the hints kept: it is given, not predicted)."""
    def change(type_, value):
        value = np.array(value)
        if type_ == Type.SCALAR:
            hit = rng.random(value.shape) < fraction
            return value + hit * rng.choice([-1.0, 0.004, 0.5], size=value.shape)
        if type_ == Type.MASK:
            hit = rng.random(value.shape) < fraction
            return np.where(hit, 1.0 - value, value)
        if type_ in (Type.MASK_ONE, Type.CATEGORICAL):
            rows = value.reshape(-1, value.shape[-1])
            for row in rows:
                if rng.random() < fraction:
                    row[:] = 0.0
                    row[rng.integers(len(row))] = 1.0
            return rows.reshape(value.shape)
        n = trace.num_nodes  # pointers
        hit = rng.random(value.shape) < fraction
        return np.where(hit, rng.integers(0, n, size=value.shape), value)

    spec = trace.spec
    hints = {}
    for k, v in trace.hints.items():
        new = change(spec[k][2], v)
        new[0] = v[0]
        hints[k] = new
    outputs = {k: change(spec[k][2], v) for k, v in trace.outputs.items()}
    return Trace(trace.algorithm, dict(trace.inputs), hints, outputs, spec)


def counted_wrong(type_, pred, truth):
    """How many elements the scorer's statistics count against ``pred``."""
    stats = metrics._statistics(type_, pred, truth)
    if type_ == Type.MASK:
        return stats[1] + stats[2]           # false positives + false negatives
    if type_ == Type.SCALAR:
        return int(np.sum((np.asarray(pred) - truth) ** 2 > 0))
    return stats[1] - stats[0]               # scored - hits


ALGORITHMS = ["bfs", "insertion_sort", "dfs", "floyd_warshall", "dijkstra", "kmp_matcher",
              "graham_scan", "strongly_connected_components", "find_maximum_subarray_kadane"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_perfect_prediction_marks_nothing_and_scores_one(algorithm):
    truth = evaluated(algorithm, length=8 if algorithm == "kmp_matcher" else 6)
    copy = Trace(algorithm, truth.inputs, {k: v.copy() for k, v in truth.hints.items()},
                 {k: v.copy() for k, v in truth.outputs.items()}, truth.spec)
    p = compare(truth, copy)
    assert p.wrong_count("outputs") == 0 and p.wrong_count("hints") == 0
    for name, value in p.output_scores.items():
        kind = p.types.get(name)
        assert value == (0.0 if kind == Type.SCALAR else 1.0) or name == "score"
    for name, scores in p.hint_scores.items():
        assert np.isnan(scores[0])
        assert np.all(scores[1:] == (0.0 if p.types[name] == Type.SCALAR else 1.0))
    assert np.all(p.step_scores[1:] == 1.0) and np.isnan(p.step_scores[0])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_elements_are_what_the_scorer_counts(algorithm):
    rng = np.random.default_rng(ALGORITHMS.index(algorithm))
    truth = evaluated(algorithm, length=8 if algorithm == "kmp_matcher" else 6, seed=2)
    pred = perturbed(truth, rng)
    p = compare(truth, pred, scalar_tolerance=0.0)
    spec = truth.spec
    types, true_out = metrics.reduce_permutations(spec, truth.outputs)
    _, pred_out = metrics.reduce_permutations(spec, pred.outputs)
    for name, type_ in types.items():
        assert p.wrong["outputs"][name].sum() == counted_wrong(type_, pred_out[name],
                                                               true_out[name]), name
    for name, type_ in metrics.reduce_permutations(spec, truth.hints)[0].items():
        flags = p.wrong["hints"][name]
        assert not flags[0].any()
        for t in range(1, truth.length):
            assert flags[t].sum() == counted_wrong(type_, pred.hints[name][t],
                                                   truth.hints[name][t]), (name, t)
    # the scores are the scorer's: outputs of the sample alone, hints per step as
    # evaluate_hints gives them for a batch of this one sample
    one = {k: np.asarray(v)[None] for k, v in truth.outputs.items()}
    assert p.output_scores == metrics.evaluate(
        spec, one, {k: np.asarray(v)[None] for k, v in pred.outputs.items()})
    if truth.length > 1:
        along = metrics.evaluate_hints(
            spec, {k: v[:, None] for k, v in truth.hints.items()},
            np.array([truth.length]), {k: v[1:, None] for k, v in pred.hints.items()})
        for name in p.hint_scores:
            np.testing.assert_array_equal(p.hint_scores[name][1:],
                                          along[name + "_along_time"])


def test_exactly_the_perturbed_elements_are_marked():
    truth = evaluated("insertion_sort", length=6, seed=1)
    hints = {k: v.copy() for k, v in truth.hints.items()}
    outputs = {k: v.copy() for k, v in truth.outputs.items()}
    first = int(np.argmax(truth.outputs["pred_mask"]))
    node = (first + 2) % 6
    outputs["pred"][node] = (outputs["pred"][node] + 1) % 6      # one wrong pointer
    hints["pred_h"][2, 3] = (hints["pred_h"][2, 3] + 1) % 6      # step 2, node 3
    i = int(np.argmax(hints["i"][1]))
    hints["i"][1] = np.roll(hints["i"][1], 1)                    # step 1: i moved
    p = compare(truth, Trace("insertion_sort", truth.inputs, hints, outputs, truth.spec))
    assert set(p.wrong["outputs"]) == {"pred"}                   # pred_mask fused into pred
    assert np.flatnonzero(p.wrong["outputs"]["pred"]).tolist() == [node]
    assert p.output_scores["pred"] == 5 / 6
    assert np.argwhere(p.wrong["hints"]["pred_h"]).tolist() == [[2, 3]]
    assert p.wrong["hints"]["i"].tolist() == [t == 1 for t in range(truth.length)]
    assert int(np.argmax(p.truth.hints["i"][1])) == i
    # the scored (fused) form: the first node points to itself, no _mask probe
    assert p.truth.outputs["pred"][first] == first and "pred_mask" not in p.truth.outputs
    assert p.truth.spec["pred"][2] == Type.POINTER


def test_wrong_by_type_and_unlabelled_cells():
    truth = np.array([1.0, 0.0, -1.0, 1.0, 0.0])
    pred = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    assert wrong_elements(Type.MASK, pred, truth).tolist() == [True, True, False, False, False]
    rows = np.array([[0, 1.0], [1, 0], [-1, -1]])
    guess = np.array([[1, 0.0], [1, 0], [1, 0]])
    assert wrong_elements(Type.CATEGORICAL, guess, rows).tolist() == [True, False, False]
    assert wrong_elements(Type.SCALAR, np.array([1.0, 1.02]), np.array([1.005, 1.0])).tolist() \
        == [False, True]
    assert wrong_elements(Type.POINTER, np.array([[0.1, 0.9], [0.8, 0.2]]),
                          np.array([1, 1])).tolist() == [False, True]


def test_sample_scores_against_the_batch_scorer():
    spec = {"p": (Stage.OUTPUT, Location.NODE, Type.POINTER),
            "m": (Stage.OUTPUT, Location.NODE, Type.MASK),
            "x": (Stage.OUTPUT, Location.NODE, Type.SCALAR)}
    rng = np.random.default_rng(0)
    truth = {"p": rng.integers(0, 5, (6, 5)), "m": (rng.random((6, 5)) < 0.3) * 1.0,
             "x": rng.random((6, 5))}
    pred = {"p": np.where(rng.random((6, 5)) < 0.3, 0, truth["p"]),
            "m": (rng.random((6, 5)) < 0.3) * 1.0, "x": truth["x"] + rng.normal(0, 0.1, (6, 5))}
    per_sample = metrics.sample_scores(spec, truth, pred)
    pooled = metrics.evaluate(spec, truth, pred)
    for name in ("p", "x"):  # same number of elements per sample: the mean of the samples
        assert per_sample[name].mean() == pytest.approx(pooled[name], rel=1e-12)
    for b in range(6):       # F1: each sample scored alone
        assert per_sample["m"][b] == metrics.probe_score(Type.MASK, pred["m"][b], truth["m"][b])
    np.testing.assert_allclose(per_sample["score"],
                               (per_sample["p"] + per_sample["m"] + per_sample["x"]) / 3)
    assert worst_samples(per_sample["score"], 2) == list(np.argsort(per_sample["score"])[:2])


def test_model_predictions_are_evaluations(run):
    model, config, _ = load_run_model(run)
    batches = split_batches(config, "bfs", "test")
    trace = split_trace(batches, 13, "test")
    p = predict_trace(model, trace)
    # outputs are what evaluation predicts, in a batch or alone
    alone = model.predict(collate([trace]))
    assert all(np.array_equal(p.predicted.outputs[k], alone[k][0]) for k in alone)
    in_batch = model.predict(batches[1])
    assert np.array_equal(p.predicted.outputs["pi"], in_batch["pi"][3])
    scores = split_sample_scores(model, batches)
    assert len(scores["score"]) == 32 and scores["score"][13] == p.score
    # hints: the model's own, fed back (forward(repred=True)), row t = its step t
    with __import__("torch").no_grad():
        logits = model(collate([trace]), repred=True)
    assert np.array_equal(p.predicted.hints["pi_h"][1:],
                          logits.hints["pi_h"].argmax(-1)[:trace.length - 1, 0].numpy())
    assert np.array_equal(p.predicted.hints["reach_h"][0], trace.hints["reach_h"][0])
    # the split's pooled score from the same batches
    pooled = metrics.OutputScorer(model.specs["bfs"])
    for batch in batches:
        pooled.update(batch.outputs, model.predict(batch))
    assert pooled.result()["pi"] == pytest.approx(scores["pi"].mean(), rel=1e-12)


def red_pixels(path) -> int:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    return int(np.sum(np.all(pixels == RED, axis=-1)))


@pytest.mark.parametrize("algorithm", ["bfs", "floyd_warshall", "insertion_sort", "kmp_matcher",
                                       "graham_scan", "dfs"])
def test_the_picture_marks_wrong_elements_in_red(algorithm, tmp_path):
    truth = evaluated(algorithm, length=8 if algorithm == "kmp_matcher" else 5, seed=3)
    wrong = compare(truth, perturbed(truth, np.random.default_rng(1)), source="a test")
    right = compare(truth, perturbed(truth, np.random.default_rng(1), fraction=0.0))
    assert wrong.wrong_count("outputs") + wrong.wrong_count("hints") > 0
    for p, name in ((wrong, "wrong.png"), (right, "right.png")):
        path = plot_predictions(p, str(tmp_path / name), most_steps=1)
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 500 and image.size[1] > 400
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or ()) > 20
    assert red_pixels(tmp_path / "wrong.png") > 50 and red_pixels(tmp_path / "right.png") == 0
    assert sorted(os.listdir(tmp_path)) == ["right.png", "wrong.png"]


def test_shown_steps_include_where_mistakes_start():
    truth = evaluated("insertion_sort", length=8, seed=0)
    hints = {k: v.copy() for k, v in truth.hints.items()}
    assert truth.length == 8  # steps 1 .. 7 predicted: 1, 4, 7 spread evenly
    hints["pred_h"][2, 0] = (hints["pred_h"][2, 0] + 1) % 8
    p = compare(truth, Trace(truth.algorithm, truth.inputs, hints, truth.outputs, truth.spec))
    steps = shown_steps(p, 3)
    assert steps == [2, 4, 7]  # the first wrong step in place of its neighbour 1
    assert 0 not in steps  # step 0 is given, not predicted


def test_plot_run_command(run, tmp_path, capsys):
    png = tmp_path / "p.png"
    assert main(["plot", "--run", run, "--index", "4", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{png}\n") and "test split #4" in out and "output score" in out
    assert png.stat().st_size > 20_000
    p = predict_run_sample(run, "bfs", "test", 4)
    assert f"{100 * p.score:.2f}%" in out
    assert main(["plot", "bfs", "--run", run, "--split", "sampled", "--length", "7",
                 "--seed", "2", "--out", str(tmp_path / "s.png")]) == 0
    assert "sampled n=7 seed=2" in capsys.readouterr().out
    assert main(["plot", "bfs", "--length", "5", "--steps", "1",
                 "--out", str(tmp_path / "t.png")]) == 0
    # a run folder whose name holds "$": drawn as text, not as matplotlib mathtext
    import shutil
    odd = tmp_path / "m$\\frac{$x"
    shutil.copytree(run, odd)
    assert main(["plot", "--run", str(odd), "--out", str(tmp_path / "m.png")]) == 0


def test_view_run_command(run, tmp_path, capsys):
    """`openclrs view --run` on a real run folder: the page embeds the same
    prediction (wrong masks, scores) that `plot --run` draws."""
    from openclrs.pictures.viewer import read_viewer_data

    page = tmp_path / "p.html"
    assert main(["view", "--run", run, "--index", "4", "--out", str(page)]) == 0
    out = capsys.readouterr().out
    p = predict_run_sample(run, "bfs", "test", 4)
    assert out.startswith(f"{page}\n") and f"{100 * p.score:.2f}%" in out
    data = read_viewer_data(page.read_text())
    assert data["algorithm"] == "bfs" and len(data["steps"]) == p.truth.length
    assert data["output"]["score"] == pytest.approx(p.score, abs=1e-4)
    assert main(["view", "--run", run, "--index", "32", "--out", str(tmp_path / "q.html")]) == 2
    assert "out of range" in capsys.readouterr().err and not (tmp_path / "q.html").exists()


@pytest.mark.parametrize("args,message", [
    (["--index", "32"], "--index 32 is out of range: the test split has 32 samples"),
    (["--algorithm", "dfs"], "this run was trained on ['bfs'], not 'dfs'"),
    (["--split", "test", "--length", "5"], "give --split sampled"),
    (["--seed", "39"], "give --split sampled"),
    (["--gif", "x.gif"], "with --run only the PNG"),
    (["dfs", "--algorithm", "bfs"], "two algorithms given"),
])
def test_plot_run_bad_input(run, tmp_path, capsys, args, message):
    out = str(tmp_path / "x.png")
    assert main(["plot", "--run", run, "--out", out] + args) == 2
    assert message in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_plot_bad_input(tmp_path, capsys):
    out = str(tmp_path / "x.png")
    assert main(["plot", "--run", str(tmp_path / "nothing"), "--out", out]) == 2
    assert "no run folder at" in capsys.readouterr().err
    assert main(["plot", "bfs", "--split", "test", "--out", out]) == 2
    assert "--split goes only with --run DIR" in capsys.readouterr().err
    assert main(["plot", "--out", out]) == 2
    assert "name the algorithm to plot" in capsys.readouterr().err


def test_evaluate_plot_worst(run, tmp_path, capsys):
    assert main(["evaluate", "--run", run, "--plot-worst", "2"]) == 0
    folder = os.path.join(run, "worst")
    assert f"the 2 worst-scored test samples drawn in {folder}" in capsys.readouterr().out
    index = json.load(open(os.path.join(folder, "worst.json")))
    model, config, _ = load_run_model(run)
    scores = split_sample_scores(model, split_batches(config, "bfs", "test"))["score"]
    worst = index["algorithms"]["bfs"]["worst"]
    assert [w["index"] for w in worst] == worst_samples(scores, 2)
    assert [w["score"] for w in worst] == sorted(scores)[:2]
    assert sorted(os.listdir(folder)) == sorted([w["file"] for w in worst] + ["worst.json"])
    assert worst[0]["file"] == f"bfs-01-sample{worst[0]['index']}.png"
    # again with 1: the folder is replaced as a whole, nothing else left in the run
    assert main(["evaluate", "--run", run, "--plot-worst", "1"]) == 0
    assert len(os.listdir(folder)) == 2
    capsys.readouterr()
    assert not [n for n in os.listdir(run) if n.startswith(".tmp-")]
    # a folder of the user's is not replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["evaluate", "--run", run, "--plot-worst", "1", "--plot-dir", str(mine)]) == 2
    captured = capsys.readouterr()
    assert "is not a folder of worst samples" in captured.err
    assert "checkpoint:" not in captured.out  # said before the evaluation
    assert os.listdir(mine) == ["notes.txt"]
    # a file in the way higher up: also said before the evaluation
    assert main(["evaluate", "--run", run, "--plot-worst", "1", "--plot-dir",
                 str(mine / "notes.txt" / "w")]) == 2
    captured = capsys.readouterr()
    assert "a file is in the way" in captured.err and "checkpoint:" not in captured.out


def test_the_validation_split_is_the_runs(run):
    from openclrs.training.loop import validation_batches

    model, config, _ = load_run_model(run)
    p = predict_run_sample(run, split="val", index=5)
    truth = split_trace(validation_batches(config, "bfs"), 5)
    assert np.array_equal(p.truth.inputs["pos"], truth.inputs["pos"])  # random pos, as trained
    assert "val split #5" in p.source


def test_a_run_of_another_kind_of_model_is_refused_clearly(run, tmp_path, capsys):
    import shutil

    other = tmp_path / "halting-run"
    shutil.copytree(run, other)
    config = json.load(open(other / "config.json"))
    config["halting"] = {"kind": "learned"}  # what a capability's ModelFactory records
    (other / "config.json").write_text(json.dumps(config))
    assert main(["plot", "--run", str(other), "--out", str(tmp_path / "x.png")]) == 2
    assert "trained a model of its own kind (halting)" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(other), "--plot-worst", "1"]) == 2
    captured = capsys.readouterr()
    assert "trained a model of its own kind (halting)" in captured.err
    assert "checkpoint:" not in captured.out  # refused before the evaluation
    # another trainer's run (ponder, text LM, TransNAR): named by its format
    (other / "config.json").write_text(json.dumps({"format": "openclrs-parity/1", "beta": 0.01}))
    assert main(["view", "--run", str(other), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "is a run of another kind (openclrs-parity/1)" in err and "beta" not in err


def test_a_restart_removes_the_worst_samples(run, tmp_path):
    import shutil

    from openclrs.training.evaluate import load_run_config
    from openclrs.training.loop import train

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "worst").mkdir(exist_ok=True)
    (copy / "worst" / "worst.json").write_text("{}")
    config = load_run_config(str(copy))
    config.out_dir, config.steps = str(copy), 1
    train(config, restart=True, log=open(os.devnull, "w"))
    assert not (copy / "worst").exists()  # pictures of the earlier model go with it
