"""CLRS-Text datasets at scale: the published train and eval sets, on disk.

The published configurations
----------------------------
``clrs/_src/clrs_text/generate_clrs_text.py`` (dm-clrs 2.0.3) generates "the
entirety of the CLRS-Text training and eval sets with the statistics
advertised in [the] paper" (arXiv 2406.04229). Its defaults, kept here as
data (:data:`TRAIN_LENGTHS`, :data:`EVAL_LENGTHS`, :data:`SPLITS`):

=====  ================================  ==========  ==================  ==========
split  lengths (per algorithm)           examples    seeds               examples
                                         per stream                      in all
=====  ================================  ==========  ==================  ==========
train  a subset of 4, 5, 10, 11, 12, 15,  10,000     0                   2,150,000
       19, 23, 28, 31 (215 pairs)
eval   every n from 4 to a per-algorithm  125         3, 14, 35, 81, 94   514,375
       maximum (7 to 64; 823 pairs)
=====  ================================  ==========  ==================  ==========

A *stream* is one ``(algorithm, length, seed)``: the published script builds
one sampler per stream, ``build_sampler(algo, seed=seed, num_samples=-1,
length=length, track_max_steps=False, truncate_decimals=...)`` with the
sampler's default options, and takes that stream's first ``num_samples``
samples (batch size 1). The published eval split is called ``val`` there
(``--split_name val``); ``"val"`` is accepted here as an alias of ``"eval"``.
Hints: off in the script (``--use_hints`` defaults to false), as here;
``use_hints=True`` (CLI ``--hints``) spells the traces out.

Floats: ``truncate_decimals`` is 3 (what the Hugging Face generator,
``huggingface_generators.clrs_generator``, defaults to, and what the
"current" float style of :mod:`openclrs.text.format` assumes); the script's
own ``--num_decimals_in_float`` flag defaults to none, which with the
current formatter writes full 17-digit floats, so it is not used as the
default. ``float_format="legacy"`` (the July 2024 Hugging Face release:
untruncated sampling, 3 significant digits) sets it to ``None``.

Records
-------
One record per example, with the columns of the published Hugging Face
generator (``text``, ``question``, ``answer``, ``algo_name``, ``length``,
``use_hints``; ``text`` is ``question + answer``) plus ``seed`` and
``index``, the example's place in its stream::

    openclrs.sample(algo_name, length, seed, num_samples=index + 1,
                    truncate_decimals=3)[index]

is the trace it was written from.

Layout
------
``out_dir/{split}-{algorithm}-n{length}-{shard:05d}.jsonl`` (or ``.parquet``)
plus ``out_dir/manifest-{split}.json``. The examples of one
``(algorithm, length)`` are its streams one after the other (seed by seed,
in the order of ``seeds``, as the published script lists them), cut into
shards of ``shard_size`` examples. Every file is written to a temporary name
and renamed when complete; the manifest records each shard's recipe, size
and sha256. Finished shards are skipped on the next run, missing, truncated
or corrupted ones (and ones whose recipe changed) are built again, so an
interrupted run resumes.

Determinism and parallelism
---------------------------
A shard's bytes depend only on its recipe (algorithm, length, seeds and
offsets, options), never on the worker count or the order of work. A
stream is one sequential random stream, so a shard that starts inside a
stream needs the sampler's RNG state at its first example. Drawing a
sample's *inputs* takes about a tenth of the time of running the algorithm
and writing the text, so those states are found by a *scan*: one job per
stream draws the inputs up to each needed offset and records the
``RandomState`` state there (nothing is run or formatted). Shard jobs then
start from their recorded states and run in parallel. Shards that start at
the beginning of a stream (all of them with the published configurations
and the default ``shard_size``, one shard per ``(algorithm, length)``) need
no scan at all. Jobs run longest first in a ``ProcessPoolExecutor`` (fork
context on Linux).

Speed
-----
Each shard formats its examples with one
:class:`openclrs.text.format.ExampleFormatter` (what
:func:`openclrs.text.format_example` runs: spec look-ups done once, arrays
written whole). JSON lines are put together with the C string encoder of
:mod:`json`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_string
from types import MappingProxyType
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..data.storage import sha256_of
from ..specs import check_algorithm
from .format import ExampleFormatter, check_float_format

# --------------------------------------------------------------------------
# The published configurations, as data.
# --------------------------------------------------------------------------

#: Training lengths per algorithm (``_DEFAULT_TRAIN_ALGOS_AND_LENGTHS``).
TRAIN_LENGTHS: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "articulation_points": (4, 5, 10, 11, 12, 15, 19),
    "activity_selector": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "bellman_ford": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "bfs": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "binary_search": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "bridges": (4, 5),
    "bubble_sort": (4, 5, 10),
    "dag_shortest_paths": (4, 5, 10, 11, 12, 15, 19),
    "dfs": (4, 5, 10, 11, 12, 15, 19, 23),
    "dijkstra": (4, 5, 10, 11, 12, 15, 19, 23, 28),
    "find_maximum_subarray_kadane": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "floyd_warshall": (4, 5, 10),
    "graham_scan": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "heapsort": (4, 5, 10),
    "insertion_sort": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "jarvis_march": (4, 5, 10, 11, 12),
    "kmp_matcher": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "lcs_length": (4, 5, 10),
    "matrix_chain_order": (4, 5, 10),
    "minimum": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "mst_kruskal": (4, 5, 10),
    "mst_prim": (4, 5, 10, 11, 12, 15, 19, 23, 28),
    "naive_string_matcher": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "optimal_bst": (4, 5, 10),
    "quickselect": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "quicksort": (4, 5, 10),
    "segments_intersect": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "strongly_connected_components": (4, 5, 10, 11, 12, 15),
    "task_scheduling": (4, 5, 10, 11, 12, 15, 19, 23, 28, 31),
    "topological_sort": (4, 5, 10, 11, 12, 15, 19, 23),
})

#: Evaluation lengths: every n from 4 up to (not including) this bound
#: (``_DEFAULT_VAL_ALGOS_AND_LENGTHS``: ``list(range(4, bound))``).
EVAL_LENGTH_BOUNDS: Mapping[str, int] = MappingProxyType({
    "activity_selector": 41,
    "articulation_points": 20,
    "bellman_ford": 33,
    "bfs": 42,
    "binary_search": 65,
    "bridges": 8,
    "bubble_sort": 12,
    "dag_shortest_paths": 20,
    "dfs": 21,
    "dijkstra": 26,
    "find_maximum_subarray_kadane": 65,
    "floyd_warshall": 12,
    "graham_scan": 32,
    "heapsort": 12,
    "insertion_sort": 26,
    "jarvis_march": 14,
    "kmp_matcher": 65,
    "lcs_length": 13,
    "matrix_chain_order": 13,
    "minimum": 65,
    "mst_kruskal": 11,
    "mst_prim": 27,
    "naive_string_matcher": 65,
    "optimal_bst": 11,
    "quickselect": 65,
    "quicksort": 13,
    "segments_intersect": 65,
    "strongly_connected_components": 17,
    "task_scheduling": 42,
    "topological_sort": 22,
})
EVAL_LENGTHS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {algorithm: tuple(range(4, bound)) for algorithm, bound in EVAL_LENGTH_BOUNDS.items()})

DEFAULT_SHARD_SIZE = 10_000
FILE_FORMATS = ("jsonl", "parquet")
#: The record layout; part of every shard's recipe.
RECORD_FORMAT = "openclrs-text/1"
MANIFEST_FORMAT = "openclrs-text-manifest/1"
#: Columns of a record, in order (``text`` only with ``include_text``).
COLUMNS = ("text", "question", "answer", "algo_name", "length", "use_hints", "seed", "index")

_NAME = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass(frozen=True)
class TextSplit:
    """A CLRS-Text dataset recipe: which streams, how many examples each.

    ``lengths`` maps each algorithm to its lengths; every ``(algorithm,
    length, seed)`` stream gives its first ``num_samples`` examples.
    ``truncate_decimals="auto"`` means 3 for the current float format and
    ``None`` for the legacy one. ``sampler_kwargs`` maps an algorithm to its
    sampler options (none in the published configurations).
    """

    name: str
    lengths: Mapping[str, tuple[int, ...]]
    num_samples: int
    seeds: tuple[int, ...]
    use_hints: bool = False
    float_format: str = "current"
    truncate_decimals: int | None | str = "auto"
    sampler_kwargs: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"split name must be letters, digits, '_' or '.', got {self.name!r}")
        if not isinstance(self.lengths, Mapping) or not self.lengths:
            raise ValueError("lengths must map at least one algorithm to its lengths")
        lengths = {}
        for algorithm, ls in self.lengths.items():
            check_algorithm(algorithm)
            if isinstance(ls, (int, np.integer)):
                ls = (ls,)
            ls = tuple(ls)
            if not ls or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                             for n in ls):
                raise ValueError(f"{algorithm}: lengths must be positive integers, got {ls!r}")
            if len(set(ls)) != len(ls):
                raise ValueError(f"{algorithm}: repeated lengths in {ls!r}")
            lengths[algorithm] = tuple(int(n) for n in ls)
        object.__setattr__(self, "lengths", MappingProxyType(lengths))
        if isinstance(self.num_samples, bool) \
                or not isinstance(self.num_samples, (int, np.integer)) or self.num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {self.num_samples!r}")
        object.__setattr__(self, "num_samples", int(self.num_samples))
        seeds = (self.seeds,) if isinstance(self.seeds, (int, np.integer)) else tuple(self.seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                            or not 0 <= s < 2 ** 32 for s in seeds):
            raise ValueError(f"seeds must be integers in [0, 2**32), got {self.seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"repeated seeds in {seeds!r}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))
        object.__setattr__(self, "use_hints", bool(self.use_hints))
        check_float_format(self.float_format)
        if self.truncate_decimals != "auto" and self.truncate_decimals is not None and (
                isinstance(self.truncate_decimals, bool)
                or not isinstance(self.truncate_decimals, int) or self.truncate_decimals < 0):
            raise ValueError("truncate_decimals must be 'auto', None or a non-negative integer, "
                             f"got {self.truncate_decimals!r}")
        from ..samplers import sampler_options

        kwargs = {}
        for algorithm, options in dict(self.sampler_kwargs).items():
            if algorithm not in lengths:
                raise ValueError(f"sampler_kwargs given for {algorithm!r}, which has no lengths")
            unknown = set(options) - set(sampler_options(algorithm))
            if unknown:
                raise ValueError(f"{algorithm} sampler has no option(s) {sorted(unknown)}; its "
                                 f"options are {sorted(sampler_options(algorithm)) or 'none'}")
            kwargs[algorithm] = MappingProxyType(dict(options))
        object.__setattr__(self, "sampler_kwargs", MappingProxyType(kwargs))

    # -- what it holds -----------------------------------------------------

    @property
    def decimals(self) -> int | None:
        """The sampler's ``truncate_decimals``, ``"auto"`` resolved."""
        if self.truncate_decimals == "auto":
            return 3 if self.float_format == "current" else None
        return self.truncate_decimals

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self.lengths)

    def pairs(self) -> list[tuple[str, int]]:
        """``(algorithm, length)`` pairs, in table order."""
        return [(a, n) for a, ls in self.lengths.items() for n in ls]

    def examples_per_pair(self) -> int:
        return self.num_samples * len(self.seeds)

    @property
    def num_examples(self) -> int:
        """Examples in the whole split."""
        return len(self.pairs()) * self.examples_per_pair()

    def counts(self) -> dict[str, int]:
        """Examples per algorithm."""
        return {a: len(ls) * self.examples_per_pair() for a, ls in self.lengths.items()}

    # -- variants ----------------------------------------------------------

    def replace(self, **changes) -> "TextSplit":
        return dataclasses.replace(self, **changes)

    def select(self, algorithms: Iterable[str] | None) -> "TextSplit":
        """The same recipe restricted to ``algorithms`` (``None``: all)."""
        if algorithms is None:
            return self
        if isinstance(algorithms, str):
            algorithms = [algorithms]
        chosen = list(dict.fromkeys(check_algorithm(a) for a in algorithms))
        missing = [a for a in chosen if a not in self.lengths]
        if missing:
            raise ValueError(f"split {self.name!r} has no lengths for {missing}; it covers "
                             f"{', '.join(self.lengths)} (give a custom spec with their lengths)")
        if not chosen:
            raise ValueError("no algorithms selected")
        return self.replace(lengths={a: self.lengths[a] for a in chosen},
                            sampler_kwargs={a: v for a, v in self.sampler_kwargs.items()
                                            if a in chosen})

    def __reduce__(self):  # (mapping proxies do not pickle)
        return _split_from_json, (self.to_json(),)

    def to_json(self) -> dict:
        return {"name": self.name, "lengths": {a: list(ls) for a, ls in self.lengths.items()},
                "num_samples": self.num_samples, "seeds": list(self.seeds),
                "use_hints": self.use_hints, "float_format": self.float_format,
                "truncate_decimals": self.truncate_decimals,
                "sampler_kwargs": {a: dict(v) for a, v in self.sampler_kwargs.items()}}

    @classmethod
    def from_mapping(cls, spec: Mapping) -> "TextSplit":
        """From a dict: ``name`` (default ``"custom"``), ``lengths`` (or the
        published script's ``algos_and_lengths``), ``num_samples`` (or
        ``number_of_samples``), ``seeds`` (or ``seed``), and optionally
        ``use_hints``, ``float_format``, ``truncate_decimals``,
        ``sampler_kwargs``."""
        spec = dict(spec)
        aliases = {"algos_and_lengths": "lengths", "number_of_samples": "num_samples",
                   "seed": "seeds", "num_decimals_in_float": "truncate_decimals"}
        for old, new in aliases.items():
            if old in spec:
                if new in spec:
                    raise ValueError(f"give either {old!r} or {new!r}, not both")
                spec[new] = spec.pop(old)
        spec.setdefault("name", "custom")
        fields_ = {f.name for f in dataclasses.fields(cls)}
        unknown = set(spec) - fields_
        if unknown:
            raise ValueError(f"unknown split field(s) {sorted(unknown)}; known: {sorted(fields_)}")
        missing = {"lengths", "num_samples", "seeds"} - set(spec)
        if missing:
            raise ValueError(f"a custom split needs {sorted(missing)}")
        return cls(**spec)


