"""``openclrs plot``: a sampled trace as a PNG (and a GIF), drawn by
:mod:`openclrs.pictures` from the spec table."""

from __future__ import annotations


from .arguments import positive_int
from .engine import add_trace_options, sampled_trace


def cmd_plot(args) -> int:
    from ..pictures import animate_trace, plot_trace

    trace = sampled_trace(args)
    written = [plot_trace(trace, args.algorithm, args.out, most_steps=args.steps)]
    if args.gif:
        written.append(animate_trace(trace, args.algorithm, args.gif))
    print("\n".join(written))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "plot", help="draw one sampled trace: input, hint steps and output (PNG, GIF)",
        description="Draw a sampled trace from what its spec says each probe is: node masks "
                    "as colours, pointers as arrows, edge probes as heatmaps, keys as bars, "
                    "points at their coordinates, strings as characters. Needs matplotlib "
                    "(pip install \"openclrs[plots]\").")
    add_trace_options(p)
    p.add_argument("--out", required=True, metavar="FILE.png", help="the PNG to write")
    p.add_argument("--gif", metavar="FILE.gif", help="also an animation, one frame per hint step")
    p.add_argument("--steps", type=positive_int, default=6,
                   help="hint steps in the PNG, spread evenly (default 6)")
    p.set_defaults(func=cmd_plot)
