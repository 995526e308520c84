"""``openclrs train --sparse``: the house trainer on SALSA-CLRS's sparse graphs.

The run is an ordinary :mod:`.loop` run of a plain
:class:`~openclrs.models.model.Reasoner` (same checkpoints, resume,
``metrics.jsonl``, best checkpoint, progress bar; ``config.json`` records
``"sparse": true``); what changes is the data, the loss and validation:

* **Training data**: SALSA-CLRS's training distribution
  (:data:`openclrs.distributions.TRAIN`: Erdos-Renyi, ``n`` drawn per graph
  from the train lengths, 4 7 11 13 16 by default, ``p`` uniform in
  ``er_probabilities(16)``, connected), the algorithm run on its edge list
  (:mod:`openclrs.algorithms.sparse_registry`), hints included, batched as
  PyTorch Geometric does (:func:`~openclrs.data.sparse.collate_sparse`).
  Batch ``s`` of algorithm ``k`` is a function of ``(seed, k, s)`` alone
  (:func:`train_batch`): same seed, same bytes; a resumed run sees the
  batches an uninterrupted one does. Every step draws fresh graphs (SALSA
  trains epochs over a stored set of 10,000). ``pos`` is randomised as in
  the dense recipe (``--random-pos``, default on; not on the canonical
  validation set).
* **Loss**: :func:`openclrs.models.sparse.sparse_loss`, the dense losses
  with node pointers as a cross-entropy over each node's out-edges.
* **Validation**: the validation distribution at the largest train length
  (SALSA's: Erdos-Renyi, n = 16), run sparse on each graph's own
  predictions from the hints of step 0, scored with SALSA's per-graph
  metrics beside the CLRS score (:class:`.graph_metrics.GraphScorer`:
  ``score``, ``node_accuracy``, ``graph_accuracy``, ...). ``--val-set
  sampled``: ``32 x 2`` graphs from the run's seed, as the dense trainer's
  set; ``canonical``: SALSA's 1,000 validation graphs, the ``val`` part of
  :func:`openclrs.data.sparse.salsa_parts` (seed 0).
* **Test**: chosen by the data, not by the algorithm's name: where CLRS-30
  defines splits of the algorithm (every CLRS algorithm), its canonical dense
  test split (n = 64), as every run: the trained model is a plain reasoner,
  ``openclrs evaluate --run DIR`` scores it dense. SALSA-CLRS's own
  algorithms (fast_mis, eccentricity: no CLRS sampler, no CLRS-30 split) are
  tested on SALSA's test graphs, sparse: the first :data:`TEST_GRAPHS` graphs
  of its ``test_er_80`` set (:data:`TEST_PART`). Any run:
  ``openclrs evaluate --run DIR --graph er --length 1600`` on fresh graphs.
* **Scores**: SALSA's per-graph metrics beside the CLRS score; where the
  score is a loss (eccentricity's one graph scalar: its MSE) the best
  checkpoint is the one of the lowest (:func:`.metrics.selection_score`).
* **Step inputs**: fast_mis's ``randomness`` ``(n, T)``: step ``t`` of the
  processor is fed column ``t`` (SALSA's ``randomness[:, step]``), in the
  sparse and the dense forward alike (:func:`openclrs.models.encoders.step_columns`).

What cannot train sparse is refused before the run folder is touched, the
option named (SALSA-CLRS's own algorithms without ``--sparse`` too):
processors outside the MPNN/PGN family (GAT, MemNet),
algorithms without a sparse trace, pointers that leave the edges
(topological_sort's ``topo``, ...), a capability's model without its own
``sparse_loss``. A halting reasoner (``--halting``) has one
(:mod:`openclrs.halting.sparse`): its loss and its validation (which
scores sparse batches itself) run on these graphs too.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..data.sparse import SparseBatch, collate_sparse, salsa_parts
from ..distributions import TRAIN, GraphDistribution, SparseSampler, distribution
from ..specs import NUM_SAMPLES_MULTIPLIER
from .runs import derive_seed


# ------------------------------------------------------------------- checks

def sparse_refusal(algorithm: str) -> str | None:
    """Why the CLRS algorithm ``algorithm`` (a known name) cannot train
    sparse, or ``None`` if it can: it has no sparse trace, or its pointers
    leave the graph's edges (a sparse decoder scores a node's out-edges only)."""
    from ..algorithms.sparse_registry import SPARSE_ALGORITHMS
    from ..sparse import off_edge_pointers

    if algorithm not in SPARSE_ALGORITHMS:
        return f"--sparse: {algorithm} has no sparse trace"
    off = sorted({name for trace in SparseSampler(algorithm, TRAIN, seed=0).take(8)
                  for name in off_edge_pointers(trace)})
    if off:
        return (f"--sparse: {algorithm}'s pointer(s) {', '.join(off)} leave the graph's "
                "edges, and a sparse decoder scores only a node's out-edges; train it dense "
                "(without --sparse)")
    return None


@lru_cache(maxsize=None)
def sparse_algorithms() -> tuple[str, ...]:
    """The algorithms that train sparse (CLRS's and SALSA-CLRS's own): those
    :func:`sparse_refusal` lets through."""
    from ..algorithms.sparse_registry import SPARSE_ALGORITHMS

    return tuple(a for a in sorted(SPARSE_ALGORITHMS) if not sparse_refusal(a))


def check_algorithms(algorithms: Sequence[str]) -> None:
    """Refuse algorithms that cannot train sparse (:func:`sparse_refusal`),
    unknown names (the usual error, with the names it may have meant) first."""
    from ..sparse import spec_of

    for algorithm in algorithms:
        spec_of(algorithm)
        refusal = sparse_refusal(algorithm)
        if refusal:
            raise ValueError(f"{refusal} (the algorithms that train sparse: "
                             f"{', '.join(sparse_algorithms())})")


def check_model(model, factory=None) -> None:
    """Refuse a model that has no sparse forward (named by its option); a
    capability's model trains sparse if it has its own ``sparse_loss``."""
    from ..models.processors.pgn import PGN

    if factory is not None and not callable(getattr(model, "sparse_loss", None)):
        raise ValueError(f"--sparse trains a plain reasoner; a {factory.name} model "
                         f"(--{factory.name}) has no sparse training")
    if not isinstance(model.processor, PGN):
        raise ValueError(f"--sparse: --processor {model.config.processor} has no sparse form; "
                         "use one of the MPNN/PGN family (triplet_gmpnn, gpgn_mask, pgn_mask, "
                         "mpnn, ...)")


