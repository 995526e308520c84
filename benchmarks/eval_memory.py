"""Peak memory of training and evaluation, per algorithm, at n = 16 and n = 64.

    python benchmarks/eval_memory.py                      # 5 algorithms, n = 16 and 64
    python benchmarks/eval_memory.py --algorithms floyd_warshall --lengths 64
    python benchmarks/eval_memory.py --chunks 1 4 32 --algorithms floyd_warshall --lengths 64

Each figure is the peak resident set size (``ru_maxrss``) of one fresh
process, with the allocator policy ``openclrs train`` and ``openclrs
evaluate`` set (:func:`openclrs.training.allocator.keep_freed_memory`), so
it is what those commands take:

- ``train``: the default Triplet-GMPNN (hidden 128), ``--train-steps``
  updates on batches of 32 samples of n nodes (no validation, no test),
  under an address-space limit (``--limit``) and a ``--timeout``: a step
  that needs more is recorded as such;
- ``evaluate``: the same model, untrained, scored on the canonical split of
  n nodes (``test``: n = 64; ``val``: n = 16), 32 samples, as ``openclrs
  evaluate`` scores them (``--max-memory`` default: half the available
  memory; ``--budget`` sets one).

``--before DIR`` evaluates with an earlier openclrs too (same model,
same samples: the scores must agree). ``idle`` is the peak of a process that imports torch, builds the model and
loads the split, and stops there: the part of every figure that is not the
computation. ``--chunks`` measures evaluation at fixed chunk sizes instead
(the peak above ``idle`` per sample is what ``openclrs.training.memory``'s
estimate must bound). Results go to ``benchmarks/results/eval_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_ALGORITHMS = ["bfs", "dijkstra", "insertion_sort", "floyd_warshall", "kmp_matcher"]
SPLIT_OF = {16: "val", 64: "test"}

CHILD = r"""
import json, resource, sys, time
from openclrs.training.allocator import keep_freed_memory
keep_freed_memory()
import torch
from openclrs.data.datasets import load_split
try:
    from openclrs.training import memory
except ImportError:  # an older openclrs (--before): no budget, no estimate
    memory = None
from openclrs.training.config import TrainConfig
from openclrs.training.loop import (_apply_eval, _batches, build_model, make_optimizer,
                                    score, train_batch, update)

task, algorithm, length, steps, budget, chunk = json.loads(sys.argv[1])
config = TrainConfig(algorithms=[algorithm], train_lengths=[length], progress=False,
                     **({} if memory is None else {"max_memory": budget})).validate()
torch.manual_seed(config.seed)
model = build_model(config)
start = time.perf_counter()
if task == "train":
    optimizer = make_optimizer(model, config)
    for step in range(steps):
        batch = train_batch(config, 0, step).to_torch()
        update(model, optimizer, lambda b: model.loss(b)[0], batch, config)
    result = {}
else:
    split = {16: "val", 64: "test"}[length]
    traces = [_apply_eval(t, config) for t in load_split(algorithm, split)]
    batches = _batches(traces, chunk or config.eval_batch_size)
    nodes, num_steps = traces[0].num_nodes, max(t.length for t in traces)
    result = {"samples": len(traces), "nodes": nodes, "estimate_per_sample": None
              if memory is None else memory.model_sample_bytes(model, algorithm, nodes,
                                                               num_steps)}
    if task == "evaluate":
        budgeted = {} if memory is None else {"max_memory": budget}
        result["score"] = score(model, batches, **budgeted)["score"]
