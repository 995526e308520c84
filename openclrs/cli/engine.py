"""``openclrs list``, ``show`` and ``generate``: the trace engine and its datasets."""

from __future__ import annotations

import time

from .. import specs
from .arguments import KeyValues, add_command, algorithm_name, nonnegative_int, positive_int, seed32


def cmd_list(args) -> int:
    if args.algorithm:
        spec = specs.SPECS[args.algorithm]
        from ..samplers import sampler_options

        print(f"{args.algorithm} ({specs.FAMILY_OF[args.algorithm]})")
        print(f"  {'probe':<16}{'stage':<8}{'location':<10}type")
        for name, (stage, location, type_) in spec.items():
            print(f"  {name:<16}{stage:<8}{location:<10}{type_}")
        print("  sampler options: " + ", ".join(
            f"{k}={v!r}" for k, v in sampler_options(args.algorithm).items()))
        return 0
    print(f"{'algorithm':<32}{'family':<21}{'in':>3}{'hint':>5}{'out':>4}  val/test x")
    for family, algs in specs.FAMILIES.items():
        for alg in algs:
            counts = [sum(1 for s, _, _ in specs.SPECS[alg].values() if s == stage)
                      for stage in (specs.Stage.INPUT, specs.Stage.HINT, specs.Stage.OUTPUT)]
            mark = "" if alg in specs.CLRS_30_ALGS else "  (not in CLRS-30)"
            mult = specs.NUM_SAMPLES_MULTIPLIER.get(alg, 1)
            print(f"{alg:<32}{family:<21}{counts[0]:>3}{counts[1]:>5}{counts[2]:>4}  {mult:>6}{mark}")
    print(f"\n{len(specs.CLRS_30_ALGS)} CLRS-30 algorithms in {len(specs.FAMILIES)} families; "
          "`openclrs list ALGORITHM` shows one spec.")
    return 0


def sampled_trace(args):
    """The trace ``--index`` of the stream ``(algorithm, --length, --seed,
    --option)``: the earlier samples' inputs (all their randomness) are
    drawn without running them."""
    from ..samplers import Sampler

    sampler = Sampler(args.algorithm, args.length, args.seed, **args.option)
    for _ in range(args.index):
        sampler.draw_inputs()
    return next(sampler)


def add_trace_options(p) -> None:
    """The options that pick one sampled trace (``show``, ``plot``)."""
    p.add_argument("algorithm", type=algorithm_name)
    p.add_argument("--length", type=positive_int, default=8, help="problem size (default 8)")
    p.add_argument("--seed", type=seed32, default=0, help="sampler seed (default 0)")
    p.add_argument("--index", type=nonnegative_int, default=0,
                   help="which sample of the seed's stream: 0 (default) is the first")
    p.add_argument("--option", action=KeyValues,
                   help="sampler option, e.g. p=0.3 (repeatable, each KEY once)")


def cmd_show(args) -> int:
    from ..display import render

    trace = sampled_trace(args)
    steps = None
    if args.step is not None:
        if not -trace.length <= args.step < trace.length:
            raise ValueError(f"--step {args.step} is out of range: this trace has "
                             f"{trace.length} hint step{'' if trace.length == 1 else 's'} "
                             f"(0 to {trace.length - 1}, or -1 for the last)")
        steps = [args.step % trace.length]
    print(render(trace, steps))
    return 0


