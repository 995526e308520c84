"""Training-step time, sparse (``openclrs train --sparse``) against dense, on the CPU.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/sparse_train_step.py

One step is what the house trainer does per algorithm (:mod:`openclrs.training.loop`):
the batch (:func:`~openclrs.training.loop.train_batch`: sampling, transforms,
collation; ``data_ms``) and one update (forward, loss, backward, gradient
clipping, Adam; ``update_ms``), bfs, batch 32, on the first ``--steps``
batches of seed 0 after ``--warmup`` untimed ones:

* ``dense``: the published recipe's data, CLRS's ER graphs at n = 4, 7, 11,
  13, 16 in turn (one n per batch), the dense model (N x N edges, N^3 triplets);
* ``sparse``: SALSA-CLRS's training distribution (ER, n drawn from the same
  sizes per graph, ``p`` in ``er_probabilities(16)``), the model on edge lists.

The two see different graphs (each trainer's own distribution: SALSA's are
sparser, E ~ 2-5 n against CLRS's p in 0.1-0.9), so this is the cost of a
training step of each, not of one forward on the same input. Models: the
default (Triplet-GMPNN, hidden 128) and ``gpgn_mask`` hidden 64 with
``hint_repred_mode=hard_on_eval`` (the model trained for the README). One
thread (``torch.set_num_threads(1)``). Rows are saved to
``benchmarks/results/sparse_train_step.json`` after each one and skipped
when rerun (``--redo`` measures again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

RESULTS = os.path.join(HERE, "results", "sparse_train_step.json")
MODELS = {"default": {}, "gpgn_mask_64": {"processor": "gpgn_mask", "hidden_size": 64,
                                          "hint_repred_mode": "hard_on_eval"}}


def measure(mode: str, model_name: str, steps: int, warmup: int) -> dict:
    import torch

    from openclrs.models.config import ModelConfig
    from openclrs.training import loop
    from openclrs.training.config import TrainConfig
    from openclrs.training.distributed import Context, loss_function
    from openclrs.training import sparse_train

    torch.set_num_threads(1)
    config = TrainConfig(algorithms=["bfs"], out_dir="unused", seed=0, progress=False,
                         sparse=mode == "sparse", model=ModelConfig(**MODELS[model_name]))
    config.validate()
    torch.manual_seed(0)
    model = loop.build_model(config)
    optimizer = loop.make_optimizer(model, config)
    loss_of = loss_function(model, Context(), sparse_train.loss if config.sparse else None)
    model.train()
    data, update, nodes, edges = [], [], [], []
    for step in range(warmup + steps):
        start = time.perf_counter()
        batch = loop.train_batch(config, 0, step)
        made = time.perf_counter()
        torch_batch = batch.to_torch()
        loop.update(model, optimizer, loss_of, torch_batch, config)
        done = time.perf_counter()
        if step >= warmup:
            data.append(made - start)
            update.append(done - made)
            if config.sparse:
                nodes.append(batch.num_nodes / batch.num_graphs)
                edges.append(batch.num_edges / batch.num_graphs)
            else:
                adj = batch.inputs["adj"]
                nodes.append(adj.shape[1])
                edges.append(float((adj > 0).sum() / adj.shape[0]))
    return {"mode": mode, "model": model_name, "steps": steps,
            "update_ms": round(1000 * statistics.mean(update), 2),
            "update_median_ms": round(1000 * statistics.median(update), 2),
            "data_ms": round(1000 * statistics.mean(data), 2),
            "nodes_per_graph": round(statistics.mean(nodes), 2),
            "edges_per_graph": round(statistics.mean(edges), 2),
            "parameters": sum(p.numel() for p in model.parameters())}


def load() -> dict:
    if not os.path.exists(RESULTS):
        return {"rows": []}
    with open(RESULTS) as f:
        return json.load(f)


def save(results: dict) -> None:
    from openclrs.files import write_json

    write_json(RESULTS, results)


def table(results: dict) -> str:
    lines = ["| model | mode | nodes/graph | edges/graph | update (ms) | data (ms) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results["rows"]:
        lines.append(f"| {r['model']} | {r['mode']} | {r['nodes_per_graph']:.1f} | "
                     f"{r['edges_per_graph']:.1f} | {r['update_ms']:.1f} | {r['data_ms']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--redo", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the saved table")
    args = parser.parse_args(argv)
    results = load()
    if args.table:
        print(table(results))
        return
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, one thread"
    results["command"] = "nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/sparse_train_step.py"
    done = {(r["mode"], r["model"]) for r in results["rows"]}
    for model_name in MODELS:
        for mode in ("dense", "sparse"):
            if (mode, model_name) in done and not args.redo:
                continue
            row = measure(mode, model_name, args.steps, args.warmup)
            results["rows"] = [r for r in results["rows"]
                               if (r["mode"], r["model"]) != (mode, model_name)] + [row]
            save(results)
            print(json.dumps(row), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
