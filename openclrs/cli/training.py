"""``openclrs train`` and ``openclrs evaluate``: see :mod:`openclrs.training.loop`.

Wire into a parser with ``register(subparsers)``. Examples::

    openclrs train --algorithm bfs --steps 300 --out runs/bfs300
    openclrs train --algorithms bfs dijkstra --out runs/multi --device cuda --bf16
    openclrs evaluate --run runs/bfs300 [--split test|val] [--checkpoint best|last|PATH]
"""

from __future__ import annotations

import argparse
import json
import sys

from ..training.allocator import keep_freed_memory
from .arguments import positive_int
from .policy import run_command
from ..training.loop import TrainConfig

_DEFAULTS = TrainConfig()


def cmd_train(args) -> int:
    from ..training.loop import train

    algorithms = list(args.algorithms or []) + ([args.algorithm] if args.algorithm else [])
    if not algorithms:
        print("error: give --algorithm or --algorithms", file=sys.stderr)
        return 2
    model_options = json.loads(args.model_options) if args.model_options else {}
    config = TrainConfig(
        algorithms=algorithms, out_dir=args.out, steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, grad_clip=args.grad_clip, seed=args.seed,
        processor=args.processor, hidden_size=args.hidden_size,
        hint_teacher_forcing=args.teacher_forcing, model_options=model_options,
        train_lengths=args.train_lengths, eval_every=args.eval_every,
        test_every=args.test_every, val_set=args.val_set, data_root=args.data_root,
        device=args.device, bf16=args.bf16, compile=args.compile,
        progress=not args.quiet)
    keep_freed_memory()
    train(config)
    return 0


def cmd_evaluate(args) -> int:
    from ..training.evaluate import evaluate_run

    keep_freed_memory()
    results = evaluate_run(args.run, split=args.split, checkpoint=args.checkpoint,
                           device=args.device)
    print(json.dumps(results, indent=1, sort_keys=True))
    return 0


def register(subparsers) -> None:
    d = _DEFAULTS
    p = subparsers.add_parser(
        "train", help="train a reasoner (published Triplet-GMPNN recipe by default)",
        description="Train one model on one or several algorithms; run the same command "
                    "again to resume an interrupted run.")
    p.add_argument("--algorithm", help="algorithm to train on")
    p.add_argument("--algorithms", nargs="+", metavar="ALGO",
                   help="several algorithms: one shared model, losses summed")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--steps", type=positive_int, default=d.steps)
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--processor", default=d.processor)
    p.add_argument("--hidden-size", type=int, default=d.hidden_size)
    p.add_argument("--teacher-forcing", type=float, default=d.hint_teacher_forcing)
    p.add_argument("--model-options", help="JSON of further ModelConfig fields")
    p.add_argument("--train-lengths", type=positive_int, nargs="+", metavar="N")
    p.add_argument("--eval-every", type=positive_int, default=d.eval_every)
    p.add_argument("--test-every", type=int, default=d.test_every,
                   help="test on the canonical n=64 split every this many steps (0: end only)")
    p.add_argument("--val-set", choices=("sampled", "canonical"), default=d.val_set)
    p.add_argument("--data-root", help="stored datasets (default: $OPENCLRS_DATA_DIR)")
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:1, ...")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--compile", action="store_true", help="torch.compile the processor, the per-step work (Reasoner.compile)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("evaluate", help="re-evaluate a training run's checkpoint")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--checkpoint", default="best", help="best, last, or a .safetensors path")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_evaluate)


def main(argv=None) -> int:
    """Standalone entry point (``python -m openclrs.cli.training train ...``)."""
    parser = argparse.ArgumentParser(prog="openclrs")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
