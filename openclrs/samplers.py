"""Input distributions of the CLRS benchmark, on the published random stream.

Every algorithm draws its inputs from a ``numpy.random.RandomState``, making
exactly the calls the published ``dm-clrs`` samplers make, in the same order.
So ``sample(algo, length, seed, num_samples)`` returns the published
sampler's samples, one for one, and the canonical splits are the published
ones. (``RandomState`` is numpy's frozen legacy stream: it gives the same
numbers on every numpy version and machine.)

The input drawers below are small functions ``draw(rng, length, **kwargs)``
that return the algorithm's positional arguments; their keyword arguments
are the sampler options users can set (``p``, ``low``, ``length_needle``...).

Before anything is drawn, every argument is checked once, by one check per
option (:func:`check_sampler_arguments`), and the memory one sample needs is
estimated from the spec (:mod:`openclrs.footprint`): bad values and sizes
that cannot fit fail at once with a message naming what to change, the same
from ``Sampler``, ``sample``, ``sample_split`` and the command line.
"""

from __future__ import annotations

import inspect
from typing import Callable, Iterator

import numpy as np

from .algorithms import ALGORITHMS
from .footprint import (SampleTooLarge, available_memory, check_fits,  # noqa: F401 (API)
                        estimate_peak_bytes, estimate_sample_bytes, estimate_steps)
from .probes import Trace
from .specs import CLRS30, check_algorithm, split_size

Rng = np.random.RandomState


# --------------------------------------------------------------------------
# Building blocks, each consuming the stream as the published sampler does.
# --------------------------------------------------------------------------

def _sequence(rng: Rng, length: int, low: float = 0.0, high: float = 1.0):
    return rng.uniform(low=low, high=high, size=(length,))


def _string(rng: Rng, length: int, chars: int = 4):
    return rng.randint(0, high=chars, size=(length,))


def _er_graph(rng: Rng, n: int, p: float, directed: bool = False,
              acyclic: bool = False, weighted: bool = False,
              low: float = 0.0, high: float = 1.0):
    """Erdos-Renyi graph; undirected graphs keep an edge only if both coin
    flips agree, DAGs are an upper triangle under a random relabelling."""
    mat = rng.binomial(1, p, size=(n, n))
    if not directed:
        mat = mat * mat.T
    elif acyclic:
        mat = np.triu(mat, k=1)
        perm = rng.permutation(n)
        mat = mat[perm, :][:, perm]
    if weighted:
        weights = rng.uniform(low=low, high=high, size=(n, n))
        if not directed:
            weights = np.sqrt(weights * weights.T + 1e-3)
        mat = mat.astype(float) * weights
    return mat


def _community_graph(rng: Rng, n: int, k: int, p: float, eps: float):
    """``k`` dense directed ER communities joined by a few (``eps``) edges
    that only point from earlier to later communities, relabelled at random."""
    if k > n:
        raise ValueError(f"cannot split {n} nodes into k={k} communities; "
                         f"use length >= {k} or a smaller k")
    mat = np.zeros((n, n))
    bounds = []
    lo = 0
    for c in range(k):
        hi = n if c == k - 1 else lo + n // k
        mat[lo:hi, lo:hi] = _er_graph(rng, hi - lo, p, directed=True)
        bounds.append((lo, hi))
        lo = hi
    toggle = _er_graph(rng, n, eps, directed=True).astype(float)
    for c, (lo_c, hi_c) in enumerate(bounds):
        for lo_d, hi_d in bounds[:c]:
            toggle[lo_c:hi_c, lo_d:hi_d] = 0
    mat = np.where(toggle > 0.0, (1.0 - (mat > 0.0)) * toggle, mat)
    perm = rng.permutation(n)
    return mat[perm, :][:, perm]


def _pick(rng: Rng, p):
    """One edge probability from the allowed choices (a bare float is one choice)."""
    return rng.choice(np.atleast_1d(p))


def _split_length(length: int, length_2):
    """``length`` is the total when ``length_2`` is not given."""
    if length_2 is None:
        length_2 = length // 2
        length -= length_2
    return length, length_2


def _ccw(xa, ya, xb, yb, xc, yc):
    return (yc - ya) * (xb - xa) > (yb - ya) * (xc - xa)


