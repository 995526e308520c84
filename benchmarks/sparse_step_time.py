"""CPU time of one processor step of the sparse evaluation at large n.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/sparse_step_time.py \\
        --runs RUNS --sizes 4096 16384 --steps 10
    python benchmarks/sparse_step_time.py --table

For each (algorithm, family, n): the first graph of SALSA's split
``test_FAMILY_N`` (step-0 hints only, as ``salsa_table.py`` evaluates it),
the run's best checkpoint, ``--warmup`` steps of
:func:`openclrs.models.sparse.sparse_unroll` untimed, then ``--steps`` steps
timed (CPU seconds of this process, and wall seconds), one thread. Each
variant runs in its own process (the allocator setting is process-wide):
``--variants`` picks them, ``TREE:ALLOC`` each, ``TREE`` a checkout of
openclrs to import (``.`` this one; e.g. a ``git worktree`` of an older
commit, to compare with the code before a change) and ``ALLOC`` ``keep``
(:func:`openclrs.training.allocator.keep_freed_memory`, what ``openclrs
evaluate`` and ``salsa_table.py`` do) or ``plain`` (glibc's defaults). The
variants take turns per graph, so a change in the machine's load hits all
of them alike. Results are appended to ``--out`` after each measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "sparse_step_time.json")


def measure(args) -> dict:
    """One measurement in this process (``--child``): a JSON record on stdout."""
    tree = os.path.abspath(args.tree)
    sys.path.insert(0, tree)
    sys.path.insert(1, HERE)
    import torch

    if args.alloc == "keep":
        from openclrs.training.allocator import keep_freed_memory

        keep_freed_memory()
    from openclrs.distributions import SparseSampler
    from openclrs.models.sparse import sparse_unroll
    from openclrs.training.evaluate import load_run
    from openclrs.training.sparse_evaluate import first_step_batch
    from salsa_table import first_step_trace, split_seeds

    import openclrs

    assert os.path.dirname(os.path.abspath(openclrs.__file__)).startswith(tree), tree
    model = load_run(os.path.join(args.runs, args.algorithm), "best").model
    model.eval()
    split = f"{args.family}_{args.n}"
    sampler = SparseSampler(args.algorithm, split, split_seeds(args.algorithm)[split],
                            hints=model.config.encode_hints)
    batch = first_step_batch([first_step_trace(sampler)])
    with torch.no_grad():
        steps = sparse_unroll(model, batch, args.algorithm, steps=args.warmup + args.steps)
        for _ in range(args.warmup):
            next(steps)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.steps):
            next(steps)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"algorithm": args.algorithm, "family": args.family, "n": args.n,
            "edges": int(batch.num_edges), "steps": args.steps,
            "cpu_ms_per_step": 1000 * cpu / args.steps,
            "wall_ms_per_step": 1000 * wall / args.steps}


def commit_of(tree: str) -> str:
    try:
        return subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.basename(os.path.abspath(tree))


def table(saved: dict) -> str:
    """Mean CPU ms per step by (algorithm, family, n) and variant."""
    groups: dict = {}
    for r in saved.get("records", []):
        key = (r["algorithm"], r["family"], r["n"], r["edges"])
        groups.setdefault(key, {}).setdefault(r["variant"], []).append(r["cpu_ms_per_step"])
    variants = sorted({v for g in groups.values() for v in g})
    lines = ["| algorithm | family | n | edges | " + " | ".join(variants) + " |",
             "|---|---|---:|---:|" + "---:|" * len(variants)]
    for (algorithm, family, n, edges), by in sorted(groups.items()):
        cells = [f"{sum(by[v]) / len(by[v]):.0f}" if v in by else "" for v in variants]
        lines.append(f"| {algorithm} | {family} | {n} | {edges:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nCPU ms per processor step (mean over the runs of a variant)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", help="folder with one run per algorithm (RUNS/dijkstra, ...)")
    parser.add_argument("--algorithms", nargs="+", default=["dijkstra"])
    parser.add_argument("--families", nargs="+", default=["delaunay", "ws", "er"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[4096, 16384])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=[".:keep"], metavar="TREE:ALLOC")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=".", help=argparse.SUPPRESS)
    parser.add_argument("--alloc", default="keep", help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", help=argparse.SUPPRESS)
    parser.add_argument("--family", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    saved = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            saved = json.load(f)
    if args.table:
        print(table(saved))
        return
    if not args.runs:
        parser.error("--runs is needed to measure (or --table)")
    from openclrs.files import write_json  # noqa: E402 (this checkout's, for writing only)

    command = "python benchmarks/sparse_step_time.py " + shlex.join(sys.argv[1:])
    saved.setdefault("commands", []).append(command)
    saved["machine"] = (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
                        f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    records = saved.setdefault("records", [])
    labels = {tree: commit_of(tree) for tree in {v.rsplit(":", 1)[0] for v in args.variants}}
    for n in args.sizes:
        for family in args.families:
            for algorithm in args.algorithms:
                for variant in args.variants:  # in turns, per graph
                    tree, alloc = variant.rsplit(":", 1)
                    if alloc not in ("keep", "plain"):
                        parser.error(f"--variants {variant}: ALLOC is keep or plain")
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", "--runs", args.runs,
                         "--tree", tree, "--alloc", alloc, "--algorithm", algorithm,
                         "--family", family, "--n", str(n), "--steps", str(args.steps),
                         "--warmup", str(args.warmup)],
                        capture_output=True, text=True)
                    if out.returncode:
                        raise SystemExit(f"{variant} {algorithm} {family}_{n} failed:\n"
                                         f"{out.stderr[-2000:]}")
                    record = json.loads(out.stdout.strip().splitlines()[-1])
                    record.update(variant=f"{labels[tree]}:{alloc}", tree=tree,
                                  alloc=alloc, time=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime()))
                    records.append(record)
                    write_json(args.out, saved)
                    print(f"{algorithm:<9}{family:<9}{n:>6} E={record['edges']:>7} "
                          f"{record['variant']:<14}{record['cpu_ms_per_step']:8.1f} ms CPU/step "
                          f"({record['wall_ms_per_step']:.1f} wall)", flush=True)
    print(table(saved))


if __name__ == "__main__":
    main()
