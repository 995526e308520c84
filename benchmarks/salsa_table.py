"""SALSA-CLRS's test table: reasoners trained at n <= 16, evaluated sparse on SALSA's test sets.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/salsa_table.py --runs DIR
    python benchmarks/salsa_table.py --table          # the markdown table
    python benchmarks/salsa_table.py --plan           # graphs per cell, estimated time

``DIR/<algorithm>`` holds one training run per algorithm (bfs, dijkstra,
mst_prim; ``openclrs train --sparse`` on SALSA's training distribution, or
any run ``openclrs evaluate --graph`` can read). Each cell (algorithm, family,
n) is exactly

    openclrs evaluate --run DIR/ALG --graph FAMILY --length N --num-samples K
                      --seed S --graphs-per-batch B

(:func:`openclrs.training.sparse_evaluate.evaluate_run_sparse`, the best
checkpoint), with ``S`` the seed of SALSA's split ``test_FAMILY_N`` in
:func:`openclrs.data.sparse.salsa_parts` (seed 0): the ``K`` graphs are the
first ``K`` of the stored test set ``build_sparse_dataset(salsa_parts(ALG,
large=True), folder)`` writes (same graphs, same sources and weights; the
evaluation samples them again, with the step-0 hints a model that encodes
hints reads). The families are SALSA's er, ws and delaunay at n = 16, 80,
160, 800, 1600, plus n = 4096 and 16384.

SALSA's test sets have 1,000 graphs each; dijkstra and mst_prim run n + 1
processor steps per graph, so the graphs per cell (``K``, in every cell of
the table) come from :data:`PLAN`, sized from measured per-graph costs
(n <= 1600: 24 min of one core here; dijkstra and mst_prim at n = 4096,
~140-310 s per graph, 2 graphs per cell; at n = 16384, ~0.7-4.7 h per graph,
none); ``--graphs ALG:N=K`` overrides one entry
(``--graphs dijkstra:4096=2``). A cell is evaluated in chunks (``GRAPHS_PER_BATCH``
graphs, one forward each), appended to the cell's ``parts`` and written to
the results JSON after each chunk: a rerun, or a larger ``K``, continues with
the stream's next graph, and the short cells
are visited in turns (one chunk each per round, cheap cells first), so a stop
leaves every cell with about as many graphs as its cost allows. A cell's
figures are the graph-weighted means of its parts' (exact: SALSA's metrics
are means over graphs, and the pooled CLRS score of graphs of one size is
too). Within a chunk, the processor's state (node states, the fed-back
hint predictions, the step) is saved every ``--state-every`` seconds (10
min) beside the results (``OUT.ALG.FAMILY_N.state.safetensors``), so a stop
loses at most that much: a rerun of the same command continues the graph at
the saved step, with the same numbers as a run never stopped, and removes
the file once the chunk is in the results. The file records the runs
(folder, checkpoint, step, training options), the command lines and the
machine, and refuses to mix runs.

dijkstra and mst_prim hints are O(n^2) (n + 1 steps of n nodes: 10 GiB at
n = 16384), but the model reads those of step 0 only: :func:`first_step_trace`
makes the trace with step 0's hints alone from the algorithm's own walk
(``best_first_hints`` of the walk cut to its first step; equal to the full
trace's first step, checked by ``--check``). ``--time-steps N:K`` times the
first K processor steps of one graph of size N per (algorithm, family) and
extrapolates to the graph's n + 1 steps (an estimate, not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

RESULTS = os.path.join(HERE, "results", "salsa_table.json")
ALGORITHMS = ("bfs", "dijkstra", "mst_prim")
FAMILIES = ("er", "ws", "delaunay")
SIZES = (16, 80, 160, 800, 1600, 4096, 16384)

# Graphs per cell, by algorithm and n (SALSA: 1,000). bfs runs about a
# diameter's worth of steps; dijkstra and mst_prim n + 1 steps per graph.
PLAN = {
    "bfs": {16: 1000, 80: 1000, 160: 1000, 800: 200, 1600: 100, 4096: 64, 16384: 8},
    "dijkstra": {16: 1000, 80: 200, 160: 100, 800: 4, 1600: 3, 4096: 2, 16384: 0},
    "mst_prim": {16: 1000, 80: 200, 160: 100, 800: 4, 1600: 3, 4096: 2, 16384: 0},
}
# Graphs per forward: many small graphs at once (the per-step cost is
# mostly fixed overhead there), one at a time at large n.
GRAPHS_PER_BATCH = {16: 50, 80: 25, 160: 10, 800: 2, 1600: 1, 4096: 1, 16384: 1}

RUN_KEYS = ("algorithms", "steps", "batch_size", "learning_rate", "seed", "train_lengths",
            "val_set", "sparse")
MODEL_KEYS = ("processor", "hidden_size", "hint_mode", "hint_repred_mode", "use_lstm",
              "nb_msg_passing_steps")


def split_seeds(algorithm: str) -> dict[str, int]:
    """The seed of each of SALSA's test sets (``er_16`` ... ``delaunay_16384``)
    as ``salsa_parts`` builds them."""
    from openclrs.data.sparse import salsa_parts

    return {p.graphs: p.seed for p in salsa_parts(algorithm, large=True)
            if p.split.startswith("test_")}


def run_record(run: str) -> dict:
    """What identifies a run: its folder, best checkpoint and training options."""
    from openclrs.files import read_json

    config = read_json(os.path.join(run, "config.json"), "run config")
    train = config.get("train", {})
    record = {"run": os.path.abspath(run)}
    record.update({k: train[k] for k in RUN_KEYS if k in train})
    record["model"] = {k: train.get("model", {}).get(k) for k in MODEL_KEYS}
    return record


def planned(algorithm: str, n: int, overrides: dict) -> int:
    return overrides.get((algorithm, n), PLAN[algorithm].get(n, 0))


def parse_overrides(items) -> dict:
    out = {}
    for item in items or ():
        try:
            key, count = item.split("=")
            algorithm, n = key.split(":")
            out[(algorithm, int(n))] = int(count)
        except ValueError:
            raise SystemExit(f"--graphs {item!r}: expected ALG:N=K, e.g. dijkstra:4096=2")
    return out


def cell_key(algorithm: str, family: str, n: int) -> str:
    return f"{algorithm}/{family}_{n}"


def pct(x) -> str:
    return f"{100 * x:.1f}"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def in_progress(out: str, key: str) -> str | None:
    """"step k" of the chunk of cell ``key`` whose state is saved beside
    ``out`` (a stopped or running evaluation), or None."""
    path = state_path(out, key)
    if not os.path.exists(path):
        return None
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            step = int(f.get_tensor("step"))
    except Exception:  # noqa: BLE001 - safetensors raises its own errors; a table still prints
        return "a state that cannot be read (delete it)"
    saved_at = time.strftime("%H:%M UTC", time.gmtime(os.path.getmtime(path)))
    return f"step {step} (saved {saved_at})"


def table(saved: dict, out: str | None = None) -> str:
    """Node accuracy % / graph accuracy % (graphs) per (algorithm, family) and
    n; a cell not run but timed (``--time-steps``) shows its estimated CPU
    hours per graph, and where its first graph's state is saved beside the
    results file ``out``, the step it stands at."""
    cells = saved.get("cells", {})
    sizes = sorted({int(k.rsplit("_", 1)[1]) for k in cells})
    lines = ["| algorithm | family | " + " | ".join(f"n={n}" for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for algorithm in ALGORITHMS:
        for family in FAMILIES:
            row = [cells.get(cell_key(algorithm, family, n)) for n in sizes]
            if not any(row):
                continue
            timed = [saved.get("estimates", {}).get(cell_key(algorithm, family, n))
                     for n in sizes]
            going = [None if out is None else in_progress(out, cell_key(algorithm, family, n))
                     for n in sizes]
            text = [f"{pct(c['node_accuracy'])} / {pct(c['graph_accuracy'])} ({c['graphs']})"
                    if c is not None else
                    "" if t is None else
                    f"not run: ~{hours(t['estimated_cpu_seconds_per_graph'])} CPU/graph"
                    + ("" if g is None else f"; graph 1 at {g}")
                    for c, t, g in zip(row, timed, going)]
            lines.append(f"| {algorithm} | {family} | " + " | ".join(text) + " |")
    differs = [k for k, c in cells.items() if abs(c["score"] - c["node_accuracy"]) > 5e-4]
    note = ("\nCLRS score = node accuracy in every cell (pointer outputs, equal-size graphs)"
            if not differs else "\nCLRS score differs from node accuracy in: " +
            ", ".join(f"{k} {pct(cells[k]['score'])}" for k in differs))
    return "\n".join(lines) + "\n" + note


def plot(saved: dict, path: str) -> None:
    from openclrs.extras import pyplot

    plt = pyplot("plot the SALSA table")
    cells = saved.get("cells", {})
    fig, axes = plt.subplots(1, len(FAMILIES), figsize=(13, 3.8), sharey=True)
    for ax, family in zip(axes, FAMILIES):
        for algorithm in ALGORITHMS:
            points = sorted((int(k.rsplit("_", 1)[1]), c["node_accuracy"], c["graphs"])
                            for k, c in cells.items()
                            if k.startswith(f"{algorithm}/{family}_"))
            if points:
                line, = ax.plot([p[0] for p in points], [100 * p[1] for p in points], "o-",
                                label=algorithm)
                for n, accuracy, graphs in points:  # few graphs: say how few
                    if graphs < 100:
                        ax.annotate(str(graphs), (n, 100 * accuracy), textcoords="offset points",
                                    xytext=(4, 4), fontsize=7, color=line.get_color())
        ax.axvline(16, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_title(family)
        ax.set_xlabel("nodes n (trained at n <= 16)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("node accuracy (%)")
    axes[0].legend()
    fig.suptitle("Trained at n <= 16, evaluated sparse on SALSA-CLRS's test sets "
                 "(small labels: graphs in a cell of fewer than 100)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def estimate(saved: dict, algorithm: str, family: str, n: int, count: int):
    """CPU seconds for ``count`` graphs from the cell's measured per-graph
    cost, or its ``--time-steps`` extrapolation (None: neither)."""
    c = saved.get("cells", {}).get(cell_key(algorithm, family, n))
    if c is None:  # a --time-steps extrapolation, if any
        timed = saved.get("estimates", {}).get(cell_key(algorithm, family, n))
        return None if timed is None else count * timed["estimated_cpu_seconds_per_graph"]
    return count * c.get("cpu_seconds", c["wall_seconds"]) / c["graphs"]


# ----------------------------------------------------------------- one chunk

BEST_FIRST = ("dijkstra", "mst_prim")  # n + 1 steps: O(n^2) hints


def first_step_trace(sampler):
    """The sampler's next graph as a trace with the hints of step 0 only
    (all a model evaluated on its own predictions reads) and its full
    ``length``; the same random draws as ``next(sampler)``. dijkstra's and
    mst_prim's step 0 comes from their walk cut to its first step, so their
    O(n^2) hints are never made."""
    import dataclasses

    from openclrs.algorithms._graphs import best_first_hints, best_first_walk
    from openclrs.algorithms.sparse_graphs import checked_graph
    from openclrs.algorithms.sparse_registry import SPARSE_ALGORITHMS
    from openclrs.sparse import make_sparse_trace

    algorithm, run = sampler.algorithm, SPARSE_ALGORITHMS[sampler.algorithm]
    args = sampler.draw_inputs()
    if not sampler.hints:
        return run(*args, hints=False)
    if algorithm not in BEST_FIRST:
        trace = run(*args, hints=True)
        return dataclasses.replace(trace, hints={k: v[:1].copy() for k, v in trace.hints.items()})
    graph, s = checked_graph(args[0]), args[1]
    bare = run(graph, s, hints=False)
    walk = best_first_walk(graph.num_nodes, s, graph.senders, graph.receivers, graph.weights,
                           algorithm == "mst_prim", keep=True)
    hints = best_first_hints(graph.num_nodes, algorithm == "mst_prim",
                             walk._replace(us=walk.us[:1]))
    return make_sparse_trace(algorithm, bare.num_nodes, bare.senders, bare.receivers,
                             bare.inputs, hints, bare.outputs, bare.length)


def batch_hash(batch) -> str:
    """A fingerprint of a sparse batch's graphs and inputs (which graphs a
    saved state belongs to)."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for name in ("senders", "receivers", "lengths"):
        h.update(np.ascontiguousarray(getattr(batch, name)).tobytes())
    for name in sorted(batch.inputs):
        h.update(name.encode() + np.ascontiguousarray(batch.inputs[name]).tobytes())
    return h.hexdigest()[:32]