def _split_from_json(data: dict) -> TextSplit:
    return TextSplit(**data)


TRAIN = TextSplit("train", TRAIN_LENGTHS, num_samples=10_000, seeds=(0,))
EVAL = TextSplit("eval", EVAL_LENGTHS, num_samples=125, seeds=(3, 14, 35, 81, 94))
#: The published splits (``"val"`` is the published name of ``"eval"``).
SPLITS: Mapping[str, TextSplit] = MappingProxyType({"train": TRAIN, "eval": EVAL})
SPLIT_ALIASES: Mapping[str, str] = MappingProxyType({"val": "eval", "valid": "eval",
                                                     "validation": "eval"})


def get_split(split: str | TextSplit | Mapping) -> TextSplit:
    """A :class:`TextSplit` from a published split's name, a dict or itself."""
    if isinstance(split, TextSplit):
        return split
    if isinstance(split, str):
        name = SPLIT_ALIASES.get(split, split)
        if name not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use 'train' or 'eval' (published 'val'), "
                             "or pass a custom spec (a TextSplit or a dict)")
        return SPLITS[name]
    if isinstance(split, Mapping):
        return TextSplit.from_mapping(split)
    raise TypeError(f"split must be 'train', 'eval', a TextSplit or a dict, got {type(split)}")


