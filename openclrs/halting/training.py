"""Training and evaluating reasoners that decide when they are done, on
the reasoner's own trainer (:mod:`openclrs.training.loop`).

:func:`factory` hands the trainer a :class:`~.reasoner.HaltingReasoner`
and its scoring (:func:`~.reasoner.score_halting`: validation picks the
best checkpoint by the learned-halting score; the metrics log records
``oracle_score`` and ``halting_error`` at every validation). The
:class:`~.config.HaltingConfig` is saved in the run's ``config.json`` under
``"halting"``, so a resumed run must use the same settings and
``openclrs evaluate`` rebuilds the same model (:func:`evaluate_halting_run`).

``results.json`` gives per algorithm ``test_score`` (learned halting),
``oracle_test_score`` (the trace lengths) and ``halting`` (the statistics
of :class:`~.reasoner.HaltingStatistics` on the test split, cap included).
"""

from __future__ import annotations

import os
import sys

from .. import files
from ..training import runs
from ..training.config import TrainConfig
from ..training.loop import ModelFactory, build_model, train
from .config import HaltingConfig
from .reasoner import HaltingReasoner, HaltingStatistics, score_halting

NAME = "halting"
STATISTICS = ("halting_error", "early", "late", "capped", "mean_steps", "mean_true_steps",
              "max_steps")


def factory(halting: HaltingConfig) -> ModelFactory:
    """The trainer's :class:`~openclrs.training.loop.ModelFactory` of a
    halting run with these settings."""
    halting.validate()
    return ModelFactory(name=NAME, settings=halting.to_dict(),
                        build=lambda config: HaltingReasoner(build_model(config), halting),
                        score=score_halting)


def run_kind():
    """How ``openclrs evaluate`` rebuilds a halting run and adds its figures
    (:class:`~openclrs.training.evaluate.RunKind`), on a stored split and on
    fresh sparse graphs (:mod:`.sparse`)."""
    from ..training.evaluate import RunKind
    from .sparse import SparseHaltingScorer, sparse_halting_table

    return RunKind(NAME, factory=lambda settings: factory(HaltingConfig.from_dict(settings)),
                   finish=lambda results, split, settings: with_halting(
                       results, split, HaltingConfig.from_dict(settings)),
                   table=halting_table, sparse_scorer=SparseHaltingScorer,
                   sparse_table=sparse_halting_table)


def train_halting(config: TrainConfig, halting: HaltingConfig, *, restart: bool = False,
                  log=None, hook=None) -> dict:
    """Train (or resume) a halting run; returns its results (with the
    learned-halting and oracle scores side by side), also written to the
    run's ``results.json`` and printed as :func:`halting_table`."""
    log = sys.stderr if log is None else log
    results = train(config, hook=hook, log=log, restart=restart, factory=factory(halting))
    if not results:  # not rank 0 of a torchrun
        return results
    results = with_halting(results, "test", halting)
    results["val_halting"] = {a: _statistics(r["val_metrics"])
                              for a, r in results["algorithms"].items()}
    files.write_json(os.path.join(config.out_dir, "results.json"), results)
    print(halting_table(results, "test"), file=log)
    return results


def run_halting(run_dir: str) -> HaltingConfig | None:
    """The halting settings of a run folder (None: a plain run)."""
    path = os.path.join(run_dir, runs.CONFIG)
    if not os.path.exists(path):
        return None
    data = files.read_json(path, "run config", runs.FIX)
    if NAME not in data:
        return None
    try:
        return HaltingConfig.from_dict(data[NAME])
    except (TypeError, ValueError) as e:
        raise files.CorruptFileError(f"{path}: bad halting settings ({e}); {runs.FIX}") from None


def evaluate_halting_run(run_dir: str, split: str = "test", checkpoint: str = "best",
                         device: str = "cpu", max_memory: int | None = None,
                         halting: HaltingConfig | None = None) -> dict:
    """:func:`openclrs.training.evaluate.evaluate_run` of a halting run:
    the same layout, plus ``oracle_<split>_score`` and ``halting`` per
    algorithm."""
    from ..training.evaluate import evaluate_run

    halting = run_halting(run_dir) if halting is None else halting
    if halting is None:
        raise ValueError(f"{run_dir} is not a halting run (no 'halting' in its config.json)")
    results = evaluate_run(run_dir, split=split, checkpoint=checkpoint, device=device,
                           max_memory=max_memory, factory=factory(halting))
    return with_halting(results, split, halting)


def _statistics(metrics: dict) -> dict:
    return {k: metrics[k] for k in STATISTICS if k in metrics}


def with_halting(results: dict, split: str, halting: HaltingConfig) -> dict:
    """``results`` with, per algorithm, ``oracle_<split>_score`` and the
    halting statistics lifted out of ``<split>_metrics``."""
    for r in results["algorithms"].values():
        metrics = r[f"{split}_metrics"]
        r[f"oracle_{split}_score"] = metrics["oracle_score"]
        r["halting"] = _statistics(metrics)
    results["halting"] = halting.to_dict()
    return results


def halting_table(results: dict, split: str = "test") -> str:
    """Per algorithm: the score with learned halting beside the score with
    the trace lengths (oracle), the halting error mean |T̂ − T| / T, the
    fractions stopped early, late and by the cap, and the cap."""
    kind = results.get("halting", {}).get("kind", "learned")
    lines = [f"{'halting: ' + kind:<24}{'learned':>9}{'oracle':>9}{HaltingStatistics.HEADER}"
             f"{'cap':>6}",
             f"{'algorithm (' + split + ')':<24}{'halting':>9}{'lengths':>9}"]
    for a, r in results["algorithms"].items():
        h = r["halting"]
        lines.append(f"{a:<24}{100 * r[f'{split}_score']:>8.2f}%"
                     f"{100 * r[f'oracle_{split}_score']:>8.2f}%{HaltingStatistics.cells(h)}"
                     f"{h['max_steps']:>6d}")
    return "\n".join(lines)