def evaluate_chunk(model, sampler, count: int, progress: bool = False, state=None) -> dict:
    """The scores of ``model`` on the sampler's next ``count`` graphs, one
    forward (``evaluate_sparse``'s figures for those graphs alone).

    ``state``: ``(path, identity, every)`` makes the forward resumable
    mid-trajectory (:class:`~openclrs.training.sparse_evaluate.StateFile`):
    the processor's state is saved to ``path`` every ``every`` seconds; a
    state already there, of the same ``identity`` and graphs, is continued
    from (the seconds it had spent counted in, the step recorded as
    ``resumed_at_step``); the caller removes the file once the chunk is in
    its results."""
    from openclrs.training.sparse_evaluate import SparseScorer, StateFile, first_step_batch

    start, cpu = time.perf_counter(), time.process_time()
    traces = [first_step_trace(sampler) for _ in range(count)]
    batch = first_step_batch(traces)
    checkpoint, before, resumed_at = None, {}, None
    if state is not None:
        path, identity, every = state
        checkpoint = StateFile(path, {**identity, "graphs": batch_hash(batch)}, every=every)
        if checkpoint.load() is not None:  # peek: what it had spent, and where it stands
            before, resumed_at = dict(checkpoint.carried), checkpoint.saved_step
            print(f"{sampler.algorithm}: continuing from {path} at step {resumed_at}",
                  flush=True)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"{sampler.algorithm} {count} graph(s)", unit="step", leave=False,
                   mininterval=10)
    model_start = time.perf_counter()

    def spent() -> dict:
        """Seconds so far, the saved state's included (wall and CPU count the
        graphs' sampling once per process that sampled them: time spent)."""
        return {"seconds": before.get("seconds", 0.0) + time.perf_counter() - model_start,
                "wall_seconds": before.get("wall_seconds", 0.0) + time.perf_counter() - start,
                "cpu_seconds": before.get("cpu_seconds", 0.0) + time.process_time() - cpu}

    if checkpoint is not None:
        checkpoint.extra = spent
    scorer = SparseScorer(model, sampler.algorithm)
    scorer.update(batch, progress=bar, checkpoint=checkpoint)
    if bar is not None:
        bar.close()
    part = scorer.result()
    part.update(graphs_per_batch=count, nodes=batch.num_nodes / count,
                edges=batch.num_edges / count, **spent())
    if resumed_at is not None:
        part["resumed_at_step"] = resumed_at
    return part


