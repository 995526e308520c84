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
"""

from __future__ import annotations

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
    hits = np.flatnonzero(np.asarray(value))
    if len(hits) != 1:
        raise ValueError(f"mask_one value marks {len(hits)} nodes, expected exactly 1")
    return hits[0]


def text_value(location: str, type_: str, value, key=None) -> np.ndarray:
    """The array a probe value stands for in CLRS-Text.

    Integers (int64) for masks, pointers, categories and marked indices;
    floats for scalars and for permutations (the ``key`` values in sorted
    order, so ``key`` is needed for ``should_be_permutation``).
    """
    value = np.asarray(value)
    if location == Location.NODE:
        if type_ == Type.SHOULD_BE_PERMUTATION:
            if key is None:
                raise ValueError("a should_be_permutation probe needs the 'key' input")
            return np.asarray(key, dtype=np.float64)[predecessors_to_order(value)]
        if type_ == Type.MASK_ONE:
            return np.asarray(_marked(value), dtype=np.int64)
        if type_ == Type.SCALAR:
            return value.astype(np.float64)
        if type_ == Type.CATEGORICAL:
            return np.argmax(value, axis=-1).astype(np.int64)
        if type_ in (Type.MASK, Type.POINTER):
            return value.astype(np.int64)
    elif location == Location.GRAPH:
        if type_ == Type.SCALAR:
            return np.asarray(value, dtype=np.float64).reshape(())
        if type_ == Type.CATEGORICAL:
            return np.asarray(np.argmax(value, axis=-1), dtype=np.int64)
        if type_ in (Type.MASK, Type.MASK_ONE, Type.POINTER):
            return np.asarray(value).astype(np.int64).reshape(())
    elif location == Location.EDGE:
        if type_ == Type.CATEGORICAL:
            classes = np.argmax(value, axis=-1).astype(np.int64)
            classes[(value == OutputClass.MASKED).any(axis=-1)] = -1
            return classes
        if type_ in (Type.MASK, Type.POINTER):
            return value.astype(np.int64)
        if type_ == Type.SCALAR:
            return value.astype(np.float64)
    raise KeyError(f"CLRS-Text cannot write a {location} {type_} probe")


# --------------------------------------------------------------------------
# ... and how it is written.
# --------------------------------------------------------------------------

def format_number(v, *, integer: bool = False, float_format: str = "current",
                  graph: bool = False) -> str:
    """One number as CLRS-Text writes it (see the module docstring)."""
    if integer:
        v = int(v)
        return str(v) if float_format == "current" else format(v, ".3g")
    v = float(v)
    if float_format == "current":
        return repr(v)
    return format(v, ".3f" if graph else ".3g")


def legacy_round(values, graph: bool = False) -> np.ndarray:
    """Floats as a legacy text gives them back (3 significant digits; graph
    values 3 decimals)."""
    values = np.asarray(values, dtype=np.float64)
    spec = ".3f" if graph else ".3g"
    return np.vectorize(lambda v: float(format(v, spec)), otypes=[np.float64])(values) \
        if values.size else values.copy()


def render(location: str, type_: str, text: np.ndarray, *, integer: bool = False,
           float_format: str = "current") -> str:
    """Write a :func:`text_value` array out."""
    is_int = text.dtype.kind in "iu"
    if is_int:
        num = str
    else:
        def num(v):
            return format_number(v, integer=integer, float_format=float_format,
                                 graph=location == Location.GRAPH)
    if text.ndim == 0:
        return num(int(text) if is_int else text[()])
    if text.ndim == 1:
        return "[" + NUMBER_SEP.join(num(v) for v in text.tolist()) + "]"
    if text.ndim == 2:
        return "[" + ITEM_SEP.join(
            "[" + NUMBER_SEP.join(num(v) for v in row) + "]" for row in text.tolist()) + "]"
    raise ValueError(f"cannot write an array of shape {text.shape}")


def _integer_scalar(algorithm: str, name: str, value) -> bool:
    if name not in INTEGER_SCALARS.get(algorithm, ()):
        return False
    value = np.asarray(value)
    return bool(np.all(np.isfinite(value)) and np.all(value == np.round(value)))


def format_value(algorithm: str, name: str, value, inputs: Mapping[str, np.ndarray] | None = None,
                 float_format: str = "current", *, as_name: str | None = None) -> str:
    """One probe value (no batch or time axis) as CLRS-Text writes it.

    ``as_name`` writes the value with another probe's spec entry (a hint
    written as the output it converges to); ``inputs`` supplies ``key`` for
    permutations.
    """
    spec = SPECS[check_algorithm(algorithm)]
    _, location, type_ = spec[as_name or name]
    key = None if inputs is None else inputs.get("key")
    text = text_value(location, type_, value, key)
    return render(location, type_, text, float_format=float_format,
                  integer=type_ == Type.SCALAR and _integer_scalar(algorithm, name, value))


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


def _answer_values(algorithm: str, trace: Trace, use_hints: bool):
    """``(answer name, probe, value)`` of each answer field.

    The values are the outputs, except for the search tasks with hints
    (the last step of their search hints). The string matchers with hints
    name their answer after the shift hint but still state the output.
    """
    names = answer_names(algorithm, use_hints)
    if use_hints and algorithm in SEARCH_ANSWERS:
        return [(name, name, trace.hints[name][-1]) for name in names]
    outputs = [name for name, (stage, _, _) in SPECS[algorithm].items() if stage == Stage.OUTPUT]
    if len(outputs) != len(names):
        raise AssertionError(f"{algorithm}: answer names {names} vs outputs {outputs}")
    return [(name, probe, trace.outputs[probe]) for name, probe in zip(names, outputs)]


#: The CLRS-30 algorithms whose hinted examples spell out a trace: all 30
#: but segments_intersect, whose output has no hint.
TASKS_WITH_HINTS = tuple(a for a in CLRS_30_ALGS if trace_fields(a))


def _group(parts, algorithm: str) -> str:
    joined = ITEM_SEP.join(parts)
    return f"({joined})" if algorithm in TUPLE_STEPS else joined


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

def format_example(algorithm: str, trace: Trace, use_hints: bool = False,
                   float_format: str = "current") -> tuple[str, str]:
    """``(question, answer)`` for one trace, as CLRS-Text writes them.

    For the strings of the published benchmark, sample the trace as its
    generator does: ``openclrs.sample(algorithm, length, seed,
    truncate_decimals=3)`` (``None`` for ``float_format="legacy"``).
    """
    check_algorithm(algorithm)
    check_float_format(float_format)
    inputs = trace.inputs

    def write(name, value, as_name=None):
        return format_value(algorithm, name, value, inputs, float_format, as_name=as_name)

    question_inputs = ITEM_SEP.join(f"{name}: {write(name, inputs[name])}"
                                    for name in input_names(algorithm))
    names = answer_names(algorithm, use_hints)
    answer = ITEM_SEP.join(write(probe, value)
                           for _, probe, value in _answer_values(algorithm, trace, use_hints))
    names_line = ITEM_SEP.join(names)

    if use_hints:
        answer = _group([answer], algorithm)
        names_line = _group([names_line], algorithm)
        fields = trace_fields(algorithm)
        if fields:
            series = [trace.hints[hint] for hint, _ in fields]

            def step(t):
                return _group([write(hint, h[t], shown) for (hint, shown), h
                               in zip(fields, series)], algorithm)

            steps = len(series[0])
            question_inputs = ITEM_SEP.join([question_inputs, f"{INITIAL_TRACE} {step(0)}"])
            answer = TRACE_SEP.join([ITEM_SEP.join(step(t) for t in range(1, steps - 1)),
                                     answer])
            names_line = TRACE_SEP.join([TRACE_NAME, names_line])

    return f"{algorithm}:\n{question_inputs}\n{names_line}:\n", f"{answer}\n\n"


def generate(algorithm: str, length: int, seed: int = 0, num_samples: int = 1,
             use_hints: bool = False, float_format: str = "current",
             truncate_decimals: int | None | str = "auto", **sampler_kwargs) -> list[dict]:
    """CLRS-Text examples straight from the sampler, as the published
    generators make them: ``num_samples`` consecutive samples of one
    ``(algorithm, length, seed)`` stream, each a dict with ``question``,
    ``answer``, ``text`` (the two joined), ``algo_name``, ``length`` and
    ``use_hints``. ``truncate_decimals`` defaults to 3 (``None`` for the
    legacy float format)."""
    check_float_format(float_format)
    if truncate_decimals == "auto":
        truncate_decimals = 3 if float_format == "current" else None
    traces = sample(algorithm, length=length, seed=seed, num_samples=num_samples,
                    truncate_decimals=truncate_decimals, **sampler_kwargs)
    examples = []
    for trace in traces:
        question, answer = format_example(algorithm, trace, use_hints, float_format)
        examples.append({"text": question + answer, "question": question, "answer": answer,
                         "algo_name": algorithm, "length": length, "use_hints": use_hints})
    return examples
