"""``openclrs text train`` and ``openclrs text evaluate``: the small
CLRS-Text LM of :mod:`openclrs.lm` (PyTorch), trained and scored on
CLRS-Text, or any local Hugging Face causal LM scored the same way."""

from __future__ import annotations

import argparse
import os
import sys

from .arguments import algorithm_name, fraction, positive_int, seed32

# --------------------------------------------------------------------------
# `openclrs text train` / `openclrs text evaluate`: the small LM of
# openclrs.lm (PyTorch), trained and scored on CLRS-Text.
# --------------------------------------------------------------------------

POS_ENCODING_CHOICES = ("rope", "p-rope", "learned", "none", "random")


def _train_lengths(train_cfg: dict) -> dict:
    return {a: list(train_cfg.get("lengths", ())) for a in train_cfg.get("algorithms", ())}


def _report(board, train_lengths: dict, out: str, plot: str | None, meta: dict,
            quiet: bool = False) -> None:
    from ..lm.evaluate import format_table, plot_scores, save_results

    save_results(out, board, {**meta, "train_lengths": train_lengths})
    drawn = plot and plot_scores(board.rows(), plot, train_lengths, title=meta.get("model"))
    print(format_table(board, train_lengths))
    if not quiet:
        print(f"scores: {out}", file=sys.stderr)
        if drawn:
            print(f"plot: {plot}", file=sys.stderr)


def cmd_train(args) -> int:
    from ..lm.config import LMConfig, TrainConfig
    from ..lm.evaluate import evaluate_checkpoint
    from ..lm.train import train

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

    from ..lm.evaluate import EVAL_SEED, evaluate, evaluate_checkpoint, hf_generator

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
        generate_fn = hf_generator(args.hf_model, args.batch_size or 16, args.device)
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
                    "--out; running the same command again resumes from the last one (with the "
                    "same settings; only --steps and the checkpoint/log intervals may change).")
    p.add_argument("--algorithms", nargs="+", type=algorithm_name, metavar="ALGO", required=True)
    p.add_argument("--lengths", nargs="+", type=positive_int, metavar="N",
                   help="train lengths (examples generated on the fly)")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="JSONL files or folders of them instead of on-the-fly examples")
    p.add_argument("--hints", action="store_true", help="answers spell out the trace")
    p.add_argument("--steps", type=positive_int, default=2000, help="optimizer steps (default 2000)")
    p.add_argument("--out", required=True, help="run folder (config.json, metrics.jsonl, checkpoints/)")
    g = p.add_argument_group("model")
    g.add_argument("--pos-encoding", choices=POS_ENCODING_CHOICES, default="rope",
                   help="positional encoding (default rope)")
    g.add_argument("--p-rope", type=fraction, default=0.75,
                   help="p-rope: fraction of (the highest) frequencies rotated (default 0.75)")
    g.add_argument("--rope-base", type=float, default=10000.0, help="RoPE base (default 1e4)")
    g.add_argument("--max-random-position", type=positive_int, default=2048,
                   help="random: positions are drawn from [0, this) (default 2048)")
    g.add_argument("--random-base", choices=("rope", "p-rope", "learned"), default="rope",
                   help="random: the encoding the random positions feed (default rope)")
    g.add_argument("--n-layer", type=positive_int, default=4)
    g.add_argument("--n-head", type=positive_int, default=4)
    g.add_argument("--n-embd", type=positive_int, default=128)
    g.add_argument("--block-size", type=positive_int, default=2048,
                   help="longest training sequence in characters; learned: positions (2048)")
    g.add_argument("--dropout", type=float, default=0.0)
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=positive_int, default=32)
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    g.add_argument("--min-lr", type=float, default=None, help="final learning rate (lr/10)")
    g.add_argument("--warmup", type=int, default=100, help="warmup steps (default 100)")
    g.add_argument("--weight-decay", type=float, default=0.1)
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--seed", type=seed32, default=0)
    g.add_argument("--checkpoint-every", type=positive_int, default=500)
    g.add_argument("--keep-checkpoints", type=positive_int, default=1)
    g.add_argument("--restart", "--no-resume", dest="resume", action="store_false",
                   help="start afresh: delete --out's checkpoints, logs and scores first")
    g.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g = p.add_argument_group("evaluation after training")
    g.add_argument("--eval-lengths", nargs="+", type=positive_int, metavar="N",
                   help="evaluate at these lengths when done (writes eval.json, eval.png)")
    g.add_argument("--eval-samples", type=positive_int, default=100)
    g.add_argument("--eval-batch-size", type=positive_int, default=64)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "evaluate", help="score a trained LM (or a local Hugging Face model) on CLRS-Text",
        description="Greedy answers to CLRS-Text questions, scored (exact match, parsed, shape, "
                    "per-element accuracy) per (algorithm, length): a table, a JSON file and a "
                    "plot of accuracy against length (if matplotlib is installed).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a `text train` run folder or checkpoint folder")
    src.add_argument("--hf-model", help="a local Hugging Face causal LM folder (transformers)")
    p.add_argument("--algorithms", nargs="+", type=algorithm_name, metavar="ALGO",
                   help="default: the checkpoint's training algorithms")
    p.add_argument("--lengths", nargs="+", type=positive_int, metavar="N",
                   help="default: the checkpoint's training lengths")
    p.add_argument("--num-samples", type=positive_int, default=100,
                   help="examples per (algorithm, length) (default 100)")
    p.add_argument("--seed", type=seed32, default=None, help="sampler seed of the examples")
    p.add_argument("--hints", action="store_true",
                   help="--hf-model: questions and answers with the trace")
    p.add_argument("--train-lengths", nargs="+", type=positive_int, metavar="N",
                   help="lengths to mark as seen in training (default: the checkpoint's)")
    p.add_argument("--max-new-tokens", type=positive_int, default=None,
                   help="default: twice the longest true answer, plus 16")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="prompts decoded together (default 64; Hugging Face 16)")
    p.add_argument("--out", default=None,
                   help="scores JSON (default: eval.json in the run folder, or here)")
    p.add_argument("--no-plot", action="store_true", help="no PNG next to the JSON")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)


