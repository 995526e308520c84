"""Time writing CLRS-Text: a slice of the published train set, extrapolated.

The full train set is 215 (algorithm, length) pairs x 10,000 examples
(2,150,000). This writes the first ``--per-pair`` examples of every pair
(JSONL, one shard each, the same files' first lines as the full set's)
with ``--workers`` processes and extrapolates to 10,000 per pair::

    python benchmarks/text_generate.py                     # 200 per pair, 2 workers
    python benchmarks/text_generate.py --per-pair 500 --workers 1 2
    python benchmarks/text_generate.py --breakdown         # where one core's time goes

``--breakdown`` times, in one process, sampling (inputs and algorithm),
formatting (fast path, and the reference ``format_example`` for
comparison) and JSON encoding for the same examples. Each run writes into
a fresh temporary folder, removed afterwards; ``--json PATH`` saves the
numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from openclrs.text import datasets as text_datasets  # noqa: E402

FULL_PER_PAIR = text_datasets.TRAIN.num_samples
TARGET_SECONDS = 15 * 60


def tree_digest(folder: str) -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        digest.update(name.encode())
        with open(os.path.join(folder, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def timed_run(per_pair: int, workers: int, keep: str | None = None) -> dict:
    spec = text_datasets.TRAIN.replace(num_samples=per_pair)
    folder = keep or tempfile.mkdtemp(prefix="openclrs-text-bench-")
    try:
        start = time.perf_counter()
        manifest = text_datasets.generate_text_dataset(folder, spec, workers=workers,
                                                       shard_size=per_pair, progress=False)
        seconds = time.perf_counter() - start
        examples = manifest["num_examples"]
        size = sum(e["bytes"] for e in manifest["shards"].values())
        return {"workers": workers, "per_pair": per_pair, "examples": examples,
                "seconds": seconds, "examples_per_s": examples / seconds, "bytes": size,
                "extrapolated_full_train_s": seconds * FULL_PER_PAIR / per_pair,
                "extrapolated_full_train_gib": size * FULL_PER_PAIR / per_pair / 2 ** 30,
                "digest": tree_digest(folder)}
    finally:
        if keep is None:
            shutil.rmtree(folder)


def breakdown(per_pair: int) -> dict:
    """One core: seconds per phase for ``per_pair`` examples of every pair."""
    import openclrs
    from openclrs.text import format_example

    spec = text_datasets.TRAIN
    totals = {"sample": 0.0, "format_fast": 0.0, "format_reference": 0.0, "json": 0.0}
    examples = 0
    for algorithm, length in spec.pairs():
        formatter = text_datasets.ExampleFormatter(algorithm)
        sampler = openclrs.Sampler(algorithm, length, 0, spec.decimals)
        t0 = time.perf_counter()
        traces = [next(sampler) for _ in range(per_pair)]
        t1 = time.perf_counter()
        texts = [formatter(t) for t in traces]
        t2 = time.perf_counter()
        for t in traces:
            format_example(algorithm, t)
        t3 = time.perf_counter()
        for i, (q, a) in enumerate(texts):
            text_datasets.jsonl_line(q, a, algorithm, length, False, 0, i, True)
        t4 = time.perf_counter()
        totals["sample"] += t1 - t0
        totals["format_fast"] += t2 - t1
        totals["format_reference"] += t3 - t2
        totals["json"] += t4 - t3
        examples += per_pair
    scale = FULL_PER_PAIR / per_pair
    return {"examples": examples,
            "seconds": totals,
            "full_train_one_core_s": {k: v * scale for k, v in totals.items()},
            "format_speedup": totals["format_reference"] / totals["format_fast"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-pair", type=int, default=200,
                        help="examples per (algorithm, length) pair (default 200)")
    parser.add_argument("--workers", nargs="+", type=int, default=[2])
    parser.add_argument("--breakdown", action="store_true",
                        help="also time sampling / formatting / JSON in one process")
    parser.add_argument("--json", help="write the numbers to this file")
    args = parser.parse_args()

    pairs = len(text_datasets.TRAIN.pairs())
    print(f"CLRS-Text train slice: {pairs} pairs x {args.per_pair} examples "
          f"(full set: {text_datasets.TRAIN.num_examples:,}); {os.cpu_count()} CPUs")
    report = {"cpu": os.cpu_count(), "runs": []}
    for workers in args.workers:
        run = timed_run(args.per_pair, workers)
        report["runs"].append(run)
        full = run["extrapolated_full_train_s"]
        print(f"workers={workers}: {run['examples']:,} examples in {run['seconds']:.1f} s = "
              f"{run['examples_per_s']:,.0f} examples/s; full train set ~{full / 60:.1f} min "
              f"({'under' if full < TARGET_SECONDS else 'OVER'} the 15 min target), "
              f"~{run['extrapolated_full_train_gib']:.1f} GiB of JSONL")
    if len({r["digest"] for r in report["runs"]}) > 1:
        print("ERROR: files differ between worker counts")
        sys.exit(1)
    elif len(report["runs"]) > 1:
        print("identical files for every worker count")
    if args.breakdown:
        b = breakdown(min(args.per_pair, 100))
        report["breakdown"] = b
        print("one core, full train set extrapolated: " + ", ".join(
            f"{k} {v:.0f} s" for k, v in b["full_train_one_core_s"].items())
            + f"; fast formatting {b['format_speedup']:.1f}x the reference")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