def _segments_cross(xs, ys) -> bool:
    # Collinearity is ignored: this only steers rejection sampling.
    return (_ccw(xs[0], ys[0], xs[2], ys[2], xs[3], ys[3])
            != _ccw(xs[1], ys[1], xs[2], ys[2], xs[3], ys[3])
            and _ccw(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2])
            != _ccw(xs[0], ys[0], xs[1], ys[1], xs[3], ys[3]))


def _has_collinear_triple(xs: np.ndarray, ys: np.ndarray, eps: float) -> bool:
    """Whether any three points have ``|cross(p2 - p1, p3 - p1)| < eps``.

    Vectorised over all triples ``i < j < k`` (in blocks for large inputs);
    the arithmetic is the element-wise one of the scalar test, so the
    decision is bit-identical to checking the triples one by one.
    """
    for i, j, k in _triples(len(xs)):
        v1x, v1y = xs[j] - xs[i], ys[j] - ys[i]
        v2x, v2y = xs[k] - xs[i], ys[k] - ys[i]
        if (np.abs(v1x * v2y - v1y * v2x) < eps).any():
            return True
    return False


_TRIPLES: dict[int, list] = {}


def _triples(n: int, block: int = 1 << 16):
    """Index arrays ``(i, j, k)`` of all triples ``i < j < k < n``, in blocks
    of about ``block`` triples; cached for small ``n`` (up to 128 points)."""
    if n in _TRIPLES:
        return _TRIPLES[n]
    blocks = _triple_blocks(n, block)
    if n > 128:
        return blocks
    _TRIPLES[n] = list(blocks)
    return _TRIPLES[n]


def _triple_blocks(n: int, block: int):
    pending = []
    for i in range(n - 2):
        j, k = np.triu_indices(n - i - 1, k=1)
        pending.append((np.full(len(j), i), j + i + 1, k + i + 1))
        if sum(len(p[0]) for p in pending) >= block or i == n - 3:
            yield tuple(np.concatenate(a) for a in zip(*pending))
            pending = []


def truncate(value, decimals):
    """Truncate (toward zero) float inputs to ``decimals`` decimals, as the
    published sampler does; integer inputs pass through."""
    if not decimals:
        return value
    scale = 10 ** decimals
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating):
            return np.trunc(value * scale) / scale
        return value
    if isinstance(value, float):
        return float(np.trunc(value * scale) / scale)
    return value


# --------------------------------------------------------------------------
# Input drawers, one per published sampler class.
# --------------------------------------------------------------------------

def draw_sorting(rng, length, low=0.0, high=1.0, *, decimals=None):
    return [_sequence(rng, length, low, high)]


def draw_search(rng, length, low=0.0, high=1.0, *, decimals=None):
    arr = np.sort(_sequence(rng, length, low, high), kind="stable")
    x = rng.uniform(low=low, high=high)
    return [x, arr]


def draw_max_subarray(rng, length, low=-1.0, high=1.0, *, decimals=None):
    return [_sequence(rng, length, low, high)]


def draw_lcs(rng, length, length_2=None, chars=4, *, decimals=None):
    length, length_2 = _split_length(length, length_2)
    a = _string(rng, length, chars)
    b = _string(rng, length_2, chars)
    return [a, b]


def draw_optimal_bst(rng, length, *, decimals=None):
    arr = _sequence(rng, 2 * length + 1)
    arr /= np.sum(arr)
    return [arr[:length], arr[length:]]


def draw_activity(rng, length, low=0.0, high=1.0, *, decimals=None):
    a = _sequence(rng, length, low, high)
    b = _sequence(rng, length, low, high)
    return [np.minimum(a, b), np.maximum(a, b)]


def draw_task(rng, length, max_deadline=None, low=0.0, high=1.0, *, decimals=None):
    if max_deadline is None:
        max_deadline = length
    d = _string(rng, length, max_deadline) + 1
    w = _sequence(rng, length, low, high)
    return [d, w]


def draw_dfs(rng, length, p=(0.5,), *, decimals=None):
    return [_er_graph(rng, length, _pick(rng, p), directed=True)]


def draw_bfs(rng, length, p=(0.5,), *, decimals=None):
    graph = _er_graph(rng, length, _pick(rng, p))
    return [graph, rng.choice(length)]