SUMMED = ("seconds", "wall_seconds", "cpu_seconds")
NOT_MEANS = ("start", "graphs", "graphs_per_batch", "resumed_at_step")
CELL_KEYS = ("seed", "checkpoint", "step")


def merged(parts: list) -> dict:
    """A cell's figures from its parts: seconds summed, every other number
    the graph-weighted mean (SALSA's metrics are means over graphs; the
    pooled CLRS score of graphs of one size is the mean of theirs too)."""
    total = sum(p["graphs"] for p in parts)
    cell = {"graphs": total}
    for key, value in parts[0].items():
        if key in NOT_MEANS or not isinstance(value, (int, float)):
            continue
        if key in SUMMED:
            cell[key] = sum(p[key] for p in parts)
        else:
            cell[key] = sum(p[key] * p["graphs"] for p in parts) / total
    return cell


def parts_of(cell: dict) -> list:
    """A cell's parts; a cell written before parts existed is one part."""
    if "parts" in cell:
        return list(cell["parts"])
    part = {k: v for k, v in cell.items() if k not in CELL_KEYS}
    part["start"] = 0
    return [part]


def state_path(out: str, key: str) -> str:
    """Where the chunk of cell ``key`` being evaluated keeps its mid-trajectory
    state (beside the results file ``out``)."""
    return f"{os.path.splitext(out)[0]}.{key.replace('/', '.')}.state.safetensors"


