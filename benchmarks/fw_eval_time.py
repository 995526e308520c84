"""Wall time, CPU time and peak memory of one ``openclrs evaluate``, before and after.

    openclrs train --algorithm floyd_warshall --steps 2 --out /tmp/fw
    git worktree add /tmp/old <commit>
    python benchmarks/fw_eval_time.py --run /tmp/fw --before /tmp/old --threads 1 2 --nice 0

    python benchmarks/fw_eval_time.py --run /tmp/fw --paths torch fused --threads 2 --rounds 2

Each measurement is one fresh process, ``openclrs evaluate --run RUN --json``
(the run's canonical test split: Floyd-Warshall, 32 graphs, n = 64), under
``/usr/bin/time`` with ``OMP_NUM_THREADS`` set and ``nice -n NICE``: wall,
user and system seconds, peak RSS, minor page faults, the test metrics
(which must be the same before and after, to the bit), the commit of the
tree and the load average (one minute) before and after it (the machine may
be shared: CPU seconds say more than wall seconds then). Trees take turns
within a round, so that a change of load weighs on both. Results go to
``benchmarks/results/fw_eval_time.json`` after every measurement; a rerun
skips what is there (``--rounds`` adds rounds).

``--paths`` picks how the tree evaluates: ``fused`` (the default: the fused
C kernels of ``openclrs/models/fused.c`` where they load) and/or ``torch``
(``OPENCLRS_NO_FUSED=1``: torch's operations only); with both, the summary
(``summary`` in the JSON, printed at the end) gives per algorithm and thread
count the best wall, CPU and peak memory of each and their ratios, and whether
the test metrics are the same. ``--algorithm`` names the run's algorithm (rows
are kept per algorithm and run folder, so several runs share one results file).

``--kernel`` instead times the edge-pointer scores alone, in this process on
one thread: ``kernels.max_score_scores`` (evaluation) for each
``--eval-blocks`` size (torch's path) and by the fused kernel, against
``MaxScore``'s forward (what evaluation ran before), on random operands of one step of Floyd-Warshall at n = 64
(4,096 edges against 64 nodes, H = 128), milliseconds per sample and step,
the variants taking turns; the minimum and median of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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

# /usr/bin/time's fields: wall, user, system seconds, max RSS (KiB), minor faults.
TIME_FORMAT = "%e %U %S %M %R"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def commit_of(tree: str) -> str:
    out = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "-C", tree, "status", "--porcelain", "--untracked-files=no",
                            "openclrs"], capture_output=True, text=True, check=False)
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def measure(tree: str, run: str, threads: int, algorithm: str, nice: int,
            path: str = "fused") -> dict:
    tree = os.path.abspath(tree)
    with tempfile.TemporaryDirectory() as tmp:
        timing, results = os.path.join(tmp, "time"), os.path.join(tmp, "results.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=tree)
        env.pop("OPENCLRS_NO_FUSED", None)
        if path == "torch":
            env["OPENCLRS_NO_FUSED"] = "1"
        load_before, started = load(), time.strftime("%H:%M:%S UTC", time.gmtime())
        out = subprocess.run(["nice", "-n", str(nice), "/usr/bin/time", "-f", TIME_FORMAT,
                              "-o", timing, sys.executable, "-c", CHILD, tree + os.sep, run,
                              results],
                             cwd=tmp, env=env, check=False, capture_output=True, text=True)
        if not os.path.exists(results):
            raise RuntimeError(f"openclrs evaluate failed under {tree}:\n{out.stderr[-3000:]}")
        wall, user, system, rss, faults = open(timing).read().split()[-5:]
        metrics = json.load(open(results))["algorithms"][algorithm]["test_metrics"]
    return {"commit": commit_of(tree), "nice": nice, "wall_s": float(wall),
            "cpu_s": round(float(user) + float(system), 2), "user_s": float(user),
            "sys_s": float(system), "peak_rss_mib": round(int(rss) / 1024),
            "minor_faults": int(faults), "load_before": load_before, "load": load(),
            "metrics": metrics, "started": started,
            "ended": time.strftime("%H:%M:%S UTC", time.gmtime())}


def kernel_times(blocks: list[int], rounds: int) -> dict:
    """Milliseconds per sample and step of the edge-pointer scores at n = 64."""
    sys.path.insert(0, ROOT)
    import torch

    from openclrs.models import kernels

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    b, n, h = 2, 64, 128
    a, t = torch.randn(b, n * n, h, generator=g), torch.randn(b, n, h, generator=g)
    w, bias = torch.randn(h, generator=g) / h ** 0.5, torch.randn(1, generator=g)
    default = kernels.EVAL_BLOCK
    os.environ["OPENCLRS_NO_FUSED"] = "1"       # torch's path, but for the fused variant
    with torch.no_grad():
        expected = kernels.MaxScore.apply(a, t, w, bias)

        def function():
            return kernels.MaxScore.apply(a, t, w, bias)

        def scores(block):
            def run():
                kernels.EVAL_BLOCK = block
                try:
                    return kernels.max_score_scores(a, t, w, bias)
                finally:
                    kernels.EVAL_BLOCK = default
            return run

        def fused():
            del os.environ["OPENCLRS_NO_FUSED"]
            try:
                return kernels.max_score_scores(a, t, w, bias)
            finally:
                os.environ["OPENCLRS_NO_FUSED"] = "1"

        variants = {"MaxScore.forward (before)": function,
                    **{f"max_score_scores, EVAL_BLOCK={k}": scores(k) for k in blocks},
                    "max_score_scores, fused C kernel": fused}
        same = {name: bool(torch.equal(fn(), expected)) for name, fn in variants.items()}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, fn in variants.items():
                start = time.process_time()
                for _ in range(3):
                    fn()
                times[name].append((time.process_time() - start) / 3 / b * 1e3)
    return {name: {"min_ms": round(min(v), 2), "median_ms": round(statistics.median(v), 2),
                   "same_bits": same[name]} for name, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a run folder (openclrs train --out)")
    parser.add_argument("--algorithm", default="floyd_warshall")
    parser.add_argument("--before", metavar="DIR", help="an earlier checkout to compare with")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--paths", nargs="+", choices=["fused", "torch"], default=["fused"],
                        help="evaluate with the fused C kernels and/or torch's path only")
    parser.add_argument("--kernel", action="store_true",
                        help="time the edge-pointer scores alone instead")
    parser.add_argument("--eval-blocks", nargs="+", type=int,
                        default=[1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 20])
    parser.add_argument("--out", default=os.path.join(HERE, "results", "fw_eval_time.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from openclrs import files

    record = {"results": []}
    if os.path.exists(args.out):
        record = files.read_json(args.out, "results")
    # rows of earlier sessions (no --paths yet: torch's path) are kept apart
    earlier = [r for r in record["results"] if "path" not in r]
    if earlier:
        record.setdefault("earlier", {"note": "before the fused kernels (torch's path); "
                                              "rows keyed by tree, threads, round",
                                      "command": record.get("command"), "results": []})
        record["earlier"]["results"] += earlier
        record["results"] = [r for r in record["results"] if "path" in r]
    record["cpus"] = os.cpu_count()
    command = "python benchmarks/fw_eval_time.py " + " ".join(argv or sys.argv[1:])
    if args.kernel:
        load_before = load()
        record["kernel"] = {"command": command, "load_before": load_before,
                            "times": kernel_times(args.eval_blocks, args.rounds),
                            "load": load(), "commit": commit_of(ROOT),
                            "ended": time.strftime("%H:%M:%S UTC", time.gmtime())}
        files.write_json(args.out, record)
        print(json.dumps(record["kernel"], indent=1))
        return
    if not args.run:
        parser.error("--run is required (unless --kernel)")
    record["command"] = command
    from openclrs.models import fused
    record["fused"] = {"available": fused.library() is not None,
                       "unavailable": fused.unavailable(), "flags": " ".join(fused.FLAGS)}
    trees = {"now": ROOT, **({"before": args.before} if args.before else {})}
    variants = [(name, path) for name in sorted(trees)      # before, then now
                for path in (args.paths if name == "now" else ["torch"])]
    for round_ in range(args.rounds):
        for threads in args.threads:
            for name, path in variants:
                key = {"algorithm": args.algorithm, "run": os.path.abspath(args.run),
                       "tree": name, "path": path, "threads": threads, "round": round_}
                if any(all(r.get(k) == v for k, v in key.items()) for r in record["results"]):
                    continue
                row = {**key, **measure(trees[name], args.run, threads, args.algorithm,
                                        args.nice, path)}
                record["results"].append(row)
                record["summary"] = summary(record["results"])
                os.makedirs(os.path.dirname(args.out), exist_ok=True)
                files.write_json(args.out, record)
                print(json.dumps(row), flush=True)
    print(json.dumps(record.get("summary", {}), indent=1))


def summary(rows: list[dict]) -> dict:
    """Per algorithm and thread count: each (tree, path)'s best wall, CPU and
    peak memory over its rounds, fused against torch's path as ratios, and
    whether every round of every variant gave the same test metrics."""
    out: dict = {}
    for row in rows:
        if "path" not in row:             # rows of earlier sessions (before --paths)
            continue
        cell = out.setdefault(f"{row['algorithm']}, {row['threads']} threads, "
                              f"{row['run']}", {})
        best = cell.setdefault(f"{row['tree']}, {row['path']}", {})
        for field in ("wall_s", "cpu_s", "user_s", "sys_s", "peak_rss_mib"):
            best[field] = min(best.get(field, row[field]), row[field])
        best["rounds"] = best.get("rounds", 0) + 1
        cell.setdefault("metrics", [])
        if row["metrics"] not in cell["metrics"]:
            cell["metrics"].append(row["metrics"])
    for cell in out.values():
        cell["same_metrics"] = len(cell.pop("metrics")) == 1
        fast, slow = cell.get("now, fused"), cell.get("now, torch")
        if fast and slow:
            cell["fused / torch"] = {field: round(fast[field] / slow[field], 3)
                                     for field in ("wall_s", "cpu_s", "peak_rss_mib")}
    return out


if __name__ == "__main__":
    main()
