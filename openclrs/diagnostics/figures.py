"""How every diagnostics PNG is made and saved: :func:`subplots` opens a
figure on matplotlib's file-only Agg backend, :func:`save_figure` gives it
its title and layout, writes it atomically (a reader never sees half a PNG)
and closes it (a long diagnosis would otherwise keep every figure alive)."""

from __future__ import annotations

from ..extras import pyplot
from ..files import atomic_write

PURPOSE = "plot the diagnostics"


def subplots(*args, **kwargs):
    """``(figure, axes)``: ``matplotlib.pyplot.subplots`` on the Agg backend
    (matplotlib is imported here, when a plot is first made)."""
    return pyplot(PURPOSE).subplots(*args, **kwargs)


def save_figure(fig, path: str, *, dpi: int, title: str | None = None,
                title_size: int | str = 10) -> str:
    """Give ``fig`` its (super)title, if any, lay it out, write it to
    ``path`` as a PNG of ``dpi`` dots per inch and close it; returns ``path``."""
    if title:
        fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    pyplot(PURPOSE).close(fig)
    return path


def zero_floor(values) -> float:
    """Where a log axis draws 0: a tenth of the smallest positive value
    (``1e-12`` when none is positive)."""
    positive = [v for v in values if v > 0]
    return min(positive) / 10 if positive else 1e-12


def distance_curve(ax, lengths, values, floor: float, collapse_length, **style):
    """A distance against length (zeros drawn at ``floor``) and, when it
    collapses, a dashed vertical line in its colour at the collapse length;
    returns the curve's line."""
    line, = ax.plot(lengths, [max(v, floor) for v in values], **style)
    if collapse_length is not None:
        ax.axvline(collapse_length, color=line.get_color(), ls="--", lw=0.8)
    return line


def log_panel(ax, title: str, xlabel: str) -> None:
    """One panel of curves: log ``y``, a small title, the ``x`` label, a grid."""
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)


def save_single(fig, ax, path: str, xlabel: str, ylabel: str) -> str:
    """A one-panel figure's labels, legend and grid, then :func:`save_figure`
    at 100 dpi; returns ``path``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path, dpi=100)