# --------------------------------------------------------------------------
# Shards: which examples go in which file.
# --------------------------------------------------------------------------

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

    def cost(self) -> float:
        # Roughly: most traces have O(n) steps over O(n) state.
        return self.num_examples * self.length ** 2


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


# --------------------------------------------------------------------------
# Building shards (in worker processes).
# --------------------------------------------------------------------------

_report = None  # progress callback: in a worker, a queue's put; in-process, the bar


def _init_worker(queue):
    global _report
    _report = queue.put


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


def _scan_job(args):
    split, algorithm, length, seed, offsets = args
    return (algorithm, length, seed), scan_states(split, algorithm, length, seed, offsets)


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


def _jsonl_line(question, answer, algorithm, length, use_hints, seed, index,
                include_text) -> str:
    """``json.dumps(record, separators=(",", ":")) + "\\n"``, assembled."""
    head = '{"text":' + _json_string(question + answer) + "," if include_text else "{"
    return (head + '"question":' + _json_string(question) + ',"answer":' + _json_string(answer)
            + ',"algo_name":' + _json_string(algorithm) + ',"length":' + str(length)
            + ',"use_hints":' + ("true" if use_hints else "false") + ',"seed":' + str(seed)
            + ',"index":' + str(index) + "}\n")


_REPORT_EVERY = 200


