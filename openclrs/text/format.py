"""CLRS-Text: a trace as a question and an answer in plain text.

The published CLRS-Text benchmark (``clrs._src.clrs_text``, dm-clrs 2.0.3)
turns one sample into two strings::

    question = "<algorithm>:\\n<inputs>\\n<answer names>:\\n"
    answer   = "<answer>\\n\\n"

This module produces the same strings from an openclrs :class:`~openclrs.Trace`.
How a value is written is decided by its spec entry alone:

========  =========================  ========================================
location  type                       text
========  =========================  ========================================
node      scalar                     ``[0.549 0.715 0.603]``
node      mask, pointer              ``[0 1 1]`` (integers)
node      categorical                ``[2 0 1]`` (the class of each node)
node      mask_one                   ``3`` (the index of the marked node)
node      should_be_permutation      the ``key`` input read in the order the
                                     predecessor pointers give, ``[0.1 0.5]``
graph     scalar                     ``0.645``
graph     mask, mask_one, pointer    ``1``
graph     categorical                ``2`` (the class)
edge      scalar                     ``[[0.0 0.3], [0.3 0.0]]`` (rows)
edge      mask, pointer              ``[[1 0], [0 1]]``
edge      categorical                the class per cell, ``-1`` where masked
========  =========================  ========================================

Inputs are listed as ``name: value`` in spec order, leaving out ``pos`` and,
when the weights ``A`` are given, the redundant ``adj``. Outputs are joined
with ``", "``.

With hints the trace of the answer fields is spelled out too: the first step
is appended to the question as ``initial_trace: ...``, the answer lists the
steps in between, then ``" | "`` and the final answer, and the answer names
read ``trace | <names>``. The answer fields are the outputs (their hints are
the probes named ``<output>_h``), except for

* the search tasks, which answer with the last value of their search state
  (binary_search: ``low, high``; find_maximum_subarray_kadane:
  ``best_low, best_high``; quickselect: ``pivot``), the first two writing
  every step as a tuple ``(a, b)``;
* the string matchers, whose trace is the candidate shift ``s``.

Numbers. Two float styles exist:

* ``"current"`` (the default; dm-clrs 2.0.3): the sampler truncates float
  inputs to 3 decimals (``truncate_decimals=3``) and floats are written as
  Python writes them (shortest round-trip form: ``0.5``, ``0.549``, ``1.0``,
  ``-0.0``). Probes that the published sampler hands over as integer arrays
  (the 0/1 adjacency of unweighted graphs, task deadlines) are written as
  integers.
* ``"legacy"``: the July 2024 Hugging Face release of CLRS-Text, made before
  truncation existed (January 2025): samples are not truncated
  (``truncate_decimals=None``) and floats are written with 3 significant
  digits (``format(v, ".3g")``: ``0.549``, ``0.0515``, ``1``, ``0``), graph
  scalars with 3 decimals (``format(v, ".3f")``: ``0.051``).

Speed. :func:`format_example` runs an :class:`ExampleFormatter`, one per
``(algorithm, use_hints, float_format)``, kept: the spec look-ups are done
once, and arrays are written whole, their numbers taken from tables of
precomputed strings (whole thousandths, small integers) where they can be.
Dataset generation (:mod:`openclrs.text.datasets`) uses the same formatter.
"""

from __future__ import annotations

import functools
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..probes import Trace
from ..samplers import sample
from ..specs import CLRS_30_ALGS, SPECS, Location, OutputClass, Stage, Type, check_algorithm

FLOAT_FORMATS = ("current", "legacy")

#: Search tasks: with hints, these answer with the last step of these hints.
SEARCH_ANSWERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "binary_search": ("low", "high"),
    "find_maximum_subarray_kadane": ("best_low", "best_high"),
    "quickselect": ("pivot",),
})
#: String matchers: with hints, their trace (and answer name) is this hint.
MATCHER_TRACE: Mapping[str, str] = MappingProxyType({
    "naive_string_matcher": "s",
    "kmp_matcher": "s",
})
#: Tasks whose hinted steps (and hinted answer) are written as tuples.
TUPLE_STEPS = frozenset({"binary_search", "find_maximum_subarray_kadane"})

