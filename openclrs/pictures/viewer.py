"""A trace (and a model's prediction of it) as one self-contained HTML page.

:func:`write_viewer` writes a single file that opens from a ``file://`` URL
with no server and no network: the trace is an inline JSON blob, the page's
script and style (``viewer.js``, ``viewer.css`` and ``viewer.html`` beside
this module, package data) are inlined too, and nothing is loaded by URL.
The browser draws each state with plain JavaScript and SVG from what the
spec says each probe is, with the layout of :func:`.trace.layout_of`:

===============================  ==========================================
node ``mask``, ``categorical``   the nodes' fill colour (a menu picks which)
node ``mask_one``                the probe's name written beside its node
node ``pointer`` and friends     an arrow from each node to the node it names
node ``scalar`` (not the layout) the value written under each node
edge ``mask`` on a graph         the edges it marks drawn thick and coloured
other edge probes                an N x N heatmap (a canvas beyond 16 nodes)
graph probes                     ``name = value`` under the panel's title
===============================  ==========================================

A slider (and a play button, and the arrow keys) walks through the input,
every hint step and the output; the truth and the prediction are drawn side
by side, the elements the scorer counts as wrong ringed in red, each step's
score shown above it; hovering a node, edge or cell shows every probe's value
there.

The page's address may end in ``#frame=K`` (open at frame K; 0 is the
input, 1 hint step 0, ...) or ``#autotest``: the page then moves its slider
through every frame itself and writes, as JSON in ``#autotest-result``, a
hash of each frame's drawing, the names of the elements it marked wrong
(``probe[i]``, ``probe[i,j]``, ``probe``), the hover text of node 0, what
the play button did and every error the page met (``window.openclrsViewer
.autotest()`` does the same for a page that holds this one in a frame).

The embedded JSON (``<script type="application/json" id="trace-data">``),
format ``openclrs.viewer/1``::

    {"format": "openclrs.viewer/1",
     "algorithm": "bfs", "family": "graphs", "layout": "graph",
     "title": "...", "source": "...",                    # where the sample is from
     "nodes": N, "length": T,                            # T hint steps
     "spec": {probe: [stage, location, type], ...},     # in spec order
     "inputs": {probe: value, ...},
     "steps": [{"truth": {hint: value},                  # T entries, step t
                "prediction": {hint: value},             # } only with a
                "wrong": {hint: mask},                   # } prediction
                "probe_scores": {hint: score},           # }
                "score": s}, ...],                       # null when not scored
     "output": {"truth": {...}, "prediction": {...}, "wrong": {...},
                "probe_scores": {...}, "score": s},
     "has_prediction": bool}

A value is the probe's array without batch or time axis as nested lists
(node ``(N, ...)``, edge ``(N, N, ...)``, graph ``()`` or ``(C,)``); whole
numbers are written without a decimal point, a value that is not finite
as ``null``, predicted scalars to :data:`PREDICTION_DIGITS` significant
digits (the truth exactly). A wrong mask (1 = the scorer counts the element wrong) has the
probe's shape less a categorical's or mask_one's class axis (so a node
``mask_one`` has one flag). With a prediction the spec is the scored form of
:mod:`.predictions` (permutation pointers fused into plain pointers); hint
step 0 is given to the model, so it is never wrong and not scored.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources

import numpy as np

from ..files import write_text
from ..probes import Trace
from ..specs import FAMILY_OF, check_algorithm
from .trace import layout_of

FORMAT = "openclrs.viewer/1"
# Predicted scalars are written to this many significant digits (the page
# shows four): a test-split trace is large, and the truth is kept exact.
PREDICTION_DIGITS = 5
ASSETS = ("viewer.html", "viewer.js", "viewer.css")
# The template's placeholders, each replaced once (in one pass, so nothing
# inserted is searched again).
SLOTS = re.compile(r"/\*openclrs:(style|script|data|title)\*/")


def asset(name: str) -> str:
    """The text of one of the page's package data files."""
    if name not in ASSETS:
        raise ValueError(f"{name!r} is not one of the viewer's files {ASSETS}")
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def plain(value, digits: int | None = None) -> object:
    """A numpy value as JSON: nested lists, whole floats as ints, NaN/inf as
    None; with ``digits``, other floats rounded to that many significant digits."""
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return array.astype(int).tolist()
    if array.dtype.kind in "iu":
        return array.tolist()
    array = array.astype(float)
    finite = np.isfinite(array)
    if np.all(finite) and np.all(array == np.round(array)) and np.all(np.abs(array) < 2**53):
        return array.astype(np.int64).tolist()
    if digits is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = np.floor(np.log10(np.abs(np.where(finite & (array != 0), array, 1.0))))
            scale = 10.0 ** (digits - 1 - magnitude)
            array = np.where(finite, np.round(array * scale) / scale, array)
    return _finite_or_none(array.tolist())


