"""Re-evaluate a training run's checkpoint on stored splits.

``evaluate_run(run_dir, split="test")`` rebuilds the model from the run's
``config.json``, reads the ``best`` checkpoint (or ``last``, or any
checkpoint folder), verified against its manifest, refuses with a clear
message a checkpoint of another model, and scores it: ``test`` is the
canonical test split (n = 64), ``val`` the run's validation set (see
:mod:`openclrs.training.loop`).
"""

from __future__ import annotations

import os
from typing import Sequence

from .. import files
from . import runs
from .config import TrainConfig

SPLITS = ("test", "val")


def load_run_config(run_dir: str) -> TrainConfig:
    """The :class:`TrainConfig` a run was made with."""
    path = os.path.join(run_dir, runs.CONFIG)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a training run (no {runs.CONFIG})")
    data = files.read_json(path, "run config", runs.FIX)
    try:
        return TrainConfig.from_dict(data["train"])
    except (KeyError, TypeError, ValueError) as e:
        raise files.CorruptFileError(f"{path} is not a run config of this openclrs version "
                                     f"({e}); {runs.FIX}") from None


def evaluate_run(run_dir: str, split: str = "test", checkpoint: str = "best",
                 device: str = "cpu", algorithms: Sequence[str] | None = None,
                 max_memory: int | None = None, factory=None) -> dict:
    """Score a run's checkpoint (``best``, ``last``, or a checkpoint folder)
    on ``split``. Returns, in the layout of the run's ``results.json``::

        {"run": ..., "checkpoint": folder, "step": step, "split": split,
         "algorithms": {algorithm: {"<split>_score": mean, "<split>_metrics": {...}}},
         "<split>": {"family_mean": ..., "algorithm_mean": ...}}   # several algorithms

    ``max_memory`` (bytes; default: the run's ``max_memory``, else half the
    available memory) bounds what the batches take: each runs in chunks of
    samples that fit it (:mod:`openclrs.training.memory`), same scores.
    ``factory``: the :class:`~openclrs.training.loop.ModelFactory` of a run
    a capability trained (its model and scoring).
    """
    from .loop import build_model, load_weights, score, summarize, test_batches, \
        validation_batches

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected 'test' or 'val'")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"no run folder at {run_dir}")
    runs.refuse_old_format(run_dir, "train it again (openclrs train --restart)")
    config = load_run_config(run_dir)
    config.device, config.progress = device, False
    if max_memory is not None:
        config.max_memory = max_memory
    config.validate()
    algorithms = list(algorithms or config.algorithms)
    for a in algorithms:
        if a not in config.algorithms:
            raise ValueError(f"this run was trained on {config.algorithms}, not {a!r}")
    saved = runs.load_checkpoint(run_dir, checkpoint,
                                 fix="train the run again, or use another --checkpoint")
    folder = saved.path
    model = (build_model if factory is None else factory.build)(config).to(device)
    load_weights(saved, model, config)
    get = test_batches if split == "test" else validation_batches
    scorer = score if factory is None or factory.score is None else factory.score
    scores = {a: scorer(model, get(config, a), max_memory=config.max_memory)
              for a in algorithms}
    results = {"run": run_dir, "checkpoint": folder, "step": saved.step, "split": split,
               "algorithms": {a: {f"{split}_score": m["score"], f"{split}_metrics": m}
                              for a, m in scores.items()}}
    if len(algorithms) > 1:
        results[split] = summarize(scores)
    return results
