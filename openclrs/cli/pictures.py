"""``openclrs plot``: a sampled trace as a PNG (and a GIF), drawn by
:mod:`openclrs.pictures` from the spec table; with ``--run``, a trained
run's predictions beside the truth, wrong elements marked::

    openclrs plot bfs --length 8 --out bfs.png [--gif bfs.gif]
    openclrs plot --run runs/bfs [--algorithm bfs] [--split test|val|sampled]
                  [--index I] [--checkpoint best|last] --out pred.png
"""

from __future__ import annotations


from .arguments import KeyValues, add_command, algorithm_name, nonnegative_int, positive_int, seed32
from .engine import sampled_trace

RUN_ONLY = ("split", "checkpoint", "algorithm_flag", "device")


def sampled_args(args, command: str, suffix: str):
    """Check that the options of a trained run come only with ``--run``
    and that an algorithm is named; the sampled trace the rest names."""
    given = [f"--{n.split('_')[0]}" for n in RUN_ONLY if getattr(args, n) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} {'goes' if len(given) == 1 else 'go'} only "
                         "with --run DIR (a trained run's predictions)")
    if args.algorithm is None:
        raise ValueError(f"name the algorithm to {command} (openclrs {command} ALGO --out "
                         f"FILE.{suffix}), or give --run DIR for a run's predictions")
    args.length = 8 if args.length is None else args.length
    args.seed = 0 if args.seed is None else args.seed
    return sampled_trace(args)


def cmd_plot(args) -> int:
    if args.run is not None:
        return plot_run(args)
    from ..pictures import animate_trace, plot_trace

    from ..pictures.trace import check_suffix

    if args.gif:   # before anything is drawn: a bad name leaves no PNG behind
        check_suffix(args.gif, ".gif", "an animation is written as a GIF")
    trace = sampled_args(args, "plot", "png")
    written = [plot_trace(trace, args.algorithm, args.out, most_steps=args.steps or 6)]
    if args.gif:
        written.append(animate_trace(trace, args.algorithm, args.gif))
    print("\n".join(written))
    return 0


def run_sample(args):
    """The :class:`~openclrs.pictures.predictions.PredictedTrace` that
    ``--run``, ``ALGO``/``--algorithm``, ``--split``, ``--index``,
    ``--checkpoint`` and (``--split sampled``) ``--length``, ``--seed``,
    ``--option`` name (``plot`` and ``view``)."""
    if args.algorithm and args.algorithm_flag and args.algorithm != args.algorithm_flag:
        raise ValueError(f"two algorithms given: {args.algorithm} and --algorithm "
                         f"{args.algorithm_flag}")
    from ..pictures.predictions import predict_run_sample

    split = args.split or ("sampled" if args.length is not None else "test")
    if split != "sampled" and (args.length is not None or args.option
                               or args.seed is not None):
        raise ValueError(f"--length, --seed and --option pick a sampled trace: give --split "
                         f"sampled, not {split}")
    return predict_run_sample(
        args.run, args.algorithm or args.algorithm_flag, split, args.index,
        args.checkpoint or "best", args.device or "cpu", length=args.length,
        seed=0 if args.seed is None else args.seed, options=args.option)


def plot_run(args) -> int:
    """``plot --run``: one sample's predictions beside its truth."""
    if args.gif:
        raise ValueError("--gif draws a sampled trace; with --run only the PNG is written")
    from ..pictures.compare import plot_predictions

    predicted = run_sample(args)
    print(plot_predictions(predicted, args.out, most_steps=args.steps or 4))
    print(summary(predicted))
    return 0


def summary(predicted) -> str:
    return (f"{predicted.algorithm} {predicted.source}: output score "
            f"{100 * predicted.score:.2f}%, {predicted.wrong_count('outputs')} output "
            f"element(s) wrong")


def add_sample_options(p, command: str, suffix: str) -> None:
    """The options ``plot`` and ``view`` share: which trace (sampled, or a
    run's sample with its predictions) and where to write it."""
    p.add_argument("algorithm", nargs="?", type=algorithm_name,
                   help=f"the algorithm to sample and {command} (with --run: optional, as "
                        "--algorithm)")
    p.add_argument("--length", type=positive_int,
                   help="problem size (default 8; with --run: a sampled trace of this size)")
    p.add_argument("--seed", type=seed32, default=None, help="sampler seed (default 0)")
    p.add_argument("--index", type=nonnegative_int, default=0,
                   help="which sample: of the seed's stream, or with --run of the split "
                        "(default 0, the first)")
    p.add_argument("--option", action=KeyValues,
                   help="sampler option, e.g. p=0.3 (repeatable, each KEY once)")
    p.add_argument("--out", required=True, metavar=f"FILE.{suffix}",
                   help=f"the {suffix.upper()} file to write")
    run = p.add_argument_group("predictions of a trained run")
    run.add_argument("--run", metavar="DIR", help="a training run folder (openclrs train --out)")
    run.add_argument("--algorithm", dest="algorithm_flag", type=algorithm_name, metavar="ALGO",
                     help="which of the run's algorithms (default: its only one)")
    run.add_argument("--split", choices=("test", "val", "sampled"),
                     help="test: the canonical n=64 split (default), val: the run's "
                          "validation set, sampled: a fresh trace (--length, --seed, --option)")
    run.add_argument("--checkpoint", help="best (default), last, or a checkpoint folder")
    run.add_argument("--device", default=None, help="cpu, cuda, ... (default: cpu)")


def register(sub) -> None:
    p = add_command(
        sub, "plot",
        description="Draw a sampled trace from what its spec says each probe is: node masks "
                    "as colours, pointers as arrows, edge probes as heatmaps, keys as bars, "
                    "points at their coordinates, strings as characters. With --run, draw a "
                    "trained run's predicted hints and outputs beside the truth, step by "
                    "step, what the scorer counts as wrong in red. Needs matplotlib "
                    "(pip install \"openclrs[plots]\").")
    add_sample_options(p, "draw", "png")
    p.add_argument("--gif", metavar="FILE.gif", help="also an animation, one frame per hint step")
    p.add_argument("--steps", type=positive_int,
                   help="hint steps in the PNG, spread evenly (default 6; with --run 4)")
    p.set_defaults(func=cmd_plot)
    register_view(sub)


# ------------------------------------------------------------ openclrs view

def cmd_view(args) -> int:
    """``openclrs view``: one self-contained HTML page of a sampled trace, or
    with ``--run`` of a run's prediction beside the truth."""
    from ..pictures.viewer import write_viewer

    if args.run is None:
        sample = sampled_args(args, "view", "html")
        options = "".join(f" {k}={v}" for k, v in args.option.items())
        source = f"sampled n={args.length} seed={args.seed} #{args.index}{options}"
        write_viewer(args.out, sample, source=source)
        print(f"{args.out}\n{args.algorithm} {source}: {sample.length} hint steps")
        return 0
    predicted = run_sample(args)
    write_viewer(args.out, predicted)
    print(f"{args.out}\n{summary(predicted)}")
    return 0


def register_view(sub) -> None:
    p = add_command(
        sub, "view",
        description="Write one HTML file that shows a sampled trace step by step in a "
                    "browser: a step slider, play/pause, the probe values on hover. With "
                    "--run, a trained run's predicted hints and outputs beside the truth, "
                    "what the scorer counts as wrong in red, each step's score. Everything "
                    "is inline (no server, no network): open it from a file:// URL.")
    add_sample_options(p, "view", "html")
    p.set_defaults(func=cmd_view)
