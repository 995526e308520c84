"""Scoring predicted CLRS-Text answers against the true ones.

:func:`score` compares one predicted answer string with the true answer
string of the same example and returns a :class:`Score`:

* ``exact_match``: the two strings say the same thing token for token
  (numbers and punctuation; whitespace is ignored, ``0.5`` and ``0.50``
  differ). With hints this covers the whole trace.
* ``parsed``: the prediction reads as an answer of the algorithm
  (:func:`~openclrs.text.parse_answer`; with hints, its final part).
* ``shape_match``: parsed, and every final answer field has the true shape.
* ``accuracy``: the CLRS-style per-element score, the fraction of the
  final answer's elements (over all its fields) that are right: each
  index, mask bit, pointer, class or value. 0 unless the shapes match.

A prediction that is garbage, truncated, empty, of the wrong shape or not a
string scores 0 and never raises; a true answer that does not parse is a
caller error (``ValueError``).

:class:`Scoreboard` (or :func:`aggregate`) averages scores by
``(algorithm, length)``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np

from ..specs import check_algorithm
from .parse import (ParseError, _answer_layout, _number, _Reader, _split_trace, _unwrap,
                    detect_hints, parse_answer, tokenize)

METRICS = ("exact_match", "parsed", "shape_match", "accuracy")


@dataclass(frozen=True)
class Score:
    """The score of one predicted answer (see the module docstring)."""

    exact_match: bool
    parsed: bool
    shape_match: bool
    accuracy: float
    correct: int = 0
    total: int = 0
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _normalized(text) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return " ".join(tokenize(text))
    except ParseError:
        return " ".join(text.split())


def _field_correct(pred: np.ndarray, true: np.ndarray, atol: float) -> int:
    if true.dtype.kind == "f" or pred.dtype.kind == "f":
        ok = np.abs(pred.astype(np.float64) - true.astype(np.float64)) <= atol
        ok |= pred.astype(np.float64) == true.astype(np.float64)  # inf == inf
    else:
        ok = pred == true
    return int(np.count_nonzero(ok))


def compare(predicted: Mapping[str, np.ndarray], true: Mapping[str, np.ndarray],
            atol: float = 0.0) -> tuple[bool, int, int]:
    """``(shapes match, elements right, elements)`` of two parsed answers."""
    total = int(sum(np.asarray(v).size for v in true.values()))
    if set(predicted) != set(true):
        return False, 0, total
    if any(np.shape(predicted[k]) != np.shape(true[k]) for k in true):
        return False, 0, total
    correct = sum(_field_correct(np.asarray(predicted[k]), np.asarray(true[k]), atol)
                  for k in true)
    return True, correct, total


def _parse_truth(algorithm: str, true_answer: str, use_hints: bool | None):
    """The true answer's mode (``use_hints=None``: hinted answers have a
    ``|``) and its arrays; a true answer that does not parse is the
    caller's mistake, a ``ValueError``."""
    check_algorithm(algorithm)
    if use_hints is None:
        use_hints = detect_hints(true_answer)
    try:
        return use_hints, parse_answer(algorithm, true_answer, use_hints)
    except ParseError as e:
        raise ValueError(f"the true answer does not parse as {algorithm}: {e}") from None


def score(algorithm: str, predicted_answer, true_answer: str,
          use_hints: bool | None = None, atol: float = 0.0) -> Score:
    """Score one predicted answer against the true one.

    ``use_hints=None`` takes the mode of the true answer (hinted answers
    have a ``|``). ``atol`` is the tolerance for float elements (the
    sorted keys of the sorting tasks); the default asks for the exact value.
    """
    use_hints, truth = _parse_truth(algorithm, true_answer, use_hints)
    total = int(sum(v.size for v in truth.values()))
    pred_norm = _normalized(predicted_answer)
    exact = pred_norm is not None and pred_norm == _normalized(true_answer)
    try:
        prediction = parse_answer(algorithm, predicted_answer, use_hints)
    except ParseError as e:
        return Score(exact, False, False, 0.0, 0, total, str(e))
    except Exception as e:  # noqa: BLE001 - a prediction must never crash scoring
        return Score(exact, False, False, 0.0, 0, total, f"{type(e).__name__}: {e}")
    shapes, correct, total = compare(prediction, truth, atol)
    if not shapes:
        return Score(exact, True, False, 0.0, 0, total, "shape mismatch")
    return Score(exact, True, True, correct / total if total else 1.0, correct, total)


