"""Time and peak memory of evaluating a reasoner on large graphs, dense against sparse.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/sparse_eval.py

For each size n, a fresh child process samples ``--graphs`` Erdős–Rényi
graphs of SALSA-CLRS's test distribution ``er_n`` (seed 0) with bfs traces,
builds the default model (``ModelConfig()``: Triplet-GMPNN, hidden 128,
hints encoded and decoded; untrained, seed 0: time and memory do not depend
on the weights) and evaluates it on them:

* ``sparse``: :func:`openclrs.training.sparse_evaluate.evaluate_sparse`
  (what ``openclrs evaluate --graph er --length n`` runs), one graph per
  forward, the hints of step 0 only;
* ``dense``: :meth:`Reasoner.predict` on the dense batch of the same graphs
  (``to_dense``), the published layout (B x N x N edges, N^3 triplets),
  while it fits ``--dense-max-n``.

Peak memory is the child's peak RSS (``ru_maxrss``), which includes the
interpreter, torch and the sampled traces (``baseline_mib``: before the
model runs); ``model_s`` is the model's time (sampling excluded,
``sample_s``). Rows are saved to ``benchmarks/results/sparse_eval.json``
after each one and skipped when rerun (``--redo``); the plot goes to
``sparse_eval.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from sparse_sampling import measure as measure_in_process, peak_mib  # noqa: E402

RESULTS = os.path.join(HERE, "results", "sparse_eval.json")


def worker(job: dict) -> dict:
    import torch

    from openclrs.data.batching import collate
    from openclrs.distributions import sample_sparse
    from openclrs.models.model import ModelConfig, Reasoner
    from openclrs.sparse import to_dense
    from openclrs.training.sparse_evaluate import evaluate_sparse

    torch.manual_seed(0)
    model = Reasoner.from_algorithms(job["algorithm"], ModelConfig()).eval()
    name = f"{job['family']}_{job['n']}"
    out = {}
    if job["mode"] == "sparse":
        start = time.perf_counter()
        probe = sample_sparse(job["algorithm"], name, num_samples=job["graphs"],
                              seed=job["seed"], hints=False)
        out["sample_s"] = round(time.perf_counter() - start, 3)
        out["edges"] = sum(t.num_edges for t in probe) / len(probe)
        out["steps"] = max(t.length for t in probe)
        del probe
        out["baseline_mib"] = round(peak_mib(), 1)
        result = evaluate_sparse(model, job["algorithm"], name, job["graphs"], job["seed"])
        out["model_s"] = round(result["seconds"], 3)
        out["node_accuracy"] = result["node_accuracy"]
    else:
        start = time.perf_counter()
        traces = sample_sparse(job["algorithm"], name, num_samples=job["graphs"],
                               seed=job["seed"])
        batch = collate([to_dense(t) for t in traces])
        out["sample_s"] = round(time.perf_counter() - start, 3)
        out["edges"] = sum(t.num_edges for t in traces) / len(traces)
        out["steps"] = max(t.length for t in traces)
        del traces
        out["baseline_mib"] = round(peak_mib(), 1)
        start = time.perf_counter()
        model.predict(batch)
        out["model_s"] = round(time.perf_counter() - start, 3)
    out["peak_mib"] = round(peak_mib(), 1)
    return out


def measure(job: dict, timeout: float) -> dict:
    return measure_in_process(job, timeout, script=__file__)


def plot(results: dict, path: str) -> None:
    from openclrs.extras import pyplot

    plt = pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, style in (("dense", "s--"), ("sparse", "o-")):
        rows = sorted((int(k.split("/")[1]), v) for k, v in results.items()
                      if k.split("/")[0] == mode and "error" not in v)
        if not rows:
            continue
        ns = [n for n, _ in rows]
        ax_t.plot(ns, [v["model_s"] for _, v in rows], style, label=mode)
        ax_m.plot(ns, [v["peak_mib"] / 1024 for _, v in rows], style, label=mode)
    for ax, label in ((ax_t, "evaluation time (s)"), (ax_m, "peak memory (GiB, whole process)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("nodes per graph (ER, SALSA's p range)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("bfs, 8 graphs, Triplet-GMPNN (hidden 128), one CPU thread")
    fig.tight_layout()
    from openclrs.files import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def table(results: dict) -> str:
    lines = ["| n | mode | edges/graph | steps | model time | peak RSS |",
             "|---:|---|---:|---:|---:|---:|"]
    for key, v in sorted(results.items(), key=lambda kv: (int(kv[0].split("/")[1]),
                                                          kv[0])):
        mode, n = key.split("/")
        if "error" in v:
            lines.append(f"| {n} | {mode} | | | {v['error']} | |")
        else:
            lines.append(f"| {n} | {mode} | {v['edges']:,.0f} | {v['steps']} | "
                         f"{v['model_s']:.2f} s | {v['peak_mib']:,.0f} MiB |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int,
                        default=[16, 64, 256, 1024, 4096, 16384])
    parser.add_argument("--algorithm", default="bfs")
    parser.add_argument("--family", default="er")
    parser.add_argument("--graphs", type=int, default=8)
    parser.add_argument("--dense-max-n", type=int, default=128,
                        help="largest n evaluated dense (B x N^3 triplets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--redo", action="store_true")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print the saved results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    results = {}
    if os.path.exists(args.out) and not args.redo:
        with open(args.out) as f:
            results = json.load(f).get("rows", {})
    if args.table:
        print(table(results))
        return
    from openclrs.files import write_json

    machine = (f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    for n in args.sizes:
        for mode in ("dense", "sparse"):
            key = f"{mode}/{n}"
            if key in results or (mode == "dense" and n > args.dense_max_n):
                continue
            job = {"mode": mode, "n": n, "algorithm": args.algorithm, "family": args.family,
                   "graphs": args.graphs, "seed": args.seed}
            results[key] = measure(job, args.timeout)
            print(key, results[key], flush=True)
            write_json(args.out, {"machine": machine, "algorithm": args.algorithm,
                                  "family": args.family, "graphs": args.graphs,
                                  "model": "ModelConfig() (triplet_gmpnn, hidden 128)",
                                  "rows": results})
    plot(results, os.path.splitext(args.out)[0] + ".png")
    print(table(results))


if __name__ == "__main__":
    main()
