"""SALSA-CLRS's published data pipeline against openclrs' sparse sampler, per graph.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/salsa_pipeline.py

SALSA-CLRS (jkminder/SALSA-CLRS) makes each sample of its datasets in
``SALSACLRSDataset._get_sample``: ``sampler.next()`` (its graph generator,
networkx/scipy on an ``n x n`` adjacency matrix, then dm-clrs's dense
algorithm with its probes) and ``to_sparse_data`` (the dense probes moved
onto the edges of a PyTorch Geometric ``Data``; ``use_hints=False`` for its
test sets, which are built with ``ignore_all_hints=True``: the algorithm
still records every hint, only their conversion is skipped). This script
EXECUTES that code, unchanged, from a snapshot of the repository exported
with ``git archive`` (``--salsa-git``, default the fetched mirror) in a venv
that has its dependencies (``--salsa-python``: dm-clrs 2.0.3 and JAX from
/work/ref/venv plus torch, torch_geometric, lightning, loguru and
huggingface_hub; see the README for how it was made). Nothing of it is
imported by openclrs.

For each size (1600, 4096), graph family and algorithm (bfs, dijkstra,
mst_prim), fresh child processes measure

* ``salsa``: one sample as ``_get_sample`` makes it, graph kwargs from
  ``SALSA_CLRS_DATASETS['test']`` (for 4096, the same rule: ``p_range =
  er_probabilities(4096)``, ws ``k`` in {4, 6, 8} and ``p`` in (0.05, 0.2)),
  seconds split into graph (``_sample_data``), dm-clrs algorithm + probes,
  and ``to_sparse_data``;
* ``openclrs``: ``SparseSampler(algorithm, "<family>_<n>", seed)``, graph +
  sparse trace (benchmarks/sparse_sampling.py's worker);

without hints on every family (SALSA's test sets) and with hints on ER (its
training data has them). The hint conversion stacks one ``n x n`` float64
array per step for pointer and edge hints; when that would exceed
``--budget-mib`` the SALSA child runs graph + algorithm, reports the
estimate, and skips ``to_sparse_data`` (``convert_skipped``). Times are the
fastest of ``--repeat`` runs in the child (the same seed each time, so the
same graph; a run over 5 s is not repeated); peak memory is the child's peak
RSS, imports included (``baseline_mib``: torch, PyG, lightning and JAX for
SALSA). Rows go to ``benchmarks/results/salsa_pipeline.json`` after each
one and are skipped when rerun (``--redo`` measures again); ``--table``
prints them with the SALSA / openclrs ratios.
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
sys.path.insert(0, HERE)

from sparse_sampling import measure, peak_mib  # noqa: E402

RESULTS = os.path.join(HERE, "results", "salsa_pipeline.json")
SALSA_GIT = "/work/.mirror/jkminder+SALSA-CLRS/repo"
SALSA_PYTHON = "/work/ref/salsa-venv/bin/python"
ALGORITHMS = ("bfs", "dijkstra", "mst_prim")


def salsa_worker(job: dict) -> dict:
    """One SALSA-CLRS sample in this process (run by ``--salsa-python``)."""
    sys.path.insert(0, job["src"])
    import logging
    import random

    logging.disable(logging.WARNING)
    import numpy as np
    import scipy.spatial  # noqa: F401  (Delaunay; imported before the clock starts)
    import clrs
    import salsaclrs  # noqa: F401  (the package as its users import it: torch, PyG, ...)
    from loguru import logger
    from salsaclrs.data import SALSA_CLRS_DATASETS, er_probabilities, to_sparse_data
    from salsaclrs.sampler import build_sampler

    logger.remove()
    family, n = job["family"], job["n"]
    kwargs = SALSA_CLRS_DATASETS["test"].get(f"{family}_{n}") or {
        "er": {"p_range": er_probabilities(n), "n": n},
        "ws": {"p_range": (0.05, 0.2), "k": [4, 6, 8], "n": n},
        "delaunay": {"n": n}}[family]
    out = {"baseline_mib": round(peak_mib(), 1), "graph_kwargs": repr(kwargs)}
    best = None
    for attempt in range(job["repeat"]):
        data = inputs = outputs = hints = None  # the previous run's memory is free
        # SALSA draws graphs from the global random streams (networkx: random,
        # Delaunay points: numpy) and the rest from the sampler's RandomState.
        random.seed(job["seed"])
        np.random.seed(job["seed"])
        sampler, _ = build_sampler(job["algorithm"], family, dict(kwargs), seed=job["seed"])
        sample_data, graph_s = sampler._sample_data, []

        def timed(**kw):
            start = time.perf_counter()
            result = sample_data(**kw)
            graph_s.append(time.perf_counter() - start)
            return result

        sampler._sample_data = timed
        start = time.perf_counter()
        inputs, outputs, hints = sampler.next()
        sampled = time.perf_counter() - start
        run = {"graph_s": graph_s[0], "algorithm_s": sampled - graph_s[0]}
        steps = hints[0].data.shape[0]
        n_nodes = inputs[0].data.shape[1]
        # to_sparse_data's hint conversion holds, per pointer or edge hint,
        # one n x n float64 array per step and then their stack (2x)
        dense_hints = sum(1 for dp in hints if dp.location == clrs.Location.EDGE or
                          (dp.location == clrs.Location.NODE and
                           dp.type_ == clrs.Type.POINTER))
        estimate = 2 * steps * n_nodes ** 2 * 8 / 2 ** 20 if job["hints"] and dense_hints else 0
        if estimate > job["budget_mib"]:
            run.update(convert_s=None, convert_skipped=f"estimated {estimate / 1024:.1f} GiB")
            # the edges to_sparse_data would keep: the nonzeros of adj
            run["edges"] = int(np.count_nonzero(next(dp.data for dp in inputs
                                                     if dp.name == "adj")))
        else:
            start = time.perf_counter()
            data = to_sparse_data(inputs, hints, outputs, use_hints=job["hints"])
            run["convert_s"] = time.perf_counter() - start
            run["edges"] = int(data.edge_index.shape[1])
            run["data_mib"] = round(sum(v.nbytes for v in data.to_dict().values()
                                        if hasattr(v, "nbytes")) / 2 ** 20, 2)
        run["total_s"] = sum(v for k, v in run.items() if k.endswith("_s") and v is not None)
        if best is None or run["total_s"] < best["total_s"]:
            best = run
        if run["total_s"] > 5 or "convert_skipped" in run:
            break
    out.update({k: round(v, 3) if isinstance(v, float) else v for k, v in best.items()})
    out["steps"] = int(steps)
    out["nodes"] = int(n_nodes)
    out["peak_mib"] = round(peak_mib(), 1)
    return out


def salsa_source(git_dir: str) -> tuple[str, str]:
    """The snapshot's ``salsaclrs`` package exported to a temporary folder,
    and the commit it came from."""
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    folder = tempfile.mkdtemp(prefix="salsa-clrs-")
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", commit, "salsaclrs"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder, commit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1600, 4096])
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--families", nargs="+", default=["er", "ws", "delaunay"])
    parser.add_argument("--hint-families", nargs="+", default=["er"],
                        help="families measured with hints too (SALSA trains on ER)")
    parser.add_argument("--budget-mib", type=float, default=4096,
                        help="largest estimated to_sparse_data hint memory to run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--salsa-git", default=SALSA_GIT)
    parser.add_argument("--salsa-python", default=SALSA_PYTHON)
    parser.add_argument("--redo", action="store_true")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--table", action="store_true",
                        help="print the saved results as Markdown tables and stop")
    parser.add_argument("--salsa-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.salsa_worker:
        print(json.dumps(salsa_worker(json.loads(args.salsa_worker))))
        return
    if args.table:
        with open(args.out) as f:
            print(table(json.load(f)))
        return

    sys.path.insert(0, os.path.join(HERE, ".."))
    from openclrs.files import write_json

    results = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    src, commit = salsa_source(args.salsa_git)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    machine = f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    sparse_script = os.path.join(HERE, "sparse_sampling.py")
    for n in args.sizes:
        for algorithm in args.algorithms:
            for family in args.families:
                for hints in (False, True):
                    if hints and family not in args.hint_families:
                        continue
                    key = f"{algorithm}/{family}_{n}/{'hints' if hints else 'no_hints'}"
                    if key in results and not args.redo:
                        continue
                    job = {"algorithm": algorithm, "family": family, "n": n,
                           "seed": args.seed, "repeat": args.repeat}
                    row = {
                        "salsa": measure({**job, "hints": hints, "src": src,
                                          "budget_mib": args.budget_mib},
                                         args.timeout, script=__file__,
                                         python=args.salsa_python, flag="--salsa-worker",
                                         env=env),
                        "openclrs": measure({**job, "mode": "hints" if hints else "sparse"},
                                            args.timeout, script=sparse_script),
                    }
                    row.update(algorithm=algorithm, family=family, n=n, hints=hints,
                               machine=machine, salsa_commit=commit)
                    results[key] = row
                    write_json(args.out, results)
                    print(key, json.dumps({k: row[k] for k in ("salsa", "openclrs")}),
                          flush=True)


def table(results: dict) -> str:
    """Per row: SALSA's seconds (graph + dm-clrs + to_sparse_data) and peak
    RSS, openclrs' (graph + sparse trace), and SALSA / openclrs. SALSA's
    edge count includes its ``n`` self-loops (its ``adj`` has them)."""
    def peak(m):
        return f"{m['peak_mib']:.0f} MiB (+{m['peak_mib'] - m['baseline_mib']:.0f})"

    def seconds(m):
        return m["graph_s"] + m["trace_s"] if "trace_s" in m else m["total_s"]

    lines = ["| algorithm | graphs | hints | E (SALSA / openclrs) | steps (SALSA / openclrs) "
             "| SALSA-CLRS: graph + dm-clrs + to_sparse_data = total s, peak RSS (above imports) "
             "| openclrs: total s, peak RSS (above imports) | time ratio | peak ratio |",
             "|---|---|---|---:|---:|---|---|---:|---:|"]
    for r in sorted(results.values(), key=lambda r: (r["n"], r["algorithm"], r["hints"],
                                                     ("er", "ws", "delaunay").index(r["family"]))):
        s, o = r["salsa"], r["openclrs"]
        head = f"| {r['algorithm']} | {r['family']}_{r['n']} | {'yes' if r['hints'] else 'no'} "
        if "error" in s or "error" in o:
            lines.append(head + f"| | | {s.get('error', '')} | {o.get('error', '')} | | |")
            continue
        if s.get("convert_skipped"):
            salsa = (f"{s['graph_s']:.2f} + {s['algorithm_s']:.2f} + not run "
                     f"({s['convert_skipped']}), {peak(s)}")
            ratio = f">{s['total_s'] / seconds(o):.0f}x"
            memory = f">{s['peak_mib'] / o['peak_mib']:.1f}x"
        else:
            salsa = (f"{s['graph_s']:.2f} + {s['algorithm_s']:.2f} + {s['convert_s']:.2f} = "
                     f"{s['total_s']:.2f} s, {peak(s)}")
            ratio = f"{s['total_s'] / seconds(o):.0f}x"
            memory = f"{s['peak_mib'] / o['peak_mib']:.1f}x"
        edges = f"{s['edges']:,}" if "edges" in s else "-"
        lines.append(head + f"| {edges} / {o['edges']:,} | {s['steps']:,} / {o['steps']:,} | "
                     f"{salsa} | {seconds(o):.2f} s, {peak(o)} | {ratio} | "
                     f"{memory} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
