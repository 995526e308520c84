"""CLRS-Text shards: which examples go in which file, and the examples themselves.

The examples of one ``(algorithm, length)`` are its streams one after the
other (seed by seed, in the order of the split's ``seeds``, as the
published script lists them), cut into shards of ``shard_size`` examples.
A :class:`Shard` is a job of the dataset builder
(:func:`openclrs.data.build.build`): its recipe, cost, checks and how to
write it.

A shard's bytes depend only on its recipe, never on the worker count or the
order of work. A stream is one sequential random stream, so a shard that
starts inside a stream needs the sampler's RNG state at its first example.
Drawing a sample's *inputs* takes about a tenth of the time of running the
algorithm and writing the text, so those states are found by a *scan*
(:func:`prepare_scans`: one task per stream draws the inputs up to each
needed offset and records the ``RandomState`` state there; nothing is run
or formatted). Shards that start at the beginning of a stream (all of them
with the published configurations and the default ``shard_size``) need no
scan at all.

Each shard formats its examples with one
:class:`openclrs.text.format.ExampleFormatter` (what
:func:`openclrs.text.format_example` runs: spec look-ups done once, arrays
written whole).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import numpy as np

from .format import ExampleFormatter
from .splits import TextSplit
from .writers import DEFAULT_SHARD_SIZE, RECORD_FORMAT, WRITERS



def _json_normal(value):
    return json.loads(json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class Shard:
    """One file: examples ``[index * shard_size, ...)`` of one ``(algorithm,
    length)``, as ``(seed, start, count)`` segments of its streams."""

    split: TextSplit = field(repr=False)
    algorithm: str
    length: int
    index: int
    segments: tuple[tuple[int, int, int], ...]
    file_format: str
    include_text: bool

    @property
    def file(self) -> str:
        return f"{self.split.name}-{self.algorithm}-n{self.length}-{self.index:05d}." \
               f"{self.file_format}"

    @property
    def num_examples(self) -> int:
        return sum(count for _, _, count in self.segments)

    def recipe(self) -> dict:
        """Everything the shard's bytes depend on (JSON-normal form)."""
        s = self.split
        return _json_normal({"record_format": RECORD_FORMAT, "file_format": self.file_format,
                "algorithm": self.algorithm, "length": self.length, "shard": self.index,
                "segments": [list(seg) for seg in self.segments],
                "use_hints": s.use_hints, "float_format": s.float_format,
                "truncate_decimals": s.decimals, "include_text": self.include_text,
                "sampler_kwargs": dict(s.sampler_kwargs.get(self.algorithm, {}))})

    @property
    def units(self) -> int:
        return self.num_examples

    def cost(self) -> float:
        # Roughly: most traces have O(n) steps over O(n) state.
        return self.num_examples * self.length ** 2

    def needs(self) -> tuple:
        """The RNG states it starts from (streams it enters midway)."""
        return tuple((self.algorithm, self.length, seed, start)
                     for seed, start, _ in self.segments if start)

    def check(self) -> None:
        """Fail before any work on a length the sampler refuses or a sample
        too large for memory (once per stream kind)."""
        s = self.split
        _check_stream(self.algorithm, self.length, s.decimals,
                      json.dumps(dict(s.sampler_kwargs.get(self.algorithm, {})), sort_keys=True))

    def write(self, path: str, report=lambda k: None, prepared=None) -> dict:
        """Write the shard's examples to ``path``; returns the extra manifest fields."""
        WRITERS[self.file_format](path, iter_records(self, prepared), self.algorithm,
                                  self.length, self.split.use_hints, self.include_text,
                                  report)
        return {"num_examples": self.num_examples}



def plan_shards(split: TextSplit, shard_size: int = DEFAULT_SHARD_SIZE,
                file_format: str = "jsonl", include_text: bool = True) -> list[Shard]:
    """The shards of ``split``, in table order."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) \
            or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    shards = []
    per_stream = split.num_samples
    total = split.examples_per_pair()
    for algorithm, length in split.pairs():
        for index, begin in enumerate(range(0, total, shard_size)):
            end = min(begin + shard_size, total)
            segments = []
            for k, seed in enumerate(split.seeds):  # stream k holds [k N, (k + 1) N)
                lo, hi = max(begin, k * per_stream), min(end, (k + 1) * per_stream)
                if lo < hi:
                    segments.append((seed, lo - k * per_stream, hi - lo))
            shards.append(Shard(split, algorithm, length, index, tuple(segments), file_format,
                                include_text))
    return shards



@functools.lru_cache(maxsize=None)
def _check_stream(algorithm: str, length: int, decimals, sampler_kwargs: str) -> None:
    from ..data.datasets import check_sampling

    check_sampling(algorithm, length, decimals, json.loads(sampler_kwargs))


def _sampler(split: TextSplit, algorithm: str, length: int, seed: int):
    from ..samplers import Sampler

    return Sampler(algorithm, length, seed, split.decimals,
                   **split.sampler_kwargs.get(algorithm, {}))


def scan_states(split: TextSplit, algorithm: str, length: int, seed: int,
                offsets: Sequence[int]) -> dict[int, tuple]:
    """RNG states of a stream at ``offsets`` (examples drawn before), found
    by drawing the inputs only."""
    sampler = _sampler(split, algorithm, length, seed)
    states, position = {}, 0
    for offset in sorted(set(offsets)):
        while position < offset:
            sampler.draw_inputs()
            position += 1
        states[offset] = sampler.rng.get_state()
    return states


def _scan_task(split: TextSplit, algorithm: str, length: int, seed: int,
               offsets: tuple) -> dict:
    found = scan_states(split, algorithm, length, seed, offsets)
    return {(algorithm, length, seed, offset): state for offset, state in found.items()}


def prepare_scans(todo: list[Shard]) -> list:
    """The scans the shards in ``todo`` need: one task per stream, for every
    offset where one of them starts (see the module docstring)."""
    offsets: dict[tuple, set] = {}
    split_of = {}
    for shard in todo:
        for _, _, seed, start in shard.needs():
            offsets.setdefault((shard.algorithm, shard.length, seed), set()).add(start)
            split_of[shard.algorithm, shard.length] = shard.split
    return [functools.partial(_scan_task, split_of[algorithm, length], algorithm, length, seed,
                              tuple(sorted(found)))
            for (algorithm, length, seed), found in sorted(offsets.items())]


def iter_records(shard: Shard, states: Mapping | None = None) -> Iterator[tuple]:
    """``(question, answer, seed, index)`` of each example of ``shard``.

    ``states`` maps ``(algorithm, length, seed, start)`` to the RNG state at
    ``start``; missing ones are scanned for.
    """
    formatter = ExampleFormatter(shard.algorithm, shard.split.use_hints,
                                 shard.split.float_format)
    for seed, start, count in shard.segments:
        sampler = _sampler(shard.split, shard.algorithm, shard.length, seed)
        if start:
            state = (states or {}).get((shard.algorithm, shard.length, seed, start))
            if state is None:
                state = scan_states(shard.split, shard.algorithm, shard.length, seed,
                                    [start])[start]
            sampler.rng.set_state(state)
        for index in range(start, start + count):
            question, answer = formatter(next(sampler))
            yield question, answer, seed, index



__all__ = ["DEFAULT_SHARD_SIZE", "Shard", "plan_shards", "scan_states", "prepare_scans",
           "iter_records"]
