"""``openclrs text train`` and ``openclrs text evaluate``: the small
CLRS-Text LM of :mod:`openclrs.lm` (PyTorch), trained and scored on
CLRS-Text, or any local Hugging Face causal LM scored the same way."""

from __future__ import annotations

import os
import sys

from .arguments import add_dataclass_arguments, algorithm_name, fraction, positive_int, seed32

# the scores `text evaluate` can plot: openclrs.text's METRICS and PAPER_METRICS
# (spelled out so that parsing arguments imports no library; a test checks them)
PLOT_METRICS = ("accuracy", "exact_match", "parsed", "shape_match",
                "clrs_score", "shape_score", "parse_score")

# --------------------------------------------------------------------------
# `openclrs text train` / `openclrs text evaluate`: the small LM of
# openclrs.lm (PyTorch), trained and scored on CLRS-Text.
# --------------------------------------------------------------------------

def _train_lengths(train_cfg: dict) -> dict:
    return {a: list(train_cfg.get("lengths", ())) for a in train_cfg.get("algorithms", ())}


def _report(board, train_lengths: dict, out: str, plot: str | None, meta: dict,
            quiet: bool = False, metric: str = "accuracy") -> None:
    from ..lm.evaluate import format_table, plot_scores, save_results

    save_results(out, board, {**meta, "train_lengths": train_lengths})
    drawn = plot and plot_scores(board.rows(), plot, train_lengths, metric,
                                 title=meta.get("model"))
    print(format_table(board, train_lengths))
    if not quiet:
        print(f"scores: {out}", file=sys.stderr)
        if drawn:
            print(f"plot: {plot}", file=sys.stderr)


def cmd_train(args) -> int:
    from ..lm.evaluate import evaluate_checkpoint
    from ..lm.train import train

    model_cfg = args.model_from_args(args)
    cfg = args.train_from_args(args, progress=not args.quiet)
    model, _ = train(model_cfg, cfg, resume=args.resume)
    if not args.quiet:
        print(f"{model.num_parameters():,} parameters; checkpoints in {cfg.out_dir}",
              file=sys.stderr)
    if args.eval_lengths:
        board, train_cfg = evaluate_checkpoint(cfg.out_dir, cfg.algorithms, args.eval_lengths,
                                               args.eval_samples, batch_size=args.eval_batch_size,
                                               device=cfg.device, progress=not args.quiet)
        _report(board, _train_lengths(train_cfg), os.path.join(cfg.out_dir, "eval.json"),
                os.path.join(cfg.out_dir, "eval.png"),
                {"model": f"{cfg.out_dir} ({model_cfg.pos_encoding})",
                 "checkpoint": cfg.out_dir, "num_samples": args.eval_samples}, args.quiet)
    return 0


def _results_folder(checkpoint: str) -> str:
    """Where scores of ``checkpoint`` go by default: its run folder (a
    checkpoint folder's two levels up; never the checkpoint itself, which a
    training run may delete), else a saved model's folder."""
    from ..training.runs import CHECKPOINTS, POINTERS

    path = os.path.abspath(checkpoint)
    run = os.path.dirname(os.path.dirname(path))
    if os.path.basename(os.path.dirname(path)) == CHECKPOINTS and \
            os.path.exists(os.path.join(run, POINTERS)):
        return run
    return checkpoint


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
        out = args.out or os.path.join(_results_folder(args.checkpoint), "eval.json")
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
             "num_samples": args.num_samples, "seed": seed}, args.quiet, args.plot_metric)
    return 0


def add_lm_options(group):
    """The language model's options (:class:`~openclrs.lm.config.LMConfig`),
    for every command that trains one; returns their reader."""
    from ..lm.config import LMConfig

    return add_dataclass_arguments(
        group, LMConfig, {"p_rope": {"type": fraction}, "rotary_fraction": {"type": fraction}})


def add_run_options(p) -> None:
    """--restart, the evaluation after training and --quiet, for every
    command that trains a language model."""
    p.add_argument("--restart", "--no-resume", dest="resume", action="store_false",
                   help="start afresh: delete --out's checkpoints, logs and scores first")
    g = p.add_argument_group("evaluation after training")
    g.add_argument("--eval-lengths", nargs="+", type=positive_int, metavar="N",
                   help="evaluate at these lengths when done (writes eval.json, eval.png)")
    g.add_argument("--eval-samples", type=positive_int, default=100)
    g.add_argument("--eval-batch-size", type=positive_int, default=64)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_example_options(p, lengths: bool) -> None:
    """The examples an evaluation scores (``text evaluate``, ``transnar
    evaluate``): which algorithms (and, with ``lengths``, lengths), how many
    per group, from which seed."""
    p.add_argument("--algorithms", nargs="+", type=algorithm_name, metavar="ALGO",
                   help="default: the checkpoint's training algorithms")
    if lengths:
        p.add_argument("--lengths", nargs="+", type=positive_int, metavar="N",
                       help="default: the checkpoint's training lengths")
    p.add_argument("--num-samples", type=positive_int, default=100,
                   help="examples per (algorithm, length) (default 100)")
    p.add_argument("--seed", type=seed32, default=None, help="sampler seed of the examples")


def add_decoding_options(p, batch_size: int | None, batch_size_default: str) -> None:
    """How an evaluation decodes: the answer budget and the batch size
    (``batch_size``: its default, shown as ``batch_size_default``)."""
    p.add_argument("--max-new-tokens", type=positive_int, default=None,
                   help="default: twice the longest true answer, plus 16")
    p.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help=f"prompts decoded together (default {batch_size_default})")


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
    from ..lm.config import TrainConfig

    data = p.add_argument_group("data and optimisation")
    train_from_args = add_dataclass_arguments(data, TrainConfig, {
        "algorithms": {"type": algorithm_name}, "lengths": {"type": positive_int},
        "seed": {"type": seed32}})
    model_from_args = add_lm_options(p.add_argument_group("model"))
    add_run_options(p)
    p.set_defaults(func=cmd_train, train_from_args=train_from_args,
                   model_from_args=model_from_args)

    p = subparsers.add_parser(
        "evaluate", help="score a trained LM (or a local Hugging Face model) on CLRS-Text",
        description="Greedy answers to CLRS-Text questions, scored (exact match, parsed, shape, "
                    "per-element accuracy, and the CLRS-Text paper's shape, parse and CLRS "
                    "scores) per (algorithm, length): a table, a JSON file and a plot of "
                    "accuracy (or --plot-metric) against length (if matplotlib is installed).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a `text train` run folder (its latest checkpoint), "
                     "one of its checkpoint folders, or a saved model folder")
    src.add_argument("--hf-model", help="a local Hugging Face causal LM folder (transformers)")
    add_example_options(p, lengths=True)
    p.add_argument("--hints", action="store_true",
                   help="--hf-model: questions and answers with the trace")
    p.add_argument("--train-lengths", nargs="+", type=positive_int, metavar="N",
                   help="lengths to mark as seen in training (default: the checkpoint's)")
    add_decoding_options(p, None, "64; Hugging Face 16")
    p.add_argument("--out", default=None,
                   help="scores JSON (default: eval.json in the checkpoint's run folder, or in "
                        "a saved model's folder; with --hf-model, here)")
    p.add_argument("--no-plot", action="store_true", help="no PNG next to the JSON")
    p.add_argument("--plot-metric", default="accuracy", choices=PLOT_METRICS,
                   help="the score the PNG shows (default accuracy; clrs_score, shape_score "
                        "and parse_score are the CLRS-Text paper's)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)


