"""Single-task accuracy of the default recipe against the published scores.

Trains one Triplet-GMPNN per algorithm with the default configuration
(``openclrs train --algorithm A``: the published run.py recipe) and records,
every ``--rung`` steps, the score of the best-validation checkpoint so far on
the canonical n=64 test split, beside the published OOD score (Ibarz et al.
2022, Table 2)::

    python benchmarks/accuracy.py                       # 5 algorithms, 10,000 steps
    python benchmarks/accuracy.py --algorithms bfs --steps 2000 --rung 500

The algorithms advance together, one rung at a time, so a CPU that cannot
finish 10,000 steps of each in one sitting still gives comparable numbers at
every rung; runs resume where they stopped (run it again), and a rung's result
is the run's own ``results.json`` (best validation checkpoint, tested at the
end), so it equals what ``openclrs train --steps RUNG`` reports. Results go to
``benchmarks/results/accuracy.json`` and a plot of test score against steps,
``accuracy.png``, beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ALGORITHMS = ["bfs", "dijkstra", "insertion_sort", "floyd_warshall", "kmp_matcher"]


def load(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def record_rung(record: dict, algorithm: str, results: dict) -> None:
    rungs = record.setdefault("algorithms", {}).setdefault(algorithm, {}).setdefault("rungs", [])
    scores = results["algorithms"][algorithm]
    entry = {"steps": results["steps"], "best_step": results["best_step"],
             "val": scores["val_score"], "test": scores["test_score"],
             "test_metrics": scores["test_metrics"], "train_seconds": results["train_seconds"]}
    rungs[:] = [r for r in rungs if r["steps"] != entry["steps"]] + [entry]
    rungs.sort(key=lambda r: r["steps"])


def plot(record: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algorithms = list(record.get("algorithms", {}))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, algorithm in enumerate(algorithms):
        entry = record["algorithms"][algorithm]
        rungs = entry["rungs"]
        color = f"C{k}"
        ax.plot([r["steps"] for r in rungs], [100 * r["test"] for r in rungs], "o-",
                color=color, label=algorithm)
        if entry.get("published") is not None:
            ax.axhline(100 * entry["published"], color=color, ls=":", lw=1)
    ax.set_xlabel("training steps")
    ax.set_ylabel("test score at n=64 (%)")
    ax.set_ylim(0, 102)
    ax.set_title("openclrs Triplet-GMPNN, default recipe (dotted: published)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    from openclrs.files import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=DEFAULT_ALGORITHMS)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rung", type=int, default=1000)
    parser.add_argument("--runs", default="runs/accuracy", help="one run directory per algorithm")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "accuracy.json"))
    args = parser.parse_args()

    import torch

    from openclrs.training.allocator import keep_freed_memory
    from openclrs.training.published_scores import published_score
    from openclrs.files import write_json
    from openclrs.training.config import TrainConfig
    from openclrs.training.loop import train

    keep_freed_memory()  # as openclrs train does
    record = load(args.out)
    record["setup"] = {"recipe": "openclrs train defaults (published run.py)",
                       "device": args.device, "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "machine": platform.machine(),
                       "command": " ".join(["python", "benchmarks/accuracy.py"] + sys.argv[1:])}
    for algorithm in args.algorithms:
        entry = record.setdefault("algorithms", {}).setdefault(algorithm, {"rungs": []})
        entry["published"] = published_score(algorithm)

    for rung in range(args.rung, args.steps + 1, args.rung):
        for algorithm in args.algorithms:
            run_dir = os.path.join(args.runs, algorithm)
            done = load(os.path.join(run_dir, "results.json"))
            if done.get("steps", 0) < rung:
                print(f"accuracy: {algorithm} to step {rung}", file=sys.stderr, flush=True)
                config = TrainConfig(algorithms=[algorithm], steps=rung, out_dir=run_dir,
                                     test_every=0, device=args.device, progress=False)
                done = train(config)
            if done.get("steps") == rung:
                record_rung(record, algorithm, done)
                write_json(args.out, record)
                plot(record, os.path.splitext(args.out)[0] + ".png")
    for algorithm, entry in record["algorithms"].items():
        last = entry["rungs"][-1] if entry["rungs"] else None
        published = entry["published"]
        if last:
            print(f"{algorithm:16s} steps {last['steps']:6d}  val {100 * last['val']:6.2f}  "
                  f"test {100 * last['test']:6.2f}  published "
                  + ("-" if published is None else f"{100 * published:.2f}"))


if __name__ == "__main__":
    main()
