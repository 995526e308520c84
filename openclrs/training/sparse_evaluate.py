"""Evaluate a trained run on freshly sampled sparse graphs of any size.

``evaluate_run_sparse(run_dir, graph="er", length=4096, num_samples=8)``
rebuilds the run's model and checkpoint (as :func:`.evaluate.evaluate_run`
does), samples ``num_samples`` graphs of SALSA-CLRS's test family
``graph`` (``er``, ``ws`` or ``delaunay``; :mod:`openclrs.distributions`) with
``length`` nodes from ``seed``, runs each algorithm of the run on them
(:mod:`openclrs.algorithms.sparse_registry`), evaluates the model sparse
(:func:`openclrs.models.sparse.sparse_predict`) and scores it with SALSA's
per-graph metrics and the CLRS score (:class:`.graph_metrics.GraphScorer`).

A model that encodes hints needs the hints of step 0 only: each graph is
sampled with hints and cut to its first step as soon as it is sampled
(:func:`first_step_batch`), so a batch holds no trajectory. The
step-per-node algorithms' hints are O(n^2) while they are sampled (Dijkstra
at n = 4096: about 0.7 GiB for a moment); the sampler refuses graphs whose
hints would not fit in memory. Models trained without encoded hints
(``hint_mode`` ``decoded_only`` or ``none``, as SALSA's baselines) need none.

The result (also what ``openclrs evaluate --graph ... --json PATH`` writes)::

    {"run": ..., "checkpoint": folder, "step": step, "graphs": "er_4096",
     "num_samples": 8, "seed": 0,
     "algorithms": {algorithm: {"node_accuracy": mean over graphs,
                                "graph_accuracy": share of graphs all right,
                                "score": CLRS score (pooled),
                                "<output>/<metric>": ..., "graphs": 8,
                                "nodes": mean nodes, "edges": mean edges,
                                "seconds": model time}}}

A run whose model a capability built (``config.json`` holds its settings,
e.g. a halting run) is evaluated through that capability's
:class:`~.evaluate.RunKind` (``kinds=``): its ``sparse_scorer`` scores the
model (a halting run adds, per algorithm, ``oracle_node_accuracy``,
``oracle_graph_accuracy``, ``oracle_score``, ``oracle_seconds`` and
``halting``: see :class:`openclrs.halting.sparse.SparseHaltingScorer`), its
settings are written under its name (``"halting": {...}``), and its
``sparse_table`` printed after the table; a kind without one is refused.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Sequence

import numpy as np

from ..data.sparse import collate_sparse
from ..distributions import FAMILIES, SparseSampler
from ..sparse import SparseTrace, spec_of
from .graph_metrics import GraphScorer
from .metrics import score_is_loss


def first_step_batch(traces: Sequence[SparseTrace]):
    """:func:`~openclrs.data.sparse.collate_sparse` of ``traces`` keeping
    only the hints of step 0 (all a model evaluated on its own predictions
    reads) and each trace's full ``length`` (the steps to run)."""
    cut = [dataclasses.replace(t, hints={k: v[:1] for k, v in t.hints.items()}, length=1)
           if t.has_hints else t for t in traces]
    batch = collate_sparse(cut)
    batch.lengths = np.array([t.length for t in traces], dtype=np.int64)
    return batch