def clear_finished_state(path: str, key: str, have: int) -> None:
    """Remove the state of a chunk of cell ``key`` that is in the results
    already (one before graph ``have``): a stop came after the results were
    saved and before the state was removed."""
    from openclrs.training.sparse_evaluate import StateFile

    theirs = StateFile(path, {}).saved_identity()
    if theirs and theirs.get("cell") == key and int(theirs.get("start", have)) < have:
        print(f"{path}: its graphs are in the results already; removed", flush=True)
        os.remove(path)


def lock_folder(path: str) -> str:
    """The folder whose lock guards the results file ``path`` (outside the
    tree: two runs of this script, one per algorithm, may share one file), in
    a folder of this user's own in the temporary folder."""
    import hashlib
    import tempfile

    mine = os.path.join(tempfile.gettempdir(), f"openclrs-{os.getuid()}")
    os.makedirs(mine, mode=0o700, exist_ok=True)
    if os.stat(mine).st_uid != os.getuid() or os.stat(mine).st_mode & 0o022:
        raise SystemExit(f"{mine} is not this user's own folder, or others may write to it: "
                         "remove it")
    key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:16]
    return os.path.join(mine, f"salsa-table-{key}")


def save(path: str, saved: dict, cells=(), estimates=()) -> dict:
    """Write this process's changes to the results file ``path``, under a
    lock, into what is there now (another process, e.g. one per algorithm,
    may have written its own cells since this one read it): the ``cells``
    and ``estimates`` named (their values from ``saved``), the runs, command
    lines, machine and training command. ``saved`` becomes the merged
    results (and is returned)."""
    from openclrs.files import folder_lock, read_json, write_json

    with folder_lock(lock_folder(path), what="results lock"):
        disk = read_json(path, "SALSA table results") if os.path.exists(path) else {}
        for group, keys in (("cells", cells), ("estimates", estimates)):
            if keys:
                disk.setdefault(group, {}).update({k: saved[group][k] for k in keys})
        disk["runs"] = {**disk.get("runs", {}), **saved.get("runs", {})}
        known = disk.get("commands", [])
        disk["commands"] = known + [c for c in saved.get("commands", []) if c not in known]
        for key in ("machine", "train_command"):
            if key in saved:
                disk[key] = saved[key]
        write_json(path, disk)
    saved.clear()
    saved.update(disk)
    return saved


