"""The browser viewer (openclrs view): one self-contained HTML page per trace.

Without a browser: every algorithm writes a page that embeds every step, the
embedded JSON gives back the trace's values, the wrong masks and scores of a
prediction are the scorer's, and nothing is loaded from outside the file.
With Chromium (Debian: ``apt-get install chromium``): the page renders
without errors, moving the slider changes the drawing, wrong elements are
marked exactly on the steps that have some, and a broken page is caught.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
from importlib import resources

import numpy as np
import pytest

import openclrs
from openclrs import transforms
from openclrs.cli import main
from openclrs.pictures import viewer
from openclrs.pictures.predictions import compare
from openclrs.pictures.viewer import (ASSETS, json_for_script, read_viewer_data, viewer_html,
                                      write_viewer)
from openclrs.probes import Trace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium); "
                             "the page is checked without a browser only")


def small_trace(algorithm: str, seed: int = 0, length: int | None = None) -> Trace:
    if length is None:
        length = 8 if algorithm in ("naive_string_matcher", "kmp_matcher") else 5
    return openclrs.sample(algorithm, length=length, seed=seed)[0]


def _as_array(value) -> np.ndarray:
    """A JSON value back as floats (``null`` -> NaN)."""
    def fill(x):
        return [fill(v) for v in x] if isinstance(x, list) else np.nan if x is None else x
    return np.asarray(fill(value), dtype=float)


def assert_same(json_values: dict, arrays: dict, digits=None):
    assert set(json_values) == set(arrays)
    for name, value in arrays.items():
        expected = np.asarray(value, dtype=float)
        got = _as_array(json_values[name])
        assert got.shape == expected.shape, name
        if digits is None:
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:  # rounded to `digits` significant digits
            np.testing.assert_allclose(got, expected, rtol=10.0 ** (1 - digits), err_msg=name)


class ResourceFinder(html.parser.HTMLParser):
    """Every tag and attribute that could make a browser fetch something."""

    FETCHING_TAGS = {"img", "link", "iframe", "frame", "object", "embed", "audio", "video",
                     "source", "track", "base", "form", "image", "use", "picture"}
    FETCHING_ATTRIBUTES = {"src", "href", "xlink:href", "srcset", "action", "poster", "data",
                           "background", "formaction", "manifest"}

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in self.FETCHING_TAGS:
            self.found.append(f"<{tag}>")
        self.found += [f"<{tag} {k}=...>" for k, _ in attrs if k in self.FETCHING_ATTRIBUTES]


def external_references(page: str) -> list[str]:
    finder = ResourceFinder()
    finder.feed(page)
    found = finder.found
    found += re.findall(r"(?i)(?:https?:|ftp:|file:)//", page)
    # CSS fetches (url(#id) is local; canvas.toDataURL() is not CSS)
    found += re.findall(r"(?i)@import|(?<![\w.])url\((?!#)", page)
    found += re.findall(r"(?i)\b(?:fetch|XMLHttpRequest|WebSocket|importScripts)\s*\(", page)
    return found


# --------------------------------------------------------------------------
# The page, without a browser
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", openclrs.ALL_ALGS)
def test_every_algorithm_writes_a_page_with_every_step(algorithm, tmp_path):
    trace = small_trace(algorithm)
    path = write_viewer(str(tmp_path / "t.html"), trace)
    assert sorted(os.listdir(tmp_path)) == ["t.html"]  # nothing half-written left
    with open(path, encoding="utf-8") as f:
        page = f.read()
    data = read_viewer_data(page)
    assert data["format"] == viewer.FORMAT and data["algorithm"] == algorithm
    assert len(data["steps"]) == data["length"] == trace.length
    assert data["nodes"] == trace.num_nodes and not data["has_prediction"]
    assert data["spec"] == {k: list(v) for k, v in trace.spec.items()}
    # the JSON gives back every value of the trace
    assert_same(data["inputs"], trace.inputs)
    for t, step in enumerate(data["steps"]):
        assert_same(step["truth"], {k: np.asarray(v)[t] for k, v in trace.hints.items()})
        assert "prediction" not in step and step["score"] is None
    assert_same(data["output"]["truth"], trace.outputs)
    assert external_references(page) == []
    assert len(page) < 100_000


def test_the_page_loads_nothing_from_outside():
    page = viewer_html(viewer.viewer_data(small_trace("bfs")))
    assert external_references(page) == []
    # one style; three inline scripts (the error catcher, the data, the viewer)
    assert page.count("<script") == 3 and "<script src" not in page
    assert page.count("<style>") == 1
    # the finder itself sees what it must
    assert external_references('<img src="a.png"><link href="x.css">') == [
        "<img>", "<img src=...>", "<link>", "<link href=...>"]
    assert external_references("<style>a{background:url(x.png)}</style>") == ["url("]
    assert external_references("fetch('https://example.org')") == ["https://", "fetch("]


def test_nothing_in_the_data_can_end_its_script_element():
    tricky = {"title": "</script><script>alert(1)</script><!--", "x": "a<b"}
    text = json_for_script(tricky)
    assert "<" not in text and json.loads(text) == tricky
    trace = small_trace("bfs")
    page = viewer_html(viewer.viewer_data(trace, title="bfs </script><!-- & <b>"))
    data = read_viewer_data(page)
    assert data["title"] == "bfs </script><!-- & <b>"
    assert "<title>bfs &lt;/script&gt;&lt;!-- &amp; &lt;b&gt;</title>" in page
    assert page.lower().count("</script") == 3


def test_values_are_written_compactly():
    assert viewer.plain(np.array([1.0, 0.0, -1.0])) == [1, 0, -1]
    assert viewer.plain(np.array([0.5, np.nan, np.inf])) == [0.5, None, None]
    assert viewer.plain(np.array([True, False])) == [1, 0]
    assert viewer.plain(np.float64(2.0)) == 2
    assert viewer.plain(np.array([0.123456789, 98765.4321, -1.5e-7]), 5) == \
        [0.12346, 98765.0, -1.5e-7]


def test_the_page_files_are_package_data():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert set(ASSETS) <= set(project["tool"]["setuptools"]["package-data"]["openclrs.pictures"])
    for name in ASSETS:
        text = resources.files("openclrs.pictures").joinpath(name).read_text(encoding="utf-8")
        assert viewer.asset(name) == text and len(text) > 500
    with pytest.raises(ValueError, match="not one of the viewer's files"):
        viewer.asset("../trace.py")


def test_a_page_needs_an_html_name(tmp_path):
    with pytest.raises(ValueError, match="ending in .html"):
        write_viewer(str(tmp_path / "t.png"), small_trace("bfs"))
    assert os.listdir(tmp_path) == []


def fake_prediction(algorithm: str, seed: int = 0, length: int | None = None):
    """A prediction that is the truth with a few elements changed: one element
    (or one row of classes) of every hint at the middle step and of every
    output; scored by the predictions module's own comparison."""
    truth = transforms.apply(small_trace(algorithm, seed, length))
    hints = {k: np.array(v, copy=True) for k, v in truth.hints.items()}
    outputs = {k: np.array(v, copy=True) for k, v in truth.outputs.items()}
    n = truth.num_nodes
    middle = max(1, truth.length // 2)

    def change(array, type_):
        flat = array.reshape(-1)
        if type_ == "pointer" and flat.size:
            flat[0] = (flat[0] + 1) % n
        elif type_ == "scalar" and flat.size:
            flat[0] += 0.5
        elif type_ == "mask" and flat.size and flat[0] >= 0:
            flat[0] = 1 - flat[0]
        elif type_ == "mask_one" and array.ndim == 1 and array.size > 1:
            array[:] = np.roll(array, 1)
        elif type_ == "categorical" and array.shape[-1] > 1:
            row = array.reshape(-1, array.shape[-1])
            row[0] = np.roll(row[0], 1)

    for name, value in hints.items():
        if truth.length > 1:
            change(value[middle], truth.spec[name][2])
    for name, value in outputs.items():
        change(value, truth.spec[name][2])
    predicted = Trace(truth.algorithm, dict(truth.inputs), hints, outputs, truth.spec)
    return compare(truth, predicted, source="a test prediction")


@pytest.mark.parametrize("algorithm", ["bfs", "floyd_warshall", "insertion_sort", "kmp_matcher",
                                       "graham_scan", "segments_intersect"])
def test_a_prediction_embeds_the_scorers_wrong_elements_and_scores(algorithm):
    p = fake_prediction(algorithm)
    data = viewer.viewer_data(p)
    assert data["has_prediction"] and "a test prediction" in data["title"]
    assert data["spec"] == {k: list(v) for k, v in p.truth.spec.items()}  # the scored form
    assert len(data["steps"]) == p.length
    for t, step in enumerate(data["steps"]):
        assert_same(step["truth"], {k: v[t] for k, v in p.truth.hints.items()})
        assert_same(step["prediction"], {k: v[t] for k, v in p.predicted.hints.items()},
                    digits=viewer.PREDICTION_DIGITS)
        assert_same(step["wrong"], {k: v[t] for k, v in p.wrong["hints"].items()})
        expected = p.step_scores[t]
        assert (step["score"] is None) if np.isnan(expected) else step["score"] == expected
    assert_same(data["output"]["wrong"], p.wrong["outputs"])
    assert data["output"]["score"] == p.score
    assert data["output"]["probe_scores"] == {
        k: float(v) for k, v in p.output_scores.items() if k != "score"}
    assert data["steps"][0]["score"] is None  # step 0 is given, not predicted
    assert p.wrong_count("hints") + p.wrong_count("outputs") > 0  # (the test changes some)


def test_view_command(tmp_path, capsys):
    out = tmp_path / "bfs.html"
    assert main(["view", "bfs", "--length", "6", "--seed", "4", "--index", "1",
                 "--option", "p=0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{out}\nbfs sampled n=6 seed=4 #1 p=0.5: ")
    data = read_viewer_data(out.read_text(encoding="utf-8"))
    from openclrs.samplers import Sampler
    sampler = Sampler("bfs", 6, 4, p=0.5)
    sampler.draw_inputs()
    trace = next(sampler)  # the stream's second sample, as `openclrs show` picks it
    assert_same(data["inputs"], trace.inputs)
    assert len(data["steps"]) == trace.length
    for argv, message in [
            (["view", "--out", str(out)], "name the algorithm to view"),
            (["view", "bfs", "--split", "val", "--out", str(out)], "--split goes only with --run"),
            (["view", "bfs", "--out", str(tmp_path / "x.png")], "ending in .html")]:
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["bfs.html"]


def test_view_command_with_a_run(tmp_path, capsys, monkeypatch):
    """--run passes its choices to predict_run_sample and writes what it gives."""
    from openclrs.pictures import predictions

    calls = []

    def predict(run, algorithm, split, index, checkpoint, device, **kwargs):
        calls.append((run, algorithm, split, index, checkpoint, device, kwargs))
        return fake_prediction("bfs")

    monkeypatch.setattr(predictions, "predict_run_sample", predict)
    out = tmp_path / "p.html"
    assert main(["view", "--run", "runs/x", "--algorithm", "bfs", "--index", "3",
                 "--out", str(out)]) == 0
    assert calls == [("runs/x", "bfs", "test", 3, "best", "cpu",
                      {"length": None, "seed": 0, "options": {}})]
    assert "output score" in capsys.readouterr().out
    assert read_viewer_data(out.read_text(encoding="utf-8"))["has_prediction"]
    assert main(["view", "bfs", "--run", "runs/x", "--algorithm", "dfs", "--out",
                 str(out)]) == 2
    assert "two algorithms given" in capsys.readouterr().err


# --------------------------------------------------------------------------
# The page in headless Chromium
# --------------------------------------------------------------------------

def chromium(args: list[str], profile: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run headless Chromium; on a timeout its whole process group is killed."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
               "--disable-background-networking", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={profile}", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               env=dict(os.environ, HOME=profile))
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish in {timeout} s: {' '.join(command)}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def autotest(path: str, profile: str) -> tuple[dict | None, str, str]:
    """Open ``path#autotest``: the page moves its slider through every frame
    and writes what it drew into #autotest-result. Returns that (or None),
    the page's own error list and Chromium's log."""
    run = chromium(["--dump-dom", f"file://{os.path.abspath(path)}#autotest"], profile)
    dom = run.stdout
    found = re.search(r'<pre id="autotest-result"[^>]*>(.*?)</pre>', dom, re.S)
    errors = re.search(r'<pre id="page-errors"[^>]*>(.*?)</pre>', dom, re.S)
    result = json.loads(html.unescape(found.group(1))) if found and found.group(1) else None
    return result, html.unescape(errors.group(1)) if errors else "no #page-errors", run.stderr


def console_errors(log: str) -> list[str]:
    """What the page wrote to the console (Chromium logs it, at any level, as
    ``INFO:CONSOLE`` lines; the viewer writes nothing there)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def viewer_svg_cells() -> int:
    """Heatmaps of more nodes than this are painted on a canvas."""
    return int(re.search(r"const SVG_CELLS = (\d+);", viewer.asset("viewer.js")).group(1))


def check_frames(result: dict, length: int) -> None:
    """The self-test walked the input, every hint step and the output, and
    moving the slider changed the drawing."""
    frames = length + 2
    assert result["frames"] == frames and len(result["hashes"]) == frames
    assert result["titles"][0] == "input" and result["titles"][-1] == "output"
    assert result["titles"][1] == f"step 0 of {length}"
    # each frame differs from the one before, but for a few (a sorting step
    # may leave the state as it was): most slider moves redraw
    changes = sum(a != b for a, b in zip(result["hashes"], result["hashes"][1:]))
    assert changes >= max(1, (frames - 1) // 2), result["hashes"]
    # the play button starts (from the input) and pauses
    assert result["play"] == ["\u275a\u275a pause", "input", "\u25b6 play"]
    # hovering node 0 shows its probes' values
    assert result["tip"].startswith("node 0") and "pos = 0" in result["tip"]


@needs_chromium
def test_the_page_renders_in_chromium_and_the_slider_moves_the_drawing(tmp_path):
    trace = small_trace("bfs")
    path = write_viewer(str(tmp_path / "t.html"), trace)
    result, page_errors, log = autotest(path, str(tmp_path / "profile"))
    assert result is not None, f"the page did not finish its self-test: {page_errors}\n{log}"
    assert result["errors"] == [] and page_errors == "" and console_errors(log) == []
    check_frames(result, trace.length)
    assert result["prediction_shown"] is False  # no prediction: its panel is hidden
    assert result["wrong_marks"] == [[]] * (trace.length + 2)


def check_prediction(result: dict, p) -> None:
    """Every element the scorer counts wrong is marked once, and nothing
    else: the marks' names per frame (input, each step, output) are these."""
    assert result["prediction_shown"] is True
    frames = [{}] + [{k: v[t] for k, v in p.wrong["hints"].items()} for t in range(p.length)] \
        + [p.wrong["outputs"]]
    expected = [sorted(wrong_names(flags)) for flags in frames]
    assert result["wrong_marks"] == expected
    assert sum(map(len, expected)) == p.wrong_count("hints") + p.wrong_count("outputs")


@needs_chromium
def test_chromium_draws_a_prediction_and_marks_exactly_the_wrong_elements(tmp_path):
    """Floyd-Warshall with more nodes than SVG heatmaps take: its edge
    probes are painted on canvases, their wrong cells named by the canvas."""
    p = fake_prediction("floyd_warshall", length=viewer_svg_cells() + 1)
    path = write_viewer(str(tmp_path / "p.html"), p)
    result, page_errors, log = autotest(path, str(tmp_path / "profile"))
    assert result is not None, f"the page did not finish its self-test: {page_errors}\n{log}"
    assert result["errors"] == [] and page_errors == "" and console_errors(log) == []
    check_frames(result, p.length)
    check_prediction(result, p)
    assert any("," in m for marks in result["wrong_marks"] for m in marks)  # edge cells


@needs_chromium
def test_every_algorithm_renders_in_chromium_alone_and_with_a_prediction(tmp_path):
    """All 32 algorithms, each as a truth-only page and with a prediction
    (the truth, a few elements changed), in one browser: a test page holds
    the 64 pages in frames and runs each one's self-test when all are loaded."""
    samples = {}
    for algorithm in openclrs.ALL_ALGS:
        samples[algorithm + " truth"] = small_trace(algorithm)
        samples[algorithm + " prediction"] = fake_prediction(algorithm)
    frames = "".join(
        f'<iframe name="{name}" srcdoc="{html.escape(viewer_html(viewer.viewer_data(sample)))}">'
        "</iframe>" for name, sample in samples.items())
    harness = tmp_path / "all.html"
    harness.write_text(f"""<!DOCTYPE html><html><body>{frames}<pre id="results"></pre><script>
window.addEventListener("load", function () {{
  const results = {{}};
  document.querySelectorAll("iframe").forEach(function (frame) {{
    const page = frame.contentWindow;
    try {{
      results[frame.name] = page.openclrsViewer.autotest();
    }} catch (e) {{
      results[frame.name] = {{failed: String(e), errors: page.openclrsErrors}};
    }}
  }});
  document.getElementById("results").textContent = JSON.stringify(results);
}});
</script></body></html>""", encoding="utf-8")
    run = chromium(["--dump-dom", f"file://{harness}"], str(tmp_path / "profile"), timeout=120)
    found = re.search(r'<pre id="results">(.*?)</pre>', run.stdout, re.S)
    assert found and found.group(1), f"the test page wrote no results:\n{run.stderr[-3000:]}"
    results = json.loads(html.unescape(found.group(1)))
    assert sorted(results) == sorted(samples)
    for name, sample in samples.items():
        result = results[name]
        assert "failed" not in result and result["errors"] == [], (name, result)
        check_frames(result, sample.length)
        if name.endswith("prediction"):
            check_prediction(result, sample)
        else:
            assert result["prediction_shown"] is False, name
            assert result["wrong_marks"] == [[]] * (sample.length + 2), name


def wrong_names(flags: dict) -> list[str]:
    """``name[i]``, ``name[i,j]`` or ``name`` for each wrong element."""
    names = []
    for name, mask in flags.items():
        for index in np.argwhere(np.asarray(mask)):
            names.append(name + (f"[{','.join(map(str, index))}]" if len(index) else ""))
    return names


@needs_chromium
def test_a_broken_page_is_caught(tmp_path):
    """The self-test is not vacuous: a page whose data lacks its steps reports
    the script's error and writes no result."""
    page = viewer_html(viewer.viewer_data(small_trace("bfs")))
    data = read_viewer_data(page)
    del data["steps"]
    broken = re.sub(r'(<script type="application/json" id="trace-data">).*?(</script>)',
                    lambda m: m.group(1) + json_for_script(data) + m.group(2), page, flags=re.S)
    path = tmp_path / "broken.html"
    path.write_text(broken, encoding="utf-8")
    result, page_errors, log = autotest(str(path), str(tmp_path / "profile"))
    assert result is None
    assert "TypeError" in page_errors  # the page's own record
    assert any("Uncaught TypeError" in line for line in console_errors(log))  # Chromium's