class StateFile:
    """A sparse evaluation's trajectory state
    (:class:`~openclrs.models.sparse.TrajectoryState`) saved to ``path`` every
    ``every`` seconds (safetensors, written atomically), so that one long
    graph (dijkstra at n = 16384: hours) survives a stop: pass it as
    ``checkpoint`` to :func:`~openclrs.models.sparse.sparse_predict` (or
    :meth:`SparseScorer.update`); a later run with the same ``identity``
    continues from the saved step, with the same numbers as a run never
    stopped. ``identity`` (str -> str: what the state belongs to, e.g. the
    checkpoint, the graphs and a hash of them) is stored with it, and a
    state of anything else is refused. ``carried``: numbers the caller asked
    to keep with the state (``extra()`` at each save, e.g. the seconds spent
    so far), as loaded; :meth:`remove` once the evaluation is done."""

    def __init__(self, path: str, identity: dict[str, str], every: float = 600.0,
                 extra=None, clock=time.monotonic):
        self.path, self.identity, self.every = path, dict(identity), float(every)
        self.extra, self.clock = extra, clock
        self.last = clock()
        self.carried: dict[str, float] = {}
        self.saved_step: int | None = None

    def _read(self) -> tuple[dict, dict] | None:
        """``(tensors, metadata)`` of the file, None if there is none."""
        from .runs import CorruptCheckpointError, parse_safetensors

        if not os.path.exists(self.path):
            return None
        with open(self.path, "rb") as f:
            raw = f.read()
        try:
            return parse_safetensors(self.path, raw)
        except CorruptCheckpointError:
            raise self._corrupt() from None

    def _corrupt(self):
        from ..files import CorruptFileError

        return CorruptFileError(f"{self.path} is not a readable evaluation state; delete it to "
                                "start the evaluation of its graphs again")

    def saved_identity(self) -> dict[str, str] | None:
        """The identity the file was saved with (None if there is no file),
        whatever this one's is."""
        read = self._read()
        return None if read is None else {k[len("id/"):]: v for k, v in read[1].items()
                                          if k.startswith("id/")}

    def load(self):
        """The saved state, or None if there is none."""
        from ..models.sparse import TrajectoryState

        read = self._read()
        if read is None:
            return None
        tensors, meta = read
        theirs = {k[len("id/"):]: v for k, v in meta.items() if k.startswith("id/")}
        if theirs != self.identity:
            differ = sorted(k for k in set(theirs) | set(self.identity)
                            if theirs.get(k) != self.identity.get(k))
            raise ValueError(f"{self.path} holds the state of another evaluation ("
                             f"{', '.join(differ)} differ): delete it, or evaluate into "
                             "another results file")
        try:
            carried = {k[len("carried/"):]: float(v) for k, v in meta.items()
                       if k.startswith("carried/")}
            # own copies, not views of the file's bytes
            state = TrajectoryState.from_tensors({k: v.clone() for k, v in tensors.items()})
        except (KeyError, ValueError, TypeError, RuntimeError):   # well-formed, wrong content
            raise self._corrupt() from None
        self.carried = carried
        self.saved_step = state.step
        return state

    def due(self) -> bool:
        return self.clock() - self.last >= self.every

    def save(self, state) -> None:
        from ..files import write_bytes
        from .runs import safetensors_bytes

        meta = {f"id/{k}": v for k, v in self.identity.items()}
        carried = self.extra() if self.extra is not None else {}
        meta.update({f"carried/{k}": repr(float(v)) for k, v in carried.items()})
        write_bytes(self.path, safetensors_bytes(state.tensors(), meta))
        self.last = self.clock()
        self.saved_step = state.step

    def remove(self) -> None:
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


class SparseScorer:
    """A plain reasoner's scores on sparse batches of one algorithm:
    :func:`~openclrs.models.sparse.sparse_predict` scored by
    :class:`.graph_metrics.GraphScorer` (``update(batch, progress)``, then
    ``result()``). A capability's :class:`~.evaluate.RunKind` supplies
    another with the same two methods."""

    def __init__(self, model, algorithm: str):
        self.model, self.algorithm = model, algorithm
        self.scorer = GraphScorer(model.specs[algorithm])

    def update(self, batch, progress=None, checkpoint=None) -> None:
        from ..models.sparse import sparse_predict

        predictions = sparse_predict(self.model, batch, self.algorithm, progress=progress,
                                     checkpoint=checkpoint)
        self.scorer.update(batch.outputs, predictions, batch.node_ptr, batch.edge_ptr)

    def result(self) -> dict:
        return self.scorer.result()


def evaluate_sparse(model, algorithm: str, graphs: str, num_samples: int, seed: int = 0,
                    batch_size: int = 1, progress: bool = False, scorer=SparseScorer) -> dict:
    """Score ``model`` on ``num_samples`` fresh graphs of distribution
    ``graphs`` (``er_4096``, ``delaunay_1600``...), ``batch_size`` graphs per
    forward, with ``scorer(model, algorithm)`` (:class:`SparseScorer` by
    default); see the module docstring for the result."""
    if num_samples < 1 or batch_size < 1:
        raise ValueError("num_samples and batch_size must be positive")
    model.eval()  # evaluation mode throughout (sparse_predict runs repred=True too)
    encode_hints = model.config.encode_hints
    sampler = SparseSampler(algorithm, graphs, seed, hints=encode_hints)
    scorer = scorer(model, algorithm)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"{algorithm} {graphs}", unit="step", leave=False)
    seconds, nodes, edges = 0.0, 0, 0
    done = 0
    while done < num_samples:
        size = min(batch_size, num_samples - done)
        traces = []
        for _ in range(size):
            trace = next(sampler)
            if trace.has_hints:  # keep step 0 only, before sampling the next graph
                trace = dataclasses.replace(trace, hints={k: v[:1].copy()
                                                          for k, v in trace.hints.items()})
            traces.append(trace)
        batch = first_step_batch(traces)
        nodes += batch.num_nodes
        edges += batch.num_edges
        start = time.perf_counter()
        if bar is not None:
            bar.set_postfix(graph=f"{done + 1}/{num_samples}")
        scorer.update(batch, progress=bar)
        seconds += time.perf_counter() - start
        done += size
    if bar is not None:
        bar.close()
    result = scorer.result()
    result.update(nodes=nodes / num_samples, edges=edges / num_samples, seconds=seconds)
    return result


