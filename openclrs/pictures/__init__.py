"""Pictures of traces: :func:`plot_trace` (a PNG of the input, hint steps
and output) and :func:`animate_trace` (a GIF, one frame per step), drawn
from the spec table (:mod:`.trace`). Needs matplotlib (``openclrs[plots]``)."""

from .trace import animate_trace, plot_trace

__all__ = ["animate_trace", "plot_trace"]
