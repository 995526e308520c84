"""Pictures of traces: :func:`plot_trace` (a PNG of the input, hint steps
and output) and :func:`animate_trace` (a GIF, one frame per step), drawn
from the spec table (:mod:`.trace`); a model's predictions beside the truth
with the scorer's wrong elements marked: the data (:mod:`.predictions`,
:func:`predict_trace`, :func:`predict_run_sample`) and the picture
(:func:`plot_predictions`). Drawing needs matplotlib (``openclrs[plots]``)."""

from .predictions import PredictedTrace, predict_run_sample, predict_trace
from .trace import animate_trace, plot_trace
from .viewer import write_viewer

__all__ = ["PredictedTrace", "animate_trace", "plot_trace", "predict_run_sample",
           "predict_trace", "write_viewer"]
