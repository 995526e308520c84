"""A trace as a picture, drawn from what the spec says each probe is.

The spec table drives the drawing; the only per-algorithm choice is the
layout of the nodes, made from the algorithm's family (:data:`LAYOUTS`):

* ``graph``: nodes on a circle, the input edges (``A``/``adj``) as lines
  whose width follows the weight;
* ``array``: one bar per node, its height the first scalar input after
  ``pos`` (``key``, ``p``, ``s``, ``d``...);
* ``points``: nodes at their ``x``, ``y`` coordinates;
* ``string``: one box per node holding its character, haystack and needle
  told apart by the ``string`` mask.

On that layout every probe of a state (the inputs, a hint step, or the
outputs) is drawn by its (location, type):

===============================  ==========================================
node ``mask``, ``categorical``   the nodes' fill colour (the first such probe)
node ``mask_one``                the probe's name written beside its node
node ``pointer`` and friends     an arrow from each node to the node it names
node ``scalar`` (not the layout) the value written under each node
edge ``mask`` on a graph         the edges it marks drawn thick and coloured
other edge probes                a heatmap of the N x N matrix beside the layout
graph probes                     ``name = value`` in the panel's title
===============================  ==========================================

:func:`plot_trace` draws the input, a selection of hint steps and the
output in one figure; :func:`animate_trace` writes a GIF with one frame per
hint step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..extras import pyplot, require
from ..files import atomic_write
from ..probes import Trace
from ..specs import FAMILY_OF, SPECS, Location, Type, check_algorithm

# family -> how nodes are laid out
LAYOUTS = {"graphs": "graph", "geometry": "points", "strings": "string"}
DEFAULT_LAYOUT = "array"
POINTERS = (Type.POINTER, Type.SHOULD_BE_PERMUTATION, Type.PERMUTATION_POINTER)

NODE_COLOUR, MARKED_COLOUR = "#d9d9d9", "#f28e2b"
EDGE_COLOUR, MARKED_EDGE = "#b8b8b8", "#e15759"
POINTER_COLOUR = "#4e79a7"
WRONG_COLOUR = "#d62728"  # what the scorer counts as wrong (predictions, :mod:`.compare`)
CLASS_COLOURS = ("#d9d9d9", "#76b7b2", "#f28e2b", "#59a14f", "#edc948", "#b07aa1")


@dataclass
class State:
    """What one panel shows: probe name -> (location, type, value)."""

    title: str
    probes: dict


def layout_of(algorithm: str) -> str:
    return LAYOUTS.get(FAMILY_OF[check_algorithm(algorithm)], DEFAULT_LAYOUT)


def states(trace: Trace, algorithm: str, steps=None) -> list[State]:
    """The input, the hint steps ``steps`` (default: all) and the output of
    ``trace`` as panels (probes typed by the trace's own spec, which
    :mod:`openclrs.transforms` may have changed)."""
    check_algorithm(algorithm)
    spec = trace.spec
    inputs = {k: (spec[k][1], spec[k][2], np.asarray(v)) for k, v in trace.inputs.items()}
    result = [State("input", inputs)]
    for t in range(trace.length) if steps is None else steps:
        hints = {k: (spec[k][1], spec[k][2], np.asarray(v)[t]) for k, v in trace.hints.items()}
        result.append(State(f"step {t}", {**inputs, **hints}))
    outputs = {k: (spec[k][1], spec[k][2], np.asarray(v)) for k, v in trace.outputs.items()}
    result.append(State("output", {**inputs, **outputs}))
    return result


def chosen_steps(length: int, most: int) -> list[int]:
    """At most ``most`` hint steps spread evenly, first and last included
    (one step: the last)."""
    if length <= most:
        return list(range(length))
    if most <= 1:
        return [length - 1][:most]
    return sorted({round(i * (length - 1) / (most - 1)) for i in range(most)})


# ------------------------------------------------------------------- layouts

def node_positions(layout: str, probes: dict, n: int) -> np.ndarray:
    """``(n, 2)`` positions of the nodes on the panel."""
    if layout == "graph":
        angle = np.pi / 2 - 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if layout == "points":
        return np.stack([probes["x"][2], probes["y"][2]], axis=1).astype(float)
    return np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)


# ------------------------------------------------------------------- drawing

def draw_state(ax, algorithm: str, state: State, input_names: set[str],
               wrong: dict | None = None) -> list:
    """Draw ``state`` on ``ax``; returns the edge probes left for heatmaps,
    as ``(name, type, value)`` (with the probe's wrong flags appended when
    ``wrong`` has them).

    ``wrong`` (``{probe: bool array}``, :mod:`.predictions`) marks what the
    scorer counts as wrong in :data:`WRONG_COLOUR`: a ring around a node
    with any wrong node flag, its pointer arrow, a cross on a wrong edge, the
    value of a wrong scalar, a cross after a wrong ``mask_one`` label or
    graph probe, wrong cells framed in the heatmaps."""
    layout = layout_of(algorithm)
    probes = state.probes
    wrong = wrong or {}
    n = len(probes["pos"][2])
    pos = node_positions(layout, probes, n)
    ax.set_title(_title(state, probes, wrong), fontsize=8)
    ax.set_axis_off()
    heatmaps = []

    # the layout's own drawing: edges, bars, characters
    if layout == "graph":
        weights = probes["A"][2] if "A" in probes else None
        adj = probes["adj"][2] if "adj" in probes else (weights != 0 if weights is not None
                                                        else np.zeros((n, n)))
        top = np.max(np.abs(weights)) if weights is not None and np.any(weights) else 1.0
        edges = [(i, j) for i in range(n) for j in range(i + 1, n) if adj[i, j] or adj[j, i]]
        # thinner lines in a dense graph (a 64-node test graph has ~1,000 edges),
        # or they merge into a grey disc; graphs of up to ~150 edges keep full widths
        thin = min(1.0, 12 / math.sqrt(max(len(edges), 1)))
        widths = [thin * (0.6 + 2.4 * (abs(weights[i, j]) if weights is not None else top)
                          / top) for i, j in edges]
        # one collection, not a line per edge: a 64-node graph has hundreds
        lines = _lines(pos, edges, EDGE_COLOUR, widths, zorder=1)
        lines.set_alpha(min(1.0, 150 / max(len(edges), 1)))
        ax.add_collection(lines)
    elif layout == "array":
        bars = next(((k, v) for k, (loc, t, v) in probes.items()
                     if k in input_names and k != "pos" and loc == Location.NODE
                     and t == Type.SCALAR), None)
        if bars is not None:
            ax.bar(pos[:, 0], bars[1], width=0.7, color=NODE_COLOUR, zorder=1)
            pos = np.stack([pos[:, 0], np.asarray(bars[1], float)], axis=1)
            ax.text(-0.6, float(np.max(bars[1], initial=0)), bars[0], fontsize=6,
                    color="#666666", va="bottom")
    elif layout == "string" and "string" in probes:
        needle = probes["string"][2].astype(bool)
        pos = np.stack([np.arange(n, dtype=float), np.where(needle, -1.0, 0.0)], axis=1)
        if np.any(needle):  # needle under the haystack, from the left
            first = int(np.argmax(needle))
            pos[needle, 0] -= first

    # node colours: the first node mask (not an input of the layout) or categorical
    fill = np.array([NODE_COLOUR] * n, dtype=object)
    for name, (location, type_, value) in probes.items():
        if location != Location.NODE or name in ("adj",):
            continue
        if type_ == Type.MASK and not (layout == "string" and name == "string"):
            fill = np.where(np.asarray(value) > 0.5, MARKED_COLOUR, NODE_COLOUR)
            break
        if type_ == Type.CATEGORICAL and not (layout == "string" and name == "key"):
            classes = np.argmax(value, axis=-1)
            fill = np.array([CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in classes],
                            dtype=object)
            break
    size = 140 if n <= 16 else 60
    ax.scatter(pos[:, 0], pos[:, 1], s=size, c=list(fill), edgecolors="#555555",
               linewidths=0.6, zorder=3)
    ringed = np.zeros(n, dtype=bool)
    for name, flags in wrong.items():
        if name in probes and probes[name][0] == Location.NODE and np.ndim(flags) == 1:
            ringed |= np.asarray(flags, dtype=bool)
    if ringed.any():
        ax.scatter(pos[ringed, 0], pos[ringed, 1], s=size * (2.2 if n <= 16 else 1.6),
                   facecolors="none", edgecolors=WRONG_COLOUR,
                   linewidths=1.6 if n <= 16 else 1.0, zorder=3.5)
    if layout == "string" and "key" in probes:
        characters = np.argmax(probes["key"][2], axis=-1)
        for i in range(n):
            ax.text(*pos[i], "abcd"[characters[i] % 4], ha="center", va="center", fontsize=7,
                    zorder=4)
    elif n <= 24:
        for i in range(n):
            ax.text(*pos[i], str(i), ha="center", va="center", fontsize=6, zorder=4)

    # the remaining probes, by kind
    labels = [[] for _ in range(n)]
    values = []
    for name, (location, type_, value) in probes.items():
        value = np.asarray(value)
        if location == Location.NODE:
            if type_ == Type.MASK_ONE:
                labels[int(np.argmax(value))].append(name + (" \u00d7" if np.any(
                    wrong.get(name, False)) else ""))
            elif type_ in POINTERS and value.ndim == 1:
                _arrows(ax, pos, value.astype(int), wrong.get(name))
            elif type_ == Type.SCALAR and name not in input_names and len(values) < 1:
                values.append((name, value))
        elif location == Location.EDGE and name not in ("A", "adj"):
            if layout == "graph" and type_ == Type.MASK and value.ndim == 2:
                marked = list(zip(*np.nonzero(np.triu(value + value.T > 0.5, 1))))
                ax.add_collection(_lines(pos, marked, MARKED_EDGE, 2.8, zorder=2))
                if name in wrong:
                    flags = np.asarray(wrong[name], dtype=bool)
                    for i, j in zip(*np.nonzero(np.triu(flags | flags.T, 1))):
                        ax.plot(*pos[[i, j]].mean(axis=0), marker="x", ms=6, mew=1.8,
                                color=WRONG_COLOUR, zorder=4.5)
            else:
                heatmaps.append((name, type_, value) + ((wrong[name],) if name in wrong
                                                        else ()))
    for i, names in enumerate(labels):
        if names:
            ax.annotate(",".join(names), pos[i], xytext=(0, 7), textcoords="offset points",
                        ha="center", fontsize=6, color="#c0392b", zorder=5)
    for name, value in values:
        flags = np.asarray(wrong.get(name, np.zeros(n, dtype=bool)), dtype=bool)
        for i in range(n):
            ax.annotate(f"{value[i]:.2g}", pos[i], xytext=(0, -10), textcoords="offset points",
                        ha="center", fontsize=5, color=WRONG_COLOUR if flags[i] else "#333333")
        ax.text(0.0, 0.0, f"under nodes: {name}", transform=ax.transAxes, fontsize=5,
                color="#666666")
    _frame(ax, pos, layout)
    return heatmaps


def draw_heatmap(ax, name: str, type_, value: np.ndarray, wrong=None, limits=None) -> None:
    """An edge probe as an N x N image (categoricals by class, pointers by
    target); cells flagged in ``wrong`` framed in :data:`WRONG_COLOUR`;
    ``limits``: the colour scale's ``(low, high)`` (default: the values')."""
    if type_ == Type.CATEGORICAL and value.ndim == 3:
        value = np.argmax(value, axis=-1)
    low, high = limits if limits is not None else (None, None)
    ax.imshow(np.asarray(value, dtype=float), cmap="viridis", interpolation="nearest",
              vmin=low, vmax=high)
    title = f"{name} ({type_})"
    if wrong is not None and np.any(wrong):
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import Rectangle

        cells = [Rectangle((j - 0.5, i - 0.5), 1, 1) for i, j in zip(*np.nonzero(wrong))]
        ax.add_collection(PatchCollection(cells, facecolor="none", edgecolor=WRONG_COLOUR,
                                          linewidth=2.0 if len(value) <= 16 else 1.0,
                                          zorder=3))
        title += f": {int(np.sum(wrong))} wrong"
    ax.set_title(title, fontsize=7, color=WRONG_COLOUR if wrong is not None and np.any(wrong)
                 else "black")
    ax.set_xticks([])
    ax.set_yticks([])


def _title(state: State, probes: dict, wrong: dict | None = None) -> str:
    extras = []
    for name, (location, type_, value) in probes.items():
        if location == Location.GRAPH:
            value = np.asarray(value)
            mark = " \u00d7" if wrong and np.any(wrong.get(name, False)) else ""
            if type_ == Type.CATEGORICAL:
                extras.append(f"{name}={int(np.argmax(value))}{mark}")
            elif value.size == 1:
                extras.append(f"{name}={float(value):.3g}{mark}")
    return state.title + (f"  ({', '.join(extras)})" if extras else "")


def _lines(pos, pairs, colour, widths, zorder):
    """Straight lines between the node pairs, as Line2D draws them."""
    from matplotlib.collections import LineCollection

    return LineCollection([pos[[i, j]] for i, j in pairs], colors=colour, linewidths=widths,
                          capstyle="projecting", joinstyle="round", zorder=zorder)


def _arrows(ax, pos, targets, wrong=None) -> None:
    for i, j in enumerate(targets):
        if j == i or not 0 <= j < len(pos):
            continue
        bad = wrong is not None and bool(wrong[i])
        ax.annotate("", xy=pos[j], xytext=pos[i], zorder=2.5 if bad else 2,
                    arrowprops=dict(arrowstyle="-|>", color=WRONG_COLOUR if bad
                                    else POINTER_COLOUR, lw=1.3 if bad else 0.8,
                                    shrinkA=5, shrinkB=5,
                                    connectionstyle="arc3,rad=0.25"))


def _frame(ax, pos, layout) -> None:
    low, high = pos.min(axis=0), pos.max(axis=0)
    if layout == "array":  # bars stand on zero
        low[1], high[1] = min(low[1], 0.0), max(high[1], 0.0)
    pad = 0.15 * np.maximum(high - low, 1e-9)
    if layout in ("array", "string"):
        pad = np.maximum(pad, [0.6, 0.3])
    elif layout == "graph":
        pad = np.maximum(pad, 0.25)
    ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
    ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
    if layout in ("graph", "points"):
        ax.set_aspect("equal", adjustable="box")


# ------------------------------------------------------------------ figures

def _heat_columns(algorithm: str, panels: list[State]) -> int:
    """How many heatmaps a panel needs at most (the same for every row)."""
    spec = SPECS[algorithm]
    layout = layout_of(algorithm)
    names = {n for n, (stage, location, type_) in spec.items() if location == Location.EDGE
             and n not in ("A", "adj") and not (layout == "graph" and type_ == Type.MASK)}
    return max((len(names & set(p.probes)) for p in panels), default=0)


def check_suffix(path: str, suffix: str, why: str) -> None:
    """Refuse a file name that does not end in ``suffix`` (what is written)."""
    if not str(path).lower().endswith(suffix):
        raise ValueError(f"{path}: {why}; give a name ending in {suffix}")


def plot_trace(trace: Trace, algorithm: str, path: str, most_steps: int = 6) -> str:
    """One PNG: the input, up to ``most_steps`` hint steps (spread evenly) and
    the output of ``trace``, each with its edge probes as heatmaps."""
    algorithm = check_algorithm(algorithm)
    check_suffix(path, ".png", "a picture is written as a PNG")
    plt = pyplot("draw a trace")
    panels = states(trace, algorithm, chosen_steps(trace.length, most_steps))
    input_names = set(trace.inputs)
    heat = _heat_columns(algorithm, panels)
    per_row = 2 if heat else 3
    rows = math.ceil(len(panels) / per_row)
    columns = per_row * (1 + heat)
    fig, axes = plt.subplots(rows, columns, figsize=(2.8 * columns, 2.7 * rows), squeeze=False)
    for k, panel in enumerate(panels):
        r, c = divmod(k, per_row)
        main = axes[r][c * (1 + heat)]
        maps = draw_state(main, algorithm, panel, input_names)
        for m in range(heat):
            ax = axes[r][c * (1 + heat) + 1 + m]
            if m < len(maps):
                draw_heatmap(ax, *maps[m])
            else:
                ax.set_axis_off()
    for k in range(len(panels), rows * per_row):
        r, c = divmod(k, per_row)
        for m in range(1 + heat):
            axes[r][c * (1 + heat) + m].set_axis_off()
    fig.suptitle(f"{algorithm}: {len(trace.inputs['pos'])} nodes, {trace.length} hint "
                 f"step{'' if trace.length == 1 else 's'}", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def animate_trace(trace: Trace, algorithm: str, path: str, seconds_per_step: float = 0.8) -> str:
    """A GIF with one frame per hint step (the input's layout, the step's hints)."""
    algorithm = check_algorithm(algorithm)
    check_suffix(path, ".gif", "an animation is written as a GIF")
    plt = pyplot("draw a trace")
    animation = require("matplotlib.animation", "write a GIF")
    panels = states(trace, algorithm)[1:-1]  # the hint steps
    input_names = set(trace.inputs)
    heat = _heat_columns(algorithm, panels)
    fig, axes = plt.subplots(1, 1 + heat, figsize=(3.4 * (1 + heat), 3.2), squeeze=False)

    def frame(t):
        for ax in axes[0]:
            ax.clear()
        maps = draw_state(axes[0][0], algorithm, panels[t], input_names)
        for m in range(heat):
            if m < len(maps):
                draw_heatmap(axes[0][1 + m], *maps[m])
            else:
                axes[0][1 + m].set_axis_off()
        fig.suptitle(f"{algorithm}, step {t + 1} of {len(panels)}", fontsize=9)
        return []

    movie = animation.FuncAnimation(fig, frame, frames=len(panels), blit=False)
    fps = max(1, round(1 / seconds_per_step))
    # (the temporary name keeps the .gif ending Pillow reads the format from)
    atomic_write(path, lambda tmp: movie.save(tmp, writer=animation.PillowWriter(fps=fps)))
    plt.close(fig)
    return path