def build_shard(shard: Shard, out_dir: str, states: Mapping | None = None) -> dict:
    """Write one shard (atomically); returns its manifest entry."""
    path = os.path.join(out_dir, shard.file)
    tmp = _temp_name(out_dir, shard.file)
    s = shard.split
    records = iter_records(shard, states)
    pending = 0
    try:
        if shard.file_format == "jsonl":
            digest = hashlib.sha256()
            size = 0
            with open(tmp, "wb") as f:
                chunk = []
                for question, answer, seed, index in records:
                    chunk.append(_jsonl_line(question, answer, shard.algorithm, shard.length,
                                             s.use_hints, seed, index, shard.include_text))
                    pending += 1
                    if pending >= _REPORT_EVERY:
                        data = "".join(chunk).encode("ascii")
                        f.write(data)
                        digest.update(data)
                        size += len(data)
                        chunk = []
                        if _report is not None:
                            _report(pending)
                        pending = 0
                data = "".join(chunk).encode("ascii")
                f.write(data)
                digest.update(data)
                size += len(data)
                f.flush()
                os.fsync(f.fileno())
            sha256 = digest.hexdigest()
        elif shard.file_format == "parquet":
            columns = {name: [] for name in COLUMNS}
            for question, answer, seed, index in records:
                columns["text"].append(question + answer)
                columns["question"].append(question)
                columns["answer"].append(answer)
                columns["seed"].append(seed)
                columns["index"].append(index)
                pending += 1
                if pending >= _REPORT_EVERY:
                    if _report is not None:
                        _report(pending)
                    pending = 0
            n = len(columns["index"])
            columns["algo_name"] = [shard.algorithm] * n
            columns["length"] = [shard.length] * n
            columns["use_hints"] = [s.use_hints] * n
            if not shard.include_text:
                del columns["text"]
            _write_parquet(tmp, columns)
            size, sha256 = os.path.getsize(tmp), sha256_of(tmp)
        else:
            raise ValueError(f"unknown file format {shard.file_format!r}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if pending and _report is not None:
        _report(pending)
    return {"file": shard.file, **shard.recipe(), "num_examples": shard.num_examples,
            "bytes": size, "sha256": sha256}


def _build_job(args):
    return build_shard(*args)


def _parquet_modules():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ImportError("format='parquet' needs pyarrow (pip install pyarrow); "
                          "format='jsonl' needs nothing") from None
    return pyarrow, pyarrow.parquet


def _write_parquet(path: str, columns: dict) -> None:
    pa, pq = _parquet_modules()
    types = {"text": pa.string(), "question": pa.string(), "answer": pa.string(),
             "algo_name": pa.string(), "length": pa.int32(), "use_hints": pa.bool_(),
             "seed": pa.int64(), "index": pa.int64()}
    schema = pa.schema([(name, types[name]) for name in COLUMNS if name in columns])
    table = pa.table({name: columns[name] for name in schema.names}, schema=schema)
    pq.write_table(table, path)


# --------------------------------------------------------------------------
# Files, manifest.
# --------------------------------------------------------------------------

def _temp_name(out_dir: str, file: str) -> str:
    return os.path.join(out_dir, f".{file}.{os.getpid()}.tmp")



def manifest_path(out_dir: str, split: str) -> str:
    return os.path.join(out_dir, f"manifest-{split}.json")


def _split_name(split) -> str:
    if isinstance(split, str):
        return SPLIT_ALIASES.get(split, split)
    return get_split(split).name


def read_manifest(out_dir: str, split: str | TextSplit = "train") -> dict:
    """The manifest of ``split`` (a name or a :class:`TextSplit`) in
    ``out_dir``; empty if there is none."""
    name = _split_name(split)
    path = manifest_path(out_dir, name)
    if not os.path.exists(path):
        return {"format": MANIFEST_FORMAT, "split": name, "shards": {}}
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not an openclrs CLRS-Text manifest")
    return manifest


def write_manifest(out_dir: str, manifest: dict) -> None:
    """Atomically; sorted, with no timings, so it is reproducible."""
    shards = dict(sorted(manifest["shards"].items()))
    stable = {"format": MANIFEST_FORMAT, "split": manifest["split"],
              "num_examples": sum(e["num_examples"] for e in shards.values()),
              "shards": shards}
    path = manifest_path(out_dir, manifest["split"])
    tmp = path + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(stable, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def shard_is_intact(out_dir: str, entry: dict, verify: bool = True) -> bool:
    path = os.path.join(out_dir, entry["file"])
    if not os.path.isfile(path) or os.path.getsize(path) != entry["bytes"]:
        return False
    return not verify or sha256_of(path) == entry["sha256"]


def data_files(out_dir: str, split: str = "train", algorithms=None) -> list[str]:
    """Paths of a generated split's shards (from its manifest), in order:
    ``datasets.load_dataset("json", data_files=data_files(out, "train"))``."""
    manifest = read_manifest(out_dir, split)
    chosen = None if algorithms is None else {check_algorithm(a) for a in (
        [algorithms] if isinstance(algorithms, str) else algorithms)}
    entries = sorted(manifest["shards"].values(),
                     key=lambda e: (e["algorithm"], e["length"], e["shard"]))
    return [os.path.join(out_dir, e["file"]) for e in entries
            if chosen is None or e["algorithm"] in chosen]


def read_jsonl(paths: str | Sequence[str]) -> Iterator[dict]:
    """Records of JSONL shards, in order (plain :mod:`json`, no extra packages)."""
    for path in [paths] if isinstance(paths, str) else paths:
        with open(path) as f:
            for line in f:
                yield json.loads(line)


# --------------------------------------------------------------------------
# The driver.
# --------------------------------------------------------------------------

def generate_text_dataset(out_dir: str, split: str | TextSplit | Mapping = "train",
                          algorithms: Iterable[str] | None = None, format: str = "jsonl",
                          shard_size: int = DEFAULT_SHARD_SIZE, workers: int | None = None,
                          progress: bool = True, use_hints: bool | None = None,
                          float_format: str | None = None, include_text: bool = True,
                          verify: bool = True, log=sys.stderr) -> dict:
    """Write a CLRS-Text split as sharded JSONL (or Parquet) files.

    ``split``: ``"train"`` (2,150,000 examples), ``"eval"`` (514,375; alias
    ``"val"``), or a custom :class:`TextSplit` / dict (see
    :meth:`TextSplit.from_mapping`). ``algorithms`` restricts it;
    ``use_hints`` and ``float_format`` (``"current"`` or ``"legacy"``)
    override the split's. ``workers``: processes (default: all cores; 1
    works in-process). ``verify``: check finished shards' sha256 (else only
    their size) before skipping them. ``include_text=False`` leaves out the
    ``text`` column (``question + answer``), halving the size.

    Returns the manifest: ``{"split", "num_examples", "shards": {file:
    entry}}``, each entry with the shard's recipe, ``num_examples``,
    ``bytes`` and ``sha256``.
    """
    spec = get_split(split).select(algorithms)
    changes = {}
    if use_hints is not None:
        changes["use_hints"] = bool(use_hints)
    if float_format is not None:
        changes["float_format"] = check_float_format(float_format)
    if changes:
        spec = spec.replace(**changes)
    if format not in FILE_FORMATS:
        raise ValueError(f"format must be one of {FILE_FORMATS}, got {format!r}")
    if format == "parquet":
        _parquet_modules()  # fail before any work
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    shards = plan_shards(spec, shard_size, format, include_text)
    _preflight(spec)
    os.makedirs(out_dir, exist_ok=True)

    manifest = read_manifest(out_dir, spec.name)
    planned = {s.file for s in shards}
    # Shards this run replaces (same algorithms, other lengths or shard
    # size) would mix into a glob of the split: remove them.
    for file, entry in list(manifest["shards"].items()):
        if entry["algorithm"] in spec.lengths and file not in planned:
            print(f"openclrs: removing {file} (not part of this {spec.name} split)", file=log)
            if os.path.exists(os.path.join(out_dir, file)):
                os.remove(os.path.join(out_dir, file))
            del manifest["shards"][file]
    todo = []
    for shard in shards:
        entry = manifest["shards"].get(shard.file)
        if entry is not None and all(entry.get(k) == v for k, v in shard.recipe().items()) \
                and shard_is_intact(out_dir, entry, verify):
            continue
        if entry is not None:
            if os.path.exists(os.path.join(out_dir, shard.file)):
                print(f"openclrs: {shard.file} is corrupted, truncated or stale; rebuilding it",
                      file=log)
            del manifest["shards"][shard.file]
        todo.append(shard)
    todo_files = {s.file for s in todo}
    for name in os.listdir(out_dir):  # temporary files of an interrupted run
        if name.startswith(".") and name.endswith(".tmp") \
                and name[1:].rsplit(".", 2)[0] in todo_files:
            os.remove(os.path.join(out_dir, name))
    write_manifest(out_dir, manifest)
    if not todo:
        return read_manifest(out_dir, spec.name)

    todo.sort(key=Shard.cost, reverse=True)  # longest first: no straggler at the end
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = _progress(sum(s.num_examples for s in todo), progress, log, spec.name)
    recorder = _Recorder(out_dir, manifest, bar)
    try:
        if workers == 1:
            _run_serial(todo, out_dir, recorder, bar)
        else:
            _run_parallel(todo, out_dir, recorder, bar, workers)
    finally:
        recorder.flush()
        bar.close()
    return read_manifest(out_dir, spec.name)


def _preflight(spec: TextSplit) -> None:
    """Fail before any work on a length an algorithm's sampler refuses."""
    for algorithm, length in spec.pairs():
        try:
            _sampler(spec, algorithm, length, spec.seeds[0]).draw_inputs()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"cannot sample {algorithm} at length {length}: {e}") from None


class _Recorder:
    """Adds finished shards to the manifest, rewriting it at most once a second."""

    def __init__(self, out_dir, manifest, bar):
        self.out_dir, self.manifest, self.bar = out_dir, manifest, bar
        self.last = time.monotonic()
        self.dirty = False

    def add(self, entry):
        self.manifest["shards"][entry["file"]] = entry
        self.dirty = True
        self.bar.set_postfix_str(entry["file"], refresh=False)
        if time.monotonic() - self.last > 1.0:
            self.flush()

    def flush(self):
        if self.dirty:
            write_manifest(self.out_dir, self.manifest)
            self.dirty = False
        self.last = time.monotonic()


def _needed_scans(todo: list[Shard]) -> dict[tuple, set]:
    """Offsets inside streams where some shard starts: ``{(algorithm,
    length, seed): offsets}``."""
    scans: dict[tuple, set] = {}
    for shard in todo:
        for seed, start, _ in shard.segments:
            if start:
                scans.setdefault((shard.algorithm, shard.length, seed), set()).add(start)
    return scans


def _ready(shard: Shard, states: dict) -> bool:
    return all(not start or (shard.algorithm, shard.length, seed, start) in states
               for seed, start, _ in shard.segments)


def _run_serial(todo, out_dir, recorder, bar):
    global _report
    split_of = {(s.algorithm, s.length): s.split for s in todo}
    states = {}
    for (algorithm, length, seed), offsets in sorted(_needed_scans(todo).items()):
        found = scan_states(split_of[algorithm, length], algorithm, length, seed, offsets)
        states.update({(algorithm, length, seed, k): v for k, v in found.items()})
    _report = bar.update
    try:
        for shard in todo:
            recorder.add(build_shard(shard, out_dir, states))
    finally:
        _report = None


def _run_parallel(todo, out_dir, recorder, bar, workers):
    import multiprocessing
    import queue as queue_module
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    progress_queue = context.Queue()
    split_of = {(s.algorithm, s.length): s.split for s in todo}
    scans = _needed_scans(todo)
    states: dict = {}
    waiting = [s for s in todo if not _ready(s, states)]
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(progress_queue,))
    kinds = {}
    try:
        # Scans first (they are short), then the shards that need none.
        for (algorithm, length, seed), offsets in sorted(scans.items()):
            future = pool.submit(_scan_job, (split_of[algorithm, length], algorithm, length,
                                             seed, sorted(offsets)))
            kinds[future] = "scan"
        for shard in todo:
            if _ready(shard, states):
                kinds[pool.submit(_build_job, (shard, out_dir, None))] = "shard"
        pending = set(kinds)

        def drain():
            while True:
                try:
                    bar.update(progress_queue.get_nowait())
                except queue_module.Empty:
                    return

        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                result = future.result()
                if kinds.pop(future) == "shard":
                    recorder.add(result)
                    continue
                (algorithm, length, seed), found = result
                for offset, state in found.items():
                    states[algorithm, length, seed, offset] = state
                still = []
                for shard in waiting:
                    if _ready(shard, states):
                        mine = {k: v for k, v in states.items()
                                if k[:2] == (shard.algorithm, shard.length)}
                        future = pool.submit(_build_job, (shard, out_dir, mine))
                        kinds[future] = "shard"
                        pending.add(future)
                    else:
                        still.append(shard)
                waiting = still
        bar.update(bar.total - bar.n)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        progress_queue.close()


