"""A reasoner's predictions drawn beside the truth, wrong elements in red.

:func:`plot_predictions` draws a :class:`~.predictions.PredictedTrace`: one
row per shown hint step and one for the outputs, the truth on the left and
the prediction on the right, each drawn by :func:`.trace.draw_state` from
the spec (edge probes as heatmaps beside it). On the prediction, what the
scorer counts as wrong (:func:`.predictions.wrong_elements`) is marked in
:data:`.trace.WRONG_COLOUR`: a ring around the node, the pointer's arrow,
a cross on the edge, the framed heatmap cell, a cross after a ``mask_one``
label or a graph probe's value. Each prediction panel's title gives the
step's hint metrics (the output row: the output metrics and their mean,
the sample's score) and how many elements are wrong.
"""

from __future__ import annotations

import os

import numpy as np

from .. import files
from ..extras import pyplot
from ..files import atomic_write
from ..specs import Type
from .predictions import (PredictedTrace, predict_trace, refuse_other_models, split_trace,
                          worst_samples)
from .trace import (WRONG_COLOUR, State, _heat_columns, check_suffix, chosen_steps, draw_heatmap,
                    draw_state)


def shown_steps(predicted: PredictedTrace, most: int) -> list[int]:
    """At most ``most`` predicted hint steps (1 .. T - 1), spread evenly,
    first and last included, and the first step with a wrong element
    (where the mistakes start) in place of its nearest neighbour."""
    predictable = predicted.length - 1
    if predictable <= 0 or most <= 0 or not predicted.wrong["hints"]:
        return []
    steps = [t + 1 for t in chosen_steps(predictable, most)]
    wrong = [t for t in range(1, predicted.length) if predicted.wrong_count("hints", t)]
    if wrong and wrong[0] not in steps:
        nearest = min(range(len(steps)), key=lambda k: abs(steps[k] - wrong[0]))
        if len(steps) < most:
            steps.append(wrong[0])
        else:
            steps[nearest] = wrong[0]
        steps = sorted(set(steps))
    return steps


def _imperfect(scores: dict, types: dict) -> str:
    """The metrics short of perfect: ``name 94%`` (accuracy, F1), ``name MSE
    0.012`` (scalars); the perfect ones are left out of the titles."""
    parts = []
    for name, value in scores.items():
        if name == "score" or np.isnan(value):
            continue
        if types.get(name) == Type.SCALAR:
            if value > 0:
                parts.append(f"{name} MSE {value:.2g}")
        elif value < 1:
            parts.append(f"{name} {100 * value:.0f}%")
    return ", ".join(parts)


def _verdict(count: int, imperfect: str) -> str:
    """``3 wrong (pi 88%, ...)``; ``all right`` (the non-breaking spaces
    keep a count with its word when the title is wrapped)."""
    if not count and not imperfect:
        return "all\u00a0right"
    return (f"{count}\u00a0wrong" if count else "none\u00a0wrong") + \
        (f" ({imperfect})" if imperfect else "")


def _panels(predicted: PredictedTrace, steps: list[int]) -> list[tuple]:
    """``(truth State, predicted State, wrong flags, prediction title)`` per row."""
    truth, pred, spec = predicted.truth, predicted.predicted, predicted.truth.spec
    inputs = {k: (spec[k][1], spec[k][2], np.asarray(v)) for k, v in truth.inputs.items()}

    def at(trace, store, t=None):
        return {k: (spec[k][1], spec[k][2], np.asarray(v) if t is None else np.asarray(v)[t])
                for k, v in store.items()}

    rows = []
    for t in steps:
        wrong = {k: v[t] for k, v in predicted.wrong["hints"].items()}
        count = int(sum(np.sum(v) for v in wrong.values()))
        scores = {k: v[t] for k, v in predicted.hint_scores.items()}
        title = f"predicted, step {t}: {_verdict(count, _imperfect(scores, predicted.types))}"
        rows.append((State(f"truth, step {t}", {**inputs, **at(truth, truth.hints, t)}),
                     State(title, {**inputs, **at(pred, pred.hints, t)}), wrong, count))
    wrong = predicted.wrong["outputs"]
    count = predicted.wrong_count("outputs")
    several = len(predicted.output_scores) > 2  # (one output: its metric is the score)
    imperfect = _imperfect(predicted.output_scores, predicted.types) if several else ""
    title = (f"predicted output: score {100 * predicted.score:.1f}%, "
             f"{_verdict(count, imperfect)}")
    rows.append((State("truth, output", {**inputs, **at(truth, truth.outputs)}),
                 State(title, {**inputs, **at(pred, pred.outputs)}), wrong, count))
    return rows


