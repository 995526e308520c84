"""How fast `openclrs ... --help` answers: the least wall and CPU (user +
system) seconds over N runs of each page, for this tree and, optionally, an
older checkout of openclrs, interleaved so that load on the machine weighs
on both::

    python benchmarks/cli_startup.py                         # this tree, 5 runs a page
    git worktree add /tmp/old b4da67b
    python benchmarks/cli_startup.py --against /tmp/old --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

PAGES = ["--help", "list --help", "generate --help", "train --help", "text --help",
         "text train --help"]
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(page: str, tree: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "openclrs", *page.split()], cwd=tree, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": tree})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", help="another openclrs checkout to time beside this one")
    args = parser.parse_args(argv)
    trees = {"this tree": HERE, **({"other": args.against} if args.against else {})}
    best: dict = {}
    for _ in range(args.runs):
        for page in PAGES:
            for name, tree in trees.items():
                wall, cpu = run_once(page, tree)
                old = best.get((page, name), (float("inf"), float("inf")))
                best[(page, name)] = (min(old[0], wall), min(old[1], cpu))
    print(f"{'openclrs ...':<22}" + "".join(f"{name + ' wall / cpu s':>26}" for name in trees))
    for page in PAGES:
        print(f"{page:<22}" + "".join(f"{best[(page, n)][0]:>16.3f}{best[(page, n)][1]:>10.3f}"
                                      for n in trees))
    return 0


if __name__ == "__main__":
    sys.exit(main())