def _progress(total, enabled, log, name):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="ex", unit_scale=True, disable=not enabled, file=log,
                desc=f"CLRS-Text {name}", dynamic_ncols=True, smoothing=0.05)


def summary(split: str | TextSplit | Mapping = "train", algorithms=None) -> str:
    """A table of a split's configuration: lengths and examples per algorithm."""
    spec = get_split(split).select(algorithms)
    rows = [f"{'algorithm':<30} {'examples':>10}  lengths"]
    for algorithm, lengths in spec.lengths.items():
        ls = list(lengths)
        text = f"{ls[0]}..{ls[-1]}" if len(ls) > 3 and ls == list(range(ls[0], ls[-1] + 1)) \
            else ", ".join(map(str, ls))
        rows.append(f"{algorithm:<30} {spec.counts()[algorithm]:>10,}  {text}")
    rows.append(f"{spec.name}: {len(spec.pairs())} (algorithm, length) pairs x "
                f"{spec.num_samples:,} examples x {len(spec.seeds)} seed(s) "
                f"{list(spec.seeds)} = {spec.num_examples:,} examples; "
                f"hints {'on' if spec.use_hints else 'off'}, {spec.float_format} floats, "
                f"truncate_decimals={spec.decimals}")
    return "\n".join(rows)


__all__ = ["TRAIN_LENGTHS", "EVAL_LENGTHS", "EVAL_LENGTH_BOUNDS", "TRAIN", "EVAL", "SPLITS",
           "TextSplit", "Shard", "ExampleFormatter", "COLUMNS", "DEFAULT_SHARD_SIZE",
           "generate_text_dataset", "get_split", "plan_shards", "build_shard", "scan_states",
           "iter_records", "read_manifest", "data_files", "read_jsonl", "shard_is_intact",
           "summary"]