def evaluate_run_sparse(run_dir: str, graph: str, length: int, num_samples: int,
                        seed: int = 0, checkpoint: str = "best", device: str = "cpu",
                        algorithms: Sequence[str] | None = None, batch_size: int = 1,
                        progress: bool = False, kinds: Sequence = ()) -> dict:
    """A run's checkpoint on fresh sparse graphs (module docstring); a run a
    capability built goes through its :class:`~.evaluate.RunKind` in
    ``kinds``."""
    from .evaluate import load_run, run_kind_of

    if graph not in FAMILIES:
        raise ValueError(f"unknown graph family {graph!r}; expected one of "
                         f"{', '.join(FAMILIES)}")
    if length < 2:
        raise ValueError(f"--length must be at least 2 nodes, got {length}")
    kind, factory, settings = run_kind_of(run_dir, kinds)
    scorer = SparseScorer
    if kind is not None:
        if kind.sparse_scorer is None:
            raise ValueError(f"{run_dir} is a {kind.name} run, which has no evaluation on "
                             "sparse graphs: leave --graph out to score a stored split")
        scorer = kind.sparse_scorer
    model, config, saved = load_run(run_dir, checkpoint, device, factory)
    algorithms = list(algorithms or config.algorithms)
    for a in algorithms:
        if a not in config.algorithms:
            raise ValueError(f"this run was trained on {config.algorithms}, not {a!r}")
    name = f"{graph}_{length}"
    results = {"run": run_dir, "checkpoint": saved.path, "step": saved.step, "graphs": name,
               "num_samples": num_samples, "seed": seed,
               "algorithms": {a: evaluate_sparse(model, a, name, num_samples, seed, batch_size,
                                                 progress, scorer) for a in algorithms}}
    if kind is not None:
        results[kind.name] = settings
    return results


def sparse_results_table(results: dict) -> str:
    """The printed summary: one line per algorithm."""
    lines = [f"graphs: {results['num_samples']} x {results['graphs']} (seed {results['seed']})",
             f"{'algorithm':<24}{'node acc':>10}{'graph acc':>11}{'CLRS score':>12}"
             f"{'seconds':>10}"]
    losses = []
    for a, r in results["algorithms"].items():
        node = f"{r['node_accuracy']:>10.4f}" if "node_accuracy" in r else f"{'-':>10}"
        lines.append(f"{a:<24}{node}"
                     f"{r['graph_accuracy']:>11.4f}{r['score']:>12.4f}{r['seconds']:>10.1f}")
        if score_is_loss(spec_of(a)):
            losses.append(a)
    if losses:  # eccentricity: one graph scalar, no node to be right about
        lines.append(f"({', '.join(losses)}: the CLRS score is the output's mean squared "
                     "error; graph accuracy: rounded to the truth)")
    return "\n".join(lines)


def evaluate_and_report_sparse(run_dir: str, graph: str, length: int, num_samples: int,
                               seed: int = 0, checkpoint: str = "best", device: str = "cpu",
                               batch_size: int = 1, progress: bool = False,
                               json_path: str | None = None, out=None,
                               kinds: Sequence = ()) -> dict:
    """``openclrs evaluate --graph``: :func:`evaluate_run_sparse`, the results
    written to ``json_path`` before the table is printed to ``out``
    (default: stdout), then the run kind's ``sparse_table``. Returns the
    results."""
    import sys

    from .. import files

    results = evaluate_run_sparse(run_dir, graph, length, num_samples, seed=seed,
                                  checkpoint=checkpoint, device=device, batch_size=batch_size,
                                  progress=progress, kinds=kinds)
    if json_path:
        files.write_json(json_path, results)
    out = sys.stdout if out is None else out
    print(f"checkpoint: {results['checkpoint']} (step {results['step']})\n"
          f"{sparse_results_table(results)}", file=out, flush=True)
    kind = next((k for k in kinds if k.name in results), None)
    if kind is not None and kind.sparse_table is not None:
        print(kind.sparse_table(results), file=out, flush=True)
    return results