# --------------------------------------------------------------------- data

def training_graphs(config, algorithm: str) -> GraphDistribution:
    """SALSA-CLRS's training distribution with ``n`` from the train lengths."""
    sizes = tuple(config.lengths(algorithm))
    return GraphDistribution(TRAIN.family, sizes, TRAIN.p_range)


def validation_graphs(config, algorithm: str) -> GraphDistribution:
    """The training distribution at its largest ``n`` (SALSA's ``val``: n = 16)."""
    return GraphDistribution(TRAIN.family, (max(config.lengths(algorithm)),), TRAIN.p_range)


def _random_pos(traces, rng: np.random.RandomState):
    """The dense recipe's random ``pos`` (:func:`openclrs.transforms.random_positions`)
    for each graph."""
    from dataclasses import replace

    from ..transforms import random_positions

    return [replace(t, inputs={**t.inputs, "pos": random_positions(t.inputs["pos"], rng)})
            for t in traces]


def train_batch(config, index: int, step: int, shard: slice = slice(None)) -> SparseBatch:
    """The sparse training batch of algorithm ``index`` at ``step``: a
    function of ``(seed, index, step)`` only (the keys the dense
    :func:`.loop.train_batch` uses). ``shard`` keeps part of it (one
    torchrun rank's slice of the graphs as drawn), sorted longest first
    after slicing: sorting the whole batch first would hand rank 0 all the
    longest graphs."""
    algorithm = config.algorithms[index]
    traces = SparseSampler(algorithm, training_graphs(config, algorithm),
                           seed=derive_seed(config.seed, index, step)).take(config.batch_size)
    if config.random_pos:
        traces = _random_pos(traces, np.random.RandomState(
            derive_seed(config.seed, index, step, 1)))
    return collate_sparse(longest_first(traces[shard]))


def longest_first(traces):
    """The traces by length, longest first (stable): in such a batch the
    graphs still running at a step are a prefix, and the sparse forward
    runs each step on them alone (:func:`openclrs.models.sparse.sparse_forward`)."""
    return sorted(traces, key=lambda t: -t.length)


class SparseBatches(list):
    """An algorithm's validation batches, sparse (:func:`.loop.score` scores
    them with :func:`score_batch`)."""