#: Scalar probes that the published samplers produce as integer arrays
#: (Erdos-Renyi 0/1 adjacency of unweighted graphs; integer deadlines), so
#: that CLRS-Text writes them as ``1`` rather than ``1.0``. openclrs stores
#: every scalar as float64 and restores the integer writing from this table.
INTEGER_SCALARS: Mapping[str, frozenset] = MappingProxyType({
    "articulation_points": frozenset({"A"}),
    "bridges": frozenset({"A"}),
    "bfs": frozenset({"A"}),
    "dfs": frozenset({"A"}),
    "topological_sort": frozenset({"A"}),
    "task_scheduling": frozenset({"d"}),
})

ITEM_SEP = ", "        # between features, matrix rows, trace steps
NUMBER_SEP = " "       # between the numbers of one vector
TRACE_SEP = " | "      # between the hinted steps and the answer
INITIAL_TRACE = "initial_trace:"
TRACE_NAME = "trace"
_HINT_SUFFIX_LEN = 2   # "_h"


def check_float_format(float_format: str) -> str:
    if float_format not in FLOAT_FORMATS:
        raise ValueError(f"float_format must be one of {FLOAT_FORMATS}, got {float_format!r}")
    return float_format


# --------------------------------------------------------------------------
# Values: what a probe value means in text (numbers in numpy arrays) ...
# --------------------------------------------------------------------------

def predecessors_to_order(pred) -> np.ndarray:
    """Node indices in list order, from predecessor pointers.

    ``pred[i]`` is the node before ``i``; the head points to itself. The
    tail is the one node nobody points to; walking predecessors back from
    it gives the order. Raises ``ValueError`` if ``pred`` is not a chain.
    """
    pred = np.asarray(pred).astype(np.int64)
    n = len(pred)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    pointed_to = np.zeros(n, dtype=bool)
    pointed_to[pred] = True
    tails = np.flatnonzero(~pointed_to)
    if len(tails) != 1:
        raise ValueError(f"predecessor pointers {pred.tolist()} do not form one chain")
    order = np.empty(n, dtype=np.int64)
    node = tails[0]
    for k in range(n - 1, -1, -1):
        order[k] = node
        node = pred[node]
    return order


def _marked(value) -> np.int64:
    hits = np.asarray(value).ravel().nonzero()[0]
    if len(hits) != 1:
        raise ValueError(f"mask_one value marks {len(hits)} nodes, expected exactly 1")
    return hits[0]


def _sorted_keys(value, key):
    if key is None:
        raise ValueError("a should_be_permutation probe needs the 'key' input")
    return np.asarray(key, dtype=np.float64)[predecessors_to_order(value)]


def _edge_classes(value, key):
    classes = np.argmax(value, axis=-1).astype(np.int64)
    classes[(value == OutputClass.MASKED).any(axis=-1)] = -1
    return classes


def _floats(value, key):
    return value.astype(np.float64)


def _integers(value, key):
    return value.astype(np.int64)


#: ``(location, type) -> f(value, key)``: the array a probe value stands for.
_TEXT_VALUES = {
    (Location.NODE, Type.SHOULD_BE_PERMUTATION): _sorted_keys,
    (Location.NODE, Type.MASK_ONE): lambda value, key: np.asarray(_marked(value), dtype=np.int64),
    (Location.NODE, Type.SCALAR): _floats,
    (Location.NODE, Type.CATEGORICAL):
        lambda value, key: np.argmax(value, axis=-1).astype(np.int64),
    (Location.NODE, Type.MASK): _integers,
    (Location.NODE, Type.POINTER): _integers,
    (Location.GRAPH, Type.SCALAR):
        lambda value, key: np.asarray(value, dtype=np.float64).reshape(()),
    (Location.GRAPH, Type.CATEGORICAL):
        lambda value, key: np.asarray(np.argmax(value, axis=-1), dtype=np.int64),
    **{(Location.GRAPH, t): lambda value, key: value.astype(np.int64).reshape(())
       for t in (Type.MASK, Type.MASK_ONE, Type.POINTER)},
    (Location.EDGE, Type.CATEGORICAL): _edge_classes,
    (Location.EDGE, Type.MASK): _integers,
    (Location.EDGE, Type.POINTER): _integers,
    (Location.EDGE, Type.SCALAR): _floats,
}


