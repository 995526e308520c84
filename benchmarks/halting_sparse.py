"""Learned halting on large sparse graphs: a halting run trained dense on small graphs,
evaluated sparse with each graph halting on its own, beside the oracle (trace lengths).

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/halting_sparse.py --runs RUN [RUN ...]

Each ``RUN`` is a halting run (``openclrs train --halting learned|termination ...``;
the README's: ``openclrs train --algorithm bfs --steps 300 --halting learned
--processor gpgn_mask --hidden-size 64 --hint-repred-mode hard_on_eval --out
RUN``). For every family (``--families``) and size (``--sizes``) it runs
``openclrs evaluate --run RUN --graph FAMILY --length N --num-samples K``
(seed 0): node/graph accuracy and the CLRS score with learned halting and
with the trace lengths, and the halting statistics, one row per
(halting kind, ``-sparse`` for a run trained ``--sparse``, algorithm,
graphs). Rows are saved to
``benchmarks/results/halting_sparse.json`` after each one and skipped when
rerun; ``--table`` prints them as a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

RESULTS = os.path.join(HERE, "results", "halting_sparse.json")


def table(rows: dict) -> str:
    lines = ["| halting | algorithm | graphs | node acc. learned / oracle | graph acc. learned / oracle "
             "| CLRS score learned / oracle | mean abs(T̂−T)/T | early | late | capped "
             "| mean T̂ | mean T | cap | seconds learned / oracle |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def order(key):
        kind, algorithm, graphs = key.split("/")
        family, n = graphs.rsplit("_", 1)
        return algorithm, kind, int(n), ["er", "ws", "delaunay"].index(family)

    for key in sorted(rows, key=order):
        r = rows[key]
        h = r["halting"]
        kind, algorithm, graphs = key.split("/")
        lines.append(
            f"| {kind} | {algorithm} | {graphs} | {100 * r['node_accuracy']:.1f} / "
            f"{100 * r['oracle_node_accuracy']:.1f} | {100 * r['graph_accuracy']:.0f} / "
            f"{100 * r['oracle_graph_accuracy']:.0f} | {100 * r['score']:.1f} / "
            f"{100 * r['oracle_score']:.1f} | {h['halting_error']:.2f} | "
            f"{100 * h['early']:.0f}% | {100 * h['late']:.0f}% | {100 * h['capped']:.0f}% | "
            f"{h['mean_steps']:.1f} | {h['mean_true_steps']:.1f} | {h['max_steps']} | "
            f"{r['seconds'] - r['oracle_seconds']:.1f} / {r['oracle_seconds']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", metavar="RUN",
                        help="halting run folders to evaluate (required unless --table)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[160, 1600])
    parser.add_argument("--families", nargs="+", default=["er", "ws", "delaunay"])
    parser.add_argument("--graphs", type=int, default=8)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args(argv)
    if not args.table and not args.runs:
        parser.error("--runs RUN [RUN ...] is required: the halting runs to evaluate")

    from openclrs.files import read_json, write_json

    # the rows done so far (rerun: skipped)
    saved = read_json(args.out, "halting_sparse results", "delete it to start again") \
        if os.path.exists(args.out) else {}
    rows = saved.get("rows", {})
    if args.table:
        print(table(rows))
        return
    from openclrs.cli.training import run_kinds
    from openclrs.training.sparse_evaluate import evaluate_run_sparse

    recipe = saved.get("recipe", {"graphs": args.graphs, "seed": 0, "runs": {},
                                  "machine": f"{os.cpu_count()} CPUs, OMP_NUM_THREADS="
                                             f"{os.environ.get('OMP_NUM_THREADS')}"})
    for run in args.runs:
        kind, algorithms = _kind_and_algorithms(run)
        for n in args.sizes:
            for family in args.families:
                for algorithm in algorithms:
                    key = f"{kind}/{algorithm}/{family}_{n}"
                    if key in rows:
                        continue
                    result = evaluate_run_sparse(run, family, n, args.graphs, seed=0,
                                                 algorithms=[algorithm], kinds=run_kinds())
                    rows[key] = result["algorithms"][algorithm]
                    recipe["runs"][kind] = {"run": run, "step": result["step"],
                                            "halting": result["halting"]}
                    print(key, {k: rows[key][k] for k in ("score", "oracle_score")},
                          rows[key]["halting"], flush=True)
                    write_json(args.out, {"recipe": recipe, "rows": rows})
    print(table(rows))


def _kind_and_algorithms(run: str) -> tuple[str, list[str]]:
    """The run's label (its halting kind, ``-sparse`` if trained ``--sparse``)
    and algorithms."""
    from openclrs.halting.training import run_halting
    from openclrs.training.evaluate import load_run_config

    halting = run_halting(run)
    if halting is None:
        raise SystemExit(f"{run} is not a halting run (openclrs train --halting ...)")
    config = load_run_config(run)
    return halting.kind + ("-sparse" if config.sparse else ""), list(config.algorithms)


if __name__ == "__main__":
    main()
