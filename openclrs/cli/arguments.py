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


def _number(text: str, parse, ok, expected: str):
    """``parse(text)`` if it gives a value with ``ok(value)``; otherwise an
    ``ArgumentTypeError`` saying what was ``expected``."""
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


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
    return _number(text, int, lambda v: 0 <= v < 2 ** 32, "an integer seed in [0, 2**32)")


def memory_size(text: str) -> int:
    """Bytes from ``2G``, ``500M``, ``1.5GB`` or a plain number of bytes."""
    from ..training.memory import parse_size

    return _number(text, parse_size, lambda v: v >= 1,
                   "a memory size such as 2G, 500M or 1.5GB")


def fraction(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


# ------------------------------------------------- options from config dataclasses

def add_command(subparsers, name: str, description: str, **kwargs) -> argparse.ArgumentParser:
    """Add the top-level command ``name`` (a command or a command group) to
    ``subparsers``, with its line in ``openclrs --help`` from the one table
    of them, :data:`openclrs.cli.COMMANDS`."""
    from . import COMMANDS

    return subparsers.add_parser(name, help=COMMANDS[name][1], description=description,
                                 **kwargs)


def _plain_type(annotation):
    """``(base type, is_list)`` of a field annotation: ``int``, ``float``,
    ``str``, ``bool``, ``dict``, ``list[int]``, ``tuple[str, ...]``, each
    possibly ``| None``."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"cannot make an option of {annotation}")
        return _plain_type(args[0])
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return (args[0] if args else str), origin
    if origin is dict or annotation is dict:
        return dict, None
    if annotation in (list, tuple):
        return str, annotation
    return annotation, None


def _default_text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def add_dataclass_arguments(parser, cls, overrides: dict | None = None, _prefix: str = "",
                            _group=None):
    """Add one option per field of the dataclass ``cls`` (and, for a field
    that is itself a dataclass, an argument group of its fields); returns
    ``from_args(args, **fixed) -> cls`` that builds the config back from the
    parsed namespace (``fixed`` sets fields given no option).

    What an option looks like comes from the field: its name (``hidden_size``
    -> ``--hidden-size``), its type (``int``/``float``/``str``; ``bool`` ->
    ``--x/--no-x``; ``list[int]`` -> ``--x N [N ...]``; ``dict`` -> a
    repeatable ``--x KEY=VALUE``), its default (shown in ``--help``) and its
    ``metadata``, merged with ``overrides[dotted name]`` (for dataclasses
    whose module does not say)::

        help     help text
        flag     option name without dashes (default: the field name, dashes)
        choices  allowed values
        metavar  shown in --help
        type     parser of one value (default: from the annotation)
        required True: the option must be given
        cli      False: no option (the field keeps its default or a ``fixed`` value)
        title    for a nested dataclass: its argument group's title
    """
    import dataclasses
    import typing

    overrides = overrides or {}
    hints = typing.get_type_hints(cls)
    target = _group or parser
    builders = []  # (field name, how to read it back)
    for f in dataclasses.fields(cls):
        name = _prefix + f.name
        meta = {**f.metadata, **overrides.get(name, {})}
        if meta.get("cli", True) is False or not f.init:
            continue
        annotation = hints[f.name]
        if dataclasses.is_dataclass(annotation):
            title = meta.get("title", f.name)
            group = parser.add_argument_group(title, meta.get("help"))
            sub = add_dataclass_arguments(parser, annotation, overrides, name + ".", group)
            builders.append((f.name, lambda args, sub=sub: sub(args)))
            continue
        default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                   else f.default)
        flag = "--" + meta.get("flag", f.name.replace("_", "-"))
        base, sequence = _plain_type(annotation)
        help_text = meta.get("help", "")
        kwargs = {"dest": name, "default": default}
        if base is not bool and meta.get("choices") is None:
            kwargs["metavar"] = flag[2:].upper().replace("-", "_")
        if meta.get("required"):
            kwargs["required"], default = True, None
        if meta.get("choices") is not None:
            kwargs["choices"] = meta["choices"]
        if meta.get("metavar") is not None:
            kwargs["metavar"] = meta["metavar"]
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif base is dict:
            kwargs.update(action=KeyValues, default=None,
                          metavar=meta.get("metavar", "KEY=VALUE"))
            help_text = (help_text + " (repeatable)").strip()
        else:
            kwargs["type"] = meta.get("type", base)
            if sequence is not None:
                kwargs["nargs"] = "+"
        if default not in (None, {}, [], ()) and base is not dict:
            help_text = f"{help_text} (default: {_default_text(default)})".strip()
        target.add_argument(flag, help=help_text or None, **kwargs)

        def read(args, name=name, base=base, sequence=sequence, default=default):
            value = getattr(args, name)
            if base is dict:
                return {**default, **(value or {})}
            if sequence is tuple and value is not None:
                return tuple(value)
            return value
        builders.append((f.name, read))

    def from_args(args, **fixed):
        return cls(**{**{n: read(args) for n, read in builders}, **fixed})
    return from_args
