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