def draw_topo(rng, length, p=(0.5,), *, decimals=None):
    return [_er_graph(rng, length, _pick(rng, p), directed=True, acyclic=True)]


def draw_articulation(rng, length, p=(0.2,), *, decimals=None):
    return [_er_graph(rng, length, _pick(rng, p))]


def draw_mst(rng, length, p=(0.2,), low=0.0, high=1.0, *, decimals=None):
    return [_er_graph(rng, length, _pick(rng, p), weighted=True, low=low, high=high)]


def draw_weighted_source(rng, length, p=(0.5,), low=0.0, high=1.0, *, decimals=None):
    graph = _er_graph(rng, length, _pick(rng, p), weighted=True, low=low, high=high)
    return [graph, rng.choice(length)]


def draw_dag_path(rng, length, p=(0.5,), low=0.0, high=1.0, *, decimals=None):
    graph = _er_graph(rng, length, _pick(rng, p), directed=True, acyclic=True,
                      weighted=True, low=low, high=high)
    return [graph, rng.choice(length)]


def draw_floyd_warshall(rng, length, p=(0.5,), low=0.0, high=1.0, *, decimals=None):
    return [_er_graph(rng, length, _pick(rng, p), weighted=True, low=low, high=high)]


def draw_scc(rng, length, k=4, p=(0.5,), eps=0.01, *, decimals=None):
    return [_community_graph(rng, length, k, _pick(rng, p), eps)]


def draw_bipartite(rng, length, length_2=None, p=(0.3,), *, decimals=None):
    n, m = _split_length(length, length_2)
    prob = _pick(rng, p)
    graph = np.zeros((n + m + 2, n + m + 2))
    graph[0, 1:n + 1] = 1.0  # super-source
    graph[n + 1:n + m + 1, n + m + 1] = 1.0  # super-sink
    graph[1:n + 1, n + 1:n + m + 1] = rng.binomial(1, prob, size=(n, m))
    return [graph, n, m, 0, n + m + 1]


def draw_matcher(rng, length, length_needle=None, chars=4, *, decimals=None):
    """A random haystack with the needle planted at a random offset;
    ``length`` counts haystack and needle together."""
    if length_needle is None:
        length_needle = 1 if length < 5 else length // 5
    elif length_needle < 0:  # a random needle length in [1, -length_needle]
        length_needle = rng.randint(1, high=1 - length_needle)
    length_haystack = length - length_needle
    if length_haystack <= length_needle:
        raise ValueError(
            f"string matching needs a haystack longer than its needle, but "
            f"length={length} with a needle of {length_needle} leaves a haystack "
            f"of {length_haystack}; use a larger length or a shorter needle")
    needle = _string(rng, length_needle, chars)
    haystack = _string(rng, length_haystack, chars)
    start = rng.choice(length_haystack - length_needle)
    haystack[start:start + length_needle] = needle
    return [haystack, needle]


def draw_segments(rng, length, low=0.0, high=1.0, *, decimals=None):
    """Two segments (four endpoints, whatever ``length``), crossing with
    probability 1/2 by rejection sampling."""
    want_cross = rng.binomial(1, 0.5)
    while True:
        xs = _sequence(rng, 4, low, high)
        ys = _sequence(rng, 4, low, high)
        # Python floats: the same IEEE arithmetic, without numpy-scalar overhead.
        if _segments_cross(xs.tolist(), ys.tolist()) == want_cross:
            return [xs, ys]


def draw_convex_hull(rng, length, origin_x=0.0, origin_y=0.0, radius=2.0,
                     collinearity_resampling_attempts=1000,
                     collineararity_eps=1e-12, *, decimals=None):
    """Points uniform on a disk, redrawn while any three are (nearly)
    collinear after truncation, since collinear points admit several valid
    hull traces. (``collineararity_eps`` keeps the published spelling.)"""
    for _ in range(collinearity_resampling_attempts):
        thetas = _sequence(rng, length, 0.0, 2.0 * np.pi)
        rs = radius * np.sqrt(_sequence(rng, length, 0.0, 1.0))
        xs = truncate(rs * np.cos(thetas) + origin_x, decimals)
        ys = truncate(rs * np.sin(thetas) + origin_y, decimals)
        if not _has_collinear_triple(xs, ys, collineararity_eps):
            return [xs, ys]
    # The options decide whether this can happen (few attempts, a wide eps,
    # few decimals): the user's to change, so a ValueError.
    raise ValueError(f"could not sample {length} points without collinear triples "
                     f"in {collinearity_resampling_attempts} attempts")


