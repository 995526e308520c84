"""Reasoners trained dense on small graphs, evaluated sparse on SALSA-CLRS's test families.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/sparse_eval_trained.py

For each algorithm, trains one model the usual way (``openclrs train``:
the CLRS samplers' graphs, n <= 16; ``--processor`` a graph-adjacency kind,
``hint_repred_mode=hard_on_eval``, ``--steps``, seed 0) in
``--runs/<algorithm>``, then evaluates its best checkpoint sparse on
``--graphs`` fresh graphs of every family (er, ws, delaunay) and size
(``--sizes``; seed 0), as ``openclrs evaluate --run RUN --graph FAMILY
--length N --num-samples K`` does. The step-per-node algorithms (dijkstra,
mst_prim) run n + 1 steps per graph, so their sizes are capped by
``--slow-max-n``. Rows are saved to
``benchmarks/results/sparse_eval_trained.json`` after each one and skipped
when rerun; ``--table`` prints node/graph accuracy per (algorithm, family, n).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

RESULTS = os.path.join(HERE, "results", "sparse_eval_trained.json")
SLOW = ("dijkstra", "mst_prim", "dfs")


def table(rows: dict) -> str:
    algorithms = sorted({k.split("/")[0] for k in rows})
    sets = sorted({k.split("/")[1] for k in rows},
                  key=lambda s: (int(s.rsplit("_", 1)[1]), s))
    lines = ["| algorithm | " + " | ".join(sets) + " |",
             "|---|" + "---:|" * len(sets)]
    for a in algorithms:
        cells = []
        for s in sets:
            r = rows.get(f"{a}/{s}")
            cells.append("" if r is None else
                         f"{100 * r['node_accuracy']:.1f} / {100 * r['graph_accuracy']:.0f}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+", default=["bfs", "dijkstra", "mst_prim"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[16, 160, 1600, 4096])
    parser.add_argument("--families", nargs="+", default=["er", "ws", "delaunay"])
    parser.add_argument("--graphs", type=int, default=8)
    parser.add_argument("--slow-max-n", type=int, default=160)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--processor", default="gpgn_mask")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--runs", default="/tmp/sparse_eval_trained")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()

    saved = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            saved = json.load(f)
    rows = saved.get("rows", {})
    if args.table:
        print(table(rows))
        return
    from openclrs.files import write_json
    from openclrs.models.config import ModelConfig
    from openclrs.training.config import TrainConfig
    from openclrs.training.loop import train
    from openclrs.training.sparse_evaluate import evaluate_run_sparse

    recipe = {"steps": args.steps, "processor": args.processor,
              "hidden_size": args.hidden_size, "hint_repred_mode": "hard_on_eval",
              "graphs": args.graphs, "seed": 0,
              "machine": f"{os.cpu_count()} CPUs, OMP_NUM_THREADS="
                         f"{os.environ.get('OMP_NUM_THREADS')}"}
    for algorithm in args.algorithms:
        run = os.path.join(args.runs, algorithm)
        if not os.path.exists(os.path.join(run, "results.json")):
            train(TrainConfig(algorithms=[algorithm], out_dir=run, steps=args.steps, seed=0,
                              progress=False, test_every=0, eval_every=args.steps // 4,
                              model=ModelConfig(hidden_size=args.hidden_size,
                                                processor=args.processor,
                                                hint_repred_mode="hard_on_eval")))
        for n in args.sizes:
            if algorithm in SLOW and n > args.slow_max_n:
                continue
            for family in args.families:
                key = f"{algorithm}/{family}_{n}"
                if key in rows:
                    continue
                result = evaluate_run_sparse(run, family, n, args.graphs, seed=0)
                rows[key] = result["algorithms"][algorithm]
                print(key, {k: rows[key][k] for k in ("node_accuracy", "graph_accuracy",
                                                      "seconds")}, flush=True)
                write_json(args.out, {"recipe": recipe, "rows": rows})
    print(table(rows))


if __name__ == "__main__":
    main()
