"""Reading CLRS-Text answers back into arrays.

An answer is a comma-separated list of fields, each a number (``3``,
``0.549``), a vector ``[0 1 1]`` or a matrix ``[[0 1], [1 0]]``; a hinted
answer puts the intermediate steps first, then ``|``, then the final
fields (search tasks wrap each step in parentheses). Which fields to expect,
and whether each is an integer or a float, an index, a vector or a matrix,
follows from the algorithm's spec (see :mod:`openclrs.text.format`).

The reader is strict about structure (every bracket closed, the right
number of fields, rectangular matrices, integers where integers belong)
and lenient about layout: any whitespace, and commas or spaces between
vector elements, are accepted. Malformed text raises :class:`ParseError`.
"""

from __future__ import annotations

import re

import numpy as np

from ..specs import Location, Type, check_algorithm
from .format import TUPLE_STEPS, answer_spec, trace_fields


class ParseError(ValueError):
    """An answer that does not read as the algorithm's answer."""


# ASCII digits only (\d would take full-width and other scripts' digits,
# which float() reads) and no inf / nan: no CLRS-Text answer holds them
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<punct>[\[\](),|])
    )""", re.VERBOSE | re.ASCII)


def tokenize(text: str) -> list[str]:
    """Numbers and the punctuation ``[ ] ( ) , |``; anything else is an error."""
    if not isinstance(text, str):
        raise ParseError(f"an answer is a string, got {type(text).__name__}")
    tokens = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ParseError(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        tokens.append(m.group("num") or m.group("punct"))
        pos = m.end()
    return tokens


# A parsed item: a number token (str), a list (brackets) or a tuple (parentheses).
class _Tuple(tuple):
    pass


_MAX_DEPTH = 4  # a matrix inside a tuple is as deep as answers go


class _Reader:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        if tok is None:
            raise ParseError("answer ends too early")
        self.i += 1
        return tok

    def item(self):
        tok = self.take()
        if tok == "[":
            return self.bracketed("]", list)
        if tok == "(":
            return self.bracketed(")", _Tuple)
        if tok in ("]", ")", ",", "|"):
            raise ParseError(f"unexpected {tok!r}")
        return tok

    def bracketed(self, close, kind):
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ParseError("brackets nested too deeply")
        items = []
        while True:
            tok = self.peek()
            if tok is None:
                raise ParseError(f"missing {close!r}")
            if tok == close:
                self.i += 1
                self.depth -= 1
                return kind(items)
            if tok == ",":
                if not items:
                    raise ParseError("',' before any element")
                self.i += 1
                if self.peek() in (close, ","):
                    raise ParseError("empty element")
                continue
            items.append(self.item())

    def sequence(self):
        """Comma-separated items up to the end."""
        if self.peek() is None:
            return []
        items = [self.item()]
        while self.peek() is not None:
            tok = self.take()
            if tok != ",":
                raise ParseError(f"expected ',' between fields, got {tok!r}")
            items.append(self.item())
        return items


def _read_items(text: str) -> list:
    return _Reader(tokenize(text)).sequence()


# --------------------------------------------------------------------------
# Typed fields.
# --------------------------------------------------------------------------

def field_kind(location: str, type_: str) -> tuple[int, bool]:
    """``(rank, is_float)`` of an answer field written with this spec entry."""
    if location == Location.GRAPH:
        return 0, type_ == Type.SCALAR
    if location == Location.EDGE:
        return 2, type_ == Type.SCALAR
    if type_ == Type.MASK_ONE:
        return 0, False
    return 1, type_ in (Type.SCALAR, Type.SHOULD_BE_PERMUTATION)


def _number(tok, is_float: bool):
    if not isinstance(tok, str):
        raise ParseError("expected a number, got a bracketed value")
    value = float(tok)
    if is_float:
        return value
    if not np.isfinite(value) or value != int(value) or abs(value) >= 2 ** 62:
        raise ParseError(f"expected an integer, got {tok!r}")
    return int(value)


def _field(item, rank: int, is_float: bool) -> np.ndarray:
    dtype = np.float64 if is_float else np.int64
    if rank == 0:
        return np.asarray(_number(item, is_float), dtype=dtype)
    if not isinstance(item, list):
        raise ParseError("expected a bracketed " + ("vector" if rank == 1 else "matrix"))
    if rank == 1:
        return np.asarray([_number(t, is_float) for t in item], dtype=dtype).reshape(-1)
    rows = []
    for row in item:
        if not isinstance(row, list):
            raise ParseError("expected the rows of a matrix")
        rows.append([_number(t, is_float) for t in row])
    if len({len(r) for r in rows}) > 1:
        raise ParseError("matrix rows of different lengths")
    width = len(rows[0]) if rows else 0
    return np.asarray(rows, dtype=dtype).reshape(len(rows), width)


def _fields(items, names, kinds, num_nodes) -> dict[str, np.ndarray]:
    if len(items) != len(names):
        raise ParseError(f"expected {len(names)} field(s) ({', '.join(names)}), got {len(items)}")
    out = {}
    for item, name, (rank, is_float) in zip(items, names, kinds):
        value = _field(item, rank, is_float)
        if num_nodes is not None and value.shape != (num_nodes,) * rank:
            raise ParseError(f"{name}: shape {value.shape}, expected {(num_nodes,) * rank}")
        out[name] = value
    return out


def _unwrap(items, algorithm: str, use_hints: bool, where: str):
    """Open the parentheses of a tuple-writing task's step or answer."""
    if not (use_hints and algorithm in TUPLE_STEPS):
        return items
    if len(items) != 1 or not isinstance(items[0], _Tuple):
        raise ParseError(f"expected one parenthesised tuple as the {where}")
    return list(items[0])


