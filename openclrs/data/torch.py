"""PyTorch datasets: a map-style dataset over stored or in-memory traces and
an endless on-the-fly training stream. Importing this module imports torch;
nothing else in ``openclrs.data`` does."""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import torch

from .. import transforms
from ..probes import Trace
from ..samplers import Sampler
from ..specs import check_algorithm
from .batching import Batch, collate


class TraceDataset(torch.utils.data.Dataset):
    """Map-style dataset of traces (a list, or a stored split).

    Use with ``torch.utils.data.DataLoader(ds, batch_size=32, collate_fn=collate_to_torch)``.
    """

    def __init__(self, traces: Sequence[Trace]):
        self.traces = traces

    def __len__(self) -> int:
        return len(self.traces)

    def __getitem__(self, index: int) -> Trace:
        return self.traces[index]


def collate_to_torch(traces: Sequence[Trace]) -> Batch:
    return collate(traces).to_torch()


class TraceStream(torch.utils.data.IterableDataset):
    """Endless batches of freshly sampled traces, for training.

    Batches cycle through ``lengths`` (each batch has one length, as graph
    sizes must agree within a batch) and apply the generalist options of
    :mod:`openclrs.transforms`. ``seed`` fixes the whole stream; each
    DataLoader worker gets its own sub-stream.
    """

    def __init__(self, algorithm: str, batch_size: int = 32,
                 lengths: Sequence[int] = transforms.DEFAULT_TRAIN_LENGTHS, seed: int = 0,
                 random_pos: bool = True, pred_as_input: bool = True,
                 enforce_permutations: bool = True, sampler_kwargs: dict | None = None,
                 as_torch: bool = True):
        self.algorithm = check_algorithm(algorithm)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = batch_size
        self.lengths = tuple(lengths)
        self.seed = seed
        self.options = dict(random_pos=random_pos, pred_as_input=pred_as_input,
                            enforce_permutations=enforce_permutations)
        self.sampler_kwargs = dict(sampler_kwargs or {})
        self.as_torch = as_torch
        self.spec = transforms.training_spec(algorithm, pred_as_input=pred_as_input,
                                             enforce_permutations=enforce_permutations)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        seeds = np.random.SeedSequence([self.seed, worker]).spawn(len(self.lengths) + 1)
        samplers = [Sampler(self.algorithm, length, seed=int(s.generate_state(1)[0]),
                            **self.sampler_kwargs)
                    for length, s in zip(self.lengths, seeds)]
        pos_rng = np.random.RandomState(int(seeds[-1].generate_state(1)[0]))
        for sampler in itertools.cycle(samplers):
            traces = [transforms.apply(t, rng=pos_rng, **self.options)
                      for t in sampler.take(self.batch_size)]
            batch = collate(traces)
            yield batch.to_torch() if self.as_torch else batch
