"""Wall time, CPU time and peak memory of one ``openclrs evaluate``, before and after.

    openclrs train --algorithm floyd_warshall --steps 2 --out /tmp/fw
    git worktree add /tmp/old <commit>
    python benchmarks/fw_eval_time.py --run /tmp/fw --before /tmp/old --threads 1 2

Each measurement is one fresh process, ``openclrs evaluate --run RUN --json``
(the run's canonical test split: Floyd-Warshall, 32 graphs, n = 64), under
``/usr/bin/time`` with ``OMP_NUM_THREADS`` set and ``nice -n 10``: wall and
CPU (user + system) seconds, peak RSS, the test metrics (which must be the
same before and after, to the bit) and the load average when it ended (the
machine may be shared: CPU seconds say more than wall seconds then). Trees
take turns within a round, so that a change of load weighs on both.
Results go to ``benchmarks/results/fw_eval_time.json`` after every
measurement; a rerun skips what is there (``--rounds`` adds rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import sys, openclrs
if not openclrs.__file__.startswith(sys.argv[1]):
    raise SystemExit(f"imported {openclrs.__file__}, not the tree {sys.argv[1]}")
from openclrs.cli import main
sys.argv = ["openclrs", "evaluate", "--run", sys.argv[2], "--json", sys.argv[3]]
main()
"""


def measure(tree: str, run: str, threads: int, algorithm: str) -> dict:
    tree = os.path.abspath(tree)
    with tempfile.TemporaryDirectory() as tmp:
        timing, results = os.path.join(tmp, "time"), os.path.join(tmp, "results.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=tree)
        out = subprocess.run(["nice", "-n", "10", "/usr/bin/time", "-f", "%e %U %S %M",
                              "-o", timing, sys.executable, "-c", CHILD, tree + os.sep, run,
                              results],
                             cwd=tmp, env=env, check=False, capture_output=True, text=True)
        if not os.path.exists(results):
            raise RuntimeError(f"openclrs evaluate failed under {tree}:\n{out.stderr[-3000:]}")
        wall, user, system, rss = open(timing).read().split()[-4:]
        metrics = json.load(open(results))["algorithms"][algorithm]["test_metrics"]
    return {"wall_s": float(wall), "cpu_s": round(float(user) + float(system), 2),
            "peak_rss_mib": round(int(rss) / 1024), "load": os.getloadavg()[0],
            "metrics": metrics, "ended": time.strftime("%H:%M UTC", time.gmtime())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder (openclrs train --out)")
    parser.add_argument("--algorithm", default="floyd_warshall")
    parser.add_argument("--before", metavar="DIR", help="an earlier checkout to compare with")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "fw_eval_time.json"))
    args = parser.parse_args(argv)
    trees = {"now": ROOT, **({"before": args.before} if args.before else {})}
    record = {"command": "python benchmarks/fw_eval_time.py " + " ".join(argv or sys.argv[1:]),
              "cpus": os.cpu_count(), "results": []}
    sys.path.insert(0, ROOT)
    from openclrs import files

    if os.path.exists(args.out):
        record["results"] = files.read_json(args.out, "results")["results"]
    for round_ in range(args.rounds):
        for threads in args.threads:
            for name in sorted(trees):    # before, then now
                key = {"tree": name, "threads": threads, "round": round_}
                if any(all(r.get(k) == v for k, v in key.items()) for r in record["results"]):
                    continue
                row = {**key, **measure(trees[name], args.run, threads, args.algorithm)}
                record["results"].append(row)
                os.makedirs(os.path.dirname(args.out), exist_ok=True)
                files.write_json(args.out, record)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
