"""Argument types shared by every command group, with messages that name
what is wrong (argparse turns an ``ArgumentTypeError`` into a usage error)."""

from __future__ import annotations

import argparse
import ast
import math

from .. import specs


def algorithm_name(name: str) -> str:
    try:
        return specs.check_algorithm(name)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def key_value(text: str):
    """``KEY=VALUE`` with VALUE a Python literal (``p=0.3``, ``p=(0.1,0.5)``);
    numbers must be finite (``1e999`` reads as infinity)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a name, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise argparse.ArgumentTypeError(f"cannot read value of {key}: {value!r}") from None
    if not _finite(parsed):
        raise argparse.ArgumentTypeError(
            f"{key}={value}: numbers must be finite (this one overflows to infinity)")
    return key, parsed


def _finite(value) -> bool:
    if isinstance(value, (float, complex)):
        return math.isfinite(value.real) and math.isfinite(value.imag)
    if isinstance(value, (tuple, list, set, frozenset)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(k) and _finite(v) for k, v in value.items())
    return True


class KeyValues(argparse.Action):
    """A repeatable ``--option KEY=VALUE`` (type :func:`key_value`) collected
    into a dict; giving one KEY twice is an error rather than last-wins."""

    def __init__(self, option_strings, dest, default=None, **kwargs):
        kwargs.setdefault("type", key_value)
        kwargs.setdefault("metavar", "KEY=VALUE")
        super().__init__(option_strings, dest, default={} if default is None else default,
                         **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        key, value = values
        options = dict(getattr(namespace, self.dest, None) or {})
        if key in options:
            raise argparse.ArgumentError(
                self, f"{key} given twice ({key}={options[key]!r} and {key}={value!r}); "
                      "give each option once")
        options[key] = value
        setattr(namespace, self.dest, options)


def seed32(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {value}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value
