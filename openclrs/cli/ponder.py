"""``openclrs ponder``: the parity benchmark of learned halting (see
:mod:`openclrs.halting.parity`)::

    openclrs ponder train --task parity --method ponder --size 16 --lambda-p 0.2 --out runs/p
    openclrs ponder train --task parity --method act --tau 1e-3 --out runs/a
    openclrs ponder train --task parity --method fixed --fixed-steps 5 --out runs/f
    openclrs ponder evaluate runs/p [--samples 1000]

Running ``train`` again with the same ``--out`` resumes (only ``--steps`` and
the logging/evaluation intervals may change). Building the parser imports no
torch.
"""

from __future__ import annotations

import argparse
import sys

from ..halting.parity_config import ParityConfig
from .arguments import add_command, add_dataclass_arguments, positive_int, seed32

DESCRIPTION = ("Learned halting on the parity task: PonderNet (Banino et al. 2021), ACT "
               "(Graves 2016) or a fixed-step RNN; accuracy and ponder steps against the "
               "number of non-zeros (results.json, parity.png in the run folder).")


def cmd_train(args) -> int:
    from ..halting.parity import format_table, train

    cfg = args.config_from_args(args, progress=not args.quiet)
    _, results = train(cfg, resume=args.resume)
    print(format_table(results))
    if not args.quiet:
        print(f"results: {cfg.out}/results.json, plot: {cfg.out}/parity.png", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from ..halting.parity import evaluate_run, format_table

    results = evaluate_run(args.run, args.samples, args.device)
    print(format_table(results))
    return 0


def _add_group(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="ponder_command", required=True)
    p = sub.add_parser("train", help="train PonderNet, ACT or a fixed-step RNN on parity",
                       description=DESCRIPTION)
    config_from_args = add_dataclass_arguments(p, ParityConfig, {
        "seed": {"type": seed32}, "eval_seed": {"type": seed32},
        "train_nonzeros": {"type": positive_int}, "test_nonzeros": {"type": positive_int}})
    p.add_argument("--restart", "--no-resume", dest="resume", action="store_false",
                   help="start afresh: delete --out's checkpoints, logs and results first")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train, config_from_args=config_from_args)

    p = sub.add_parser("evaluate", help="evaluate a parity run's last checkpoint again",
                       description="Evaluate a `ponder train` run folder's last checkpoint; "
                                   "rewrites its results.json and parity.png.")
    p.add_argument("run", help="a run folder of `openclrs ponder train`")
    p.add_argument("--samples", type=positive_int, default=None,
                   help="vectors per number of non-zeros (default: the run's --eval-samples)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_evaluate)
    return parser


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``ponder`` command group to a top-level CLI's subparsers."""
    return _add_group(add_command(subparsers, "ponder", DESCRIPTION))
