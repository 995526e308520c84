"""Reasoners that decide when they are done, on CLRS (issue 20, targets).

For each algorithm and halting kind, trains ``openclrs train --algorithm A
--steps S --halting KIND`` (the published recipe otherwise) and scores its
best-validation checkpoint on the canonical test split (n = 64) four ways:
with learned halting (the model decides; capped at 5·n), with the trace
lengths (oracle, today's evaluation), and with a fixed budget of
ceil(c · n) processor steps for every sample (``--budgets``). With
``--baseline`` a plain run (no halting head, the same recipe) is scored with
the oracle and the fixed budgets too.

Results are written to the JSON file after every entry; entries already
there are skipped, and an interrupted training resumes from its run
folder's last checkpoint (run the same command again)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/halting_clrs.py \\
        --algorithms bfs bellman_ford --steps 300 --runs /tmp/halting-runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from openclrs import files
from openclrs.halting.config import HaltingConfig
from openclrs.halting.reasoner import HaltingReasoner, score_halting
from openclrs.halting.training import train_halting
from openclrs.training.config import TrainConfig
from openclrs.training import runs
from openclrs.training.loop import build_model, load_weights, test_batches, train

HERE = os.path.dirname(os.path.abspath(__file__))


def _machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count()}


def run_halting(algorithm, kind, steps, runs_dir, data_root) -> dict:
    """Train (or resume) a halting run; its learned and oracle test scores."""
    out = os.path.join(runs_dir, f"{algorithm}-{kind}-{steps}")
    config = TrainConfig(algorithms=[algorithm], steps=steps, out_dir=out, progress=False,
                         data_root=data_root)
    halting = HaltingConfig(kind=kind)
    start = time.perf_counter()
    trained = train_halting(config, halting)
    r = trained["algorithms"][algorithm]
    return {"algorithm": algorithm, "halting": kind, "steps": steps, "run": out,
            "best_step": trained["best_step"], "train_seconds": trained["train_seconds"],
            "wall_seconds": time.perf_counter() - start, "val_score": r["val_score"],
            "val_halting_stats": trained["val_halting"][algorithm],
            "learned_test_score": r["test_score"], "oracle_test_score": r["oracle_test_score"],
            "halting_stats": r["halting"], "settings": halting.to_dict()}


def fixed_budgets(entry: dict, budgets, data_root) -> dict:
    """The test scores of the entry's best checkpoint with ceil(c * n) steps
    for every sample (a plain run's weights are wrapped in a
    HaltingReasoner, whose fixed budgets use only the reasoner)."""
    config = TrainConfig(algorithms=[entry["algorithm"]], steps=entry["steps"],
                         out_dir=entry["run"], progress=False, data_root=data_root)
    model = build_model(config)
    checkpoint = runs.load_checkpoint(entry["run"], "best")
    if entry["halting"] in ("learned", "termination"):
        model = HaltingReasoner(model, HaltingConfig(kind=entry["halting"]))
        load_weights(checkpoint, model, config)
    else:
        load_weights(checkpoint, model, config)
        model = HaltingReasoner(model)
    start = time.perf_counter()
    m = score_halting(model, test_batches(config, entry["algorithm"]), budgets=tuple(budgets))
    return {**{f"fixed_{c:g}n_test_score": m[f"fixed_{c:g}_score"] for c in budgets},
            "fixed_seconds": time.perf_counter() - start}


def run_baseline(algorithm, steps, runs_dir, data_root) -> dict:
    """A plain run (trained with the trace lengths): its oracle test score."""
    out = os.path.join(runs_dir, f"{algorithm}-plain-{steps}")
    config = TrainConfig(algorithms=[algorithm], steps=steps, out_dir=out, progress=False,
                         data_root=data_root)
    start = time.perf_counter()
    trained = train(config)
    return {"algorithm": algorithm, "halting": "none (plain run)", "steps": steps, "run": out,
            "train_seconds": trained["train_seconds"],
            "wall_seconds": time.perf_counter() - start,
            "val_score": trained["algorithms"][algorithm]["val_score"],
            "oracle_test_score": trained["algorithms"][algorithm]["test_score"]}


def table(results: dict) -> str:
    """The results as a Markdown table (test split, n = 64)."""
    budgets = sorted({k for e in results["entries"].values() for k in e
                      if k.startswith("fixed_") and k.endswith("n_test_score")},
                     key=lambda k: float(k[6:-12]))
    head = ["algorithm", "halting", "steps", "learned", "oracle"] + \
        [f"fixed {k[6:-12]}·n" for k in budgets] + \
        ["mean abs(T̂−T)/T", "early", "late", "mean T̂", "mean T", "cap", "train time"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    pct = lambda x: "-" if x is None else f"{100 * x:.2f}%"  # noqa: E731
    for e in results["entries"].values():
        h = e.get("halting_stats", {})
        row = [e["algorithm"], e["halting"], str(e["steps"]), pct(e.get("learned_test_score")),
               pct(e["oracle_test_score"])] + [pct(e.get(k)) for k in budgets]
        row += ([f"{h['halting_error']:.2f}", pct(h["early"]), pct(h["late"]),
                 f"{h['mean_steps']:.2f}", f"{h['mean_true_steps']:.2f}", str(h["max_steps"])]
                if h else ["-"] * 6)
        row.append(f"{e['train_seconds'] / 60:.0f} min")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=["bfs", "bellman_ford"])
    parser.add_argument("--kinds", nargs="+", default=["learned"],
                        choices=("learned", "termination"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--budgets", type=float, nargs="*", default=[1.0, 5.0],
                        help="fixed budgets c: ceil(c * n) processor steps")
    parser.add_argument("--baseline", action="store_true",
                        help="also a plain run scored with oracle and fixed budgets")
    parser.add_argument("--runs", default="/tmp/halting-runs", help="run folders")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "halting_clrs.json"))
    parser.add_argument("--table", action="store_true", help="print the results as a table")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.out) as f:
            print(table(json.load(f)))
        return

    results = {"entries": {}}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    results["machine"] = _machine()
    jobs = [(a, k) for a in args.algorithms for k in args.kinds]
    if args.baseline:
        jobs += [(a, "plain") for a in args.algorithms]
    for algorithm, kind in jobs:
        key = f"{algorithm}/{kind}/{args.steps}"
        if key in results["entries"]:
            print(f"{key}: done already")
            continue
        print(f"{key}: training", flush=True)
        if kind == "plain":
            entry = run_baseline(algorithm, args.steps, args.runs, args.data_root)
        else:
            entry = run_halting(algorithm, kind, args.steps, args.runs, args.data_root)
        results["entries"][key] = entry
        files.write_json(args.out, results)
        print(json.dumps(entry, indent=1), flush=True)
    # then the fixed budgets (slow: ceil(c * n) steps for every sample at n = 64)
    for key in [f"{a}/{k}/{args.steps}" for a, k in jobs]:
        entry = results["entries"][key]
        todo = [c for c in args.budgets if f"fixed_{c:g}n_test_score" not in entry]
        if todo:
            print(f"{key}: fixed budgets {todo}", flush=True)
            entry.update(fixed_budgets(entry, todo, args.data_root))
            files.write_json(args.out, results)
            print(json.dumps(entry, indent=1), flush=True)


if __name__ == "__main__":
    main()
