"""Time writing the whole canonical CLRS-30 dataset (30 algorithms x train,
val, test; 58,096 samples) to disk, and check it is identical for any worker count.

    python benchmarks/generate_dataset.py                 # all cores
    python benchmarks/generate_dataset.py --workers 1 2   # each, and compare bytes

Each run writes into a fresh temporary folder (removed afterwards).
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

from openclrs.data import build_dataset, canonical_parts  # noqa: E402


def tree_digest(folder):
    digest = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", nargs="+", type=int, default=[os.cpu_count()])
    args = parser.parse_args()
    results = []
    parts = canonical_parts()
    for workers in args.workers:
        folder = tempfile.mkdtemp(prefix="openclrs-bench-")
        try:
            start = time.perf_counter()
            manifest = build_dataset(parts, folder, workers=workers, progress=False)
            seconds = time.perf_counter() - start
            size = sum(e["bytes"] for e in manifest["parts"].values())
            samples = sum(e["num_samples"] for e in manifest["parts"].values())
            slowest = sorted(manifest["parts"].values(), key=lambda e: -e["seconds"])[:5]
            results.append({"workers": workers, "seconds": seconds, "bytes": size,
                            "samples": samples, "digest": tree_digest(folder)})
            print(f"workers={workers}: {samples} samples, {size / 2**20:.0f} MiB "
                  f"in {seconds:.2f} s")
            print("  slowest parts: " + ", ".join(
                f"{e['file']} {e['seconds']:.2f}s" for e in slowest))
        finally:
            shutil.rmtree(folder)
    if len({r["digest"] for r in results}) > 1:
        print("ERROR: outputs differ between worker counts")
        sys.exit(1)
    elif len(results) > 1:
        print("identical bytes for every worker count")
    out = os.path.join(os.path.dirname(__file__), "results", "generate_dataset.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"runs": results, "cpu": os.cpu_count()}, f, indent=1)


if __name__ == "__main__":
    main()
