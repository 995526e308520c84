"""``openclrs train`` and ``openclrs evaluate``: see :mod:`openclrs.training.loop`.

Wire into a parser with ``register(subparsers)``. The options of ``train``
are generated from :class:`~openclrs.training.config.TrainConfig` and its
nested :class:`~openclrs.models.config.ModelConfig` (one option per field,
defaults shown in ``--help``). Examples::

    openclrs train --algorithm bfs --steps 300 --out runs/bfs300
    openclrs train --algorithms bfs dijkstra --out runs/multi --device cuda --bf16
    openclrs evaluate --run runs/bfs300 [--split test|val] [--checkpoint best|last|PATH]
                      [--max-memory 2G]
    openclrs evaluate --run runs/bfs300 --graph er --length 4096 --num-samples 8

Building the parser imports no torch (``--help`` is instant).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..halting.config import KINDS as HALTING_KINDS, HaltingConfig
from ..models.config import ENCODER_INITS, HINT_MODES, REPRED_MODES
from ..training.config import TrainConfig
from .arguments import add_command, add_dataclass_arguments, memory_size, positive_int, seed32
from .policy import run_command

# How TrainConfig's fields become options, beyond what their metadata says
# (the flag names of earlier versions are kept).
OPTIONS = {
    "out_dir": {"required": True},
    "seed": {"type": seed32},
    "max_memory": {"type": memory_size},
    "model.hint_teacher_forcing": {"flag": "teacher-forcing"},
    "model.processor_options": {"flag": "processor-option"},
    "model.hint_mode": {"choices": HINT_MODES},
    "model.hint_repred_mode": {"choices": REPRED_MODES},
    "model.encoder_init": {"choices": ENCODER_INITS},
}


def config_from_args(args, from_args) -> TrainConfig:
    algorithms = list(args.algorithms or []) + ([args.algorithm] if args.algorithm else [])
    if not algorithms:
        raise ValueError("give --algorithm or --algorithms")
    config = from_args(args, algorithms=algorithms, progress=not args.quiet)
    if args.model_options:
        try:
            extra = json.loads(args.model_options)
        except json.JSONDecodeError as e:
            raise ValueError(f"--model-options is not JSON ({e})") from None
        fields = set(config.model.to_dict())
        if not isinstance(extra, dict) or set(extra) - fields:
            raise ValueError(f"--model-options: unknown ModelConfig field(s) "
                             f"{sorted(set(extra) - fields) if isinstance(extra, dict) else extra}")
        for key, value in extra.items():
            setattr(config.model, key, value)
    return config


def cmd_train(args) -> int:
    from ..training.allocator import keep_freed_memory
    from ..training.loop import train

    config = config_from_args(args, args.from_args).validate()
    if args.halting:  # a reasoner that decides when it is done (openclrs.halting)
        from ..halting.training import train_halting

        halting = args.halting_from_args(args, kind=args.halting).validate()
        keep_freed_memory()
        train_halting(config, halting, restart=args.restart)
        return 0
    keep_freed_memory()
    train(config, restart=args.restart)
    return 0


# evaluate's options for sparse graphs, and what they are without --graph
SPARSE_DEFAULTS = {"length": 1600, "num_samples": 8, "seed": 0, "graphs_per_batch": 1}
# evaluate's options for a stored split, which --graph does not read
STORED_ONLY = ("split", "max_memory", "plot_worst", "plot_dir")


def _flags(args, names) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n) is not None]


def check_evaluate_options(args) -> None:
    """Refuse the options given that this evaluation would not read (every
    one of them named), then fill in the defaults of those it does."""
    if args.graph is None:
        stray = _flags(args, SPARSE_DEFAULTS)
        if stray:
            one = len(stray) == 1
            raise ValueError(f"{', '.join(stray)} {'applies' if one else 'apply'} to fresh "
                             "sparse graphs only: add --graph er|ws|delaunay, or leave "
                             f"{'it' if one else 'them'} out to score a stored split")
        if args.plot_dir is not None and args.plot_worst is None:
            raise ValueError("--plot-dir says where --plot-worst writes: give --plot-worst K "
                             "too, or leave it out")
        args.split = "test" if args.split is None else args.split
        return
    stray = _flags(args, STORED_ONLY)
    if stray:
        one = len(stray) == 1
        raise ValueError(f"{', '.join(stray)} {'applies' if one else 'apply'} to a stored split, "
                         f"not to --graph (fresh graphs are sampled): leave "
                         f"{'it' if one else 'them'} out, or --graph out")
    for name, default in SPARSE_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def run_kinds() -> list:
    """The capabilities whose runs ``evaluate`` rebuilds (their model and
    their own figures), as :class:`~openclrs.training.evaluate.RunKind`."""
    from ..halting.training import run_kind

    return [run_kind()]


def cmd_evaluate(args) -> int:
    check_evaluate_options(args)
    if args.json:   # before the evaluation, not after it
        from ..files import check_path

        check_path(args.json, folder=False, what="--json")
    if args.graph is not None:  # fresh sparse graphs (openclrs.training.sparse_evaluate)
        from ..training.sparse_evaluate import evaluate_and_report_sparse

        evaluate_and_report_sparse(args.run, args.graph, args.length, args.num_samples,
                                   seed=args.seed, checkpoint=args.checkpoint,
                                   device=args.device, batch_size=args.graphs_per_batch,
                                   progress=not args.quiet, json_path=args.json,
                                   kinds=run_kinds())
        return 0
    from ..training.evaluate import evaluate_and_report

    worst = None
    if args.plot_worst:  # the K worst-scored samples, predictions beside the truth
        from ..pictures.compare import worst_plotter

        worst = worst_plotter(args.run, args.plot_worst, args.plot_dir, args.checkpoint)
    evaluate_and_report(args.run, split=args.split, checkpoint=args.checkpoint,
                        device=args.device, max_memory=args.max_memory, json_path=args.json,
                        kinds=run_kinds(), worst=worst)
    return 0


def register(subparsers) -> None:
    p = add_command(
        subparsers, "train",
        description="Train one model on one or several algorithms (the defaults are the "
                    "published Triplet-GMPNN recipe); run the same command again to resume "
                    "an interrupted run. The run folder is created when training starts.")
    p.add_argument("--algorithm", help="algorithm to train on")
    p.add_argument("--algorithms", nargs="+", metavar="ALGO",
                   help="several algorithms: one shared model, one update per algorithm")
    from_args = add_dataclass_arguments(p, TrainConfig, OPTIONS)
    p.add_argument("--model-options", metavar="JSON",
                   help="JSON of further ModelConfig fields (applied last)")
    halting = p.add_argument_group(
        "halting", "a reasoner that decides when it is done (evaluated without the trace "
                   "length; see openclrs.halting.reasoner)")
    halting.add_argument("--halting", choices=HALTING_KINDS,
                         help="learned: PonderNet over processor steps; termination: a "
                              "NEGA-style head trained on the last step (default: none, "
                              "the trace length decides)")
    halting_from_args = add_dataclass_arguments(p, HaltingConfig, {}, "halting.", halting)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true",
                   help="start afresh in an existing run folder (removes its checkpoints, "
                        "logs and results)")
    p.set_defaults(func=cmd_train, from_args=from_args, halting_from_args=halting_from_args)

    p = add_command(
        subparsers, "evaluate",
        description="Score a run's checkpoint (verified against its manifest) on a stored "
                    "split and print the table `train` prints, with the published scores.")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--split", choices=("test", "val"),
                   help="test: the canonical n=64 split; val: the run's validation set "
                        "(default: test)")
    p.add_argument("--checkpoint", default="best",
                   help="best, last, or a checkpoint folder (default: best)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--max-memory", metavar="SIZE", type=memory_size,
                   help="memory budget, e.g. 2G: batches run in chunks of samples that fit "
                        "it, with the same scores (default: the run's --max-memory, else half "
                        "the available memory)")
    p.add_argument("--plot-worst", metavar="K", type=positive_int,
                   help="also draw the K worst-scored samples of the split per algorithm, "
                        "predictions beside the truth (PNGs; needs matplotlib)")
    p.add_argument("--plot-dir", metavar="DIR",
                   help="where --plot-worst writes (default: the run's worst/ folder, "
                        "replaced as a whole)")
    sparse = p.add_argument_group(
        "sparse graphs", "evaluate on fresh graphs of SALSA-CLRS's test families instead of "
                         "a stored split, the model run sparse (node accuracy, graph accuracy "
                         "and the CLRS score; a halting run: each graph halting on its own, "
                         "beside the trace lengths; see openclrs.training.sparse_evaluate)")
    sparse.add_argument("--graph", choices=("er", "ws", "delaunay"),
                        help="graph family: Erdos-Renyi, Watts-Strogatz or Delaunay")
    sparse.add_argument("--length", type=positive_int,
                        help=f"nodes per graph (default: {SPARSE_DEFAULTS['length']})")
    sparse.add_argument("--num-samples", type=positive_int,
                        help=f"graphs to sample (default: {SPARSE_DEFAULTS['num_samples']})")
    sparse.add_argument("--seed", type=seed32,
                        help=f"sampling seed (default: {SPARSE_DEFAULTS['seed']})")
    sparse.add_argument("--graphs-per-batch", type=positive_int,
                        help=f"graphs run together (default: "
                             f"{SPARSE_DEFAULTS['graphs_per_batch']})")
    sparse.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)


def main(argv=None) -> int:
    """Standalone entry point (``python -m openclrs.cli.training train ...``)."""
    parser = argparse.ArgumentParser(prog="openclrs")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
