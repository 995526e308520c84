"""CLRS-Text splits: the published train and eval configurations, as data,
and :class:`TextSplit`, the recipe of any split (which streams, how many
examples each).

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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

from ..data.build import check_name
from ..specs import check_algorithm
from .format import check_float_format

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
        check_name(self.name, "split name")
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
        from ..samplers import check_sampler_arguments

        kwargs = {}
        for algorithm, options in dict(self.sampler_kwargs).items():
            if algorithm not in lengths:
                raise ValueError(f"sampler_kwargs given for {algorithm!r}, which has no lengths")
            check_sampler_arguments(algorithm, min(lengths[algorithm]), **options)
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


def split_name(split) -> str:
    """The name of a split given by name (aliases resolved) or by recipe."""
    if isinstance(split, str):
        return check_name(SPLIT_ALIASES.get(split, split), "split name")
    return get_split(split).name


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


__all__ = ["TRAIN_LENGTHS", "EVAL_LENGTH_BOUNDS", "EVAL_LENGTHS", "TextSplit", "TRAIN", "EVAL",
           "SPLITS", "SPLIT_ALIASES", "get_split", "split_name", "summary"]