def _finite_or_none(x):
    if isinstance(x, list):
        return [_finite_or_none(v) for v in x]
    return x if math.isfinite(x) else None


def _probes(values: dict, step: int | None = None, digits: int | None = None) -> dict:
    return {name: plain(np.asarray(v) if step is None else np.asarray(v)[step], digits)
            for name, v in values.items()}


def _score(value):
    return None if value is None or not math.isfinite(float(value)) else float(value)


def viewer_data(sample, title: str | None = None, source: str | None = None) -> dict:
    """The page's JSON (the schema in the module's docstring) for ``sample``:
    a :class:`~openclrs.probes.Trace` (the truth alone) or a
    :class:`~openclrs.pictures.predictions.PredictedTrace` (the truth, the
    prediction, what the scorer counts wrong and the scores; its hint row 0
    is given, not predicted, so never wrong and not scored)."""
    predicted = getattr(sample, "predicted", None)
    trace = sample.truth if predicted is not None else sample
    if not isinstance(trace, Trace):
        raise TypeError(f"expected a Trace or a PredictedTrace, got {type(sample).__name__}")
    algorithm = check_algorithm(trace.algorithm)
    spec = dict(trace.spec)  # (a PredictedTrace's: the scored form, pointers fused)
    stores = {"input": trace.inputs, "hint": trace.hints, "output": trace.outputs}
    for name, (stage, _, _) in spec.items():
        if name not in stores[stage]:
            raise ValueError(f"the trace has no {stage} {name!r}: is it a trace of {algorithm}?")
    n, length = int(len(trace.inputs["pos"])), trace.length
    steps = []
    for t in range(length):
        step = {"truth": _probes(trace.hints, t), "score": None}
        if predicted is not None:
            step["prediction"] = _probes(predicted.hints, t, PREDICTION_DIGITS)
            step["wrong"] = _probes(sample.wrong["hints"], t)
            step["score"] = _score(sample.step_scores[t])
            step["probe_scores"] = {k: _score(v[t]) for k, v in sample.hint_scores.items()}
        steps.append(step)
    output = {"truth": _probes(trace.outputs), "score": None}
    if predicted is not None:
        output["prediction"] = _probes(predicted.outputs, digits=PREDICTION_DIGITS)
        output["wrong"] = _probes(sample.wrong["outputs"])
        output["score"] = _score(sample.score)
        output["probe_scores"] = {k: _score(v) for k, v in sample.output_scores.items()
                                  if k != "score"}
    if source is None:
        source = getattr(sample, "source", "") or ""
    if title is None:
        title = f"{algorithm}: {n} nodes, {length} hint step{'' if length == 1 else 's'}"
        title += f" ({source})" if source else ""
    return {
        "format": FORMAT,
        "algorithm": algorithm, "family": FAMILY_OF[algorithm], "layout": layout_of(algorithm),
        "title": title, "source": source, "nodes": n, "length": length,
        "spec": {name: list(triple) for name, triple in spec.items()},
        "inputs": _probes(trace.inputs),
        "steps": steps, "output": output,
        "has_prediction": predicted is not None,
    }


def json_for_script(data: dict) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element: every ``<``
    written as ``\\u003c`` (so no ``</script>`` or ``<!--`` can end it early)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def viewer_html(data: dict) -> str:
    """The whole page for ``data`` (see :func:`viewer_data`)."""
    template, script, style = (asset(name) for name in ASSETS)
    for name, text, end in (("viewer.js", script, "</script"), ("viewer.css", style, "</style")):
        if end in text.lower():
            raise ValueError(f"{name} must not contain {end}>: it is inlined")
    title = data["title"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = {"style": style, "script": script, "data": json_for_script(data), "title": title}
    return SLOTS.sub(lambda m: parts[m.group(1)], template)


def write_viewer(path: str, sample, title: str | None = None, source: str | None = None) -> str:
    """Write the viewer of ``sample`` (a Trace or a PredictedTrace, see
    :func:`viewer_data`) to ``path`` atomically; returns ``path``."""
    if not str(path).lower().endswith((".html", ".htm")):
        raise ValueError(f"{path}: the viewer is an HTML page; give a name ending in .html")
    write_text(path, viewer_html(viewer_data(sample, title, source)))
    return path


def read_viewer_data(html: str) -> dict:
    """The JSON embedded in a page :func:`write_viewer` wrote (for tests and tools)."""
    found = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>',
                      html, re.S)
    if found is None:
        raise ValueError("not an openclrs viewer page: no trace-data element")
    return json.loads(found.group(1))


__all__ = ["FORMAT", "read_viewer_data", "viewer_data", "viewer_html", "write_viewer"]