def _text_converter(location: str, type_: str):
    try:
        return _TEXT_VALUES[location, type_]
    except KeyError:
        raise KeyError(f"CLRS-Text cannot write a {location} {type_} probe") from None


def text_value(location: str, type_: str, value, key=None) -> np.ndarray:
    """The array a probe value stands for in CLRS-Text.

    Integers (int64) for masks, pointers, categories and marked indices;
    floats for scalars and for permutations (the ``key`` values in sorted
    order, so ``key`` is needed for ``should_be_permutation``).
    """
    return _text_converter(location, type_)(np.asarray(value), key)


# --------------------------------------------------------------------------
# ... and how it is written.
# --------------------------------------------------------------------------
#
# Writing numbers is the hot path of formatting (dataset generation writes
# millions of examples), so arrays are written whole: a row's numbers are
# turned into strings by table look-ups where they can be, and joined once.
# The strings are those of writing each number with format_number.

def _number_style(integer: bool, legacy: bool, graph: bool) -> str | None:
    """The ``format`` spec of a number, or None for ``repr`` (Python's
    shortest round-trip form of a float, the digits of an int)."""
    if not legacy:
        return None
    return ".3f" if graph and not integer else ".3g"


def format_number(v, *, integer: bool = False, float_format: str = "current",
                  graph: bool = False) -> str:
    """One number as CLRS-Text writes it (see the module docstring)."""
    v = int(v) if integer else float(v)
    spec = _number_style(integer, float_format != "current", graph)
    return repr(v) if spec is None else format(v, spec)


def legacy_round(values, graph: bool = False) -> np.ndarray:
    """Floats as a legacy text gives them back (3 significant digits; graph
    values 3 decimals)."""
    values = np.asarray(values, dtype=np.float64)
    spec = _number_style(False, True, graph)
    return np.vectorize(lambda v: float(format(v, spec)), otypes=[np.float64])(values) \
        if values.size else values.copy()


#: Floats that are whole thousandths, ``k / 1000`` for ``0 < |k| <=
#: _MILLI_BOUND``, are written from a table of their reprs: inputs truncated
#: to 3 (or fewer) decimals are such floats, and a look-up is several times
#: faster than ``repr``. ``k / 1000`` is correctly rounded, so a float equal
#: to it *is* the double the table's string was written from. Zero is left
#: out (``-0.0 == 0.0``, but it is written with its sign), and so is
#: everything else the table does not hold: those go through ``repr``.
_MILLI_BOUND = 10_000
#: From this many numbers on, checking the whole array with numpy and
#: indexing an object array of the strings beats per-number look-ups.
_MILLI_ARRAY_MIN_SIZE = 96
#: Small integers (indices, classes, masks) are written from a table too.
_INT_BOUND = 1024
# The tables, built on first use: float -> repr, the same reprs as an object
# array (repr(k / 1000) at k + _MILLI_BOUND), int -> str.
_FLOAT_STRINGS: dict | None = None
_MILLI_ARRAY: np.ndarray | None = None
_INT_STRINGS: dict | None = None
_ROW_SEP = "]" + ITEM_SEP + "["


def _build_tables() -> None:
    global _FLOAT_STRINGS, _MILLI_ARRAY, _INT_STRINGS
    ks = range(-_MILLI_BOUND, _MILLI_BOUND + 1)
    strings = [repr(k / 1000) for k in ks]
    _MILLI_ARRAY = np.array(strings, dtype=object)
    _INT_STRINGS = {k: str(k) for k in range(-1, _INT_BOUND)}
    _FLOAT_STRINGS = {k / 1000: text for k, text in zip(ks, strings) if k}