# --------------------------------------------------------------------------
# The TransNAR paper's three scores.
# --------------------------------------------------------------------------
#
# Bounsi et al. 2024 (arXiv 2406.09308, §4 "Evaluation metrics") score an
# answer three ways, each on its own: its shape, its characters, its values.
# :func:`score` above reads a prediction strictly (an answer that does not
# parse has no shape); here the shape is read even when some elements are
# not numbers, so that an answer of the right length with one letter in it
# scores shape 1, parse 0 -- the separation the paper's figures rely on.

PAPER_METRICS = ("shape_score", "parse_score", "clrs_score")

# a loose token: punctuation, or any run of other non-space characters
# (which may or may not be a number)
_LOOSE_TOKEN = re.compile(r"\s*(?:(?P<punct>[\[\](),|])|(?P<word>[^\s\[\](),|]+))")


@dataclass(frozen=True)
class PaperScore:
    """The scores of one predicted answer as TransNAR defines them:

    * ``shape_score`` (0 or 1): the answer has the true shape: as many
      fields as the truth, each of the true rank and size (a vector of n
      elements, an n x n matrix with rectangular rows, a single value),
      whatever its elements are;
    * ``parse_score`` (0 or 1): the answer is free of illicit characters:
      it is made of numbers (ASCII digits), the punctuation ``[ ] ( ) , |``
      and whitespace only (:func:`~openclrs.text.parse.tokenize` reads it),
      and is not empty;
    * ``clrs_score``: the fraction of elements equal to the truth, 0 when
      the shape score is 0. An element that is not a number of the field's
      kind (a letter, ``1.5`` for an index) counts as wrong (reading A of
      clrs-text-scores.md; ``zero_unparsed=True``: reading B, a parse score
      of 0 also zeroes the CLRS score).
    """

    shape_score: float
    parse_score: float
    clrs_score: float

    def as_dict(self) -> dict:
        return asdict(self)


def _loose_items(text: str) -> list:
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        m = _LOOSE_TOKEN.match(text, pos)
        tokens.append(m.group("punct") or m.group("word"))
        pos = m.end()
    return _Reader(tokens).sequence()


def _element(token, is_float: bool):
    """The number a loose token stands for, or None (illicit, or not of the kind)."""
    if not isinstance(token, str):
        return None
    try:
        if tokenize(token) != [token]:
            return None
        return _number(token, is_float)
    except ParseError:
        return None


def _loose_field(item, rank: int, is_float: bool):
    """``(shape, elements)`` of one field read loosely (None: no shape)."""
    if rank == 0:
        return ((), [_element(item, is_float)]) if isinstance(item, str) else None
    if not isinstance(item, list):
        return None
    if rank == 1:
        if not all(isinstance(t, str) for t in item):
            return None
        return (len(item),), [_element(t, is_float) for t in item]
    if not all(isinstance(row, list) and all(isinstance(t, str) for t in row) for row in item):
        return None
    if len({len(row) for row in item}) > 1:
        return None
    width = len(item[0]) if item else 0
    return (len(item), width), [_element(t, is_float) for row in item for t in row]


