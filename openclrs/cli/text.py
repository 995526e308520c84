"""``openclrs text ...``: write the CLRS-Text datasets from the command line.

::

    openclrs text generate --split train --out data/clrs_text          # 2,150,000 examples
    openclrs text generate --split eval --out data/clrs_text           # 514,375
    openclrs text generate --algorithms bfs dfs --lengths 8 16 --num-samples 1000 \\
        --seed 7 --name bfs_dfs --hints --out data/mine
    openclrs text config --split eval                                   # the table
    openclrs text train --algorithms minimum --lengths 4 5 --steps 2000 --out runs/min
    openclrs text evaluate --checkpoint runs/min --lengths 4 8 16 --num-samples 100

The top-level CLI calls :func:`register`; ``python -m openclrs.cli.text``
(or :func:`main`) runs the group on its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .arguments import add_command, algorithm_name, positive_int, seed32
from .policy import run_command


SPLIT_CHOICES = ("train", "eval", "val")


def build_split(args):
    """The :class:`~openclrs.text.splits.TextSplit` the options ask for."""
    from ..text.splits import get_split

    published = get_split(args.split)
    spec = published
    if args.algorithms:
        if args.lengths:  # any algorithm, with the given lengths
            spec = spec.replace(lengths={a: tuple(args.lengths) for a in args.algorithms},
                                sampler_kwargs={})
        else:
            spec = spec.select(args.algorithms)
    elif args.lengths:
        spec = spec.replace(lengths={a: tuple(args.lengths) for a in spec.lengths})
    changes = {}
    if args.num_samples is not None:
        changes["num_samples"] = args.num_samples
    if args.seed:
        changes["seeds"] = tuple(args.seed)
    if args.hints is not None:
        changes["use_hints"] = args.hints
    if args.legacy_floats:
        changes["float_format"] = "legacy"
    spec = spec.replace(**changes) if changes else spec
    return spec.replace(name=args.name or default_name(published, spec))


def default_name(published, spec) -> str:
    """The name a split gets without ``--name``: the published split's
    (``train``, ``eval``) while its lengths, sample count and seeds are the
    published ones (a subset of its algorithms included), else ``custom``;
    ``_hints`` and ``_legacy`` are appended for those variants. So a custom
    recipe never takes the published split's file names."""
    same_streams = spec.num_samples == published.num_samples \
        and spec.seeds == published.seeds \
        and all(published.lengths.get(a) == ls for a, ls in spec.lengths.items())
    name = published.name if same_streams else "custom"
    if spec.use_hints != published.use_hints:
        name += "_hints" if spec.use_hints else "_nohints"
    if spec.float_format != published.float_format:
        name += f"_{spec.float_format}"
    return name


def cmd_generate(args) -> int:
    from ..text.datasets import generate_text_dataset, summary

    spec = build_split(args)
    if not args.quiet:
        print(summary(spec), file=sys.stderr)
    start = time.perf_counter()
    manifest = generate_text_dataset(args.out, spec, format=args.format,
                                     shard_size=args.shard_size, workers=args.workers,
                                     progress=not args.quiet, include_text=args.text,
                                     verify=args.verify, force=args.force)
    seconds = time.perf_counter() - start
    # Every shard and the manifest are written; only the summary is left, so
    # a closed output pipe from here on loses a line of text, never data.
    mine = [e for e in manifest["shards"].values() if e["algorithm"] in spec.lengths]
    examples = sum(e["num_examples"] for e in mine)
    size = sum(e["bytes"] for e in mine)
    pattern = os.path.join(args.out, f"{spec.name}-*.{args.format}")
    kind = "json" if args.format == "jsonl" else "parquet"
    print(f"{examples:,} examples in {len(mine)} files, {size / 2 ** 20:,.1f} MiB, in "
          f"{args.out} ({seconds:.1f} s); manifest-{spec.name}.json lists them.\n"
          f"Load: datasets.load_dataset({kind!r}, data_files={pattern!r})")
    return 0


def cmd_config(args) -> int:
    from ..text.splits import summary

    print(summary(build_split(args)))
    return 0