def _milli_strings(values: np.ndarray):
    """``repr`` of each float of ``values`` (an object array of the same
    shape) if all are whole thousandths in the table's range and none is
    ``-0.0``, else None."""
    k = np.rint(values * 1000.0)
    if not (k / 1000.0 == values).all() or np.abs(k).max() > _MILLI_BOUND:
        return None  # (nan fails the first test, inf the second)
    negative = np.signbit(values)
    if negative.any() and (negative & (values == 0)).any():
        return None
    if _MILLI_ARRAY is None:
        _build_tables()
    return _MILLI_ARRAY[k.astype(np.int64) + _MILLI_BOUND]


def _join(strings, ndim: int) -> str:
    """``[a b]`` from the strings of a vector, ``[[a b], [c d]]`` from those
    of a matrix's rows."""
    if ndim == 1:
        return "[" + NUMBER_SEP.join(strings) + "]"
    return "[[" + _ROW_SEP.join([NUMBER_SEP.join(row) for row in strings]) + "]]" \
        if strings else "[]"


def _float_text(text: np.ndarray, ndim: int) -> str:
    """Floats, each as ``repr`` writes it; ``ndim`` 1 or 2."""
    if text.size >= _MILLI_ARRAY_MIN_SIZE:
        strings = _milli_strings(text)
        if strings is not None:
            return _join(strings.tolist(), ndim)
    if _FLOAT_STRINGS is None:
        _build_tables()
    get = _FLOAT_STRINGS.get
    if ndim == 1:
        return _join([get(v) or repr(v) for v in text.tolist()], 1)
    return _join([[get(v) or repr(v) for v in row] for row in text.tolist()], 2)


def _int_text(values: list, ndim: int) -> str:
    """Python ints, as ``str`` writes them; ``ndim`` 1 or 2."""
    if _INT_STRINGS is None:
        _build_tables()
    try:
        string = _INT_STRINGS.__getitem__
        return _join(map(string, values) if ndim == 1 else [map(string, row) for row in values],
                     ndim)
    except KeyError:  # beyond the table
        return _join(map(str, values) if ndim == 1 else [map(str, row) for row in values], ndim)


def _render(text: np.ndarray, graph: bool, integer: bool, legacy: bool) -> str:
    """Write a :func:`text_value` array: ``integer`` writes integral floats
    as integers, ``legacy`` uses the legacy float style, ``graph`` its graph
    variant. The same string as writing each number with
    :func:`format_number`."""
    ndim = text.ndim
    kind = text.dtype.kind
    if kind == "f" and not integer and not legacy:  # (the common case)
        if ndim == 0:
            return repr(text.item())
        if ndim <= 2:
            return _float_text(text, ndim)
    elif kind in "iu":
        integer, legacy = True, False  # (integer arrays are written as they are)
    elif integer:  # integral floats that the published sampler had as integers
        text = text.astype(np.int64) if not text.size or (np.abs(text) < 2.0 ** 62).all() \
            else np.vectorize(int, otypes=[object])(text)  # (beyond int64: Python ints)
    elif kind != "f":
        text = text.astype(np.float64)
    if ndim == 0:
        value = text.item()
        return format_number(value, integer=integer, graph=graph,
                             float_format="legacy" if legacy else "current")
    if ndim > 2:
        raise ValueError(f"cannot write an array of shape {text.shape}")
    spec = _number_style(integer, legacy, graph)
    if spec is None:  # integers (floats are done above)
        return _int_text(text.tolist(), ndim)
    if ndim == 1:
        return _join([format(v, spec) for v in text.tolist()], 1)
    return _join([[format(v, spec) for v in row] for row in text.tolist()], 2)


def render(location: str, type_: str, text: np.ndarray, *, integer: bool = False,
           float_format: str = "current") -> str:
    """Write a :func:`text_value` array out (``integer``: integral floats as
    integers)."""
    return _render(text, location == Location.GRAPH, integer, float_format != "current")