def time_steps(args, saved: dict) -> list:
    """``--time-steps N:K``: per (algorithm, family), the first graph of
    SALSA's ``test_FAMILY_N``: seconds to sample it (step-0 hints), to run
    its first K processor steps, and the extrapolation to its L - 1 steps
    (into ``saved["estimates"]``; returns the cells timed)."""
    from openclrs.distributions import SparseSampler
    from openclrs.models.sparse import sparse_unroll
    from openclrs.training.evaluate import load_run
    from openclrs.training.sparse_evaluate import first_step_batch
    import torch

    n, steps = (int(x) for x in args.time_steps.split(":"))
    estimates = saved.setdefault("estimates", {})
    timed = []
    for algorithm in args.algorithms:
        model = load_run(os.path.join(args.runs, algorithm), "best").model
        model.eval()
        seeds = split_seeds(algorithm)
        for family in args.families:
            sampler = SparseSampler(algorithm, f"{family}_{n}", seeds[f"{family}_{n}"],
                                    hints=model.config.encode_hints)
            start, cpu = time.perf_counter(), time.process_time()
            trace = first_step_trace(sampler)
            batch = first_step_batch([trace])
            sample = time.process_time() - cpu
            cpu = time.process_time()
            with torch.no_grad():
                for step in sparse_unroll(model, batch, algorithm, steps=steps):
                    pass
            per_step = (time.process_time() - cpu) / steps
            total = sample + per_step * max(1, trace.length - 1)
            record = {"nodes": trace.num_nodes, "edges": trace.num_edges,
                      "trace_length": trace.length, "steps_timed": steps,
                      "sample_cpu_seconds": sample, "cpu_seconds_per_step": per_step,
                      "estimated_cpu_seconds_per_graph": total,
                      "wall_seconds": time.perf_counter() - start}
            estimates[cell_key(algorithm, family, n)] = record
            timed.append(cell_key(algorithm, family, n))
            print(f"{cell_key(algorithm, family, n):<24} E={trace.num_edges:>7}  "
                  f"sample {sample:.1f} s  {1000 * per_step:.1f} ms/step x "
                  f"{trace.length - 1} steps  ~{total:.0f} s ({total / 3600:.2f} h) per graph",
                  flush=True)
    return timed