def cmd_generate(args) -> int:
    from ..data import datasets

    root = args.root or datasets.default_root()
    if args.sparse:
        return _generate_sparse(args, root)
    salsa_only = [a for a in args.algorithms or () if a in specs.SALSA_SPECS]
    if salsa_only or args.large:
        raise ValueError(f"{', '.join(salsa_only) or '--large'}: SALSA-CLRS's sparse datasets "
                         "only; add --sparse")
    algorithms = args.algorithms or list(specs.CLRS_30_ALGS)
    if args.lengths:  # a custom set
        # One folder may hold several custom sets; one made with another
        # recipe under the same file names is replaced only with --force
        # (the builder refuses otherwise, saying so), and none goes into
        # the canonical folder (build_dataset refuses, naming the part).
        if args.splits is not None:
            raise ValueError("--splits picks canonical splits; a custom set (--lengths) is "
                             "named by --split")
        name = args.name or "custom"
        num_samples = args.num_samples or 1000
        seed = 0 if args.seed is None else args.seed
        parts = [datasets.Part(alg, args.split if len(args.lengths) == 1 else f"{args.split}_n{n}",
                               n, seed, num_samples, args.truncate_decimals, dict(args.option))
                 for alg in algorithms for n in args.lengths]
    else:
        if args.num_samples or args.option or args.truncate_decimals is not None \
                or args.split != "custom" or args.seed is not None:
            raise ValueError("--num-samples, --seed, --option, --split and --truncate-decimals "
                             "need --lengths (a custom set); the canonical splits are fixed")
        name = args.name or datasets.CANONICAL
        parts = datasets.canonical_parts(algorithms, args.splits or list(specs.SPLITS))
    folder = datasets.dataset_folder(name, root)
    start = time.perf_counter()
    manifest = datasets.build_dataset(parts, folder, workers=args.workers,
                                      progress=not args.quiet, force=args.force)
    seconds = time.perf_counter() - start
    # Every file and the manifest are written; only the summary is left, so
    # a closed output pipe from here on loses a table, never data.
    _summary(parts, manifest, folder, seconds)
    return 0


def _generate_sparse(args, root) -> int:
    """``generate --sparse``: SALSA-CLRS's splits of each algorithm, sparse
    (``build_sparse_dataset(salsa_parts(alg), folder)``), in ROOT/NAME
    (default ``salsa``)."""
    from ..data import datasets
    from ..data.sparse import build_sparse_dataset, salsa_parts

    stray = [flag for flag, value in (("--lengths", args.lengths), ("--option", args.option),
                                      ("--truncate-decimals", args.truncate_decimals),
                                      ("--split", args.split != "custom")) if value]
    if stray:
        raise ValueError(f"{', '.join(stray)} do not apply to --sparse (SALSA-CLRS's splits: "
                         "choose them with --splits, their size with --num-samples)")
    algorithms = args.algorithms or list(specs.SALSA_ALGS)  # SALSA-CLRS's six
    counts = ({kind: args.num_samples for kind in specs.SPLITS} if args.num_samples else None)
    seed = 0 if args.seed is None else args.seed
    parts = [part for alg in algorithms
             for part in salsa_parts(alg, seed, counts, large=args.large)
             if part.split.split("_")[0] in (args.splits or specs.SPLITS)]
    folder = datasets.dataset_folder(args.name or "salsa", root)
    start = time.perf_counter()
    manifest = build_sparse_dataset(parts, folder, workers=args.workers,
                                    progress=not args.quiet, force=args.force)
    seconds = time.perf_counter() - start
    total_bytes = 0
    print(f"{'algorithm':<16}{'split':<22}{'graphs':>8}{'hints':>7}{'MiB':>10}")
    for part in parts:
        entry = manifest["parts"][part.file]
        total_bytes += entry["bytes"]
        print(f"{part.algorithm:<16}{part.split:<22}{entry['num_samples']:>8}"
              f"{'yes' if entry['hints'] else 'no':>7}{entry['bytes'] / 2**20:>10.1f}")
    print(f"\n{sum(p.num_samples for p in parts)} graphs, {total_bytes / 2**20:.1f} MiB in "
          f"{folder} ({seconds:.1f} s)")
    return 0


def generate_algorithm(name: str) -> str:
    """A CLRS algorithm, or one of SALSA-CLRS's own two (``--sparse``)."""
    return name if name in specs.SALSA_SPECS else algorithm_name(name)