def paper_score(algorithm: str, predicted_answer, true_answer: str,
                use_hints: bool | None = None, atol: float = 0.0,
                zero_unparsed: bool = False) -> PaperScore:
    """Shape, parse and CLRS scores of one predicted answer (see
    :class:`PaperScore`). With hints, only the final answer (after the last
    ``|``) is scored. ``atol``: tolerance of float elements. A prediction
    never raises; a true answer that does not parse is a ``ValueError``."""
    use_hints, truth = _parse_truth(algorithm, true_answer, use_hints)
    if not isinstance(predicted_answer, str):
        return PaperScore(0.0, 0.0, 0.0)
    text = _split_trace(predicted_answer)[1] if use_hints else predicted_answer
    try:
        # an empty answer (nothing written, or a prompt too long to answer)
        # is no legal answer: it parses as nothing
        parse_ok = bool(tokenize(text))
    except ParseError:
        parse_ok = False
    names, kinds = _answer_layout(algorithm, use_hints)
    try:
        items = _unwrap(_loose_items(text), algorithm, use_hints, "answer")
    except ParseError:
        items = None
    fields = None
    if items is not None and len(items) == len(names):
        fields = [_loose_field(item, rank, is_float)
                  for item, (rank, is_float) in zip(items, kinds)]
    if fields is None or any(f is None or f[0] != truth[name].shape
                             for f, name in zip(fields, names)):
        return PaperScore(0.0, float(parse_ok), 0.0)
    if zero_unparsed and not parse_ok:
        return PaperScore(1.0, 0.0, 0.0)
    correct = total = 0
    for (_, elements), name in zip(fields, names):
        true_values = truth[name].reshape(-1).tolist()
        for value, true_value in zip(elements, true_values):
            total += 1
            if value is None:
                continue
            if isinstance(value, float) or isinstance(true_value, float):
                correct += value == true_value or abs(value - true_value) <= atol
            else:
                correct += value == true_value
    return PaperScore(1.0, float(parse_ok), correct / total if total else 1.0)


# --------------------------------------------------------------------------
# Aggregation.
# --------------------------------------------------------------------------

class Scoreboard:
    """Scores collected per ``(algorithm, length)``.

    >>> board = Scoreboard()
    >>> board.add("bfs", 16, score("bfs", "[0 0 1]\\n", "[0 0 1]\\n\\n"))
    >>> board.summary()[("bfs", 16)]["accuracy"]
    1.0
    """

    def __init__(self):
        self._scores: dict[tuple[str, int], list[Score]] = defaultdict(list)

    def add(self, algorithm: str, length: int, result: Score) -> Score:
        self._scores[(algorithm, int(length))].append(result)
        return result

    def score(self, algorithm: str, length: int, predicted_answer, true_answer: str,
              **kwargs) -> Score:
        """Score one prediction and record it."""
        return self.add(algorithm, length, score(algorithm, predicted_answer, true_answer,
                                                 **kwargs))

    def __len__(self):
        return sum(len(v) for v in self._scores.values())

    @staticmethod
    def _mean(scores: list[Score]) -> dict:
        n = len(scores)
        row = {"count": n}
        for m in METRICS:
            row[m] = float(np.mean([float(getattr(s, m)) for s in scores])) if n else 0.0
        return row

    def summary(self) -> dict[tuple[str, int], dict]:
        """``(algorithm, length) -> {count, exact_match, parsed, shape_match,
        accuracy}``, each metric the mean over that group's examples."""
        return {key: self._mean(self._scores[key]) for key in sorted(self._scores)}

    def by_algorithm(self) -> dict[str, dict]:
        """The same means, over all lengths of each algorithm."""
        groups: dict[str, list[Score]] = defaultdict(list)
        for (algorithm, _), scores in self._scores.items():
            groups[algorithm].extend(scores)
        return {a: self._mean(groups[a]) for a in sorted(groups)}

    def rows(self) -> list[dict]:
        """:meth:`summary` as a list of flat dicts (for tables and CSV)."""
        return [{"algorithm": a, "length": n, **v} for (a, n), v in self.summary().items()]


def aggregate(records: Iterable) -> dict[tuple[str, int], dict]:
    """Means by ``(algorithm, length)`` of ``(algorithm, length, Score)``
    records (or dicts with those keys): see :meth:`Scoreboard.summary`."""
    board = Scoreboard()
    for record in records:
        if isinstance(record, Mapping):
            board.add(record["algorithm"], record["length"], record["score"])
        else:
            algorithm, length, result = record
            board.add(algorithm, length, result)
    return board.summary()


__all__ = ["METRICS", "PAPER_METRICS", "PaperScore", "Score", "Scoreboard", "aggregate",
           "compare", "paper_score", "score"]