def _integral(value) -> bool:
    value = np.asarray(value)
    return bool(np.all(np.isfinite(value)) and np.all(value == np.round(value)))


@functools.lru_cache(maxsize=None)
def _writer(algorithm: str, name: str, shown: str, legacy: bool):
    """``write(value, key) -> str`` for probe ``name`` of ``algorithm``,
    written with the spec entry of ``shown``."""
    _, location, type_ = SPECS[algorithm][shown]
    convert = _text_converter(location, type_)
    graph = location == Location.GRAPH
    if type_ == Type.SCALAR and name in INTEGER_SCALARS.get(algorithm, ()):
        def write(value, key):
            value = np.asarray(value)
            return _render(convert(value, key), graph, _integral(value), legacy)
    else:
        def write(value, key):
            return _render(convert(np.asarray(value), key), graph, False, legacy)
    return write


def format_value(algorithm: str, name: str, value, inputs: Mapping[str, np.ndarray] | None = None,
                 float_format: str = "current", *, as_name: str | None = None) -> str:
    """One probe value (no batch or time axis) as CLRS-Text writes it.

    ``as_name`` writes the value with another probe's spec entry (a hint
    written as the output it converges to); ``inputs`` supplies ``key`` for
    permutations.
    """
    check_algorithm(algorithm)
    check_float_format(float_format)
    key = None if inputs is None else inputs.get("key")
    return _writer(algorithm, name, as_name or name, float_format == "legacy")(value, key)


# --------------------------------------------------------------------------
# Which fields make up the question and the answer.
# --------------------------------------------------------------------------

def input_names(algorithm: str) -> list[str]:
    """Inputs written in the question, in spec order."""
    spec = SPECS[check_algorithm(algorithm)]
    return [name for name, (stage, _, _) in spec.items()
            if stage == Stage.INPUT and name != "pos" and not (name == "adj" and "A" in spec)]


def answer_names(algorithm: str, use_hints: bool = False) -> list[str]:
    """Names of the answer fields, as the question lists them."""
    spec = SPECS[check_algorithm(algorithm)]
    if use_hints and algorithm in MATCHER_TRACE:
        return [MATCHER_TRACE[algorithm]]
    if use_hints and algorithm in SEARCH_ANSWERS:
        return list(SEARCH_ANSWERS[algorithm])
    return [name for name, (stage, _, _) in spec.items() if stage == Stage.OUTPUT]


def trace_fields(algorithm: str) -> list[tuple[str, str]]:
    """``(hint, written as)`` pairs spelled out in a hinted answer, in spec order.

    A hint is written with the spec entry of the answer field it tracks.
    Empty when the algorithm has no such hint (then hints change nothing).
    """
    spec = SPECS[check_algorithm(algorithm)]
    names = answer_names(algorithm, use_hints=True)
    fields = []
    for name, (stage, _, _) in spec.items():
        if stage != Stage.HINT:
            continue
        if algorithm in MATCHER_TRACE:
            if name == MATCHER_TRACE[algorithm]:
                fields.append((name, name))
        elif algorithm in SEARCH_ANSWERS:
            if name in SEARCH_ANSWERS[algorithm]:
                fields.append((name, name))
        elif name[:-_HINT_SUFFIX_LEN] in names:
            # (published rule: the hint's name less its last two characters)
            fields.append((name, name[:-_HINT_SUFFIX_LEN]))
    return fields


def answer_spec(algorithm: str, use_hints: bool = False) -> dict[str, tuple[str, str, str]]:
    """Spec entries of the answer fields (what the parser expects)."""
    spec = SPECS[check_algorithm(algorithm)]
    return {name: spec[name] for name in answer_names(algorithm, use_hints)}