def check(args) -> None:
    """``--check``: first_step_trace = the full trace's first step, and a
    cell's merged parts = one evaluate_sparse over the same graphs."""
    import numpy as np

    from openclrs.distributions import SparseSampler
    from openclrs.training.evaluate import load_run
    from openclrs.training.sparse_evaluate import evaluate_sparse

    for algorithm in BEST_FIRST:
        for family in FAMILIES:
            full = SparseSampler(algorithm, f"{family}_160", 3, hints=True)
            cut = SparseSampler(algorithm, f"{family}_160", 3, hints=True)
            for _ in range(3):
                a, b = next(full), first_step_trace(cut)
                assert a.length == b.length and a.hints.keys() == b.hints.keys()
                for name in a.inputs:
                    assert np.array_equal(a.inputs[name], b.inputs[name]), name
                for name in a.outputs:
                    assert np.array_equal(a.outputs[name], b.outputs[name]), name
                for name in a.hints:
                    assert b.hints[name].shape[0] == 1
                    assert np.array_equal(a.hints[name][:1], b.hints[name]), name
                    assert a.hints[name].dtype == b.hints[name].dtype, name
    print("first_step_trace = the full trace's step 0 (dijkstra, mst_prim; er, ws, delaunay)")
    if not args.runs:
        return
    for algorithm in args.algorithms:
        model = load_run(os.path.join(args.runs, algorithm), "best").model
        model.eval()
        whole = evaluate_sparse(model, algorithm, "er_80", 6, seed=11, batch_size=6)
        sampler = SparseSampler(algorithm, "er_80", 11, hints=model.config.encode_hints)
        parts, start = [], 0
        for size in (2, 1, 3):
            part = evaluate_chunk(model, sampler, size)
            part.update(start=start)
            parts.append(part)
            start += size
        cell = merged(parts)
        for key in ("node_accuracy", "graph_accuracy", "score", "graphs"):
            assert abs(cell[key] - whole[key]) < 1e-12, (algorithm, key, cell[key], whole[key])
        print(f"{algorithm}: parts 2+1+3 merged = evaluate_sparse over 6 graphs "
              f"(node {pct(cell['node_accuracy'])}, graph {pct(cell['graph_accuracy'])})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", help="folder with one run per algorithm: RUNS/bfs, ...")
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS),
                        choices=ALGORITHMS)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--graphs", nargs="+", metavar="ALG:N=K",
                        help="graphs per cell instead of PLAN's (0 skips the cell)")
    parser.add_argument("--train-command", help="the command that trained the runs (recorded)")
    parser.add_argument("--out", default=RESULTS, help="results JSON (default %(default)s)")
    parser.add_argument("--table", action="store_true", help="print the table and stop")
    parser.add_argument("--plot", action="store_true",
                        help="redraw the plot (PNG beside --out) from the results, and stop")
    parser.add_argument("--plan", action="store_true",
                        help="print graphs per cell and the estimated seconds, and stop")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--state-every", type=float, default=600.0, metavar="SECONDS",
                        help="save the processor's state of the graph(s) being evaluated "
                             "this often, beside --out, so that a stopped run continues "
                             "mid-graph (default %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="check first_step_trace and the merging of parts, and stop")
    parser.add_argument("--time-steps", metavar="N:K",
                        help="time K processor steps of one graph of size N per cell and "
                             "record the extrapolated cost per graph under 'estimates'")
    args = parser.parse_args()
    overrides = parse_overrides(args.graphs)

    saved = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            saved = json.load(f)
    png = os.path.splitext(args.out)[0] + ".png"
    if args.table:
        print(table(saved, args.out))
        return
    if args.plot:
        plot(saved, png)
        print(f"wrote {png}")
        return
    if args.plan:
        total = 0.0
        for algorithm in args.algorithms:
            for n in args.sizes:
                for family in args.families:
                    k = planned(algorithm, n, overrides)
                    done = saved.get("cells", {}).get(cell_key(algorithm, family, n))
                    left = 0 if done and done["graphs"] >= k else k
                    est = estimate(saved, algorithm, family, n, left)
                    total += est or 0.0
                    print(f"{cell_key(algorithm, family, n):<24}{k:>6} graphs  "
                          f"{'done' if done and not left else '':<5}"
                          f"{'?' if est is None and left else f'{est or 0:.0f} s':>9}")
        print(f"estimated from measured cells: {total / 60:.1f} min of CPU")
        return
    if args.check:
        check(args)
        return
    if not args.runs:
        parser.error("--runs DIR is needed to evaluate (or --table / --plan)")

    from openclrs.distributions import SparseSampler
    from openclrs.training.allocator import keep_freed_memory
    from openclrs.training.evaluate import load_run

    # Freed blocks kept for reuse: a step at n = 16384 allocates and frees
    # dozens of (E, H) blocks of ~100 MB, each faulted in anew otherwise
    # (ER, E = 382,760: 1.08 s -> 0.52 s per step, the same bits).
    keep_freed_memory()
    import torch
    runs = {a: run_record(os.path.join(args.runs, a)) for a in args.algorithms}
    recorded = saved.get("runs", {})
    for a, record in runs.items():
        if a in recorded and recorded[a] != record:
            raise SystemExit(f"{args.out} holds cells of another run of {a} "
                             f"({recorded[a]['run']}); give another --out")
    saved.setdefault("cells", {})
    saved["runs"] = {**recorded, **runs}
    saved["train_command"] = args.train_command or saved.get("train_command")
    commands = saved.setdefault("commands", [])  # every invocation that added cells
    first = saved.pop("command", None)
    if first and first not in commands:
        commands.append(first)
    command = "python benchmarks/salsa_table.py " + shlex.join(sys.argv[1:])
    if command not in commands:
        commands.append(command)
    saved["machine"] = (f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
                        f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    if args.time_steps:
        save(args.out, saved, estimates=time_steps(args, saved))
        return
    # The short cells, cheap first; each round gives every one of them one chunk.
    cost = {"ws": 0, "delaunay": 1, "er": 2}
    todo = [(n, algorithm, family) for n in sorted(args.sizes)
            for family in sorted(args.families, key=cost.get) for algorithm in args.algorithms
            if planned(algorithm, n, overrides) >
            saved["cells"].get(cell_key(algorithm, family, n), {}).get("graphs", 0)]
    models, samplers = {}, {}
    while todo:
        for n, algorithm, family in list(todo):
            key = cell_key(algorithm, family, n)
            count = planned(algorithm, n, overrides)
            done = saved["cells"].get(key)
            parts = parts_of(done) if done else []
            have = sum(p["graphs"] for p in parts)
            if have >= count:
                todo.remove((n, algorithm, family))
                continue
            if algorithm not in models:
                models[algorithm] = load_run(os.path.join(args.runs, algorithm), "best")
                models[algorithm].model.eval()
            model, saved_ckpt = models[algorithm].model, models[algorithm].saved
            seed = split_seeds(algorithm)[f"{family}_{n}"]
            if done and (done["checkpoint"] != saved_ckpt.path or done["seed"] != seed):
                raise SystemExit(f"{key} was made with {done['checkpoint']} (seed "
                                 f"{done['seed']}), not {saved_ckpt.path}; give another --out")
            if key not in samplers:  # the stream of test_FAMILY_N, at its graph `have`
                samplers[key] = SparseSampler(algorithm, f"{family}_{n}", seed,
                                              hints=model.config.encode_hints)
                for _ in range(have):
                    samplers[key].draw_inputs()
            size = min(GRAPHS_PER_BATCH.get(n, 1), count - have)
            # what the numbers depend on: a state is continued only by the same
            # evaluation, with the same threads and torch (sums may round otherwise)
            identity = {"cell": key, "start": str(have), "graphs_per_batch": str(size),
                        "checkpoint": saved_ckpt.path, "seed": str(seed),
                        "threads": str(torch.get_num_threads()), "torch": torch.__version__}
            state = state_path(args.out, key)
            clear_finished_state(state, key, have)
            part = evaluate_chunk(model, samplers[key], size, progress=not args.quiet,
                                  state=(state, identity, args.state_every))
            part["start"] = have
            parts.append(part)
            cell = merged(parts)
            cell.update(seed=seed, checkpoint=saved_ckpt.path, step=saved_ckpt.step,
                        parts=parts)
            saved["cells"][key] = cell
            save(args.out, saved, cells=[key])
            if os.path.exists(state):  # the chunk is in the results now
                os.remove(state)
            print(f"{key:<24} graphs {have}..{have + size - 1}: node "
                  f"{pct(part['node_accuracy'])} graph {pct(part['graph_accuracy'])} "
                  f"{part['wall_seconds']:.0f} s ({part['cpu_seconds']:.0f} s CPU)  cell: "
                  f"{cell['graphs']}/{count} graphs, node {pct(cell['node_accuracy'])}  "
                  f"[{time.strftime('%H:%M:%S')}]", flush=True)
    plot(saved, png)
    print(table(saved, args.out))


if __name__ == "__main__":
    main()