def _summary(parts, manifest, folder, seconds):
    splits = list(dict.fromkeys(p.split for p in parts))
    header = f"{'algorithm':<30}" + "".join(f"{s + ' (n, max T)':>22}" for s in splits)
    print(header)
    total_bytes = total_samples = 0
    for alg in dict.fromkeys(p.algorithm for p in parts):
        row = f"{alg:<30}"
        for split in splits:
            entry = manifest["parts"].get(f"{alg}/{split}.safetensors")
            if entry is None:
                row += f"{'-':>22}"
                continue
            cell = f"{entry['num_samples']} @ {entry['length']}, {entry['max_length']}"
            row += f"{cell:>22}"
            total_bytes += entry["bytes"]
            total_samples += entry["num_samples"]
        print(row)
    print(f"\n{total_samples} samples, {total_bytes / 2**20:.1f} MiB in {folder} "
          f"({seconds:.1f} s)")


def register(sub) -> None:
    """Add ``list``, ``show`` and ``generate`` to the top-level subparsers."""
    p = add_command(sub, "list", None)
    p.add_argument("algorithm", nargs="?", type=algorithm_name, help="show this algorithm's spec")
    p.set_defaults(func=cmd_list)

    p = add_command(sub, "show", None)
    add_trace_options(p)
    p.add_argument("--step", type=int,
                   help="print only this hint step (negative counts from the end)")
    p.set_defaults(func=cmd_show)

    p = add_command(
        sub, "generate",
        "Write datasets as safetensors files plus a manifest, in ROOT/NAME. "
        "Without --lengths: the canonical CLRS-30 splits (NAME clrs30). With "
        "--lengths: a custom set (NAME custom unless --name), one file per "
        "algorithm and length. Finished files are kept, so an interrupted run "
        "resumes; corrupted ones are rebuilt. A file made with another recipe is "
        "never replaced without --force: give the new set its own --name (or "
        "--split) instead. Two runs into one folder take turns (the second waits).")
    p.add_argument("--root", help="data folder (default: $OPENCLRS_DATA_DIR or "
                                  "~/.cache/openclrs)")
    p.add_argument("--name", help="dataset folder name inside ROOT (default clrs30, or custom "
                                  "with --lengths); letters, digits, '_' and '.'")
    p.add_argument("--algorithms", nargs="+", type=generate_algorithm, metavar="ALGO")
    p.add_argument("--splits", nargs="+", choices=specs.SPLITS, default=None,
                   help="canonical (or with --sparse, SALSA-CLRS's) splits to write "
                        "(default all)")
    p.add_argument("--sparse", action="store_true",
                   help="SALSA-CLRS's sparse datasets instead (NAME salsa): per algorithm "
                        "(default its six: " + ", ".join(specs.SALSA_ALGS) + ") train (10,000 "
                        "ER graphs, n <= 16, with hints), val (1,000) and 15 test sets "
                        "test_FAMILY_N (er/ws/delaunay, n = 16...1600, 1,000 each, no hints); "
                        "--num-samples sets every split's size, --seed the first split's seed")
    p.add_argument("--large", action="store_true",
                   help="with --sparse: also the test sets at n = 4096 and 16384")
    p.add_argument("--lengths", nargs="+", type=positive_int, metavar="N",
                   help="custom set: problem sizes")
    p.add_argument("--num-samples", type=positive_int, default=None,
                   help="custom set: samples per algorithm and length (default 1000); "
                        "--sparse: graphs per split")
    p.add_argument("--seed", type=seed32, default=None,
                   help="custom set or --sparse: seed (default 0)")
    p.add_argument("--split", default="custom",
                   help="custom set: split name, the files' name (default custom; with several "
                        "lengths, custom_nN)")
    p.add_argument("--truncate-decimals", type=int, default=None,
                   help="custom set: cut float inputs to this many decimals (default: none)")
    p.add_argument("--option", action=KeyValues,
                   help="custom set: sampler option, e.g. p=0.3 (repeatable, each KEY once)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: one per core this process may use)")
    p.add_argument("--force", action="store_true",
                   help="replace files of this dataset that were made with another recipe")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)