DRAWERS: dict[str, Callable] = {
    "insertion_sort": draw_sorting,
    "bubble_sort": draw_sorting,
    "heapsort": draw_sorting,
    "quicksort": draw_sorting,
    "quickselect": draw_sorting,
    "minimum": draw_sorting,
    "binary_search": draw_search,
    "find_maximum_subarray": draw_max_subarray,
    "find_maximum_subarray_kadane": draw_max_subarray,
    "matrix_chain_order": draw_sorting,
    "lcs_length": draw_lcs,
    "optimal_bst": draw_optimal_bst,
    "activity_selector": draw_activity,
    "task_scheduling": draw_task,
    "dfs": draw_dfs,
    "topological_sort": draw_topo,
    "strongly_connected_components": draw_scc,
    "articulation_points": draw_articulation,
    "bridges": draw_articulation,
    "bfs": draw_bfs,
    "mst_kruskal": draw_mst,
    "mst_prim": draw_weighted_source,
    "bellman_ford": draw_weighted_source,
    "dag_shortest_paths": draw_dag_path,
    "dijkstra": draw_weighted_source,
    "floyd_warshall": draw_floyd_warshall,
    "bipartite_matching": draw_bipartite,
    "naive_string_matcher": draw_matcher,
    "kmp_matcher": draw_matcher,
    "segments_intersect": draw_segments,
    "graham_scan": draw_convex_hull,
    "jarvis_march": draw_convex_hull,
}

def sampler_options(algorithm: str) -> dict[str, object]:
    """The keyword options of an algorithm's sampler, with their defaults."""
    params = inspect.signature(DRAWERS[check_algorithm(algorithm)]).parameters
    return {k: v.default for k, v in list(params.items())[2:] if k != "decimals"}


# --------------------------------------------------------------------------
# Checking what a sampler is asked for, once, before anything is drawn.
# Sampler, sample, sample_split and the command line all come through
# check_sampler_arguments, so a bad value gets the same message everywhere
# and fails up front, not at the first draw that happens to use it.
# --------------------------------------------------------------------------

# Truncation keeps at most this many decimals. float64 guarantees 15
# significant decimal digits (C's DBL_DIG), so cutting more decimals than
# that cuts nothing a float64 can promise to hold; it only adds the rounding
# of scaling by 10**decimals (and 10**309 overflows outright).
MAX_DECIMALS = 15

# Characters of the string algorithms: their key probes one-hot encode 4.
MAX_CHARS = 4


def _integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def check_length(length) -> int:
    """``length``: a positive integer (the problem size)."""
    if not _integer(length) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    return int(length)


def check_seed(seed) -> None:
    """``seed``: ``None`` (fresh entropy) or an integer in ``[0, 2**32)``,
    what ``numpy.random.RandomState`` accepts as one number."""
    if seed is not None and (not _integer(seed) or not 0 <= seed < 2 ** 32):
        raise ValueError(f"seed must be None or an integer in [0, 2**32), got {seed!r}")


def check_num_samples(num_samples) -> int:
    """``num_samples``: a positive integer (asking for none is a mistake)."""
    if not _integer(num_samples) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    return int(num_samples)


def check_truncate_decimals(decimals) -> None:
    """``truncate_decimals``: ``None`` or an integer in ``[0, MAX_DECIMALS]``.
    0, like ``None``, truncates nothing (as published)."""
    if decimals is None:
        return
    if not _integer(decimals) or not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(
            f"truncate_decimals must be None or an integer in [0, {MAX_DECIMALS}] "
            f"(float64 holds about {MAX_DECIMALS} significant decimals), got {decimals!r}")


