"""Paired data: each CLRS-Text example with the graph version of its instance.

TransNAR reads two views of one sampled instance: the Transformer its
CLRS-Text question, the neural algorithmic reasoner (NAR) the trace's graph
inputs. Both come from the same :class:`~openclrs.Trace`
(:func:`openclrs.text.generate_examples` with ``with_traces=True``), so they
describe the same instance by construction::

    examples = paired_examples("bfs", 5, seed=0, num_samples=4)
    examples[0].question, examples[0].answer   # the text harness's pair
    examples[0].trace.inputs                   # the reasoner's graph inputs
    groups = reasoner_batches([e.trace for e in examples], pred_as_input=True,
                              enforce_permutations=True)

:func:`pair_records` pairs stored records (``openclrs text generate``'s
files, which keep each example's seed and index) with their traces.
:class:`PairedExamples` is the training stream: the examples of step ``s``
are exactly those :class:`openclrs.lm.train.GeneratedExamples` draws for the
same ``(algorithms, lengths, seed)`` (same questions and answers, same
order), so a Transformer-only baseline trained with ``openclrs text train``
on the same seed sees the same data.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..data.batching import Batch, collate
from ..probes import Trace
from ..text.format import generate_examples
from ..training.runs import derive_seed


class PairedExample(NamedTuple):
    """One instance in both views. ``(question, answer)`` first, so
    ``example[:2]`` is what the text harness reads."""

    question: str
    answer: str
    algorithm: str
    length: int
    trace: Trace


def paired_examples(algorithm: str, length: int, seed: int = 0, num_samples: int = 1,
                    **options) -> list[PairedExample]:
    """``num_samples`` consecutive examples of one ``(algorithm, length,
    seed)`` stream, as :func:`~openclrs.text.generate_examples` makes them
    (``options``: its keywords), each with its sampled trace."""
    return [PairedExample(e["question"], e["answer"], algorithm, int(length), e["trace"])
            for e in generate_examples(algorithm, length, seed=seed, num_samples=num_samples,
                                       with_traces=True, **options)]


class PairedExamples:
    """Fresh paired examples for every step (a training source): each
    example of step ``s`` picks an ``(algorithm, length)`` uniformly and is
    drawn from a sampler stream seeded by ``(seed, s)``: the same draws as
    :class:`openclrs.lm.train.GeneratedExamples` (no hints: TransNAR trains on
    the no-trace format)."""

    def __init__(self, algorithms: Sequence[str], lengths: Sequence[int], seed: int = 0):
        from ..specs import check_algorithm

        self.pairs = [(check_algorithm(a), int(n)) for a in algorithms for n in lengths]
        if not self.pairs:
            raise ValueError("no (algorithm, length) to train on: give algorithms and lengths")
        self.seed = seed

    def __call__(self, step: int, batch_size: int) -> list[PairedExample]:
        rng = np.random.default_rng(derive_seed(self.seed, step))
        picks = rng.integers(len(self.pairs), size=batch_size)
        examples = []
        for k in sorted(set(picks.tolist())):
            algorithm, length = self.pairs[k]
            examples += paired_examples(algorithm, length, seed=derive_seed(self.seed, step, k),
                                        num_samples=int((picks == k).sum()))
        order = rng.permutation(len(examples))
        return [examples[i] for i in order]

    def describe(self) -> dict:
        return {"source": "clrs-text+graphs", "pairs": [list(p) for p in self.pairs],
                "seed": self.seed}


def pair_records(records) -> list[PairedExample]:
    """Paired examples of stored CLRS-Text records (``openclrs text
    generate``'s JSONL or Parquet rows: ``question``, ``answer``,
    ``algo_name``, ``length``, ``use_hints``, ``seed``, ``index``): each
    record's trace is sampled again from its place in its stream, and its
    text checked against the record's (a record written with other sampler
    options or another float format is refused, naming it)."""
    records = list(records)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(records):
        missing = [k for k in ("question", "answer", "algo_name", "length", "seed", "index")
                   if k not in r]
        if missing:
            raise ValueError(f"record {i} has no {', '.join(missing)}: give records written "
                             "by `openclrs text generate`")
        key = (r["algo_name"], int(r["length"]), int(r["seed"]), bool(r.get("use_hints")))
        groups.setdefault(key, []).append(i)
    out: list[PairedExample | None] = [None] * len(records)
    for (algorithm, length, seed, use_hints), rows in groups.items():
        stream = generate_examples(algorithm, length, seed=seed,
                                   num_samples=max(int(records[i]["index"]) for i in rows) + 1,
                                   use_hints=use_hints, with_traces=True)
        for i in rows:
            r, e = records[i], stream[int(records[i]["index"])]
            if (e["question"], e["answer"]) != (r["question"], r["answer"]):
                raise ValueError(f"record {i} ({algorithm}, n={length}, seed {seed}, index "
                                 f"{r['index']}) is not the example its stream gives with the "
                                 "default sampler options and float format: it cannot be "
                                 "paired with its trace")
            out[i] = PairedExample(r["question"], r["answer"], algorithm, length, e["trace"])
    return out


class FilePairedExamples:
    """A training source over stored records (``openclrs text generate``'s
    JSONL files, or folders of them), each paired with its trace when
    loaded (:func:`pair_records`); each step draws ``batch_size`` of them at
    random: the same files, order and draws as
    :class:`openclrs.lm.train.FileExamples`, so a baseline trained with
    ``openclrs text train --data`` on the same seed sees the same examples."""

    def __init__(self, paths: Sequence[str], algorithms: Sequence[str] | None = None,
                 seed: int = 0):
        from ..lm.train import read_records

        files, records = read_records(paths, algorithms)
        with_hints = [i for i, r in enumerate(records) if r.get("use_hints")]
        if with_hints:
            raise ValueError(f"{len(with_hints)} of the records (the first: record "
                             f"{with_hints[0]}) were written with hints; TransNAR trains and "
                             "is scored on the no-trace format: generate the files without "
                             "--hints")
        self.examples = pair_records(records)
        self.lengths = {e.length for e in self.examples}
        self.files, self.seed = files, seed

    def __call__(self, step: int, batch_size: int) -> list[PairedExample]:
        rng = np.random.default_rng(derive_seed(self.seed, step))
        return [self.examples[i] for i in rng.integers(len(self.examples), size=batch_size)]

    def describe(self) -> dict:
        import os

        return {"source": "clrs-text-files+graphs",
                "files": [os.path.abspath(f) for f in self.files],
                "examples": len(self.examples), "seed": self.seed}


def reasoner_batches(traces: Sequence[Trace], *, pred_as_input: bool,
                     enforce_permutations: bool) -> list[tuple[list[int], Batch]]:
    """The traces as the reasoner reads them in evaluation (the transforms
    of its training run, no random ``pos``), collated in groups of one
    ``(algorithm, number of nodes)``: ``[(indices into traces, Batch)]``,
    groups in order of first appearance."""
    from .. import transforms

    groups: dict[tuple[str, int], list[int]] = {}
    for i, trace in enumerate(traces):
        groups.setdefault((trace.algorithm, trace.num_nodes), []).append(i)
    out = []
    for rows in groups.values():
        batch = collate([transforms.apply(traces[i], pred_as_input=pred_as_input,
                                          enforce_permutations=enforce_permutations)
                         for i in rows])
        out.append((rows, batch))
    return out


__all__ = ["FilePairedExamples", "PairedExample", "PairedExamples", "pair_records",
           "paired_examples",
           "reasoner_batches"]