def validation_batches(config, algorithm: str) -> SparseBatches:
    """The fixed sparse validation set of ``algorithm`` (module docstring),
    each graph cut to its hints of step 0, in batches of
    ``eval_batch_size`` graphs."""
    index = config.algorithms.index(algorithm)
    if config.val_set == "canonical":
        return salsa_part_batches(config, algorithm, "val")
    # pos as the dense trainer's: randomised on the sampled set, not on the stored one
    rng = np.random.RandomState(derive_seed(config.seed, index, 2**31 - 2))
    return _sampled_batches(config, algorithm, validation_graphs(config, algorithm),
                            derive_seed(config.seed, index, 2**31 - 1),
                            32 * 2 * NUM_SAMPLES_MULTIPLIER.get(algorithm, 1),
                            rng if config.random_pos else None)


#: The test set of a run of an algorithm that has no CLRS-30 splits
#: (SALSA-CLRS's own, :func:`openclrs.data.datasets.has_canonical_splits`):
#: the first ``TEST_GRAPHS`` graphs of SALSA's test set ``TEST_PART`` (Erdos-Renyi,
#: n = 80, p in er_probabilities(80); seed 0, its seed in :func:`salsa_parts`), the
#: graphs that ``openclrs generate --sparse`` stores first in that split. n = 80 is
#: SALSA's smallest out-of-distribution size (5x the largest training graph, as
#: CLRS-30's test is 4x), the training family; 64 graphs, as the sampled validation set.
TEST_PART = "test_er_80"
TEST_GRAPHS = 64


def test_batches(config, algorithm: str) -> SparseBatches:
    """The test set of a run of ``algorithm`` where CLRS-30 has none (see
    :data:`TEST_PART`), run sparse; ``pos`` as stored (``i / n``)."""
    return salsa_part_batches(config, algorithm, TEST_PART, TEST_GRAPHS)


def test_set_name(algorithm: str) -> str:
    """What a run's test set of ``algorithm`` is, in a few words (tables)."""
    from ..data.datasets import has_canonical_splits

    if has_canonical_splits(algorithm):
        return "CLRS-30 test, n=64"
    return f"SALSA {TEST_PART[len('test_'):]}, {TEST_GRAPHS} graphs"


def salsa_part_batches(config, algorithm: str, split: str,
                       count: int | None = None) -> SparseBatches:
    """The first ``count`` graphs (default: all) of SALSA's split ``split``
    of ``algorithm`` (:func:`openclrs.data.sparse.salsa_parts`, seed 0),
    sampled with hints and cut to step 0."""
    part = next(p for p in salsa_parts(algorithm) if p.split == split)
    count = part.num_samples if count is None else min(count, part.num_samples)
    return _sampled_batches(config, algorithm, distribution(part.graphs), part.seed, count)


def _sampled_batches(config, algorithm: str, graphs: GraphDistribution, seed: int, count: int,
                     pos_rng: np.random.RandomState | None = None) -> SparseBatches:
    """``count`` graphs of ``graphs`` from ``seed``, each cut to its hints of
    step 0 (random ``pos`` from ``pos_rng`` if given), in batches of
    ``eval_batch_size`` graphs, each longest first."""
    from .sparse_evaluate import first_step_batch

    sampler = SparseSampler(algorithm, graphs, seed=seed)
    batches = SparseBatches()
    for start in range(0, count, config.eval_batch_size):
        traces = sampler.take(min(config.eval_batch_size, count - start))
        if pos_rng is not None:
            traces = _random_pos(traces, pos_rng)
        batches.append(first_step_batch(longest_first(traces)))
    return batches


# ------------------------------------------------------------------ scoring

def score_batch(model, batch: SparseBatch, scorer, autocast=nullcontext) -> None:
    """Add the predictions of ``model`` (in evaluation mode) on a sparse
    batch to ``scorer``, a :class:`.graph_metrics.GraphScorer` (what
    :func:`.loop.score` does with each of :class:`SparseBatches`)."""
    from ..models.sparse import sparse_predict

    with autocast():
        predictions = sparse_predict(model, batch)
    scorer.update(batch.outputs, predictions, batch.node_ptr, batch.edge_ptr)


def loss(model, batch):
    """``(total, terms)``: :func:`openclrs.models.sparse.sparse_loss`, or the
    model's own ``sparse_loss(batch)`` (a capability's model: e.g.
    :mod:`openclrs.halting`'s reasoners that decide when they are done)."""
    from ..models.sparse import sparse_loss

    own = getattr(model, "sparse_loss", None)
    if own is not None:
        return own(batch)

    return sparse_loss(model, batch)