def _finite(name, value):
    if not _real(value) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _probability(name, value):
    if not _real(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _edge_probabilities(name, value):
    """A probability, or a non-empty sequence of them to draw one from per
    sample: all of them are checked, not only the ones a seed happens to draw."""
    choices = list(value) if isinstance(value, (tuple, list, np.ndarray)) else [value]
    if not choices:
        raise ValueError(f"{name} must be a probability or a non-empty sequence of "
                         f"probabilities, got {value!r}")
    for choice in choices:
        if not _real(choice) or not 0.0 <= choice <= 1.0:
            raise ValueError(f"{name} must hold probabilities in [0, 1], got {value!r}")


def _positive_integer(name, value):
    if not _integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _optional_positive_integer(name, value):
    if value is not None:
        _positive_integer(name, value)


def _needle_length(name, value):
    if value is not None and (not _integer(value) or value == 0):
        raise ValueError(f"{name} must be None (a fifth of length), a positive integer, or "
                         f"a negative one -k for a random length in [1, k]; got {value!r}")


def _alphabet(name, value):
    if not _integer(value) or not 1 <= value <= MAX_CHARS:
        raise ValueError(f"{name} must be an integer in [1, {MAX_CHARS}] (the string "
                         f"algorithms one-hot encode {MAX_CHARS} characters), got {value!r}")


def _non_negative(name, value):
    if not _real(value) or not 0.0 <= value < np.inf:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")


def _positive(name, value):
    if not _real(value) or not 0.0 < value < np.inf:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")


# One check per option name: an option means the same thing in every sampler.
_OPTION_CHECKS: dict[str, Callable] = {
    "p": _edge_probabilities,
    "low": _finite,
    "high": _finite,
    "chars": _alphabet,
    "length_2": _optional_positive_integer,
    "length_needle": _needle_length,
    "max_deadline": _optional_positive_integer,
    "k": _positive_integer,
    "eps": _probability,
    "origin_x": _finite,
    "origin_y": _finite,
    "radius": _positive,
    "collinearity_resampling_attempts": _positive_integer,
    "collineararity_eps": _non_negative,
}

# Where an algorithm accepts less than its sampler's option allows.
_ALGORITHM_LIMITS = {
    # matrix dimensions are drawn uniform in [low, high): none may be negative
    ("matrix_chain_order", "low"): (_non_negative, "matrix dimensions cannot be negative"),
}


def _needle_bound(length: int, length_needle) -> int:
    """The longest needle the matcher sampler may draw."""
    if length_needle is None:
        return 1 if length < 5 else length // 5
    return -length_needle if length_needle < 0 else length_needle


# Lengths an algorithm's sampler cannot serve, whatever the seed: a message,
# or None when the length is fine (options merged with their defaults).
_LENGTH_RULES: dict[str, Callable[[int, dict], str | None]] = {
    "quicksort": lambda n, o: "quicksort needs 2 keys or more" if n < 2 else None,
    "find_maximum_subarray": lambda n, o: (
        "find_maximum_subarray needs 2 keys or more" if n < 2 else None),
    "lcs_length": lambda n, o: (
        "lcs_length splits length into two strings of 1 character or more"
        if o["length_2"] is None and n < 2 else None),
    "strongly_connected_components": lambda n, o: (
        f"strongly_connected_components splits the nodes into k={o['k']} communities; "
        f"use length >= {o['k']} or a smaller k" if n < o["k"] else None),
    **{matcher: lambda n, o: (
        f"string matching needs a haystack longer than its needle, but length={n} with "
        f"a needle of up to {_needle_bound(n, o['length_needle'])} can leave a haystack "
        f"of {n - _needle_bound(n, o['length_needle'])}; use a larger length or a "
        f"shorter needle"
        if n - _needle_bound(n, o["length_needle"]) <= _needle_bound(n, o["length_needle"])
        else None) for matcher in ("naive_string_matcher", "kmp_matcher")},
}


class UnknownOption(TypeError, ValueError):
    """A sampler option the algorithm's sampler does not have: a TypeError,
    as Python raises for an unexpected keyword, and a ValueError, as every
    other bad argument (so the command line reports it in one line)."""


def check_sampler_arguments(algorithm: str, length, seed=None, truncate_decimals=None,
                            **options) -> str:
    """Check everything a sampler is asked for without drawing anything;
    returns the algorithm's name. Raises ``ValueError`` naming the argument
    (``TypeError`` for an option the sampler does not have)."""
    algorithm = check_algorithm(algorithm)
    check_length(length)
    check_seed(seed)
    check_truncate_decimals(truncate_decimals)
    known = sampler_options(algorithm)
    unknown = set(options) - set(known)
    if unknown:
        raise UnknownOption(
            f"the {algorithm} sampler has no option {', '.join(sorted(unknown))}; "
            f"its options are {', '.join(sorted(known)) or 'none'}")
    for name, value in options.items():
        _OPTION_CHECKS[name](name, value)
        limit = _ALGORITHM_LIMITS.get((algorithm, name))
        if limit is not None:
            check, why = limit
            try:
                check(name, value)
            except ValueError as e:
                raise ValueError(f"{e} for {algorithm} ({why})") from None
    merged = {**known, **options}
    rule = _LENGTH_RULES.get(algorithm)
    problem = rule(int(length), merged) if rule else None
    if problem:
        raise ValueError(f"length={length} is too small: {problem}")
    if "low" in merged and "high" in merged:
        low, high = merged["low"], merged["high"]
        if low > high:
            raise ValueError(f"low must not exceed high, got low={low!r} and high={high!r}")
        if not np.isfinite(float(high) - float(low)):
            raise ValueError(f"high - low must be a finite number, got low={low!r} "
                             f"and high={high!r}")
    return algorithm


class Sampler:
    """An endless stream of traces of one algorithm at one length.

    ``Sampler(algo, length, seed).take(k)`` gives the same traces as
    ``sample(algo, length=length, seed=seed, num_samples=k)``.
    """

    def __init__(self, algorithm: str, length: int, seed: int | None = None,
                 truncate_decimals: int | None = None, **sampler_kwargs):
        self.algorithm = check_sampler_arguments(algorithm, length, seed, truncate_decimals,
                                                 **sampler_kwargs)
        self.length = int(length)
        check_fits(self.algorithm, self.length, **sampler_kwargs)
        self.truncate_decimals = truncate_decimals
        self.sampler_kwargs = sampler_kwargs
        self.rng = np.random.RandomState(seed)
        self._draw = DRAWERS[self.algorithm]
        self._run = ALGORITHMS[self.algorithm]

    def draw_inputs(self) -> list:
        """The next sample's algorithm arguments (truncated if asked)."""
        args = self._draw(self.rng, self.length, decimals=self.truncate_decimals,
                          **self.sampler_kwargs)
        return [truncate(a, self.truncate_decimals) for a in args]

    def __next__(self) -> Trace:
        return self._run(*self.draw_inputs())

    def __iter__(self) -> Iterator[Trace]:
        return self

    def take(self, num_samples: int) -> list[Trace]:
        """The next ``num_samples`` traces (checked to fit in memory together)."""
        num_samples = check_num_samples(num_samples)
        if num_samples > 1:
            check_fits(self.algorithm, self.length, num_samples, **self.sampler_kwargs)
        return [next(self) for _ in range(num_samples)]


def sample(algorithm: str, length: int, seed: int | None = None,
           num_samples: int = 1, truncate_decimals: int | None = None,
           **sampler_kwargs) -> list[Trace]:
    """Sample ``num_samples`` traces of ``algorithm`` on inputs of size ``length``.

    With the same arguments as the published ``clrs.build_sampler`` this
    returns the published samples, in order. ``truncate_decimals`` cuts float
    inputs to that many decimals (CLRS-Text uses 3). Extra keyword arguments
    are the sampler's options (see :func:`sampler_options`).

    Every argument is checked before anything is drawn (see
    :func:`check_sampler_arguments`), and a request that cannot fit in the
    available memory is refused with :class:`SampleTooLarge` (see
    :func:`estimate_sample_bytes` and :func:`check_fits`).
    """
    check_num_samples(num_samples)
    return Sampler(algorithm, length, seed, truncate_decimals, **sampler_kwargs).take(num_samples)


def sample_split(algorithm: str, split: str) -> list[Trace]:
    """One canonical CLRS-30 split (``train``, ``val`` or ``test``)."""
    size = split_size(algorithm, split)
    return sample(algorithm, length=CLRS30[split]["length"], seed=CLRS30[split]["seed"],
                  num_samples=size)
