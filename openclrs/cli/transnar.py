"""``openclrs transnar``: a CLRS-Text Transformer that cross-attends to a
trained reasoner (TransNAR, Bounsi et al. 2024; :mod:`openclrs.transnar`)::

    openclrs train --algorithms bfs dijkstra --out runs/nar              # the reasoner first
    openclrs transnar train --nar runs/nar --algorithms bfs --lengths 4 5 6 7 8 12 \\
        --pos-encoding random --out runs/tn
    openclrs text train --algorithms bfs --lengths 4 5 6 7 8 12 --pos-encoding random \\
        --out runs/base                                                 # the baseline
    openclrs transnar evaluate --checkpoint runs/tn --baseline runs/base --lengths 10 12 14
    openclrs transnar train --nar runs/nar --hf-model path/to/gpt2 --algorithms bfs \
        --lengths 4 5 6 --out runs/tn-gpt2                            # a local HF causal LM

Running ``train`` again with the same ``--out`` resumes. Building the parser
imports no torch.
"""

from __future__ import annotations

import argparse
import os
import sys

from .arguments import add_command, add_dataclass_arguments, algorithm_name, positive_int, seed32
from .lm import (add_decoding_options, add_example_options, add_lm_options,
                 add_run_options)

DESCRIPTION = ("TransNAR: a Transformer whose tokens cross-attend to the node and edge "
               "embeddings of a trained, frozen reasoner run on the same instance's graph.")


def _report(results: dict, out: str, plot: bool, quiet: bool) -> None:
    from ..transnar.evaluate import format_table, plot_scores

    train_lengths = results.get("train_lengths", ())
    print(format_table(results["rows"], results["baseline_rows"] or None, train_lengths))
    if not quiet:
        print(f"scores: {out}", file=sys.stderr)
    if plot:
        path = os.path.splitext(out)[0] + ".png"
        if plot_scores(results["rows"], path, results["baseline_rows"] or None, train_lengths,
                       title=os.path.basename(os.path.normpath(results["checkpoint"]))) \
                and not quiet:
            print(f"plot: {path}", file=sys.stderr)


def cmd_train(args) -> int:
    from ..transnar.evaluate import evaluate_checkpoint
    from ..transnar.train import train

    lm_cfg = args.model_from_args(args)
    cfg = args.train_from_args(args, progress=not args.quiet)
    xcfg = args.transnar_from_args(args)
    if args.hf_model:
        from ..transnar.huggingface import train_hf

        model, _ = train_hf(args.hf_model, cfg, xcfg, args.nar,
                            nar_checkpoint=args.nar_checkpoint, resume=args.resume)
    else:
        model, _ = train(lm_cfg, cfg, xcfg, args.nar, nar_checkpoint=args.nar_checkpoint,
                         resume=args.resume)
    if not args.quiet:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"{trainable:,} trainable parameters; checkpoints in {cfg.out_dir}",
              file=sys.stderr)
    if args.eval_lengths:
        out = os.path.join(cfg.out_dir, "eval.json")
        results = evaluate_checkpoint(cfg.out_dir, args.eval_lengths, cfg.algorithms,
                                      num_samples=args.eval_samples,
                                      batch_size=args.eval_batch_size, device=cfg.device,
                                      out=out, progress=not args.quiet)
        _report(results, out, True, args.quiet)
    return 0


def cmd_evaluate(args) -> int:
    from ..lm.evaluate import EVAL_SEED
    from ..transnar.evaluate import evaluate_checkpoint

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = args.out or os.path.join(args.checkpoint, "eval.json")
    results = evaluate_checkpoint(args.checkpoint, args.lengths, args.algorithms, args.baseline,
                                  args.num_samples,
                                  EVAL_SEED if args.seed is None else args.seed,
                                  args.batch_size, args.device, args.max_new_tokens, out,
                                  progress=not args.quiet)
    _report(results, out, not args.no_plot, args.quiet)
    return 0


def _add_group(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from ..lm.config import TrainConfig
    from ..transnar.config import TransNARConfig

    sub = parser.add_subparsers(dest="transnar_command", metavar="COMMAND", required=True)
    p = sub.add_parser(
        "train", help="train a TransNAR on CLRS-Text with a trained reasoner",
        description="Train a small decoder-only Transformer on CLRS-Text (no traces), its "
                    "tokens cross-attending to the embeddings of a trained reasoner (--nar, an "
                    "`openclrs train` run folder) run on each example's graph. The reasoner is "
                    "frozen unless --no-freeze-nar. Examples are generated on the fly (or read "
                    "from --data), the same ones `openclrs text train` draws for the same seed. "
                    "Running the same command again resumes.")
    p.add_argument("--nar", required=True, metavar="RUN_DIR",
                   help="the reasoner: an `openclrs train` run folder trained on the algorithms")
    p.add_argument("--nar-checkpoint", default="best",
                   help="which of its checkpoints: best (default), last, or a folder")
    p.add_argument("--hf-model", default=None, metavar="PATH",
                   help="a local Hugging Face causal LM folder to train (every weight) with the "
                        "cross-attention, instead of a new openclrs LM (the language-model "
                        "options are then not used)")
    data = p.add_argument_group("data and optimisation")
    train_from_args = add_dataclass_arguments(data, TrainConfig, {
        "algorithms": {"type": algorithm_name}, "lengths": {"type": positive_int},
        "seed": {"type": seed32}, "use_hints": {"cli": False},
        "data_files": {"help": "`openclrs text generate` JSONL files or folders of them, "
                               "paired with their traces, instead of on-the-fly examples"}})
    model_from_args = add_lm_options(p.add_argument_group("language model"))
    xattn = p.add_argument_group("cross-attention")
    transnar_from_args = add_dataclass_arguments(xattn, TransNARConfig, {
        "layers": {"type": int}, "heads": {"type": positive_int}})
    add_run_options(p)
    p.set_defaults(func=cmd_train, train_from_args=train_from_args,
                   model_from_args=model_from_args, transnar_from_args=transnar_from_args)

    p = sub.add_parser(
        "evaluate", help="score a TransNAR (and a baseline beside it) on CLRS-Text",
        description="Greedy answers to CLRS-Text questions scored as in the TransNAR paper: "
                    "shape, parse and CLRS scores and exact match per (algorithm, length); "
                    "eval.json (resumable: finished groups are kept), a table and a plot of "
                    "score against length, with a Transformer-only `openclrs text train` run "
                    "beside it when given --baseline.")
    p.add_argument("--checkpoint", required=True,
                   help="a `transnar train` run folder (its latest checkpoint) or checkpoint "
                        "(openclrs or Hugging Face LM)")
    p.add_argument("--lengths", nargs="+", type=positive_int, metavar="N", required=True)
    p.add_argument("--baseline", default=None, metavar="CHECKPOINT",
                   help="a Transformer-only `openclrs text train` run on the same data")
    add_example_options(p, lengths=False)
    add_decoding_options(p, 64, "64")
    p.add_argument("--out", default=None, help="scores JSON (default: eval.json in the run)")
    p.add_argument("--no-plot", action="store_true", help="no PNG next to the JSON")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)
    return parser


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``transnar`` command group to a top-level CLI's subparsers."""
    return _add_group(add_command(subparsers, "transnar", DESCRIPTION))