def _answer_plan(algorithm: str, use_hints: bool) -> list[tuple[str, str, bool]]:
    """``(answer name, probe, from the hints)`` of each answer field.

    The values are the outputs, except for the search tasks with hints
    (the last step of their search hints). The string matchers with hints
    name their answer after the shift hint but still state the output.
    """
    names = answer_names(algorithm, use_hints)
    if use_hints and algorithm in SEARCH_ANSWERS:
        return [(name, name, True) for name in names]
    outputs = [name for name, (stage, _, _) in SPECS[algorithm].items() if stage == Stage.OUTPUT]
    if len(outputs) != len(names):
        raise AssertionError(f"{algorithm}: answer names {names} vs outputs {outputs}")
    return [(name, probe, False) for name, probe in zip(names, outputs)]


def _answer_values(algorithm: str, trace: Trace, use_hints: bool):
    """``(answer name, probe, value)`` of each answer field."""
    return [(name, probe, trace.hints[probe][-1] if from_hints else trace.outputs[probe])
            for name, probe, from_hints in _answer_plan(algorithm, use_hints)]


#: The CLRS-30 algorithms whose hinted examples spell out a trace: all 30
#: but segments_intersect, whose output has no hint.
TASKS_WITH_HINTS = tuple(a for a in CLRS_30_ALGS if trace_fields(a))


# --------------------------------------------------------------------------
# Arrays of the answer, in text semantics (what parsing gives back).
# --------------------------------------------------------------------------

def _finish(text: np.ndarray, float_format: str, location: str) -> np.ndarray:
    if float_format == "legacy" and text.dtype.kind == "f":
        return legacy_round(text, graph=location == Location.GRAPH)
    return text


def answer_arrays(algorithm: str, trace: Trace, use_hints: bool = False,
                  float_format: str = "current") -> dict[str, np.ndarray]:
    """The final answer of ``trace`` as arrays, as the text states it.

    Integer arrays for indices, masks, pointers and classes; float arrays
    for values (sorted keys). With ``float_format="legacy"`` floats are
    rounded to the 3 significant digits the text keeps.
    """
    check_float_format(float_format)
    spec = SPECS[check_algorithm(algorithm)]
    key = trace.inputs.get("key")
    out = {}
    for name, probe, value in _answer_values(algorithm, trace, use_hints):
        _, location, type_ = spec[probe]
        out[name] = _finish(text_value(location, type_, value, key), float_format, location)
    return out


def trace_arrays(algorithm: str, trace: Trace, float_format: str = "current",
                 initial: bool = False) -> list[dict[str, np.ndarray]]:
    """The steps a hinted answer spells out (``initial=True``: the one the
    question gives as ``initial_trace``), as arrays keyed by answer name."""
    check_float_format(float_format)
    spec = SPECS[check_algorithm(algorithm)]
    fields = trace_fields(algorithm)
    if not fields:
        return []
    key = trace.inputs.get("key")
    steps = len(trace.hints[fields[0][0]])
    times = [0] if initial else range(1, steps - 1)
    out = []
    for t in times:
        step = {}
        for hint, shown in fields:
            _, location, type_ = spec[shown]
            step[shown] = _finish(text_value(location, type_, trace.hints[hint][t], key),
                                  float_format, location)
        out.append(step)
    return out


# --------------------------------------------------------------------------
# The example.
# --------------------------------------------------------------------------

