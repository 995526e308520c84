"""The ``openclrs`` command line: one module per command group on top of
shared argument types (:mod:`.arguments`) and one exit policy (:mod:`.policy`).

It only parses arguments and calls into the library; nothing below imports it.
A command builds only its own group's options (the others are listed by name),
and no module imports numpy or torch to build its options, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .policy import run_command

# command -> (the module of this package that registers it, its line in `openclrs --help`)
COMMANDS = {
    "list": ("engine", "list algorithms, families and specs"),
    "show": ("engine", "sample one trace and print it step by step"),
    "generate": ("engine", "write the canonical CLRS-30 splits (default) or a custom set"),
    "plot": ("pictures", "draw one sampled trace: input, hint steps and output (PNG, GIF)"),
    "view": ("pictures", "one trace (or a run's prediction) as a self-contained HTML page"),
    "train": ("training", "train a reasoner (published Triplet-GMPNN recipe by default)"),
    "evaluate": ("training", "re-evaluate a training run's checkpoint"),
    "text": ("text", "CLRS-Text: the benchmark as language-model text"),
    "diagnose": ("diagnose", "collapse, over-squashing, RoPE and task diagnostics of a causal LM"),
    "ponder": ("ponder", "learned halting: PonderNet, ACT, fixed steps on the parity task"),
    "transnar": ("transnar", "TransNAR: a Transformer cross-attending to a trained reasoner"),
}
DESCRIPTION = "The CLRS algorithmic reasoning benchmark: exact, fast, PyTorch-native."


def build_parser(groups=None) -> argparse.ArgumentParser:
    """The ``openclrs`` parser. ``groups``: the modules (``"engine"``,
    ``"training"``, ``"text"``) whose commands get their full options; the
    other commands are listed with their help line only. Default: all."""
    parser = argparse.ArgumentParser(prog="openclrs", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    built = set()
    for command, (module, help_text) in COMMANDS.items():
        if groups is not None and module not in groups:
            sub.add_parser(command, help=help_text)
        elif module not in built:
            importlib.import_module(f".{module}", __name__).register(sub)
            built.add(module)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    group = COMMANDS[argv[0]][0] if argv and argv[0] in COMMANDS else None
    args = build_parser(groups={group} if group else set()).parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