def plot_predictions(predicted: PredictedTrace, path: str, most_steps: int = 4) -> str:
    """One PNG: up to ``most_steps`` predicted hint steps (:func:`shown_steps`)
    and the outputs, truth left, prediction right, wrong elements in red."""
    check_suffix(path, ".png", "a picture is written as a PNG")
    plt = pyplot("draw predictions")
    algorithm = predicted.algorithm
    rows = _panels(predicted, shown_steps(predicted, most_steps))
    input_names = set(predicted.truth.inputs)
    heat = _heat_columns(algorithm, [r[0] for r in rows] + [r[1] for r in rows])
    columns = 2 * (1 + heat)
    width = 3.1 if heat else 3.6
    fig, axes = plt.subplots(len(rows), columns, figsize=(width * columns, 3.0 * len(rows)),
                             squeeze=False)
    for r, (truth, pred, wrong, count) in enumerate(rows):
        maps = [draw_state(axes[r][side * (1 + heat)], algorithm, state, input_names, flags)
                for side, (state, flags) in enumerate(((truth, None), (pred, wrong)))]
        if count:
            axes[r][1 + heat].title.set_color(WRONG_COLOUR)
        for m in range(heat):
            for side in (0, 1):
                ax = axes[r][side * (1 + heat) + 1 + m]
                if m < len(maps[side]):
                    draw_heatmap(ax, *maps[side][m], limits=_limits(maps[0][m], maps[1][m]))
                else:
                    ax.set_axis_off()
    # wrap a long prediction title rather than let it run into its neighbours
    for r in range(len(rows)):
        ax = axes[r][1 + heat]
        ax.set_title(_wrap(ax.get_title(), int(14 * width)), fontsize=8,
                     color=ax.title.get_color())
    n, steps = len(predicted.truth.inputs["pos"]), predicted.length
    head = (f"{algorithm}: prediction (right) beside the truth (left), {n} nodes, {steps} hint "
            f"step{'' if steps == 1 else 's'}; output score {100 * predicted.score:.1f}%")
    note = ("red: counted wrong by the scorer (ring: a node, arrow: its pointer, "
            "\u00d7: an edge, label or graph value, frame: a matrix cell)")
    fit = int(14 * width * columns)  # characters of 9 pt text across the figure
    # parse_math off: a run folder's name may hold "$" (mathtext would fail or italicise)
    fig.suptitle("\n".join(_wrap(line, fit) for line in (head, predicted.source, note)
                           if line), fontsize=9, parse_math=False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path


# ------------------------------------------------------- the k worst samples

WORST_INDEX = "worst.json"   # what a --plot-worst folder holds besides its pictures


def plot_worst(run_dir: str, k: int, folder: str | None = None, split: str = "test",
               checkpoint: str = "best", device: str = "cpu", algorithms=None,
               max_memory: int | None = None, most_steps: int = 4,
               evaluation=None) -> dict:
    """The ``k`` worst-scored samples of ``split`` per algorithm of a run,
    as :func:`plot_predictions` PNGs in ``folder`` (default: the run's
    ``worst/``): ``<algorithm>-<rank>-sample<index>.png``, rank 1 the worst,
    and ``worst.json`` listing them with their scores.

    Samples are ranked by their own output score
    (:func:`openclrs.training.metrics.sample_scores`: each sample scored
    alone; ties keep the split's order). ``evaluation``: an
    :class:`openclrs.training.evaluate.Evaluation` of this run made with
    ``per_sample=True`` (``openclrs evaluate --plot-worst``), whose model,
    batches and scores are used instead of loading and scoring again (its
    split and algorithms then decide). The folder is written as one unit
    under the lock of the folder it is in (the run's, by default): built
    under a temporary name, then put in place of an earlier one
    (:func:`openclrs.files.replace_directory`; which must be such a folder:
    it holds ``worst.json``, or nothing)."""
    from ..training.evaluate import evaluate_loaded, load_run

    folder = check_worst_folder(run_dir, k, folder)
    pyplot("draw the worst samples")  # before the scoring: a missing matplotlib says so now
    if evaluation is None:
        run = load_run(run_dir, checkpoint, device)
        evaluation = evaluate_loaded(run_dir, run, split, algorithms, max_memory,
                                     per_sample=True)
    if evaluation.sample_scores is None:
        raise ValueError("plot_worst needs an evaluation made with per_sample=True")
    model, split, step = evaluation.run.model, evaluation.split, evaluation.run.step
    index = {"run": run_dir, "checkpoint": checkpoint, "step": step, "split": split,
             "algorithms": {}}
    with files.folder_lock(os.path.dirname(os.path.abspath(folder)), wait=False,
                           what="--plot-dir"):
        check_worst_folder(run_dir, k, folder)  # (again, now that no one else writes)
        staging = files.temporary_name(folder)
        with files.atomic_directory(staging) as tmp:
            for algorithm, batches in evaluation.batches.items():
                scores = evaluation.sample_scores[algorithm]["score"]
                entries = []
                for rank, i in enumerate(worst_samples(scores, k), start=1):
                    name = f"{algorithm}-{rank:02d}-sample{i}.png"
                    source = (f"{run_dir} ({checkpoint} checkpoint, step {step}), {split} "
                              f"split #{i}, worst {rank} of {len(scores)}")
                    predicted = predict_trace(model, split_trace(batches, i, split), source)
                    plot_predictions(predicted, os.path.join(tmp, name), most_steps)
                    entries.append({"file": name, "index": i, "score": float(scores[i])})
                index["algorithms"][algorithm] = {"samples": len(scores), "worst": entries}
            files.write_json(os.path.join(tmp, WORST_INDEX), index)
        files.replace_directory(staging, folder)
    index["folder"] = folder
    return index


def worst_plotter(run_dir: str, k: int, folder: str | None = None,
                  checkpoint: str = "best", most_steps: int = 4):
    """``openclrs evaluate --plot-worst``'s hook: the folder checked now
    (before the evaluation, not after), then a function of the evaluation
    (:func:`openclrs.training.evaluate.evaluate_and_report`) that draws the
    pictures (:func:`plot_worst`) and gives the line printed about them."""
    check_worst_folder(run_dir, k, folder)

    def draw(evaluation) -> str:
        worst = plot_worst(run_dir, k, folder, checkpoint=checkpoint, most_steps=most_steps,
                           evaluation=evaluation)
        count = sum(len(a["worst"]) for a in worst["algorithms"].values())
        return (f"the {count} worst-scored {evaluation.split} sample{'' if count == 1 else 's'} "
                f"drawn in {worst['folder']}")

    return draw


def check_worst_folder(run_dir: str, k: int, folder: str | None = None) -> str:
    """The folder :func:`plot_worst` would write (default: the run's
    ``worst/``), checked: ``k`` >= 1, a plain reasoner's run, and no folder
    of the user's in the way.
    (The command line calls it before evaluating, to fail early.)"""
    if k < 1:
        raise ValueError(f"--plot-worst {k}: give a number of samples, 1 or more")
    refuse_other_models(run_dir)
    folder = folder or os.path.join(run_dir, "worst")
    if os.path.isdir(folder) and os.listdir(folder) and \
            not os.path.exists(os.path.join(folder, WORST_INDEX)):
        raise FileExistsError(f"{folder} exists and is not a folder of worst samples (no "
                              f"{WORST_INDEX}); give another --plot-dir or remove it")
    files.check_path(folder, folder=True, what="--plot-dir")   # a file there, or above it
    return folder


def _limits(truth, pred) -> tuple[float, float]:
    """One colour scale for a heatmap's truth and prediction (pointers: the
    node indices), so equal values get equal colours."""
    name, type_, value = truth[:3]
    if type_ == Type.POINTER or type_ == Type.PERMUTATION_POINTER:
        return 0.0, float(value.shape[0] - 1)
    if type_ == Type.CATEGORICAL and value.ndim == 3:
        return 0.0, float(value.shape[-1] - 1)
    both = np.concatenate([np.ravel(value), np.ravel(pred[2])]).astype(float)
    return float(both.min()), float(both.max())


def _wrap(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])

