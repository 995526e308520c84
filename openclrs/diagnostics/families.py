"""The sequence pairs of the representational-collapse probe (plain Python).

Barbero et al. 2024 ("Transformers need glasses!", §4, Fig. 5) compare the
last token of a sequence with ``n`` digits to that of one with ``n + 1``
where the last digit is repeated: ``v = [prompt, d_1 .. d_n]`` against
``v* = [prompt, d_1 .. d_n, d_n]``. A :class:`Pair` is such a comparison,
each side a :class:`Text` (``prefix`` tokenised as text, then ``body``, the
digits, then ``suffix``), so that the caller decides how the digits are cut
into tokens (see :meth:`openclrs.diagnostics.models.DiagnosedModel.tokenize_parts`).

Families (``n`` digits vs ``n + 1``):

* ``count_ones``: "How many ones are in the following sequence? " + ones (Fig. 5a);
* ``count_random``: the same prompt, ``n - 1`` uniform random digits then one
  ``1`` vs two ``1`` s (Fig. 5b);
* ``copy_ones``: "Copy the following number: " + ones (Fig. 5c);
* ``copy_ones_separated``: as copy_ones with a separator (``","``) after every
  ``every`` (3) digits (Fig. 5d, the paper's remedy);
* ``count_ones_separated``: count_ones with the separators;
* a template: any text with ``{seq}`` where the ``n`` vs ``n + 1`` repeated
  units go.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

COUNT_PROMPT = "How many ones are in the following sequence? "
COPY_PROMPT = "Copy the following number: "
FAMILY_NAMES = ("count_ones", "count_random", "copy_ones", "copy_ones_separated",
                "count_ones_separated")


@dataclass(frozen=True)
class Text:
    prefix: str
    body: str
    suffix: str = ""

    @property
    def text(self) -> str:
        return self.prefix + self.body + self.suffix


@dataclass(frozen=True)
class Pair:
    """The ``n``-digit sequence ``a`` and the ``n + 1``-digit ``b``."""

    n: int
    a: Text
    b: Text


def random_digits(count: int, seed: int, n: int) -> str:
    """``count`` uniform random decimal digits, a function of ``(seed, n)``
    alone (``n``: the length being probed), so every length gets its own
    digits and a rerun the same ones.

    The stream is Python's ``random.Random(seed · 1,000,003 + n)``, not
    :func:`openclrs.training.runs.derive_seed`: the README's measured
    figures (the count_random curve of the count-ones LM) were made with
    these digits, and this keeps them reproducible. Every random digit
    string of the diagnostics (count_random, ``oversquash --sequence
    random``) comes from here."""
    rng = random.Random(seed * 1_000_003 + n)
    return "".join(rng.choice("0123456789") for _ in range(count))


def separated(digits: str, separator: str, every: int) -> str:
    """``digits`` with ``separator`` after every ``every`` of them (not at the end)."""
    groups = [digits[i:i + every] for i in range(0, len(digits), every)]
    return separator.join(groups)


@dataclass(frozen=True)
class Family:
    """A named way to build the pair for every ``n``. ``kind``: ``"repeat"``
    (``n`` vs ``n + 1`` copies of ``unit``) or ``"random"`` (random digits
    ending in one vs two ``unit`` s)."""

    name: str
    prefix: str
    suffix: str = ""
    unit: str = "1"
    kind: str = "repeat"
    separator: str | None = None
    every: int = 3
    seed: int = 0

    def pair(self, n: int) -> Pair:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if self.kind == "repeat":
            body_a, body_b = self.unit * n, self.unit * (n + 1)
        elif self.kind == "random":
            digits = random_digits(n - 1, self.seed, n)
            body_a, body_b = digits + self.unit, digits + self.unit * 2
        else:
            raise ValueError(f"unknown family kind {self.kind!r}")
        if self.separator:
            body_a = separated(body_a, self.separator, self.every)
            body_b = separated(body_b, self.separator, self.every)
        return Pair(n, Text(self.prefix, body_a, self.suffix), Text(self.prefix, body_b,
                                                                     self.suffix))

    def describe(self) -> dict:
        return {"name": self.name, "prefix": self.prefix, "suffix": self.suffix,
                "unit": self.unit, "kind": self.kind, "separator": self.separator,
                "every": self.every, "seed": self.seed, "example": self.pair(4).b.text}


def make_family(name: str, separator: str = ",", every: int = 3, seed: int = 0) -> Family:
    """The paper's family called ``name`` (:data:`FAMILY_NAMES`)."""
    if name == "count_ones":
        return Family(name, COUNT_PROMPT)
    if name == "count_random":
        return Family(name, COUNT_PROMPT, kind="random", seed=seed)
    if name == "copy_ones":
        return Family(name, COPY_PROMPT)
    if name == "copy_ones_separated":
        return Family(name, COPY_PROMPT, separator=separator, every=every)
    if name == "count_ones_separated":
        return Family(name, COUNT_PROMPT, separator=separator, every=every)
    raise ValueError(f"unknown family {name!r}; choose from {', '.join(FAMILY_NAMES)} "
                     "or give a template")


def template_family(template: str, unit: str = "1", name: str | None = None) -> Family:
    """A family from ``template``: text with one ``{seq}`` where the repeated
    ``unit`` s go."""
    if template.count("{seq}") != 1:
        raise ValueError(f"a template needs exactly one {{seq}} (where the repeated digits "
                         f"go), got {template!r}")
    if not unit:
        raise ValueError("the repeated unit must not be empty")
    prefix, suffix = template.split("{seq}")
    return Family(name or f"template:{template}", prefix, suffix, unit=unit)