result["seconds"] = time.perf_counter() - start
import openclrs
result["package"] = openclrs.__file__
result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(result))
"""


class OverLimit(Exception):
    pass


def measure(task, algorithm, length, steps=1, budget=None, chunk=None, python=sys.executable,
            threads=None, limit=None, timeout=None, tree=None):
    """Run one child; ``limit`` (bytes of address space) and ``timeout``
    (seconds) keep a run that would not fit from hurting the machine."""
    import resource

    env = dict(os.environ, PYTHONPATH=tree or ROOT)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)

    def cap():
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        out = subprocess.run([python, "-c", CHILD,
                              json.dumps([task, algorithm, length, steps, budget, chunk])],
                             # the working folder comes first on sys.path (python -c)
                             cwd=tree or ROOT, env=env, capture_output=True, text=True,
                             check=False,
                             preexec_fn=cap, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OverLimit(f"over {timeout} s") from None
    if out.returncode != 0:
        if "MemoryError" in out.stderr or "alloc" in out.stderr or out.returncode < 0:
            raise OverLimit(f"over the {(limit or 0) / 2**30:.0f} GiB limit")
        raise RuntimeError(f"{task} {algorithm} n={length} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=DEFAULT_ALGORITHMS)
    parser.add_argument("--lengths", nargs="+", type=int, default=[16, 64], choices=[16, 64])
    parser.add_argument("--train-steps", type=int, default=1)
    parser.add_argument("--budget", help="evaluation --max-memory (e.g. 2G)")
    parser.add_argument("--chunks", nargs="+", type=int,
                        help="measure evaluation at these fixed chunk sizes instead")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the children")
    parser.add_argument("--limit", default="12G",
                        help="address-space limit of a training child (default 12G): a "
                             "training step that needs more is reported as over it")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds a training child may take (default 300)")
    parser.add_argument("--before", metavar="DIR",
                        help="also evaluate with the openclrs package under DIR (an earlier "
                             "version: git archive <commit> openclrs | tar -x -C DIR)")
    parser.add_argument("--skip-train", action="store_true", help="evaluation only")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "eval_memory.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from openclrs.training.memory import parse_size

    budget = parse_size(args.budget) if args.budget else None
    limit = parse_size(args.limit) if args.limit else None
    record = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "threads": args.threads},
              "command": "python benchmarks/eval_memory.py " + " ".join(argv or sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "budget": budget, "train_steps": args.train_steps, "train_limit": limit,
              "results": []}
    for algorithm in args.algorithms:
        for length in args.lengths:
            row = {"algorithm": algorithm, "n": length, "split": SPLIT_OF[length]}
            idle = measure("idle", algorithm, length, threads=args.threads)
            row["idle_peak_rss"] = idle["peak_rss"]
            row["estimate_per_sample"] = idle["estimate_per_sample"]
            if args.chunks:
                row["chunks"] = {}
                for chunk in args.chunks:
                    r = measure("evaluate", algorithm, length, budget=1 << 50, chunk=chunk,
                                threads=args.threads)
                    row["chunks"][chunk] = r
                    per = (r["peak_rss"] - idle["peak_rss"]) / chunk
                    print(f"{algorithm:<16} n={length:<3} chunk {chunk:>3}: peak "
                          f"{r['peak_rss'] / 2**20:7.0f} MiB, {per / 2**20:6.1f} MiB/sample "
                          f"above idle (estimate {row['estimate_per_sample'] / 2**20:6.1f}), "
                          f"{r['seconds']:.1f} s, score {r['score']:.4f}", flush=True)
            else:
                ev = measure("evaluate", algorithm, length, budget=budget, threads=args.threads)
                row.update(evaluate_peak_rss=ev["peak_rss"], evaluate_seconds=ev["seconds"],
                           score=ev["score"])
                if args.before:
                    old = measure("evaluate", algorithm, length, threads=args.threads,
                                  tree=args.before)
                    if not old["package"].startswith(os.path.abspath(args.before)):
                        raise RuntimeError(f"--before ran {old['package']}")
                    row.update(before_evaluate_peak_rss=old["peak_rss"],
                               before_evaluate_seconds=old["seconds"],
                               before_score=old["score"])
                    print(f"{algorithm:<16} n={length:<3} evaluate before "
                          f"{old['peak_rss'] / 2**20:7.0f} MiB ({old['seconds']:.1f} s), "
                          f"score {old['score']:.6f} (now {ev['score']:.6f})", flush=True)
                if args.skip_train:
                    record["results"].append(row)
                    save(record, args.out)
                    continue
                try:
                    tr = measure("train", algorithm, length, steps=args.train_steps,
                                 threads=args.threads, limit=limit, timeout=args.timeout)
                    row.update(train_peak_rss=tr["peak_rss"], train_seconds=tr["seconds"])
                    train = f"{tr['peak_rss'] / 2**20:7.0f} MiB ({tr['seconds']:.1f} s)"
                except OverLimit as e:
                    row["train_failed"] = train = str(e)
                print(f"{algorithm:<16} n={length:<3} train {train}   evaluate "
                      f"{ev['peak_rss'] / 2**20:7.0f} MiB ({ev['seconds']:.1f} s)   "
                      f"idle {idle['peak_rss'] / 2**20:5.0f} MiB", flush=True)
            record["results"].append(row)
            save(record, args.out)  # after every row: a long run keeps what it measured
    print(f"wrote {args.out}")


def save(record: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
