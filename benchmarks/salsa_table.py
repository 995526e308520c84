"""SALSA-CLRS's test table: reasoners trained at n <= 16, evaluated sparse on SALSA's test sets.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/salsa_table.py --runs DIR
    python benchmarks/salsa_table.py --table          # the markdown table
    python benchmarks/salsa_table.py --plan           # graphs per cell, estimated time

``DIR/<algorithm>`` holds one training run per algorithm (bfs, dijkstra,
mst_prim; ``openclrs train --sparse`` on SALSA's training distribution, or
any run ``openclrs evaluate --graph`` can read). Each cell (algorithm, family,
n) is exactly

    openclrs evaluate --run DIR/ALG --graph FAMILY --length N --num-samples K
                      --seed S --graphs-per-batch B

(:func:`openclrs.training.sparse_evaluate.evaluate_run_sparse`, the best
checkpoint), with ``S`` the seed of SALSA's split ``test_FAMILY_N`` in
:func:`openclrs.data.sparse.salsa_parts` (seed 0): the ``K`` graphs are the
first ``K`` of the stored test set ``build_sparse_dataset(salsa_parts(ALG,
large=True), folder)`` writes (same graphs, same sources and weights; the
evaluation samples them again, with the step-0 hints a model that encodes
hints reads). The families are SALSA's er, ws and delaunay at n = 16, 80,
160, 800, 1600, plus n = 4096 and 16384.

SALSA's test sets have 1,000 graphs each; dijkstra and mst_prim run n + 1
processor steps per graph, so the graphs per cell (``K``, in every cell of
the table) come from :data:`PLAN`, sized from measured per-graph costs
(the whole table: 19 min of one core here; dijkstra and mst_prim at
n = 4096 would take ~290 s per ER graph, so they are left out); ``--graphs ALG:N=K`` overrides one entry
(``--graphs dijkstra:4096=2``). Cells are written to the results JSON after
each one and skipped when rerun (a cell with fewer graphs than planned is
run again); the file records the runs (folder, checkpoint, step, training
options), the command line and the machine, and refuses to mix runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

RESULTS = os.path.join(HERE, "results", "salsa_table.json")
ALGORITHMS = ("bfs", "dijkstra", "mst_prim")
FAMILIES = ("er", "ws", "delaunay")
SIZES = (16, 80, 160, 800, 1600, 4096, 16384)

# Graphs per cell, by algorithm and n (SALSA: 1,000). bfs runs about a
# diameter's worth of steps; dijkstra and mst_prim n + 1 steps per graph.
PLAN = {
    "bfs": {16: 1000, 80: 1000, 160: 1000, 800: 200, 1600: 100, 4096: 64, 16384: 8},
    "dijkstra": {16: 1000, 80: 200, 160: 100, 800: 4, 1600: 3, 4096: 0, 16384: 0},
    "mst_prim": {16: 1000, 80: 200, 160: 100, 800: 4, 1600: 3, 4096: 0, 16384: 0},
}
# Graphs per forward: many small graphs at once (the per-step cost is
# mostly fixed overhead there), one at a time at large n.
GRAPHS_PER_BATCH = {16: 50, 80: 25, 160: 10, 800: 2, 1600: 1, 4096: 1, 16384: 1}

RUN_KEYS = ("algorithms", "steps", "batch_size", "learning_rate", "seed", "train_lengths",
            "val_set", "sparse")
MODEL_KEYS = ("processor", "hidden_size", "hint_mode", "hint_repred_mode", "use_lstm",
              "nb_msg_passing_steps")


def split_seeds(algorithm: str) -> dict[str, int]:
    """The seed of each of SALSA's test sets (``er_16`` ... ``delaunay_16384``)
    as ``salsa_parts`` builds them."""
    from openclrs.data.sparse import salsa_parts

    return {p.graphs: p.seed for p in salsa_parts(algorithm, large=True)
            if p.split.startswith("test_")}


def run_record(run: str) -> dict:
    """What identifies a run: its folder, best checkpoint and training options."""
    from openclrs.files import read_json

    config = read_json(os.path.join(run, "config.json"), "run config")
    train = config.get("train", {})
    record = {"run": os.path.abspath(run)}
    record.update({k: train[k] for k in RUN_KEYS if k in train})
    record["model"] = {k: train.get("model", {}).get(k) for k in MODEL_KEYS}
    return record


def planned(algorithm: str, n: int, overrides: dict) -> int:
    return overrides.get((algorithm, n), PLAN[algorithm].get(n, 0))


def parse_overrides(items) -> dict:
    out = {}
    for item in items or ():
        try:
            key, count = item.split("=")
            algorithm, n = key.split(":")
            out[(algorithm, int(n))] = int(count)
        except ValueError:
            raise SystemExit(f"--graphs {item!r}: expected ALG:N=K, e.g. dijkstra:4096=2")
    return out


def cell_key(algorithm: str, family: str, n: int) -> str:
    return f"{algorithm}/{family}_{n}"


def pct(x) -> str:
    return f"{100 * x:.1f}"


def table(saved: dict) -> str:
    """Node accuracy % / graph accuracy % (graphs) per (algorithm, family) and n."""
    cells = saved.get("cells", {})
    sizes = sorted({int(k.rsplit("_", 1)[1]) for k in cells})
    lines = ["| algorithm | family | " + " | ".join(f"n={n}" for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for algorithm in ALGORITHMS:
        for family in FAMILIES:
            row = [cells.get(cell_key(algorithm, family, n)) for n in sizes]
            if not any(row):
                continue
            text = ["" if c is None else
                    f"{pct(c['node_accuracy'])} / {pct(c['graph_accuracy'])} ({c['graphs']})"
                    for c in row]
            lines.append(f"| {algorithm} | {family} | " + " | ".join(text) + " |")
    differs = [k for k, c in cells.items() if abs(c["score"] - c["node_accuracy"]) > 5e-4]
    note = ("\nCLRS score = node accuracy in every cell (pointer outputs, equal-size graphs)"
            if not differs else "\nCLRS score differs from node accuracy in: " +
            ", ".join(f"{k} {pct(cells[k]['score'])}" for k in differs))
    return "\n".join(lines) + "\n" + note


def plot(saved: dict, path: str) -> None:
    from openclrs.extras import pyplot

    plt = pyplot("plot the SALSA table")
    cells = saved.get("cells", {})
    fig, axes = plt.subplots(1, len(FAMILIES), figsize=(13, 3.8), sharey=True)
    for ax, family in zip(axes, FAMILIES):
        for algorithm in ALGORITHMS:
            points = sorted((int(k.rsplit("_", 1)[1]), c["node_accuracy"])
                            for k, c in cells.items()
                            if k.startswith(f"{algorithm}/{family}_"))
            if points:
                ax.plot([p[0] for p in points], [100 * p[1] for p in points], "o-",
                        label=algorithm)
        ax.axvline(16, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_title(family)
        ax.set_xlabel("nodes n (trained at n <= 16)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("node accuracy (%)")
    axes[0].legend()
    fig.suptitle("Trained at n <= 16, evaluated sparse on SALSA-CLRS's test sets")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def estimate(saved: dict, algorithm: str, family: str, n: int, count: int):
    """CPU seconds for ``count`` graphs from the cell's measured per-graph
    cost (or None if the cell was never run)."""
    c = saved.get("cells", {}).get(cell_key(algorithm, family, n))
    if c is None:
        return None
    return count * c.get("cpu_seconds", c["wall_seconds"]) / c["graphs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", help="folder with one run per algorithm: RUNS/bfs, ...")
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS),
                        choices=ALGORITHMS)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--graphs", nargs="+", metavar="ALG:N=K",
                        help="graphs per cell instead of PLAN's (0 skips the cell)")
    parser.add_argument("--train-command", help="the command that trained the runs (recorded)")
    parser.add_argument("--out", default=RESULTS, help="results JSON (default %(default)s)")
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    parser.add_argument("--plan", action="store_true",
                        help="print graphs per cell and the estimated seconds, and stop")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    overrides = parse_overrides(args.graphs)

    saved = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            saved = json.load(f)
    png = os.path.splitext(args.out)[0] + ".png"
    if args.table:
        print(table(saved))
        return
    if args.plan:
        total = 0.0
        for algorithm in args.algorithms:
            for n in args.sizes:
                for family in args.families:
                    k = planned(algorithm, n, overrides)
                    done = saved.get("cells", {}).get(cell_key(algorithm, family, n))
                    left = 0 if done and done["graphs"] >= k else k
                    est = estimate(saved, algorithm, family, n, left)
                    total += est or 0.0
                    print(f"{cell_key(algorithm, family, n):<24}{k:>6} graphs  "
                          f"{'done' if done and not left else '':<5}"
                          f"{'?' if est is None and left else f'{est or 0:.0f} s':>9}")
        print(f"estimated from measured cells: {total / 60:.1f} min of CPU")
        return
    if not args.runs:
        parser.error("--runs DIR is needed to evaluate (or --table / --plan)")

    from openclrs.files import write_json
    from openclrs.training.sparse_evaluate import evaluate_run_sparse

    runs = {a: run_record(os.path.join(args.runs, a)) for a in args.algorithms}
    recorded = saved.get("runs", {})
    for a, record in runs.items():
        if a in recorded and recorded[a] != record:
            raise SystemExit(f"{args.out} holds cells of another run of {a} "
                             f"({recorded[a]['run']}); give another --out")
    saved.setdefault("cells", {})
    saved["runs"] = {**recorded, **runs}
    saved["train_command"] = args.train_command or saved.get("train_command")
    commands = saved.setdefault("commands", [])  # every invocation that added cells
    first = saved.pop("command", None)
    if first and first not in commands:
        commands.append(first)
    command = "python benchmarks/salsa_table.py " + shlex.join(sys.argv[1:])
    if command not in commands:
        commands.append(command)
    saved["machine"] = (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
                        f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    for n in args.sizes:  # cheap cells first: a stopped run leaves a useful table
        for algorithm in args.algorithms:
            seeds = split_seeds(algorithm)
            for family in args.families:
                key = cell_key(algorithm, family, n)
                count = planned(algorithm, n, overrides)
                done = saved["cells"].get(key)
                if count <= 0 or (done and done["graphs"] >= count):
                    continue
                batch = min(GRAPHS_PER_BATCH.get(n, 1), count)
                seed = seeds[f"{family}_{n}"]
                start, cpu = time.perf_counter(), time.process_time()
                result = evaluate_run_sparse(os.path.join(args.runs, algorithm), family, n,
                                             count, seed=seed, algorithms=[algorithm],
                                             batch_size=batch, progress=not args.quiet)
                cell = dict(result["algorithms"][algorithm])
                cell.update(seed=seed, graphs_per_batch=batch, checkpoint=result["checkpoint"],
                            step=result["step"],
                            wall_seconds=time.perf_counter() - start,
                            cpu_seconds=time.process_time() - cpu)
                saved["cells"][key] = cell
                write_json(args.out, saved)
                print(f"{key:<24} {count:>5} graphs  node {pct(cell['node_accuracy'])}  "
                      f"graph {pct(cell['graph_accuracy'])}  "
                      f"{cell['wall_seconds']:.0f} s ({cell['cpu_seconds']:.0f} s CPU)",
                      flush=True)
    plot(saved, png)
    print(table(saved))


if __name__ == "__main__":
    main()
