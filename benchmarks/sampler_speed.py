"""Time ``openclrs.sample`` against the published dm-clrs sampler, per algorithm.

    python benchmarks/sampler_speed.py                       # openclrs only
    python benchmarks/sampler_speed.py --reference-python .ref/bin/python

With ``--reference-python`` (the Python of a venv where ``dm-clrs==2.0.3`` is
installed) the published sampler is timed in a subprocess on the same
samples (same algorithm, length, seed and count), right after ours, and the
table shows the speed-up ratio and its geometric mean per length. Both sides
time one process building all samples; the published time includes its
batching, ours returns unbatched traces (batching them is cheap; see
``--collate``). Results also go to ``benchmarks/results/sampler_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import openclrs  # noqa: E402
from openclrs.data import collate  # noqa: E402

REFERENCE_TIMER = r"""
import json, sys, time, logging
logging.disable(logging.WARNING)
import clrs
jobs = json.loads(sys.argv[1])
clrs.build_sampler('insertion_sort', num_samples=2, length=4, seed=0)  # warm-up
out = []
for algorithm, length, num_samples in jobs:
    start = time.perf_counter()
    clrs.build_sampler(algorithm, num_samples=num_samples, length=length, seed=0)
    out.append(time.perf_counter() - start)
print(json.dumps(out))
"""


def time_ours(algorithm, length, num_samples, with_collate):
    start = time.perf_counter()
    traces = openclrs.sample(algorithm, length=length, seed=0, num_samples=num_samples)
    if with_collate:
        collate(traces)
    return time.perf_counter() - start


def time_reference(python, jobs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([python, "-c", REFERENCE_TIMER, json.dumps(jobs)],
                            capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", help="python of a venv with dm-clrs==2.0.3")
    parser.add_argument("--algorithms", nargs="+", default=list(openclrs.CLRS_30_ALGS))
    parser.add_argument("--lengths", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--samples", nargs="+", type=int, default=[100, 10],
                        help="samples per algorithm at each length (default 100 at n=16, "
                             "10 at n=64)")
    parser.add_argument("--collate", action="store_true", help="also batch our traces")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "sampler_speed.json"))
    args = parser.parse_args()
    counts = dict(zip(args.lengths, args.samples + args.samples[-1:] * len(args.lengths)))
    jobs = [(a, n, counts[n]) for n in args.lengths for a in args.algorithms]
    ours = []
    for a, n, k in jobs:
        time_ours(a, n, 1, False)  # warm caches
        ours.append(time_ours(a, n, k, args.collate))
    theirs = time_reference(args.reference_python, jobs) if args.reference_python else None

    rows = []
    print(f"{'algorithm':<30}{'n':>4}{'samples':>8}{'openclrs ms/sample':>20}"
          + (f"{'dm-clrs ms/sample':>19}{'speed-up':>10}" if theirs else ""))
    for idx, (a, n, k) in enumerate(jobs):
        row = {"algorithm": a, "length": n, "samples": k, "openclrs_s": ours[idx]}
        line = f"{a:<30}{n:>4}{k:>8}{1e3 * ours[idx] / k:>20.3f}"
        if theirs:
            row["dm_clrs_s"] = theirs[idx]
            row["speedup"] = theirs[idx] / ours[idx]
            line += f"{1e3 * theirs[idx] / k:>19.3f}{row['speedup']:>9.1f}x"
        rows.append(row)
        print(line)
    summary = {}
    if theirs:
        for n in args.lengths:
            ratios = [r["speedup"] for r in rows if r["length"] == n]
            summary[n] = {"geomean": math.exp(sum(map(math.log, ratios)) / len(ratios)),
                          "min": min(ratios), "min_algorithm": min(
                              (r for r in rows if r["length"] == n),
                              key=lambda r: r["speedup"])["algorithm"]}
            print(f"n={n}: geometric-mean speed-up {summary[n]['geomean']:.1f}x, "
                  f"slowest {summary[n]['min']:.1f}x ({summary[n]['min_algorithm']})")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "summary": summary, "cpu": os.cpu_count()}, f, indent=1)


if __name__ == "__main__":
    main()