def _split_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", choices=SPLIT_CHOICES, default="train",
                   help="published configuration to start from (default train; "
                        "'val' is the published name of eval)")
    p.add_argument("--algorithms", nargs="+", type=algorithm_name, metavar="ALGO",
                   help="only these algorithms (with --lengths: any algorithm)")
    p.add_argument("--lengths", nargs="+", type=positive_int, metavar="N",
                   help="these lengths for every chosen algorithm instead of the published ones")
    p.add_argument("--num-samples", type=positive_int, default=None, metavar="K",
                   help="examples per (algorithm, length, seed) (published: train 10000, "
                        "eval 125)")
    p.add_argument("--seed", type=seed32, nargs="+", metavar="S",
                   help="sampler seed(s), one stream each (published: train 0, "
                        "eval 3 14 35 81 94)")
    p.add_argument("--name", help="split name, the files' prefix: letters, digits, '_' and '.' "
                                  "(default: the published split's name for its own recipe, "
                                  "'custom' once --lengths, --num-samples or --seed change it; "
                                  "'_hints' or '_legacy' appended for those options)")
    p.add_argument("--hints", action=argparse.BooleanOptionalAction, default=None,
                   help="spell out the algorithm's trace (default: off, as published)")
    p.add_argument("--legacy-floats", action="store_true",
                   help="the July 2024 release's floats: untruncated inputs, 3 significant "
                        "digits (default: inputs truncated to 3 decimals, written exactly)")


def add_commands(subparsers) -> None:
    """Add ``generate`` and ``config`` to the ``text`` group's subparsers."""
    from ..text.writers import DEFAULT_SHARD_SIZE, FILE_FORMATS

    p = subparsers.add_parser(
        "generate", help="write a CLRS-Text split as sharded JSONL or Parquet files",
        description="Write the published CLRS-Text train (2,150,000 examples) or eval "
                    "(514,375) split, or a custom one, as sharded files plus a manifest. "
                    "Finished shards are kept, so an interrupted run resumes; corrupted ones "
                    "are rebuilt. The files are identical for any number of workers. Shards "
                    "made with another recipe are never replaced without --force, and a "
                    "custom recipe gets its own default name (custom); two runs into one "
                    "folder take turns (the second waits).")
    _split_options(p)
    p.add_argument("--out", default="clrs_text", help="output folder (default ./clrs_text)")
    p.add_argument("--format", choices=FILE_FORMATS, default="jsonl",
                   help="jsonl (default) or parquet (needs pyarrow)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: one per core this process may use)")
    p.add_argument("--shard-size", type=positive_int, default=DEFAULT_SHARD_SIZE, metavar="K",
                   help=f"examples per file (default {DEFAULT_SHARD_SIZE})")
    p.add_argument("--no-text", dest="text", action="store_false",
                   help="leave out the 'text' column (question + answer)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="trust finished shards of the right size without hashing them")
    p.add_argument("--force", action="store_true",
                   help="replace or remove shards of this split that were made with another "
                        "recipe (without it, generate refuses and changes nothing)")
    p.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    p.set_defaults(func=cmd_generate)

    p = subparsers.add_parser("config", help="print a split's configuration table",
                              description="Print the lengths and example counts of a split.")
    _split_options(p)
    p.set_defaults(func=cmd_config)


DESCRIPTION = "CLRS-Text datasets: the published train and eval splits as question/answer text."


def _add_group(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="text_command", metavar="COMMAND", required=True)
    add_commands(sub)
    from .lm import add_lm_commands

    add_lm_commands(sub)
    return parser


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``text`` command group to a top-level CLI's subparsers."""
    return _add_group(add_command(subparsers, "text", DESCRIPTION))


def build_parser() -> argparse.ArgumentParser:
    """The group on its own (``openclrs text``'s parser)."""
    return _add_group(argparse.ArgumentParser(prog="openclrs text", description=DESCRIPTION))


def main(argv=None) -> int:
    """``openclrs text ...`` on its own: ``main(["generate", "--split", "eval"])``
    (a leading ``"text"`` is accepted too)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["text"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
