"""The ``openclrs`` command line: one module per command group on top of
shared argument types (:mod:`.arguments`) and one exit policy (:mod:`.policy`).

It only parses arguments and calls into the library; nothing below imports it.
"""

from __future__ import annotations

import argparse
import sys

from .policy import run_command

TRAINING_COMMANDS = {"train": "train a neural reasoner (PyTorch)",
                     "evaluate": "evaluate a trained run on stored splits"}


def build_parser(with_training: bool = True) -> argparse.ArgumentParser:
    """The full parser; ``with_training=False`` lists ``train``/``evaluate``
    without building their options, so other commands never import torch."""
    from . import engine, text

    parser = argparse.ArgumentParser(
        prog="openclrs",
        description="The CLRS algorithmic reasoning benchmark: exact, fast, PyTorch-native.")
    sub = parser.add_subparsers(dest="command", required=True)
    engine.register(sub)  # `openclrs list`, `show`, `generate`
    if with_training:
        from . import training

        training.register(sub)  # `openclrs train`, `openclrs evaluate`
    else:
        for name, help_text in TRAINING_COMMANDS.items():
            sub.add_parser(name, help=help_text)
    text.register(sub)  # `openclrs text ...`: CLRS-Text
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(with_training=bool(argv) and argv[0] in TRAINING_COMMANDS)
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