def _answer_layout(algorithm: str, use_hints: bool):
    spec = answer_spec(algorithm, use_hints)
    names = list(spec)
    kinds = [field_kind(loc, typ) for _, loc, typ in spec.values()]
    return names, kinds


def _split_trace(answer: str):
    if "|" not in answer:
        return None, answer
    head, _, tail = answer.rpartition("|")
    return head, tail


def detect_hints(answer: str) -> bool:
    """Whether an answer spells out a trace (has the ``|`` separator)."""
    return isinstance(answer, str) and "|" in answer


def parse_answer(algorithm: str, answer: str, use_hints: bool | None = None,
                 num_nodes: int | None = None) -> dict[str, np.ndarray]:
    """The final answer fields of a CLRS-Text answer, as arrays.

    Keys are the answer names (:func:`~openclrs.text.answer_names`): the
    outputs, or with hints ``low``/``high`` (binary_search),
    ``best_low``/``best_high`` (kadane), ``pivot`` (quickselect) and ``s``
    (string matchers). Values are int64 (indices, masks, pointers, classes,
    ``-1`` for masked cells) or float64 (sorted keys), scalars as 0-d
    arrays. With hints only the part after the last ``|`` is read (see
    :func:`parse_trace` for the steps); ``use_hints=None`` decides from the
    answer. ``num_nodes`` also checks the sizes. Raises :class:`ParseError`.
    """
    check_algorithm(algorithm)
    if use_hints is None:
        use_hints = detect_hints(answer)
    if not isinstance(answer, str):
        raise ParseError(f"an answer is a string, got {type(answer).__name__}")
    if not answer.strip():
        raise ParseError("empty answer")
    names, kinds = _answer_layout(algorithm, use_hints)
    text = _split_trace(answer)[1] if use_hints else answer
    items = _unwrap(_read_items(text), algorithm, use_hints, "answer")
    return _fields(items, names, kinds, num_nodes)


def parse_trace(algorithm: str, answer: str, num_nodes: int | None = None
                ) -> list[dict[str, np.ndarray]]:
    """The intermediate steps of a hinted answer (before ``|``), each a dict
    keyed by answer name as in :func:`parse_answer`. Raises
    :class:`ParseError`, also when there is no ``|``."""
    check_algorithm(algorithm)
    if not trace_fields(algorithm):
        raise ParseError(f"{algorithm} answers have no trace")
    head, _ = _split_trace(answer) if isinstance(answer, str) else (None, None)
    if head is None:
        raise ParseError("no '|' between the trace and the answer")
    names, kinds = _answer_layout(algorithm, True)
    items = _read_items(head)
    steps = []
    if algorithm in TUPLE_STEPS:
        for item in items:
            if not isinstance(item, _Tuple):
                raise ParseError("expected a parenthesised tuple per step")
            steps.append(_fields(list(item), names, kinds, num_nodes))
        return steps
    width = len(names)
    if len(items) % width:
        raise ParseError(f"{len(items)} trace fields is not a multiple of {width}")
    for k in range(0, len(items), width):
        steps.append(_fields(items[k:k + width], names, kinds, num_nodes))
    return steps


def extract_answer(generated: str) -> str:
    """The answer part of a model's continuation of a question: up to the
    first blank line (where a CLRS-Text answer ends), leading whitespace
    dropped. Use on free-running generations before scoring them."""
    if not isinstance(generated, str):
        return generated
    return generated.lstrip().split("\n\n", 1)[0]


def try_parse_answer(algorithm: str, answer, use_hints: bool | None = None,
                     num_nodes: int | None = None):
    """:func:`parse_answer`, or ``None`` if the answer does not parse."""
    try:
        return parse_answer(algorithm, answer, use_hints, num_nodes)
    except ParseError:
        return None


__all__ = ["ParseError", "detect_hints", "extract_answer", "field_kind", "parse_answer",
           "parse_trace", "tokenize", "try_parse_answer"]
