"""``openclrs text ...``: write the CLRS-Text datasets from the command line.

::

    openclrs text generate --split train --out data/clrs_text          # 2,150,000 examples
    openclrs text generate --split eval --out data/clrs_text           # 514,375
    openclrs text generate --algorithms bfs dfs --lengths 8 16 --num-samples 1000 \\
        --seed 7 --name bfs_dfs --hints --out data/mine
    openclrs text config --split eval                                   # the table
    openclrs text train --algorithms minimum --lengths 4 5 --steps 2000 --out runs/min
    openclrs text evaluate --checkpoint runs/min --lengths 4 8 16 --num-samples 100

The top-level CLI calls :func:`register`; ``python -m openclrs.text.cli``
(or :func:`main`) runs the group on its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..cli import _algorithm, _positive, run_command


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {value}")
    return value


SPLIT_CHOICES = ("train", "eval", "val")


def build_split(args):
    """The :class:`~openclrs.text.datasets.TextSplit` the options ask for."""
    from .datasets import get_split

    spec = get_split(args.split)
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
    if args.name:
        changes["name"] = args.name
    if args.hints is not None:
        changes["use_hints"] = args.hints
    if args.legacy_floats:
        changes["float_format"] = "legacy"
    return spec.replace(**changes) if changes else spec


def cmd_generate(args) -> int:
    from .datasets import generate_text_dataset, summary

    spec = build_split(args)
    if not args.quiet:
        print(summary(spec), file=sys.stderr)
    start = time.perf_counter()
    try:
        manifest = generate_text_dataset(args.out, spec, format=args.format,
                                          shard_size=args.shard_size, workers=args.workers,
                                          progress=not args.quiet, include_text=args.text,
                                          verify=args.verify)
    except ImportError as e:  # parquet without pyarrow
        print(f"error: {e}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
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
    from .datasets import summary

    print(summary(build_split(args)))
    return 0


def _split_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", choices=SPLIT_CHOICES, default="train",
                   help="published configuration to start from (default train; "
                        "'val' is the published name of eval)")
    p.add_argument("--algorithms", nargs="+", type=_algorithm, metavar="ALGO",
                   help="only these algorithms (with --lengths: any algorithm)")
    p.add_argument("--lengths", nargs="+", type=_positive, metavar="N",
                   help="these lengths for every chosen algorithm instead of the published ones")
    p.add_argument("--num-samples", type=_positive, default=None, metavar="K",
                   help="examples per (algorithm, length, seed) (published: train 10000, "
                        "eval 125)")
    p.add_argument("--seed", type=_seed, nargs="+", metavar="S",
                   help="sampler seed(s), one stream each (published: train 0, "
                        "eval 3 14 35 81 94)")
    p.add_argument("--name", help="split name, the files' prefix (default: the split's)")
    p.add_argument("--hints", action=argparse.BooleanOptionalAction, default=None,
                   help="spell out the algorithm's trace (default: off, as published)")
    p.add_argument("--legacy-floats", action="store_true",
                   help="the July 2024 release's floats: untruncated inputs, 3 significant "
                        "digits (default: inputs truncated to 3 decimals, written exactly)")


def add_commands(subparsers) -> None:
    """Add ``generate`` and ``config`` to the ``text`` group's subparsers."""
    from .datasets import DEFAULT_SHARD_SIZE, FILE_FORMATS

    p = subparsers.add_parser(
        "generate", help="write a CLRS-Text split as sharded JSONL or Parquet files",
        description="Write the published CLRS-Text train (2,150,000 examples) or eval "
                    "(514,375) split, or a custom one, as sharded files plus a manifest. "
                    "Finished shards are kept, so an interrupted run resumes; corrupted ones "
                    "are rebuilt. The files are identical for any number of workers.")
    _split_options(p)
    p.add_argument("--out", default="clrs_text", help="output folder (default ./clrs_text)")
    p.add_argument("--format", choices=FILE_FORMATS, default="jsonl",
                   help="jsonl (default) or parquet (needs pyarrow)")
    p.add_argument("--workers", type=_positive, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--shard-size", type=_positive, default=DEFAULT_SHARD_SIZE, metavar="K",
                   help=f"examples per file (default {DEFAULT_SHARD_SIZE})")
    p.add_argument("--no-text", dest="text", action="store_false",
                   help="leave out the 'text' column (question + answer)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="trust finished shards of the right size without hashing them")
    p.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    p.set_defaults(func=cmd_generate)

    p = subparsers.add_parser("config", help="print a split's configuration table",
                              description="Print the lengths and example counts of a split.")
    _split_options(p)
    p.set_defaults(func=cmd_config)


# --------------------------------------------------------------------------
# `openclrs text train` / `openclrs text evaluate`: the small LM of
# openclrs.text.lm (PyTorch), trained and scored on CLRS-Text.
# --------------------------------------------------------------------------

POS_ENCODING_CHOICES = ("rope", "p-rope", "learned", "none", "random")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def _train_lengths(train_cfg: dict) -> dict:
    return {a: list(train_cfg.get("lengths", ())) for a in train_cfg.get("algorithms", ())}


def _report(board, train_lengths: dict, out: str, plot: str | None, meta: dict,
            quiet: bool = False) -> None:
    from .lm_train import format_table, plot_scores, save_results

    print(format_table(board, train_lengths))
    save_results(out, board, {**meta, "train_lengths": train_lengths})
    if not quiet:
        print(f"scores: {out}", file=sys.stderr)
    if plot:
        title = meta.get("model")
        if plot_scores(board.rows(), plot, train_lengths, title=title) and not quiet:
            print(f"plot: {plot}", file=sys.stderr)


def cmd_train(args) -> int:
    from .lm import LMConfig
    from .lm_train import TrainConfig, evaluate_checkpoint, train

    model_cfg = LMConfig(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                         block_size=args.block_size, dropout=args.dropout,
                         pos_encoding=args.pos_encoding, rope_base=args.rope_base,
                         p_rope=args.p_rope, max_random_position=args.max_random_position,
                         random_base=args.random_base)
    cfg = TrainConfig(out_dir=args.out, algorithms=tuple(args.algorithms),
                      lengths=tuple(args.lengths or ()), data_files=tuple(args.data or ()),
                      use_hints=args.hints, steps=args.steps, batch_size=args.batch_size,
                      learning_rate=args.lr, min_lr=args.min_lr if args.min_lr is not None
                      else args.lr / 10, warmup_steps=args.warmup,
                      weight_decay=args.weight_decay, grad_clip=args.grad_clip, seed=args.seed,
                      checkpoint_every=args.checkpoint_every,
                      keep_checkpoints=args.keep_checkpoints, threads=args.threads,
                      device=args.device, progress=not args.quiet)
    if not cfg.data_files and not cfg.lengths:
        raise ValueError("give --lengths (examples generated on the fly) or --data FILES")
    model, _ = train(model_cfg, cfg, resume=args.resume)
    if not args.quiet:
        print(f"{model.num_parameters():,} parameters; checkpoints in {args.out}",
              file=sys.stderr)
    if args.eval_lengths:
        board, train_cfg = evaluate_checkpoint(args.out, args.algorithms, args.eval_lengths,
                                               args.eval_samples, batch_size=args.eval_batch_size,
                                               device=args.device, progress=not args.quiet)
        _report(board, _train_lengths(train_cfg), os.path.join(args.out, "eval.json"),
                os.path.join(args.out, "eval.png"),
                {"model": f"{args.out} ({args.pos_encoding})", "checkpoint": args.out,
                 "num_samples": args.eval_samples}, args.quiet)
    return 0


def cmd_evaluate(args) -> int:
    import torch

    from .lm_train import EVAL_SEED, evaluate, evaluate_checkpoint, hf_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    seed = EVAL_SEED if args.seed is None else args.seed
    if args.checkpoint:
        board, train_cfg = evaluate_checkpoint(
            args.checkpoint, args.algorithms, args.lengths, args.num_samples, seed,
            args.batch_size or 64, args.device, args.max_new_tokens, progress=not args.quiet)
        train_lengths = _train_lengths(train_cfg)
        run_dir = args.checkpoint if os.path.isdir(args.checkpoint) else "."
        out = args.out or os.path.join(run_dir, "eval.json")
        name = os.path.basename(os.path.normpath(args.checkpoint))
    else:
        if not args.algorithms or not args.lengths:
            raise ValueError("--hf-model needs --algorithms and --lengths")
        try:
            generate_fn = hf_generator(args.hf_model, args.batch_size or 16, args.device)
        except (ImportError, OSError) as e:  # no transformers; not a model folder
            print(f"error: {e}", file=sys.stderr)
            return 2
        board = evaluate(generate_fn, args.algorithms, args.lengths, args.num_samples, seed,
                         args.hints, args.max_new_tokens, progress=not args.quiet)
        train_lengths = {a: list(args.train_lengths or ()) for a in args.algorithms}
        out = args.out or "eval.json"
        name = os.path.basename(os.path.normpath(args.hf_model))
    if args.train_lengths:
        train_lengths = {a: list(args.train_lengths) for a in board.by_algorithm()}
    plot = None if args.no_plot else os.path.splitext(out)[0] + ".png"
    _report(board, train_lengths, out, plot,
            {"model": name, "checkpoint": args.checkpoint, "hf_model": args.hf_model,
             "num_samples": args.num_samples, "seed": seed}, args.quiet)
    return 0


def add_lm_commands(subparsers) -> None:
    """Add ``train`` and ``evaluate`` (the small CLRS-Text LM) to the ``text``
    group's subparsers."""
    p = subparsers.add_parser(
        "train", help="train a small Transformer on CLRS-Text (PyTorch)",
        description="Train a small decoder-only Transformer (character tokens) on CLRS-Text "
                    "question/answer pairs, the loss on the answer only. Examples are "
                    "generated on the fly from --algorithms and --lengths, or read from "
                    "JSONL files (--data, from `openclrs text generate`). Checkpoints go to "
                    "--out; running the same command again resumes from the last one.")
    p.add_argument("--algorithms", nargs="+", type=_algorithm, metavar="ALGO", required=True)
    p.add_argument("--lengths", nargs="+", type=_positive, metavar="N",
                   help="train lengths (examples generated on the fly)")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="JSONL files or folders of them instead of on-the-fly examples")
    p.add_argument("--hints", action="store_true", help="answers spell out the trace")
    p.add_argument("--steps", type=_positive, default=2000, help="optimizer steps (default 2000)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, log.jsonl)")
    g = p.add_argument_group("model")
    g.add_argument("--pos-encoding", choices=POS_ENCODING_CHOICES, default="rope",
                   help="positional encoding (default rope)")
    g.add_argument("--p-rope", type=_fraction, default=0.75,
                   help="p-rope: fraction of (the highest) frequencies rotated (default 0.75)")
    g.add_argument("--rope-base", type=float, default=10000.0, help="RoPE base (default 1e4)")
    g.add_argument("--max-random-position", type=_positive, default=2048,
                   help="random: positions are drawn from [0, this) (default 2048)")
    g.add_argument("--random-base", choices=("rope", "p-rope", "learned"), default="rope",
                   help="random: the encoding the random positions feed (default rope)")
    g.add_argument("--n-layer", type=_positive, default=4)
    g.add_argument("--n-head", type=_positive, default=4)
    g.add_argument("--n-embd", type=_positive, default=128)
    g.add_argument("--block-size", type=_positive, default=2048,
                   help="longest training sequence in characters; learned: positions (2048)")
    g.add_argument("--dropout", type=float, default=0.0)
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=_positive, default=32)
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    g.add_argument("--min-lr", type=float, default=None, help="final learning rate (lr/10)")
    g.add_argument("--warmup", type=int, default=100, help="warmup steps (default 100)")
    g.add_argument("--weight-decay", type=float, default=0.1)
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--seed", type=_seed, default=0)
    g.add_argument("--checkpoint-every", type=_positive, default=500)
    g.add_argument("--keep-checkpoints", type=_positive, default=1)
    g.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start afresh even if --out has a checkpoint")
    g.add_argument("--threads", type=_positive, default=None, help="torch CPU threads")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g = p.add_argument_group("evaluation after training")
    g.add_argument("--eval-lengths", nargs="+", type=_positive, metavar="N",
                   help="evaluate at these lengths when done (writes eval.json, eval.png)")
    g.add_argument("--eval-samples", type=_positive, default=100)
    g.add_argument("--eval-batch-size", type=_positive, default=64)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # (openclrs.cli.main reads args.num_samples whenever --lengths is given)
    p.set_defaults(func=cmd_train, num_samples=None)

    p = subparsers.add_parser(
        "evaluate", help="score a trained LM (or a local Hugging Face model) on CLRS-Text",
        description="Greedy answers to CLRS-Text questions, scored (exact match, parsed, shape, "
                    "per-element accuracy) per (algorithm, length): a table, a JSON file and a "
                    "plot of accuracy against length (if matplotlib is installed).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a `text train` run folder or checkpoint folder")
    src.add_argument("--hf-model", help="a local Hugging Face causal LM folder (transformers)")
    p.add_argument("--algorithms", nargs="+", type=_algorithm, metavar="ALGO",
                   help="default: the checkpoint's training algorithms")
    p.add_argument("--lengths", nargs="+", type=_positive, metavar="N",
                   help="default: the checkpoint's training lengths")
    p.add_argument("--num-samples", type=_positive, default=100,
                   help="examples per (algorithm, length) (default 100)")
    p.add_argument("--seed", type=_seed, default=None, help="sampler seed of the examples")
    p.add_argument("--hints", action="store_true",
                   help="--hf-model: questions and answers with the trace")
    p.add_argument("--train-lengths", nargs="+", type=_positive, metavar="N",
                   help="lengths to mark as seen in training (default: the checkpoint's)")
    p.add_argument("--max-new-tokens", type=_positive, default=None,
                   help="default: twice the longest true answer, plus 16")
    p.add_argument("--batch-size", type=_positive, default=None,
                   help="prompts decoded together (default 64; Hugging Face 16)")
    p.add_argument("--out", default=None,
                   help="scores JSON (default: eval.json in the run folder, or here)")
    p.add_argument("--no-plot", action="store_true", help="no PNG next to the JSON")
    p.add_argument("--threads", type=_positive, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)


DESCRIPTION = "CLRS-Text datasets: the published train and eval splits as question/answer text."


def _add_group(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="text_command", metavar="COMMAND", required=True)
    add_commands(sub)
    add_lm_commands(sub)
    return parser


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``text`` command group to a top-level CLI's subparsers."""
    return _add_group(subparsers.add_parser(
        "text", help="CLRS-Text: the benchmark as language-model text", description=DESCRIPTION))


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
