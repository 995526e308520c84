"""Re-evaluate a training run's checkpoint on stored splits.

``evaluate_run(run_dir, split="test")`` rebuilds the model from the run's
``config.json``, loads ``best.safetensors`` (or ``last``, or any weights
file), refusing with a clear message a checkpoint of another model, and
scores it: ``test`` is the canonical test split (n = 64), ``val`` the run's
validation set (see :mod:`openclrs.training.loop`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

from .loop import (TrainConfig, build_model, load_weights, score, summarize, test_batches,
                    validation_batches)


def load_run_config(run_dir: str) -> TrainConfig:
    """The :class:`TrainConfig` a run was made with."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a training run (no config.json)")
    with open(path) as f:
        data = json.load(f)["train"]
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in known})


def evaluate_run(run_dir: str, split: str = "test", checkpoint: str = "best",
                 device: str = "cpu", algorithms: Sequence[str] | None = None) -> dict:
    """``{algorithm: {output: metric, ..., "score": mean}}`` of a run's
    checkpoint (``best``, ``last`` or a path to a ``.safetensors`` file) on
    ``split``; with several algorithms also ``family_mean``/``algorithm_mean``
    under the key ``"summary"``."""
    if split not in ("test", "val"):
        raise ValueError(f"unknown split {split!r}; expected 'test' or 'val'")
    config = load_run_config(run_dir)
    config.device, config.progress = device, False
    config.validate()
    algorithms = list(algorithms or config.algorithms)
    for a in algorithms:
        if a not in config.algorithms:
            raise ValueError(f"this run was trained on {config.algorithms}, not {a!r}")
    model = build_model(config).to(device)
    path = checkpoint if checkpoint.endswith(".safetensors") else os.path.join(
        run_dir, f"{checkpoint}.safetensors")
    load_weights(path, model, config)
    get = test_batches if split == "test" else validation_batches
    results = {a: score(model, get(config, a)) for a in algorithms}
    if len(algorithms) > 1:
        results["summary"] = summarize(results)
    return results