class ExampleFormatter:
    """``(question, answer)`` of traces of one algorithm, in one mode.

    ``ExampleFormatter(algorithm, use_hints, float_format)(trace) ==
    format_example(algorithm, trace, use_hints, float_format)``: this is
    what :func:`format_example` runs (it keeps one per mode). The spec
    look-ups are done once, when it is made.
    """

    def __init__(self, algorithm: str, use_hints: bool = False, float_format: str = "current"):
        self.algorithm = check_algorithm(algorithm)
        self.use_hints = bool(use_hints)
        self.float_format = check_float_format(float_format)
        self.legacy = legacy = float_format == "legacy"
        self._inputs = [(name, _writer(algorithm, name, name, legacy))
                        for name in input_names(algorithm)]
        self._answer = [(probe, from_hints, _writer(algorithm, probe, probe, legacy))
                        for _, probe, from_hints in _answer_plan(algorithm, self.use_hints)]
        self._tuple = algorithm in TUPLE_STEPS
        self._fields = [(hint, _writer(algorithm, hint, shown, legacy))
                        for hint, shown in trace_fields(algorithm)] if self.use_hints else []
        names_line = ITEM_SEP.join(answer_names(algorithm, self.use_hints))
        if self.use_hints:
            names_line = self._group(names_line)
            if self._fields:
                names_line = TRACE_SEP.join([TRACE_NAME, names_line])
        self._head = f"{algorithm}:\n"
        self._tail = f"\n{names_line}:\n"

    def _group(self, joined: str) -> str:
        return f"({joined})" if self._tuple else joined

    def __call__(self, trace: Trace) -> tuple[str, str]:
        inputs = trace.inputs
        key = inputs.get("key")
        question = ITEM_SEP.join([f"{name}: {write(inputs[name], key)}"
                                  for name, write in self._inputs])
        answer = ITEM_SEP.join([write(trace.hints[probe][-1] if from_hints
                                      else trace.outputs[probe], key)
                                for probe, from_hints, write in self._answer])
        if self.use_hints:
            answer = self._group(answer)
            if self._fields:
                group = self._group
                series = [(trace.hints[hint], write) for hint, write in self._fields]

                def step(t):
                    return group(ITEM_SEP.join([write(h[t], key) for h, write in series]))

                steps = len(series[0][0])
                question = ITEM_SEP.join([question, f"{INITIAL_TRACE} {step(0)}"])
                answer = TRACE_SEP.join([ITEM_SEP.join([step(t) for t in range(1, steps - 1)]),
                                         answer])
        return self._head + question + self._tail, answer + "\n\n"


@functools.lru_cache(maxsize=None)
def _formatter(algorithm: str, use_hints: bool, float_format: str) -> ExampleFormatter:
    return ExampleFormatter(algorithm, use_hints, float_format)


def format_example(algorithm: str, trace: Trace, use_hints: bool = False,
                   float_format: str = "current") -> tuple[str, str]:
    """``(question, answer)`` for one trace, as CLRS-Text writes them.

    For the strings of the published benchmark, sample the trace as its
    generator does: ``openclrs.sample(algorithm, length, seed,
    truncate_decimals=3)`` (``None`` for ``float_format="legacy"``).
    """
    return _formatter(algorithm, bool(use_hints), float_format)(trace)


def generate_examples(algorithm: str, length: int, seed: int = 0, num_samples: int = 1,
                      use_hints: bool = False, float_format: str = "current",
                      truncate_decimals: int | None | str = "auto",
                      with_traces: bool = False, **sampler_kwargs) -> list[dict]:
    """CLRS-Text examples straight from the sampler, as the published
    generators make them: ``num_samples`` consecutive samples of one
    ``(algorithm, length, seed)`` stream, each a dict with ``question``,
    ``answer``, ``text`` (the two joined), ``algo_name``, ``length`` and
    ``use_hints``. ``truncate_decimals`` defaults to 3 (``None`` for the
    legacy float format). ``with_traces=True`` also keeps each example's
    sampled :class:`~openclrs.Trace` under ``"trace"`` (the graph version of
    the same instance, for models that read both, e.g. TransNAR)."""
    check_float_format(float_format)
    if truncate_decimals == "auto":
        truncate_decimals = 3 if float_format == "current" else None
    traces = sample(algorithm, length=length, seed=seed, num_samples=num_samples,
                    truncate_decimals=truncate_decimals, **sampler_kwargs)
    examples = []
    for trace in traces:
        question, answer = format_example(algorithm, trace, use_hints, float_format)
        example = {"text": question + answer, "question": question, "answer": answer,
                   "algo_name": algorithm, "length": length, "use_hints": use_hints}
        if with_traces:
            example["trace"] = trace
        examples.append(example)
    return examples
